-- counts.lua: live all-time counts of several articles, in one section per shard.
--
-- KEYS[2s-1] section s's articles set   KEYS[2s] section s's totals zset
-- ARGV[1] number of sections; then per section: n, and n article ids.
-- Returns one integer per id, sections in order: its views, or -1 when not in the catalog.

local counts = {}
local pos = 2
for s = 1, tonumber(ARGV[1]) do
  local articles, totals = KEYS[2 * s - 1], KEYS[2 * s]
  local n = tonumber(ARGV[pos])
  for i = pos + 1, pos + n do
    if redis.call('SISMEMBER', articles, ARGV[i]) == 1 then
      counts[#counts + 1] = tonumber(redis.call('ZSCORE', totals, ARGV[i]) or '0')
    else
      counts[#counts + 1] = -1
    end
  end
  pos = pos + n + 1
end
return counts
