-- hold.lua: hold one view of an article not in the catalog while its page is read, within
-- the bounds; or (no record) only forget the shard's expired holds and tell its total.
--
-- KEYS[1] the shard's due zset (article -> expiry time)   KEYS[2] the shard's held counts
--   hash (article -> views)   KEYS[3] the shard's held total   KEYS[4] the shard's article
--   set (the catalog check)   KEYS[5] the shard's held urls hash (article -> the page to
--   read)   KEYS[6] the article's held list (absent: forget only)
-- ARGV[1] now (service clock s)   ARGV[2] expiry time of a new hold (service clock s)
-- ARGV[3] TTL s of a new held list   ARGV[4] views held per article at most
-- ARGV[5] views the shard holds at most   ARGV[6] expired holds forgotten per call at most
-- ARGV[7] the held view's record (hold.py; "": forget expired holds only)   ARGV[8] article
-- ARGV[9] the page to read for it (kept from its first held view)
-- Returns {code, views the shard holds[, the page to read]}: code 1 held, the article's
--   first (a fetch is due);
--   2 held; 3 the article is in the catalog now (count the view instead); -1 the article
--   holds its maximum; -2 the shard holds its maximum; 0 nothing was asked to be held. A
--   held view's reply names the page its article's first held view gave: the one fetched.
-- Event log (issue 15; the block marked "event log"): with a view, KEYS[7] is its shard's log
--   stream, ARGV[10] the held view's log line ("": no log; eventlog/record.py writes it),
--   ARGV[11] the stream's bound, ARGV[12] the service clock's now (s); a held view is logged as
--   pending, in the same call that holds it.
-- An expired hold's list is not named here: it expires on its own TTL, and a later first
-- hold of the same article drops whatever of it is left (KEYS[6]).

local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, article in ipairs(expired) do
  local n = tonumber(redis.call('HGET', KEYS[2], article) or '0')
  redis.call('HDEL', KEYS[2], article)
  redis.call('HDEL', KEYS[5], article)
  redis.call('ZREM', KEYS[1], article)
  if n > 0 then redis.call('DECRBY', KEYS[3], n) end
end
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
if ARGV[7] == '' then return {0, total} end
local article = ARGV[8]
if redis.call('SISMEMBER', KEYS[4], article) == 1 then return {3, total} end
local first = not redis.call('ZSCORE', KEYS[1], article)
local n = 0
if first then
  redis.call('DEL', KEYS[6])
else
  n = tonumber(redis.call('HGET', KEYS[2], article) or '0')
end
if n >= tonumber(ARGV[4]) then return {-1, total} end
if total >= tonumber(ARGV[5]) then return {-2, total} end
redis.call('RPUSH', KEYS[6], ARGV[7])
if first then
  redis.call('ZADD', KEYS[1], ARGV[2], article)
  redis.call('HSET', KEYS[5], article, ARGV[9])
  redis.call('EXPIRE', KEYS[6], ARGV[3])
end
redis.call('HINCRBY', KEYS[2], article, 1)
redis.call('INCR', KEYS[3])
if ARGV[10] and ARGV[10] ~= '' then  -- event log
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[11], '*', 'v', '1', 't', ARGV[12], 'e', ARGV[10])
end
if first then return {1, total + 1, ARGV[9]} end
return {2, total + 1, redis.call('HGET', KEYS[5], article) or ARGV[9]}
