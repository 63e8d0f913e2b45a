-- publish.lua: make a finished ranking snapshot the current one, atomically and fenced.
--
-- KEYS[1] leader lease   KEYS[2] current-snapshot hash   KEYS[3] the new snapshot
-- KEYS[4] tombstones (deleted articles -> deletion time)   KEYS[5] the snapshot it replaces
-- ARGV[1] lease token ("" for a one-off rollup that holds no lease)   ARGV[2] new generation
-- ARGV[3] as_of (epoch s)   ARGV[4] drop tombstones older than this (epoch s)
-- ARGV[5] seconds the replaced snapshot stays readable   ARGV[6] generation of KEYS[5]
-- Returns 1 when published; 0 when fenced off (lease lost, or a newer snapshot is current).

if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('UNLINK', KEYS[3])
  return 0
end
local current = redis.call('HMGET', KEYS[2], 'generation', 'as_of')
if current[2] and tonumber(current[2]) > tonumber(ARGV[3]) then
  redis.call('UNLINK', KEYS[3])
  return 0
end
redis.call('HSET', KEYS[2], 'generation', ARGV[2], 'as_of', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('PERSIST', KEYS[3])
-- Readers that fetched the old generation a moment ago can still read it for a while.
if current[1] == ARGV[6] then redis.call('EXPIRE', KEYS[5], ARGV[5]) end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[4])
return 1
