-- log_trim.lua: forget the event-log entries an archive file now holds, and count them.
--
-- KEYS[1] the shard's log stream   KEYS[2] the shard's drain state hash
-- ARGV[1] the first id still to keep (the last archived id, plus one)
-- Returns the entries the stream still holds.
-- The state's `drained` counts entries archived ever (what this trim removed, counted here,
-- whoever wrote the file); with the stream's own count of entries added (XINFO), it tells how
-- many the stream's bound dropped unarchived (log_state.lua).

local before = redis.call('XLEN', KEYS[1])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
local after = redis.call('XLEN', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'drained', before - after)
return after
