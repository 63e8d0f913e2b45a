-- purge.lua: take one client network's counted views of one article back, atomically: for
-- POST /v1/admin/purge (logged as "purged"), or for `viewcount recount` (logged as
-- "recounted", and counted as automated views instead).
--
-- The views come back out of the all-time total at once, and out of the time buckets and
-- window sets through the inbox (negative entries, "m5 index|article" -> -views): the next
-- rollup's merge subtracts them wherever those buckets are still held, so the next lists
-- drop by exactly these views. The client's reader id leaves the readers samples of the
-- range, and its top-client entries go; the article's most recent readers are rebuilt from
-- the samples then (lib/recent_readers.lua); the purge is logged, one "purged" line per view, so
-- a replay of the log reproduces it and a second purge of the same views removes nothing.
-- KEYS[1] totals zset   KEYS[2] inbox zset   KEYS[3] the shard's log stream
--   KEYS[4] automated-views hash   KEYS[5 ..] readers samples (article -> reader ids), then
--   top-clients hashes, then the most recent readers hash and every readers sample kept
-- ARGV[1] article   ARGV[2] client id in the samples (8 hex)   ARGV[3] client digest as the
--   log keeps it (16 hex; the top-clients hashes hold the whole digest, which starts so)
-- ARGV[4] inbox TTL s   ARGV[5] the log's bound in entries   ARGV[6] readers sample ids
--   (8 characters each)   ARGV[7] number of readers samples   ARGV[8] number of top-clients
--   hashes   ARGV[9] the service clock's now (s, the log entry's `t`)   ARGV[10] NB; then
--   per bucket: its 5-minute index, views to take back; then the log code of the lines (20
--   purged, 21 recounted), and 1 when the views become automated views; then N (readers
--   kept), the number of samples kept (0: no reader left a sample, nothing to rebuild), and
--   the clock hour each stands for
-- Returns the views taken back.

local article, id, client = ARGV[1], ARGV[2], ARGV[3]
local ID = tonumber(ARGV[6])
local samples, tops, nb = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[10])
local code, to_automated = ARGV[11 + 2 * nb], ARGV[12 + 2 * nb] == '1'
local keep, kept_samples = tonumber(ARGV[13 + 2 * nb]), tonumber(ARGV[14 + 2 * nb])
local total, lines = 0, {}
for i = 0, nb - 1 do
  local m5, views = ARGV[11 + 2 * i], tonumber(ARGV[12 + 2 * i])
  redis.call('ZINCRBY', KEYS[2], -views, m5 .. '|' .. article)
  total = total + views
  local line = code .. ',' .. m5 .. ',' .. article .. ',,' .. client
  for _ = 1, views do lines[#lines + 1] = line end
end
if total == 0 then return 0 end
redis.call('ZINCRBY', KEYS[1], -total, article)
redis.call('EXPIRE', KEYS[2], ARGV[4])
if to_automated then redis.call('HINCRBY', KEYS[4], article, total) end
for k = 5, 4 + samples do
  local members = redis.call('HGET', KEYS[k], article)
  if members then
    local kept = {}
    for i = 1, #members, ID do
      local member = string.sub(members, i, i + ID - 1)
      if member ~= id then kept[#kept + 1] = member end
    end
    redis.call('HSET', KEYS[k], article, table.concat(kept))
  end
end
for k = 5 + samples, 4 + samples + tops do
  local held = redis.call('HGET', KEYS[k], article)
  if held and string.sub(held, 1, #client) == client then redis.call('HDEL', KEYS[k], article) end
end
local recent_at = 5 + samples + tops
local sources, hours = {}, {}
for s = 1, kept_samples do
  sources[s], hours[s] = recent_at + s, tonumber(ARGV[14 + 2 * nb + s])
end
if kept_samples > 0 then recent_rebuild(KEYS[recent_at], article, sources, hours, keep) end
if tonumber(ARGV[5]) > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
    'v', '1', 't', ARGV[9], 'e', table.concat(lines, '\n'))
end
return total
