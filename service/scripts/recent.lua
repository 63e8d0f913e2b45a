-- recent.lua: rebuild some articles' most recent readers (lib/recent_readers.lua) from every
-- readers sample of their shard still kept: for a store written before they were kept, and
-- after a replay wrote the samples.
-- KEYS[1] the most recent readers hash   KEYS[2 .. S+1] readers samples
-- ARGV[1] N (readers kept)   ARGV[2] S   ARGV[3 .. S+2] the clock hour each sample stands
--   for (a day's: its first hour)   then the articles
-- Returns the number of articles rebuilt.

local n, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local sources, hours = {}, {}
for s = 1, count do
  sources[s], hours[s] = s + 1, tonumber(ARGV[2 + s])
end
for a = 3 + count, #ARGV do
  recent_rebuild(KEYS[1], ARGV[a], sources, hours, n)
end
return #ARGV - 2 - count
