-- merge.lua: move a chunk of one shard's claimed inbox into its time buckets and window sets.
--
-- Beacons write each view to the shard's inbox ("m5 index|article" -> views, record.lua); a
-- rollup renames the inbox to the draining set and merges that chunk by chunk, so no call
-- holds Redis for long. Each entry is read and removed here, in the same atomic step as it is
-- added: an entry is merged exactly once, whoever runs the chunk and however often.
-- The windows and granularities come from windows.py, through merge.py; none is named here.
-- KEYS[1] draining zset   KEYS[2] window-start hash   KEYS[3 .. 2+NW] window sets, in the
--   order of the window names below   KEYS[3+NW ..] bucket keys
-- ARGV[1] NW, then NW window names; then NG, and per granularity: its name, the number (1..NW)
--   of the longest window it feeds (its buckets are kept while that window holds them), the
--   number of windows it feeds, and their numbers; then NB, and per bucket key (KEYS[2+NW+i])
--   its granularity, index and TTL s; then per entry 4 fields: member, and the key numbers
--   of its buckets (one per granularity, in the order above).
-- Returns the number of entries merged.

local draining = KEYS[1]
local pos = 1
local nw = tonumber(ARGV[pos])
local names = {}
for w = 1, nw do names[w] = ARGV[pos + w] end
pos = pos + nw + 1
-- The window sets only take views whose bucket the rollup has not yet subtracted.
local from = redis.call('HMGET', KEYS[2], unpack(names))

local grans, keep_from, feeds = {}, {}, {}
local ng = tonumber(ARGV[pos])
pos = pos + 1
for g = 1, ng do
  local name = ARGV[pos]
  grans[g] = name
  keep_from[name] = from[tonumber(ARGV[pos + 1])]
  local fed = {}
  local nf = tonumber(ARGV[pos + 2])
  for f = 1, nf do
    local w = tonumber(ARGV[pos + 2 + f])
    fed[#fed + 1] = {2 + w, w}  -- the window set's key number, its start's place in `from`
  end
  feeds[name] = fed
  pos = pos + 3 + nf
end

local function inside(start, index)
  return start == false or index >= tonumber(start)
end

-- For each bucket key: the keys an entry of that bucket adds to (the bucket itself while it
-- is kept, and the windows that still hold it), worked out once per call, not per entry.
local targets, ttl = {}, {}
local nb = tonumber(ARGV[pos])
pos = pos + 1
for i = 1, nb do
  local k = 2 + nw + i
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
    for j = 1, ng do
      local k = tonumber(ARGV[pos + j])
      for _, target in ipairs(targets[k]) do
        redis.call('ZINCRBY', KEYS[target], views, article)
      end
      written[k] = true
    end
  end
  pos = pos + 1 + ng
end
for k in pairs(written) do
  if targets[k][1] == k then redis.call('EXPIRE', KEYS[k], ttl[k]) end
end
return merged
