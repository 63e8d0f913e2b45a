-- unhold.lua: forget the oldest held views of an article once they are counted.
--
-- KEYS[1] the article's held list   KEYS[2] the shard's due zset   KEYS[3] the shard's held
-- counts hash   KEYS[4] the shard's held total   KEYS[5] the shard's held urls hash
-- ARGV[1] article   ARGV[2] how many of the oldest records were counted (peek.lua read them)
-- Returns how many records the list still holds (views held while these were counted).

local article, counted = ARGV[1], tonumber(ARGV[2])
redis.call('LTRIM', KEYS[1], counted, -1)
local left = redis.call('LLEN', KEYS[1])
local held = tonumber(redis.call('HGET', KEYS[3], article) or '0')
local dropped = math.min(counted, held)
if left == 0 then
  dropped = held
  redis.call('HDEL', KEYS[3], article)
  redis.call('HDEL', KEYS[5], article)
  redis.call('ZREM', KEYS[2], article)
elseif dropped > 0 then
  redis.call('HINCRBY', KEYS[3], article, -dropped)
end
if dropped > 0 then redis.call('DECRBY', KEYS[4], dropped) end
return left
