-- claim.lua: take the lease on fetching an article's page, unless another process holds it
-- or the article cools down after a failed fetch.
--
-- KEYS[1] the article's fetch lease   KEYS[2] the article's cool-down marker
-- ARGV[1] this fetch's token   ARGV[2] lease ms   ARGV[3] "1": take it during a cool-down
--   too (an editor's refresh)
-- Returns 1 when the lease is taken, 0 when another fetch holds it, -1 during a cool-down.

if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then return 1 end
return 0
