-- release.lua: give up the leader lease if this scheduler still holds it.
-- KEYS[1] leader lease   ARGV[1] the token held.   Returns 1 when released.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
