-- record.lua: count a group of views for the articles of one shard, atomically.
--
-- KEYS[1]  shard articles set          KEYS[2]  shard totals zset (all-time views)
-- KEYS[3]  shard bot-views hash        KEYS[4..7] window sets 1h, 24h, 7d, 30d
-- KEYS[8]  window-start hash           KEYS[9]  views-per-minute counter
-- KEYS[10 .. 9+NB]   time buckets, then every per-view key (readers, dedupe, event id)
--
-- ARGV[1] dedupe TTL s   ARGV[2] event-id TTL s   ARGV[3] per-minute key TTL s
-- ARGV[4] NB: number of bucket keys; then per bucket: granularity, index, TTL s
-- then per view, 8 fields: article, kind ("v" view, "b" bot), event key #, seen key #,
--   readers key #, readers member, readers TTL s, bucket slots "m5,h,d" as key numbers
--   (a key number is an index into KEYS, 0 when absent).
-- Returns one code per view: 1 counted, 2 duplicate reader, 3 duplicate event id,
--   4 unknown article, 5 bot.

local dedupe_ttl = tonumber(ARGV[1])
local event_ttl = tonumber(ARGV[2])
local nb = tonumber(ARGV[4])

local bucket_gran, bucket_index = {}, {}
for j = 1, nb do
  local base = 4 + (j - 1) * 3
  bucket_gran[9 + j] = ARGV[base + 1]
  bucket_index[9 + j] = tonumber(ARGV[base + 2])
end

-- The window sets only take views whose bucket the rollup has not yet subtracted.
local from = redis.call('HMGET', KEYS[8], '1h', '24h', '7d', '30d')
local function inside(start, index)
  return start == false or index >= tonumber(start)
end
-- A bucket is still worth writing while the longest window it feeds has not left it.
local keep_from = {m5 = from[1], h = from[3], d = from[4]}

local adds = {}        -- key number -> {article -> views}
local function add(k, article)
  local t = adds[k]
  if t == nil then t = {}; adds[k] = t end
  t[article] = (t[article] or 0) + 1
end

local codes = {}
local counted = 0
local bot_views = {}
local i = 5 + nb * 3
while i + 7 <= #ARGV do
  local article, kind = ARGV[i], ARGV[i + 1]
  local event_k, seen_k, readers_k = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local code = 1
  if redis.call('SISMEMBER', KEYS[1], article) == 0 then
    code = 4
  elseif event_k > 0 and not redis.call('SET', KEYS[event_k], '1', 'NX', 'EX', event_ttl) then
    code = 3
  elseif kind == 'b' then
    code = 5
    bot_views[article] = (bot_views[article] or 0) + 1
  elseif seen_k > 0 and not redis.call('SET', KEYS[seen_k], '1', 'NX', 'EX', dedupe_ttl) then
    code = 2
  end
  if code == 1 then
    counted = counted + 1
    add(2, article)
    for slot in string.gmatch(ARGV[i + 7], '%d+') do
      local k = tonumber(slot)
      if k > 0 then
        local gran, index = bucket_gran[k], bucket_index[k]
        if inside(keep_from[gran], index) then add(k, article) end
        if gran == 'm5' then
          if inside(from[1], index) then add(4, article) end
        elseif gran == 'h' then
          if inside(from[2], index) then add(5, article) end
          if inside(from[3], index) then add(6, article) end
        elseif inside(from[4], index) then
          add(7, article)
        end
      end
    end
    if readers_k > 0 then
      redis.call('PFADD', KEYS[readers_k], ARGV[i + 5])
      redis.call('EXPIRE', KEYS[readers_k], ARGV[i + 6])
    end
  end
  codes[#codes + 1] = code
  i = i + 8
end

for k, per_article in pairs(adds) do
  for article, n in pairs(per_article) do
    redis.call('ZINCRBY', KEYS[k], n, article)
  end
end
for j = 1, nb do
  if adds[9 + j] then redis.call('EXPIRE', KEYS[9 + j], ARGV[4 + (j - 1) * 3 + 3]) end
end
for article, n in pairs(bot_views) do
  redis.call('HINCRBY', KEYS[3], article, n)
end
if counted > 0 then
  redis.call('INCRBY', KEYS[9], counted)
  redis.call('EXPIRE', KEYS[9], ARGV[3])
end
return codes
