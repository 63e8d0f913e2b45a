-- meta.lua: the catalog fields of several articles of one shard (one HMGET each, run here so
-- the client packs and parses one command a hundred articles, not one an article).
--
-- KEYS the articles' meta hashes   ARGV the field names
-- Returns one list per key, in KEYS order: its fields' values in ARGV order, nil for a field
-- not set (every field nil: the article is not in the catalog).

local found = {}
for k = 1, #KEYS do
  found[k] = redis.call('HMGET', KEYS[k], unpack(ARGV))
end
return found
