-- merge.lua: move a chunk of one shard's claimed inbox into its time buckets and window sets.
--
-- Beacons write each view to the shard's inbox ("m5 index|article" -> views, record.lua); a
-- rollup renames the inbox to the draining set and merges that chunk by chunk, so no call
-- holds Redis for long. Each entry is read and removed here, in the same atomic step as it is
-- added: an entry is merged exactly once, whoever runs the chunk and however often.
-- The windows and granularities come from windows.py, through merge.py; none is named here.
-- KEYS[1] draining zset   KEYS[2] window-start hash   KEYS[3 .. 2+NW] window sets, in the
--   order of the window names below   KEYS[3+NW] the shard's article -> theme hash
--   KEYS[4+NW ..] bucket keys, then series keys
-- ARGV[1] NW, then NW window names, then NW window spans (0: the window runs up to now; n: it
--   holds the n buckets from its start on, the window just before a list's); then NG, and per
--   granularity: its name, the number (1..NW)
--   of the longest window it feeds (its buckets are kept while that window holds them), the
--   number of windows it feeds, and their numbers; then NB, and per bucket key (KEYS[3+NW+i])
--   its granularity, index and TTL s; then the key number of the article -> theme hash and
--   the site's field name; then NS, and per series key its key number and TTL s; then per
--   entry 4 + NG fields: member, the key numbers of its buckets (one per granularity, in the
--   order above), and of its series: its local day's article set, its hour's and its local
--   day's site and theme hashes.
-- The series (GET /v1/timeseries, the articles' daily points) count each view once more: in
-- its article's local day, and under SITE and its article's theme in its hour and local day.
-- Returns the number of entries merged.

local draining = KEYS[1]
local pos = 1
local nw = tonumber(ARGV[pos])
local names, spans = {}, {}
for w = 1, nw do
  names[w] = ARGV[pos + w]
  spans[w] = tonumber(ARGV[pos + nw + w])
end
pos = pos + 2 * nw + 1
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

local function inside(start, index, span)
  if start == false then return true end
  local first = tonumber(start)
  return index >= first and (span == nil or span == 0 or index < first + span)
end

-- For each bucket key: the keys an entry of that bucket adds to (the bucket itself while it
-- is kept, and the windows that still hold it), worked out once per call, not per entry.
local targets, ttl = {}, {}
local nb = tonumber(ARGV[pos])
pos = pos + 1
for i = 1, nb do
  local k = 3 + nw + i
  local gran, index = ARGV[pos], tonumber(ARGV[pos + 1])
  ttl[k] = ARGV[pos + 2]
  local into = {}
  if inside(keep_from[gran], index) then into[#into + 1] = k end
  for _, feed in ipairs(feeds[gran]) do
    if inside(from[feed[2]], index, spans[feed[2]]) then into[#into + 1] = feed[1] end
  end
  targets[k] = into
  pos = pos + 3
end

local themes = KEYS[tonumber(ARGV[pos])]
local site = ARGV[pos + 1]
local series = {}
local ns = tonumber(ARGV[pos + 2])
pos = pos + 3
for i = 1, ns do
  series[i] = {tonumber(ARGV[pos]), ARGV[pos + 1]}
  pos = pos + 2
end

-- The series' sums are gathered here and written once per key and field at the end: a chunk's
-- entries share a few hours and days, so that is a few writes, not four per entry.
local day_sums, total_sums, theme_of = {}, {}, {}
local function add(sums, k, field, views)
  local fields = sums[k]
  if not fields then fields = {}; sums[k] = fields end
  fields[field] = (fields[field] or 0) + views
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
    views = tonumber(views)
    -- A view of an article deleted meanwhile (its theme gone) still counts for the site.
    local theme = theme_of[article]
    if theme == nil then
      theme = redis.call('HGET', themes, article)
      theme_of[article] = theme
    end
    add(day_sums, tonumber(ARGV[pos + ng + 1]), article, views)
    for j = ng + 2, ng + 3 do
      local k = tonumber(ARGV[pos + j])
      add(total_sums, k, site, views)
      if theme then add(total_sums, k, theme, views) end
    end
  end
  pos = pos + 4 + ng
end
for k, fields in pairs(day_sums) do
  for article, views in pairs(fields) do redis.call('ZINCRBY', KEYS[k], views, article) end
end
for k, fields in pairs(total_sums) do
  for field, views in pairs(fields) do redis.call('HINCRBY', KEYS[k], field, views) end
end
for k in pairs(written) do
  if targets[k][1] == k then redis.call('EXPIRE', KEYS[k], ttl[k]) end
end
for _, kept in ipairs(series) do
  redis.call('EXPIRE', KEYS[kept[1]], kept[2])  -- a key no entry wrote does not exist: no-op
end
return merged
