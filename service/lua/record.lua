-- record.lua: count a group of views atomically, in one section per shard.
--
-- On a single node one call carries every shard's section, so a group commit is one call;
-- on a Redis Cluster each call carries one section (every key of a call shares a slot).
-- KEYS of a section, from its base b: b articles set, b+1 totals zset (all-time views),
--   b+2 bot-views hash, b+3 .. b+6 window sets 1h 24h 7d 30d, b+7 window-start hash,
--   b+8 views-per-minute counter; then its time buckets and per-view keys (readers, dedupe,
--   event id).
-- ARGV[1] dedupe TTL s   ARGV[2] event-id TTL s   ARGV[3] per-minute key TTL s
-- ARGV[4] number of sections; then per section: b, NB (number of bucket keys), per bucket
--   its key number, granularity, index and TTL s; NV (number of views), then per view 8 fields:
--   article, kind ("v" view, "b" bot), event key #, seen key #, readers key #,
--   readers member, readers TTL s, bucket key numbers "m5,h,d".
--   A key number is an index into KEYS, 0 when absent.
-- Returns one code per view, sections in order: 1 counted, 2 duplicate reader,
--   3 duplicate event id, 4 unknown article, 5 bot.

local dedupe_ttl = tonumber(ARGV[1])
local event_ttl = tonumber(ARGV[2])
local minute_ttl = ARGV[3]
local codes = {}

local function inside(start, index)
  return start == false or index >= tonumber(start)
end

local function section(b, pos)
  local articles_k, totals_k, bots_k = KEYS[b], b + 1, KEYS[b + 2]
  local nb = tonumber(ARGV[pos])
  pos = pos + 1
  local bucket_gran, bucket_index, bucket_ttl = {}, {}, {}
  for _ = 1, nb do
    local k = tonumber(ARGV[pos])
    bucket_gran[k], bucket_index[k], bucket_ttl[k] = ARGV[pos + 1], tonumber(ARGV[pos + 2]),
      ARGV[pos + 3]
    pos = pos + 4
  end
  -- The window sets only take views whose bucket the rollup has not yet subtracted.
  local from = redis.call('HMGET', KEYS[b + 7], '1h', '24h', '7d', '30d')
  -- A bucket is still worth writing while the longest window it feeds has not left it.
  local keep_from = {m5 = from[1], h = from[3], d = from[4]}
  local adds = {}        -- key number -> {article -> views}
  local function add(k, article)
    local t = adds[k]
    if t == nil then t = {}; adds[k] = t end
    t[article] = (t[article] or 0) + 1
  end
  local counted = 0
  local bot_views = {}
  local nv = tonumber(ARGV[pos])
  pos = pos + 1
  for _ = 1, nv do
    local article, kind = ARGV[pos], ARGV[pos + 1]
    local event_k, seen_k = tonumber(ARGV[pos + 2]), tonumber(ARGV[pos + 3])
    local readers_k = tonumber(ARGV[pos + 4])
    local code = 1
    if redis.call('SISMEMBER', articles_k, article) == 0 then
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
      add(totals_k, article)
      for slot in string.gmatch(ARGV[pos + 7], '%d+') do
        local k = tonumber(slot)
        local gran, index = bucket_gran[k], bucket_index[k]
        if inside(keep_from[gran], index) then add(k, article) end
        if gran == 'm5' then
          if inside(from[1], index) then add(b + 3, article) end
        elseif gran == 'h' then
          if inside(from[2], index) then add(b + 4, article) end
          if inside(from[3], index) then add(b + 5, article) end
        elseif inside(from[4], index) then
          add(b + 6, article)
        end
      end
      if readers_k > 0 then
        redis.call('PFADD', KEYS[readers_k], ARGV[pos + 5])
        redis.call('EXPIRE', KEYS[readers_k], ARGV[pos + 6])
      end
    end
    codes[#codes + 1] = code
    pos = pos + 8
  end
  for k, per_article in pairs(adds) do
    for article, n in pairs(per_article) do
      redis.call('ZINCRBY', KEYS[k], n, article)
    end
    if bucket_ttl[k] then redis.call('EXPIRE', KEYS[k], bucket_ttl[k]) end
  end
  for article, n in pairs(bot_views) do
    redis.call('HINCRBY', bots_k, article, n)
  end
  if counted > 0 and redis.call('INCRBY', KEYS[b + 8], counted) == counted then
    redis.call('EXPIRE', KEYS[b + 8], minute_ttl)  -- a new minute's counter
  end
  return pos
end

local pos = 5
for _ = 1, tonumber(ARGV[4]) do
  local b = tonumber(ARGV[pos])
  pos = section(b, pos + 1)
end
return codes
