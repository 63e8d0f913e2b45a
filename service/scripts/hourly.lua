-- hourly.lua: one article's views in each of several hours, read in one atomic step (a rollup
-- moving inbox entries into the hour buckets meanwhile would count them twice, or not at all).
--
-- KEYS[1] shard articles set   KEYS[2] inbox   KEYS[3] draining set   KEYS[4..] hour buckets
-- ARGV[1] article   ARGV[2] 5-minute buckets per hour; then per hour bucket (KEYS[3 + i]) the
--   index of its first 5-minute bucket.
-- Returns one count per hour, or -1 when the article is not in the catalog.

local article = ARGV[1]
if redis.call('SISMEMBER', KEYS[1], article) == 0 then return -1 end
local per_hour = tonumber(ARGV[2])
local counts = {}
for h = 4, #KEYS do
  local views = tonumber(redis.call('ZSCORE', KEYS[h], article) or '0')
  local first = tonumber(ARGV[h - 1])
  for m5 = first, first + per_hour - 1 do
    local member = m5 .. '|' .. article
    views = views + tonumber(redis.call('ZSCORE', KEYS[2], member) or '0')
      + tonumber(redis.call('ZSCORE', KEYS[3], member) or '0')
  end
  counts[#counts + 1] = views
end
return counts
