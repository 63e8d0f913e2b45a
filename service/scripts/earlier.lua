-- earlier.lua: some articles' views summed over some of one shard's time buckets (the window
-- just before a list's window, for previous_window_views).
--
-- KEYS the bucket keys (a bucket that no longer exists holds nothing)   ARGV article ids
-- Returns one integer per article, in ARGV order.
-- One ZMSCORE per bucket, not a ZSCORE per article and bucket: the lookups stay in C.

local sums = {}
for a = 1, #ARGV do sums[a] = 0 end
for k = 1, #KEYS do
  local views = redis.call('ZMSCORE', KEYS[k], unpack(ARGV))
  for a = 1, #ARGV do
    if views[a] then sums[a] = sums[a] + tonumber(views[a]) end
  end
end
return sums
