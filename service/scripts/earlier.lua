-- earlier.lua: some articles' views summed over some of one shard's time buckets (the window
-- just before a list's window, for previous_window_views).
--
-- KEYS the bucket keys (a bucket that no longer exists holds nothing)   ARGV article ids
-- Returns one integer per article, in ARGV order.

local sums = {}
for a = 1, #ARGV do
  local total = 0
  for k = 1, #KEYS do
    local views = redis.call('ZSCORE', KEYS[k], ARGV[a])
    if views then total = total + tonumber(views) end
  end
  sums[a] = total
end
return sums
