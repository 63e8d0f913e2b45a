-- due.lua: take the members of a schedule whose time has come (each taken by one caller).
--
-- KEYS[1] the schedule zset (member -> service-clock time)
-- ARGV[1] now (service clock s)   ARGV[2] members taken at most
-- Returns the members taken, earliest first.

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]), 'LIMIT', 0,
                       tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
