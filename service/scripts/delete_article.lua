-- delete_article.lua: remove an article and every counter kept for it in its shard.
--
-- KEYS[1] article meta hash   KEYS[2] shard articles set   KEYS[3] shard article->theme hash
-- KEYS[4] shard theme->count hash   KEYS[5] shard inbox   KEYS[6] shard draining set
-- KEYS[7] shard article->author hash   KEYS[8] shard author->count hash
-- KEYS[9] shard author->name hash   KEYS[10] shard catalog version
-- KEYS[11..] sorted sets, hashes and sets holding the article as a member (totals, windows,
--   buckets, bots), then its reader HyperLogLogs.
-- ARGV[1] id   ARGV[2] number of member-holding keys (from KEYS[11])
-- ARGV[3] a new random token for the catalog version
-- Returns 1 when deleted, 0 when the article did not exist.
-- The theme and author indexes through lib/catalog_index.lua, loaded before this.

local id = ARGV[1]
if redis.call('SREM', KEYS[2], id) == 0 then return 0 end
index_theme(id, redis.call('HGET', KEYS[3], id), nil)
index_author(id, redis.call('HGET', KEYS[7], id) or '', '', '')
redis.call('DEL', KEYS[1])
catalog_changed()
-- Its views not yet merged: the inbox holds one rollup interval's ("m5 index|article").
for k = 5, 6 do
  local cursor = '0'
  repeat
    local page = redis.call('ZSCAN', KEYS[k], cursor, 'MATCH', '*|' .. id, 'COUNT', 1000)
    cursor = page[1]
    for m = 1, #page[2], 2 do redis.call('ZREM', KEYS[k], page[2][m]) end
  until cursor == '0'
end
local holders = tonumber(ARGV[2])
for k = 11, 10 + holders do
  local kind = redis.call('TYPE', KEYS[k])['ok']
  if kind == 'zset' then
    redis.call('ZREM', KEYS[k], id)
  elseif kind == 'hash' then
    redis.call('HDEL', KEYS[k], id)
  elseif kind == 'set' then
    redis.call('SREM', KEYS[k], id)
  end
end
for k = 11 + holders, #KEYS do
  redis.call('DEL', KEYS[k])
end
return 1
