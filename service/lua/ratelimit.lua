-- ratelimit.lua: sliding-window request counts per client (a digest, never the raw IP).
--
-- KEYS[1] this minute's hash (client digest -> requests)   KEYS[2] the previous minute's hash
-- ARGV[1] limit per minute   ARGV[2] weight of the previous minute (share of it still inside
--   the sliding minute, 0..1)   ARGV[3] TTL s of KEYS[1]   ARGV[4..] digests,
--   one per request.
-- Returns one flag per request: 1 allowed, 0 over the limit. Refused requests are counted
-- too, so a client that keeps hammering stays limited.

local limit = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local previous = {}
local flags = {}
for i = 4, #ARGV do
  local digest = ARGV[i]
  if previous[digest] == nil then
    previous[digest] = tonumber(redis.call('HGET', KEYS[2], digest) or '0')
  end
  local current = redis.call('HINCRBY', KEYS[1], digest, 1)
  if current + math.floor(previous[digest] * weight) <= limit then
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return flags
