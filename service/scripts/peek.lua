-- peek.lua: the oldest held views of an article, while its hold has not expired.
--
-- KEYS[1] the article's held list   KEYS[2] the shard's due zset (article -> expiry time)
-- ARGV[1] now (service clock s)   ARGV[2] article   ARGV[3] records read at most
-- Returns the records (hold.py), oldest first; none once the hold expired.

local due = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not due or tonumber(due) <= tonumber(ARGV[1]) then return {} end
return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
