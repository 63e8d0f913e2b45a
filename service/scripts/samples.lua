-- samples.lua: fold one shard's hourly readers samples into its daily and all-time ones.
--
-- A sample holds up to N distinct reader ids (8 characters each) per article: enough to tell
-- whether an article has the readers a public list asks for (VIEWCOUNT_MIN_READERS).
-- record.lua writes the hour's samples; each rollup folds the last two hours' into the day of
-- each hour and into the all-time sample, so a day's sample holds readers of every hour of it.
-- Each hour's readers also go into the articles' most recent readers (lib/recent_readers.lua).
-- KEYS[1 .. NH] hour samples   then per hour the day sample it folds into   KEYS[2NH+1] the
--   all-time sample   KEYS[2NH+2] the most recent readers hash
-- ARGV[1] N (ids a sample keeps)   ARGV[2] NH   ARGV[3] TTL s of the day samples
--   ARGV[4 .. 3+NH] each hour sample's clock hour
-- Returns the number of samples and recent readers' values that grew.

local n, nh, day_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local ID = 8
local all_k, recent_k = KEYS[2 * nh + 1], KEYS[2 * nh + 2]

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
local everything = {}  -- article -> all-time sample, read once
for h = 1, nh do
  local entries = redis.call('HGETALL', KEYS[h])
  local day_k, hour = KEYS[nh + h], tonumber(ARGV[3 + h])
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
    local ever = everything[article]
    if ever == nil then ever = redis.call('HGET', all_k, article) or '' end
    if #ever < n * ID then
      local merged = union(ever, ids)
      if merged ~= ever then
        redis.call('HSET', all_k, article, merged)
        grew = grew + 1
      end
      ever = merged
    end
    everything[article] = ever
    local held = redis.call('HGET', recent_k, article) or ''
    local recent = recent_merge(held, ids, hour, n)
    if recent ~= held then
      redis.call('HSET', recent_k, article, recent)
      grew = grew + 1
    end
  end
  if touched then redis.call('EXPIRE', day_k, day_ttl) end
end
return grew
