-- lib/catalog_index.lua: the shard's catalog indexes, kept one way by every script that adds,
-- changes or removes an article (put_article, feed_article, delete_article, which load this
-- before their own source). Their KEYS share the layout: KEYS[3] article->theme hash,
-- KEYS[4] theme->count hash, KEYS[7] article->author hash, KEYS[8] author->count hash,
-- KEYS[9] author->name hash, KEYS[10] the shard's catalog version; their last ARGV is a new
-- random token for it.

-- The shard's catalog changed: its version becomes the call's token, so that a rollup holding
-- what it read of the shard (catalogcache.py) reads it again.
local function catalog_changed()
  redis.call('SET', KEYS[10], ARGV[#ARGV])
end

-- The article's theme moves from `from` to `to` (nil or false: none, as for a new or a
-- deleted article); a theme's count that reaches 0 is removed.
local function index_theme(id, from, to)
  if to then redis.call('HSET', KEYS[3], id, to) else redis.call('HDEL', KEYS[3], id) end
  if from == to then return end
  if from and redis.call('HINCRBY', KEYS[4], from, -1) <= 0 then
    redis.call('HDEL', KEYS[4], from)
  end
  if to then redis.call('HINCRBY', KEYS[4], to, 1) end
end

-- The article's author moves from `from` to `to` ("": none); an author whose count reaches 0
-- loses their count and name; `name` ("": keep the one known) names the new author.
local function index_author(id, from, to, name)
  if from ~= to then
    if from ~= '' and redis.call('HINCRBY', KEYS[8], from, -1) <= 0 then
      redis.call('HDEL', KEYS[8], from)
      redis.call('HDEL', KEYS[9], from)
    end
    if to ~= '' then redis.call('HINCRBY', KEYS[8], to, 1) end
  end
  if to == '' then
    redis.call('HDEL', KEYS[7], id)
  else
    redis.call('HSET', KEYS[7], id, to)
    if name ~= '' then redis.call('HSET', KEYS[9], to, name) end
  end
end

