-- tombstone.lua: take a deleted article out of every published list at once, or let a
-- re-created one rank again; readers notice through the current snapshot's version.
--
-- KEYS[1] tombstones (article -> deletion time)   KEYS[2] current-snapshot hash
-- ARGV[1] article   ARGV[2] deletion time (epoch s), or "" to lift its tombstone
-- Returns 1 when the tombstones changed, else 0.

local changed
if ARGV[2] == '' then
  changed = redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  changed = 1
end
if changed == 1 then redis.call('HINCRBY', KEYS[2], 'version', 1) end
return changed
