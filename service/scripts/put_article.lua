-- put_article.lua: create or replace an article's catalog entry, keeping indexes consistent.
-- (The indexes through lib/catalog_index.lua, loaded before this.)
--
-- KEYS[1] article meta hash   KEYS[2] shard articles set   KEYS[3] shard article->theme hash
-- KEYS[4] shard theme->count hash   KEYS[5] shard totals zset   KEYS[6] shard unranked set
-- KEYS[7] shard article->author hash   KEYS[8] shard author->count hash
-- KEYS[9] shard author->name hash   KEYS[10] shard catalog version
-- ARGV[1] id  ARGV[2] title  ARGV[3] url  ARGV[4] theme  ARGV[5] published_at ("" for none)
-- ARGV[6] imported_views   ARGV[7] ranked ("1", or "0": out of every public list)
-- ARGV[8] author slug ("" for none)   ARGV[9] author name ("" for none)
-- ARGV[10] a new random token for the catalog version
-- Returns 1 when the article was created, 0 when replaced.

local id, theme, imported = ARGV[1], ARGV[4], tonumber(ARGV[6])
local old = redis.call('HMGET', KEYS[1], 'theme', 'imported_views')
local existed = redis.call('SISMEMBER', KEYS[2], id)
local author, old_author = ARGV[8], redis.call('HGET', KEYS[7], id) or ''

redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'title', ARGV[2], 'url', ARGV[3], 'theme', theme,
           'published_at', ARGV[5], 'imported_views', ARGV[6], 'ranked', ARGV[7],
           'author', author, 'author_name', ARGV[9])
if ARGV[7] == '1' then redis.call('SREM', KEYS[6], id) else redis.call('SADD', KEYS[6], id) end
redis.call('SADD', KEYS[2], id)
index_theme(id, old[1], theme)
index_author(id, old_author, author, ARGV[9])
-- Totals carry imported views, so the live count and the all-time ranking agree.
redis.call('ZINCRBY', KEYS[5], imported - tonumber(old[2] or '0'), id)
catalog_changed()
if existed == 1 then return 0 end
return 1
