-- put_article.lua: create or replace an article's catalog entry, keeping indexes consistent.
--
-- KEYS[1] article meta hash   KEYS[2] shard articles set   KEYS[3] shard article->theme hash
-- KEYS[4] shard theme->count hash   KEYS[5] shard totals zset   KEYS[6] shard unranked set
-- ARGV[1] id  ARGV[2] title  ARGV[3] url  ARGV[4] theme  ARGV[5] published_at ("" for none)
-- ARGV[6] imported_views   ARGV[7] ranked ("1", or "0": out of every public list)
-- Returns 1 when the article was created, 0 when replaced.

local id, theme, imported = ARGV[1], ARGV[4], tonumber(ARGV[6])
local old = redis.call('HMGET', KEYS[1], 'theme', 'imported_views')
local existed = redis.call('SISMEMBER', KEYS[2], id)

redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'title', ARGV[2], 'url', ARGV[3], 'theme', theme,
           'published_at', ARGV[5], 'imported_views', ARGV[6], 'ranked', ARGV[7])
if ARGV[7] == '1' then redis.call('SREM', KEYS[6], id) else redis.call('SADD', KEYS[6], id) end
redis.call('SADD', KEYS[2], id)
redis.call('HSET', KEYS[3], id, theme)
if old[1] ~= theme then
  if old[1] then
    if redis.call('HINCRBY', KEYS[4], old[1], -1) <= 0 then redis.call('HDEL', KEYS[4], old[1]) end
  end
  redis.call('HINCRBY', KEYS[4], theme, 1)
end
-- Totals carry imported views, so the live count and the all-time ranking agree.
redis.call('ZINCRBY', KEYS[5], imported - tonumber(old[2] or '0'), id)
if existed == 1 then return 0 end
return 1
