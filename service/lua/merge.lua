-- merge.lua: move a chunk of one shard's claimed inbox into its time buckets and window sets.
--
-- Beacons write each view to the shard's inbox ("m5 index|article" -> views, record.lua); a
-- rollup renames the inbox to the draining set and merges that chunk by chunk, so no call
-- holds Redis for long. Each entry is read and removed here, in the same atomic step as it is
-- added: an entry is merged exactly once, whoever runs the chunk and however often.
-- KEYS[1] draining zset   KEYS[2] window-start hash   KEYS[3..6] window sets 1h 24h 7d 30d
--   KEYS[7..] bucket keys
-- ARGV[1] number of bucket keys NB; then per bucket key (KEYS[6 + i]) its granularity
--   ("m5", "h", "d"), index and TTL s; then per entry 4 fields: member, and the key numbers
--   of its m5, hour and day buckets.
-- Returns the number of entries merged.

local draining = KEYS[1]
-- The window sets only take views whose bucket the rollup has not yet subtracted.
local from = redis.call('HMGET', KEYS[2], '1h', '24h', '7d', '30d')
-- A bucket is still worth writing while the longest window it feeds has not left it.
local keep_from = {m5 = from[1], h = from[3], d = from[4]}
-- Which window each granularity feeds, with the slot of its start in `from`.
local feeds = {m5 = {{3, 1}}, h = {{4, 2}, {5, 3}}, d = {{6, 4}}}

local function inside(start, index)
  return start == false or index >= tonumber(start)
end

-- For each bucket key: the keys an entry of that bucket adds to (the bucket itself while it
-- is kept, and the windows that still hold it), worked out once per call, not per entry.
local targets, ttl = {}, {}
local nb = tonumber(ARGV[1])
local pos = 2
for i = 1, nb do
  local k = 6 + i
  local gran, index = ARGV[pos], tonumber(ARGV[pos + 1])
  ttl[k] = ARGV[pos + 2]
  local into = {}
  if inside(keep_from[gran], index) then into[#into + 1] = k end
  for _, feed in ipairs(feeds[gran]) do
    if inside(from[feed[2]], index) then into[#into + 1] = feed[1] end
  end
  targets[k] = into
  pos = pos + 3
end

local written = {}
local merged = 0
while pos <= #ARGV do
  local member = ARGV[pos]
  local views = redis.call('ZSCORE', draining, member)
  if views then
    redis.call('ZREM', draining, member)
    merged = merged + 1
    local article = string.sub(member, string.find(member, '|', 1, true) + 1)
    for j = 1, 3 do
      local k = tonumber(ARGV[pos + j])
      for _, target in ipairs(targets[k]) do
        redis.call('ZINCRBY', KEYS[target], views, article)
      end
      written[k] = true
    end
  end
  pos = pos + 4
end
for k in pairs(written) do
  if targets[k][1] == k then redis.call('EXPIRE', KEYS[k], ttl[k]) end
end
return merged
