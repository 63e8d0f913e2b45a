-- settle.lua: end a fetch: give up its lease (if still ours) and, after a failure, start
-- the article's cool-down.
--
-- KEYS[1] the article's fetch lease   KEYS[2] the article's cool-down marker
-- ARGV[1] this fetch's token   ARGV[2] cool-down ms (0: none, the fetch succeeded)
-- Returns 1 when the lease was still ours.

local ours = redis.call('GET', KEYS[1]) == ARGV[1]
if ours then redis.call('DEL', KEYS[1]) end
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], '1', 'PX', tonumber(ARGV[2])) end
if ours then return 1 end
return 0
