-- record.lua: count a group of views atomically, in one section per shard.
--
-- On a single node one call carries every shard's section, so a group commit is one call;
-- on a Redis Cluster each call carries one section (every key of a call shares a slot).
-- A view costs the all-time total and one entry in the shard's inbox ("m5 index|article" ->
-- views); the rollup moves the inbox into the time buckets and window sets (merge.lua), so
-- the beacon path does not pay for every bucket and window a view feeds.
-- KEYS of a section, from its base b: b articles set, b+1 totals zset, b+2 bot-views hash,
--   b+3 inbox zset, b+4 views-per-minute counter; then its per-view keys (event id, dedupe,
--   readers).
-- ARGV[1] dedupe TTL s   ARGV[2] event-id TTL s   ARGV[3] per-minute key TTL s
-- ARGV[4] inbox TTL s (a safety net: the rollup empties it every interval)
-- ARGV[5] number of sections; then per section: b, NV (number of views), then per view 8
--   fields: article, kind ("v" view, "b" bot), event key #, dedupe key #, readers key #,
--   readers member, readers TTL s, 5-minute bucket index. A key number is an index into KEYS,
--   0 when absent.
-- Returns one code per view, sections in order: 1 counted, 2 duplicate reader,
--   3 duplicate event id, 4 unknown article, 5 bot.

local dedupe_ttl = tonumber(ARGV[1])
local event_ttl = tonumber(ARGV[2])
local minute_ttl = ARGV[3]
local inbox_ttl = ARGV[4]
local codes = {}

local function bump(t, k, n)
  t[k] = (t[k] or 0) + n
end

local function section(b, pos)
  local articles_k, totals_k, bots_k, inbox_k = KEYS[b], KEYS[b + 1], KEYS[b + 2], KEYS[b + 3]
  local known = {}                     -- article -> in the catalog (it cannot change mid-call)
  local totals, inbox, bot_views = {}, {}, {}
  local readers, readers_ttl = {}, {}  -- key number -> members, TTL
  local counted = 0
  local nv = tonumber(ARGV[pos])
  pos = pos + 1
  for _ = 1, nv do
    local article, kind = ARGV[pos], ARGV[pos + 1]
    local event_k, seen_k = tonumber(ARGV[pos + 2]), tonumber(ARGV[pos + 3])
    local readers_k = tonumber(ARGV[pos + 4])
    local is_known = known[article]
    if is_known == nil then
      is_known = redis.call('SISMEMBER', articles_k, article) == 1
      known[article] = is_known
    end
    local code = 1
    if not is_known then
      code = 4
    elseif event_k > 0 and not redis.call('SET', KEYS[event_k], '1', 'NX', 'EX', event_ttl) then
      code = 3
    elseif kind == 'b' then
      code = 5
      bump(bot_views, article, 1)
    elseif seen_k > 0 and not redis.call('SET', KEYS[seen_k], '1', 'NX', 'EX', dedupe_ttl) then
      code = 2
    end
    if code == 1 then
      counted = counted + 1
      bump(totals, article, 1)
      bump(inbox, ARGV[pos + 7] .. '|' .. article, 1)
      if readers_k > 0 then
        local members = readers[readers_k]
        if members == nil then
          members = {}
          readers[readers_k], readers_ttl[readers_k] = members, ARGV[pos + 6]
        end
        members[#members + 1] = ARGV[pos + 5]
      end
    end
    codes[#codes + 1] = code
    pos = pos + 8
  end
  if counted > 0 then
    for article, n in pairs(totals) do redis.call('ZINCRBY', totals_k, n, article) end
    for member, n in pairs(inbox) do redis.call('ZINCRBY', inbox_k, n, member) end
    redis.call('EXPIRE', inbox_k, inbox_ttl)
    for k, members in pairs(readers) do
      for i = 1, #members, 1000 do  -- unpack() has a limit on results
        redis.call('PFADD', KEYS[k], unpack(members, i, math.min(i + 999, #members)))
      end
      redis.call('EXPIRE', KEYS[k], readers_ttl[k])
    end
    if redis.call('INCRBY', KEYS[b + 4], counted) == counted then
      redis.call('EXPIRE', KEYS[b + 4], minute_ttl)  -- a new minute's counter
    end
  end
  for article, n in pairs(bot_views) do redis.call('HINCRBY', bots_k, article, n) end
  return pos
end

local pos = 6
for _ = 1, tonumber(ARGV[5]) do
  local b = tonumber(ARGV[pos])
  pos = section(b, pos + 1)
end
return codes
