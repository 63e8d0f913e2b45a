-- samples.lua: fold a page of one shard's hourly readers sample into its daily and all-time
-- ones and into the articles' most recent readers (lib/recent_readers.lua).
--
-- A sample holds up to N distinct reader ids (8 characters each) per article: enough to tell
-- whether an article has the readers a public list asks for (VIEWCOUNT_MIN_READERS).
-- record.lua writes the hour's samples; each rollup folds the last two hours' into the day of
-- each hour and into the all-time sample, so a day's sample holds readers of every hour of it.
-- What it folds: the articles record.lua marked in the hour's set of grown samples (KEYS[5]),
-- taken from it a page at a time ("new"); the first time an hour is folded, the whole sample
-- a page at a time (HSCAN, "whole": what was written before the set was kept), after which
-- KEYS[6] marks the hour as folded whole. Folding is a union: folding an article again, or an
-- article marked again while a whole pass ran, changes nothing.
-- KEYS[1] the hour sample   KEYS[2] the day sample it folds into   KEYS[3] the all-time sample
--   KEYS[4] the most recent readers hash   KEYS[5] the hour's set of grown samples
--   KEYS[6] the hour's folded-whole mark
-- ARGV[1] N (ids a sample keeps)   ARGV[2] TTL s of the day sample   ARGV[3] the hour's clock
--   hour   ARGV[4] HSCAN cursor ("whole")   ARGV[5] entries a page   ARGV[6] "whole" or "new"
--   ARGV[7] TTL s of the folded-whole mark
-- Returns {the next cursor ("0": done; "new": "0" once the set is empty), the number of samples
-- and recent readers' values that grew}.

local n, day_ttl, hour = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local ID = 8
local day_k, all_k, recent_k = KEYS[2], KEYS[3], KEYS[4]

local function union(held, more)
  for i = 1, #more, ID do
    if #held >= n * ID then break end
    local id = string.sub(more, i, i + ID - 1)
    local found = false
    for j = 1, #held, ID do
      if string.sub(held, j, j + ID - 1) == id then found = true break end
    end
    if not found then held = held .. id end
  end
  return held
end

local grew = 0
local entries, cursor = {}, '0'
if ARGV[6] == 'whole' then
  local page = redis.call('HSCAN', KEYS[1], ARGV[4], 'COUNT', ARGV[5])
  entries, cursor = page[2], page[1]
  if cursor == '0' then redis.call('SET', KEYS[6], '1', 'EX', ARGV[7]) end
else
  local articles = redis.call('SPOP', KEYS[5], ARGV[5])
  if #articles > 0 then
    local values = redis.call('HMGET', KEYS[1], unpack(articles))
    for i, article in ipairs(articles) do
      if values[i] then  -- (false: the sample expired meanwhile)
        entries[#entries + 1] = article
        entries[#entries + 1] = values[i]
      end
    end
    if #articles == tonumber(ARGV[5]) then cursor = '1' end  -- maybe more
  end
end
local touched = false
for i = 1, #entries, 2 do
  local article, ids = entries[i], entries[i + 1]
  local day = redis.call('HGET', day_k, article) or ''
  if #day < n * ID then
    local merged = union(day, ids)
    if merged ~= day then
      redis.call('HSET', day_k, article, merged)
      touched, grew = true, grew + 1
    end
  end
  local ever = redis.call('HGET', all_k, article) or ''
  if #ever < n * ID then
    local merged = union(ever, ids)
    if merged ~= ever then
      redis.call('HSET', all_k, article, merged)
      grew = grew + 1
    end
  end
  local held = redis.call('HGET', recent_k, article) or ''
  local recent = recent_merge(held, ids, hour, n)
  if recent ~= held then
    redis.call('HSET', recent_k, article, recent)
    grew = grew + 1
  end
end
if touched then redis.call('EXPIRE', day_k, day_ttl) end
return {cursor, grew}
