-- ratelimit.lua: sliding-window request counts per client (a digest, never the raw IP).
--
-- One section per shard of client digests (several on a single node, one on a Redis Cluster).
-- KEYS[2s-1] section s's hash of this minute (client digest -> requests)
-- KEYS[2s]   section s's hash of the previous minute
-- ARGV[1] limit per minute   ARGV[2] weight of the previous minute (share of it still inside
--   the sliding minute, 0..1)   ARGV[3] TTL s of this minute's hashes   ARGV[4] sections;
--   then per section: n, and n digests, one per request.
-- Returns one flag per request, sections in order: 1 allowed, 0 over the limit. Refused
-- requests are counted too, so a client that keeps hammering stays limited.
-- Event log (issue 15; the blocks marked "event log"), for a Redis Cluster, where this runs
--   before record.lua and the views it refuses never reach it: the LAST ARGV is the log's
--   bound in entries (0: no log), the one before it the service clock's now (s); with a log,
--   each section's n digests are followed by n partial log lines ("m5,article,reader", as
--   service/eventlog/record.py writes a line), and KEYS[2S + s] is section s's log stream
--   (S sections). Refused requests are logged as rate limited, one entry per section.

-- event log: popped first, so that the numbering above holds.
local log_maxlen = tonumber(table.remove(ARGV))
local log_now = table.remove(ARGV)
local sections = tonumber(ARGV[4])
local limit = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local flags = {}
local pos = 5
for s = 1, sections do
  local current_k, previous_k = KEYS[2 * s - 1], KEYS[2 * s]
  local n = tonumber(ARGV[pos])
  -- The previous minute of every client in one read.
  local previous = redis.call('HMGET', previous_k, unpack(ARGV, pos + 1, pos + n))
  local refused = {}  -- event log: this section's lines
  for i = pos + 1, pos + n do
    local digest = ARGV[i]
    local current = redis.call('HINCRBY', current_k, digest, 1)
    if current + math.floor(tonumber(previous[i - pos] or '0') * weight) <= limit then
      flags[#flags + 1] = 1
    else
      flags[#flags + 1] = 0
      if log_maxlen > 0 then  -- event log
        refused[#refused + 1] = '6,' .. ARGV[i + n] .. ',' .. string.sub(digest, 1, 16)
      end
    end
  end
  redis.call('EXPIRE', current_k, ARGV[3])
  pos = pos + n + 1
  if log_maxlen > 0 then  -- event log: past the partial lines; one entry for what was refused
    pos = pos + n
    if #refused > 0 then
      redis.call('XADD', KEYS[2 * sections + s], 'MAXLEN', '~', log_maxlen, '*',
        'v', '1', 't', log_now, 'e', table.concat(refused, '\n'))
    end
  end
end
return flags
