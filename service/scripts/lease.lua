-- lease.lua: take or keep the scheduler leader lease.
--
-- KEYS[1] leader lease   KEYS[2] fencing epoch counter
-- ARGV[1] this scheduler's id   ARGV[2] the token it holds ("" when none)   ARGV[3] lease ms
-- Returns the token held after the call ("" when another scheduler leads). A new leader gets
-- a token with a higher epoch, so a paused old leader's token never matches again.

local holder = redis.call('GET', KEYS[1])
if holder and holder == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return holder
end
if holder then return '' end
local token = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[3])
return token
