-- feed_article.lua: add or update an article from a feed or sitemap, never overriding an
-- editor. The rule (README "Feeds and sitemaps"):
--   * an article not in the catalog is created (ranked, no imported views) and marked as the
--     feeds' own (meta field source = "feed");
--   * an article the feeds created is updated: title, url, theme, published_at, author,
--     whatever the feed now says (a field the feed leaves out is kept); ranked and
--     imported_views are never touched;
--   * an article an editor wrote (PUT /v1/articles/{id} replaces the whole entry, dropping
--     the mark) or a page fetch registered only has a missing published_at filled in: its
--     author, or its having none, is the editor's.
-- Feeds never delete an article, never un-rank or re-rank one.
-- The theme and author indexes through lib/catalog_index.lua, loaded before this.
--
-- KEYS as put_article.lua: [1] article meta hash  [2] shard articles set
--   [3] shard article->theme hash  [4] shard theme->count hash  [5] shard totals zset
--   [6] shard unranked set  [7] shard article->author hash  [8] shard author->count hash
--   [9] shard author->name hash  [10] shard catalog version
-- ARGV[1] id  ARGV[2] title ("": the feed has none, as a plain sitemap)  ARGV[3] url
-- ARGV[4] theme ("": the feed names no section)  ARGV[5] published_at ("": none)
-- ARGV[6] the theme of a new article whose feed names none (VIEWCOUNT_DEFAULT_THEME)
-- ARGV[7] author slug ("": the feed names no author)  ARGV[8] author name ("" with no slug)
-- ARGV[9] a new random token for the catalog version (set only when something changed)
-- Returns 0 unchanged, 1 created, 2 updated, 3 filled in, 4 not created (no title).

local id, title, url, theme, published = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local author, author_name = ARGV[7], ARGV[8]
local old = redis.call('HMGET', KEYS[1], 'title', 'url', 'theme', 'published_at', 'source',
                       'author', 'author_name')

if redis.call('SISMEMBER', KEYS[2], id) == 0 then
  if title == '' then return 4 end
  if theme == '' then theme = ARGV[6] end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'title', title, 'url', url, 'theme', theme,
             'published_at', published, 'imported_views', '0', 'ranked', '1', 'source', 'feed',
             'author', author, 'author_name', author_name)
  redis.call('SREM', KEYS[6], id)
  redis.call('SADD', KEYS[2], id)
  index_theme(id, nil, theme)
  index_author(id, redis.call('HGET', KEYS[7], id) or '', author, author_name)
  redis.call('ZINCRBY', KEYS[5], 0, id)  -- in the totals, as put_article.lua leaves it
  catalog_changed()
  return 1
end

if old[5] == 'feed' then
  if title == '' then title = old[1] end
  if theme == '' then theme = old[3] end
  if published == '' then published = old[4] or '' end
  if author == '' then author, author_name = old[6] or '', old[7] or '' end
  if title == old[1] and url == old[2] and theme == old[3] and published == (old[4] or '')
     and author == (old[6] or '') and author_name == (old[7] or '') then
    return 0
  end
  redis.call('HSET', KEYS[1], 'title', title, 'url', url, 'theme', theme,
             'published_at', published, 'author', author, 'author_name', author_name)
  index_theme(id, old[3], theme)
  index_author(id, redis.call('HGET', KEYS[7], id) or '', author, author_name)
  catalog_changed()
  return 2
end

if (old[4] == false or old[4] == '') and published ~= '' then
  redis.call('HSET', KEYS[1], 'published_at', published)
  catalog_changed()
  return 3
end
return 0
