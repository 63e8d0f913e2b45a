-- advance.lua: slide one shard's window sets forward to a rollup's as_of.
--
-- KEYS[1] window-start hash, then for each window in ARGV order: its window set, then the
--   bucket keys of indexes lo .. hi (oldest that may still exist .. newest).
-- ARGV[1] number of windows; then per window 8 fields: name, lo, hi, start (index of the
--   window's oldest bucket at as_of), drop (1: no longer window needs buckets it leaves),
--   kept (oldest bucket index whose TTL cannot have run out yet), reset (1: a daily window),
--   span (0: the window runs up to now; else it holds `span` buckets, start .. hi, the window
--   just before a list's).
-- Views older than `start` are subtracted bucket by bucket; a window of `span` buckets adds
-- the buckets that entered it at its newer end. When the stored start is unknown or older
-- than `kept` (its buckets may be gone), or a span window moved by its whole span, the window
-- set is rebuilt instead. A daily window is rebuilt whenever its start moves (its new day
-- holds a few buckets; the old one up to 25), and then lo = start.
-- Returns the number of buckets subtracted.

local subtracted = 0
local k = 2
for w = 0, tonumber(ARGV[1]) - 1 do
  local base = 2 + w * 8
  local name, lo, hi = ARGV[base], tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local start, drop = tonumber(ARGV[base + 3]), ARGV[base + 4] == '1'
  local kept, reset = tonumber(ARGV[base + 5]), ARGV[base + 6] == '1'
  local span = tonumber(ARGV[base + 7])
  local set = KEYS[k]
  local first_bucket = k + 1           -- KEYS index of bucket `lo`
  local old = redis.call('HGET', KEYS[1], name)
  if old and (tonumber(old) == start or (not reset and tonumber(old) > start)) then
    -- nothing left the window since the last rollup
  elseif old and not reset and tonumber(old) >= kept
      and (span == 0 or start - tonumber(old) < span) then
    -- The buckets that entered a span window: its old end + 1 .. its new end (hi).
    if span > 0 then
      for index = tonumber(old) + span, hi do
        redis.call('ZUNIONSTORE', set, 2, set, KEYS[first_bucket + index - lo])
      end
    end
    for index = tonumber(old), start - 1 do
      local bucket = KEYS[first_bucket + index - lo]
      local members = redis.call('ZRANGE', bucket, 0, -1, 'WITHSCORES')
      for m = 1, #members, 2 do
        if tonumber(redis.call('ZINCRBY', set, -tonumber(members[m + 1]), members[m])) <= 0 then
          redis.call('ZREM', set, members[m])
        end
      end
      if drop then redis.call('UNLINK', bucket) end
      subtracted = subtracted + 1
    end
  else
    local sources = {}
    for index = start, hi do sources[#sources + 1] = KEYS[first_bucket + index - lo] end
    redis.call('DEL', set)
    redis.call('ZUNIONSTORE', set, #sources, unpack(sources))
    if drop then
      for index = lo, start - 1 do redis.call('UNLINK', KEYS[first_bucket + index - lo]) end
    end
  end
  if old == false or tonumber(old) < start or (reset and tonumber(old) ~= start) then
    redis.call('HSET', KEYS[1], name, start)
  end
  k = first_bucket + hi - lo + 1
end
return subtracted
