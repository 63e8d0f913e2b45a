-- record.lua: count a group of views atomically, in one section per shard.
--
-- On a single node one call carries every shard's section, so a group commit is one call;
-- on a Redis Cluster each call carries one section (every key of a call shares a slot).
-- A view costs the all-time total and one entry in the shard's inbox ("m5 index|article" ->
-- views); the rollup moves the inbox into the time buckets and window sets (merge.lua), so
-- the beacon path does not pay for every bucket and window a view feeds.
-- The call is built by record.py, which names every key and lays out every field.
-- KEYS of a section, from its base b: b articles set, b+1 totals zset, b+2 bot-views hash,
--   b+3 inbox zset, b+4 views-per-minute counter, b+5 automated-views hash, b+6 this clock
--   hour's per-client caps hash (cap field -> views), b+7 the previous hour's, b+8 this
--   hour's readers sample (article -> reader ids), b+9 this hour's top clients (article ->
--   "client:views"), b+10 this hour's automated views, b+11 the event log stream (below),
--   b+12 this hour's set of the articles whose sample grew (samples.lua folds them); then its
--   per-view keys (event id, dedupe, readers) and the rate-limit hashes (client digest -> requests;
--   this minute's, then the previous minute's at the next key number).
-- ARGV[1] dedupe TTL s   ARGV[2] event-id TTL s   ARGV[3] per-minute key TTL s
-- ARGV[4] inbox TTL s (a safety net: the rollup empties it every interval)
-- ARGV[5] rate limit per client and minute   ARGV[6] weight of the previous minute (the share
--   of it still inside the sliding minute)   ARGV[7] TTL s of this minute's rate hashes
-- ARGV[8] fields per view (record.py: BATCH_FIELDS 6 or BEACON_FIELDS 11)
-- ARGV[9] views per client network, article and two clock hours (0: no cap)
-- ARGV[10] reader ids a sample keeps (VIEWCOUNT_MIN_READERS)
-- ARGV[11] TTL s of this hour's caps hash   ARGV[12] TTL s of this hour's readers sample
-- ARGV[13] TTL s of this hour's top-clients and automated-views hashes
-- ARGV[14] views of one client for one article in an hour from which it is a top client
-- ARGV[15] number of sections; then per section: b, NV (number of views), then per view its
--   fields: article, event key #, readers key # (0: none), readers member (a random id when
--   there is no readers key), readers TTL s, 5-minute
--   bucket index; and past the batch fields: kind ("v" view, "b" bot, "a" automated),
--   dedupe key #, rate key # (0: the caller checked the limit already, or there is none),
--   client digest (hex; "" for none), cap field (the client network and article, digested;
--   "" for no cap). Batch views (no dedupe, no bots, no rate limit, no cap) read as "v", 0,
--   0, "", "". A key number is an index into KEYS, 0 when absent.
-- Returns one code per view, sections in order: 1 counted, 2 duplicate reader,
--   3 duplicate event id, 4 unknown article, 5 bot, 6 over the rate limit (refused requests
--   count towards the limit too, so a client that keeps hammering stays limited),
--   7 automated (counted apart, as bots are: an automated User-Agent, or past the cap).
-- Event log (issue 15; the blocks marked "event log" below): KEYS b+11 is the log stream the
--   section's decisions go to; the LAST ARGV is the streams' bound in entries (0: no log),
--   the one before it the service clock's now (s), which each entry keeps as its `t`.
--   Each stream named gets one entry per call holding the decisions of its sections (every
--   one but unknown articles), in the format service/eventlog/record.py reads (its VERSION;
--   one line per view). On a single node record.py names one stream for every section, so a
--   group commit costs one XADD.

local dedupe_ttl = tonumber(ARGV[1])
local event_ttl = tonumber(ARGV[2])
local minute_ttl = ARGV[3]
local inbox_ttl = ARGV[4]
local rate_limit, rate_weight, rate_ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local fields = tonumber(ARGV[8])
local cap, sample_size = tonumber(ARGV[9]), tonumber(ARGV[10])
local caps_ttl, sample_ttl, hourly_ttl = ARGV[11], ARGV[12], ARGV[13]
local top_from = tonumber(ARGV[14])
local ID = 8  -- characters of a reader id in a sample
-- event log: the bound travels last so that the header above keeps its numbering.
local log_maxlen = tonumber(table.remove(ARGV))
local log_now = table.remove(ARGV)
local logs, log_keys = {}, {}  -- event log: stream key -> its lines; the keys in call order
local rate_keys = {}
local codes = {}

local function over_limit(k, client)
  rate_keys[k] = true
  local current = redis.call('HINCRBY', KEYS[k], client, 1)
  local previous = tonumber(redis.call('HGET', KEYS[k + 1], client) or '0')
  return current + math.floor(previous * rate_weight) > rate_limit
end

local function bump(t, k, n)
  t[k] = (t[k] or 0) + n
end

local function has(members, id)
  for i = 1, #members, ID do
    if string.sub(members, i, i + ID - 1) == id then return true end
  end
  return false
end

local function section(b, pos)
  local articles_k, totals_k, bots_k, inbox_k = KEYS[b], KEYS[b + 1], KEYS[b + 2], KEYS[b + 3]
  local caps_k, sample_k = KEYS[b + 6], KEYS[b + 8]
  local nv = tonumber(ARGV[pos])
  pos = pos + 1
  -- The section's articles, looked up once each in two commands: whether each is in the
  -- catalog (it cannot change mid-call), and the hour's readers sample of each.
  local order, seen = {}, {}
  for i = 0, nv - 1 do
    local article = ARGV[pos + i * fields]
    if not seen[article] then
      seen[article] = true
      order[#order + 1] = article
    end
  end
  local known, samples, changed = {}, {}, {}
  local found = redis.call('SMISMEMBER', articles_k, unpack(order))
  local held = redis.call('HMGET', sample_k, unpack(order))
  for i, article in ipairs(order) do
    known[article] = found[i] == 1
    samples[article] = held[i] or ''
  end
  local function sample(article, id)
    local members = samples[article]
    if #members < sample_size * ID and not has(members, id) then
      samples[article] = members .. id
      changed[article] = true
    end
  end
  local totals, inbox, bot_views, automated_views, automated_hour = {}, {}, {}, {}, {}
  local tops = {}                      -- article -> {client, views this hour}
  local readers, readers_ttl = {}, {}  -- key number -> members, TTL
  local counted, capped = 0, false
  local logged = logs[KEYS[b + 11]]  -- event log: the lines of this section's stream
  if logged == nil and log_maxlen > 0 then
    logged = {}
    logs[KEYS[b + 11]] = logged
    log_keys[#log_keys + 1] = KEYS[b + 11]
  end
  for _ = 1, nv do
    local article, event_k = ARGV[pos], tonumber(ARGV[pos + 1])
    local readers_k = tonumber(ARGV[pos + 2])
    local kind, seen_k, rate_k, client, field = 'v', 0, 0, '', ''
    if fields > 6 then
      kind, seen_k, rate_k = ARGV[pos + 6], tonumber(ARGV[pos + 7]), tonumber(ARGV[pos + 8])
      client, field = ARGV[pos + 9], ARGV[pos + 10]
    end
    local code = 1
    if rate_k > 0 and over_limit(rate_k, client) then
      code = 6
    elseif not known[article] then
      code = 4
    elseif event_k > 0 and not redis.call('SET', KEYS[event_k], '1', 'NX', 'EX', event_ttl) then
      code = 3
    elseif kind == 'b' then
      code = 5
      bump(bot_views, article, 1)
    elseif kind == 'a' then
      code = 7
    elseif seen_k > 0 and not redis.call('SET', KEYS[seen_k], '1', 'NX', 'EX', dedupe_ttl) then
      code = 2
    elseif client ~= '' then
      local id = string.sub(client, 1, ID)
      if field ~= '' then
        -- At most `cap` counted views from one client network in this clock hour and the one
        -- before together, so in any hour, and in any 1h list (its start is on a 5-minute
        -- boundary, so it never reaches into a third clock hour); refused ones count too (a
        -- flood stays refused).
        local views = redis.call('HINCRBY', caps_k, field, 1)
        capped = true
        if views > cap then
          code = 7
        else
          local before = redis.call('HGET', KEYS[b + 7], field)
          if views + tonumber(before or '0') > cap then code = 7 end
        end
        if views == 1 and code == 1 then sample(article, id) end  -- a new reader this hour
        if views >= top_from then
          local top = tops[article]
          if top == nil or views > top[2] then tops[article] = {client, views} end
        end
      else
        sample(article, id)
      end
    elseif kind == 'v' then
      -- A batch view: each distinct visitor is a reader; one without is a reader of its own
      -- (record.py gives it a random member).
      sample(article, string.sub(ARGV[pos + 3], 1, ID))
    end
    if code == 7 then
      bump(automated_views, article, 1)
      bump(automated_hour, article, 1)
    end
    if code == 1 then
      counted = counted + 1
      bump(totals, article, 1)
      bump(inbox, ARGV[pos + 5] .. '|' .. article, 1)
      if readers_k > 0 then
        local members = readers[readers_k]
        if members == nil then
          members = {}
          readers[readers_k], readers_ttl[readers_k] = members, ARGV[pos + 4]
        end
        members[#members + 1] = ARGV[pos + 3]
      end
    end
    codes[#codes + 1] = code
    -- event log: one line per decision (not for an article outside the catalog, which a
    -- flood of made-up ids would fill the log with): code, 5-minute bucket, article, the
    -- reader's digest cut to 8 hex characters, the client network's to 16 (eventlog/record.py).
    if log_maxlen > 0 and code ~= 4 then
      logged[#logged + 1] = code .. ',' .. ARGV[pos + 5] .. ',' .. article .. ','
        .. string.sub(ARGV[pos + 3], 1, 8) .. ',' .. string.sub(client, 1, 16)
    end
    pos = pos + fields
  end
  if counted > 0 then
    for article, n in pairs(totals) do redis.call('ZINCRBY', totals_k, n, article) end
    for member, n in pairs(inbox) do redis.call('ZINCRBY', inbox_k, n, member) end
    redis.call('EXPIRE', inbox_k, inbox_ttl)
    for k, members in pairs(readers) do
      for i = 1, #members, 1000 do  -- unpack() has a limit on results
        redis.call('PFADD', KEYS[k], unpack(members, i, math.min(i + 999, #members)))
      end
      redis.call('EXPIRE', KEYS[k], readers_ttl[k])
    end
    if redis.call('INCRBY', KEYS[b + 4], counted) == counted then
      redis.call('EXPIRE', KEYS[b + 4], minute_ttl)  -- a new minute's counter
    end
  end
  if capped then redis.call('EXPIRE', caps_k, caps_ttl) end
  local sampled = false
  for article in pairs(changed) do
    redis.call('HSET', sample_k, article, samples[article])
    redis.call('SADD', KEYS[b + 12], article)  -- for the next rollup to fold (samples.lua)
    sampled = true
  end
  if sampled then
    redis.call('EXPIRE', sample_k, sample_ttl)
    redis.call('EXPIRE', KEYS[b + 12], sample_ttl)
  end
  for article, top in pairs(tops) do
    local held = redis.call('HGET', KEYS[b + 9], article)
    if not held or tonumber(string.match(held, ':(%d+)$')) < top[2] then
      redis.call('HSET', KEYS[b + 9], article, top[1] .. ':' .. top[2])
      redis.call('EXPIRE', KEYS[b + 9], hourly_ttl)
    end
  end
  for article, n in pairs(bot_views) do redis.call('HINCRBY', bots_k, article, n) end
  for article, n in pairs(automated_views) do redis.call('HINCRBY', KEYS[b + 5], article, n) end
  local automated = false
  for article, n in pairs(automated_hour) do
    redis.call('HINCRBY', KEYS[b + 10], article, n)
    automated = true
  end
  if automated then redis.call('EXPIRE', KEYS[b + 10], hourly_ttl) end
  return pos
end

local pos = 16
for _ = 1, tonumber(ARGV[15]) do
  local b = tonumber(ARGV[pos])
  pos = section(b, pos + 1)
end
for k in pairs(rate_keys) do redis.call('EXPIRE', KEYS[k], rate_ttl) end
-- event log: each stream's lines as one entry, in the same atomic call as the counts.
for _, k in ipairs(log_keys) do
  if #logs[k] > 0 then
    redis.call('XADD', k, 'MAXLEN', '~', log_maxlen, '*',
      'v', '1', 't', log_now, 'e', table.concat(logs[k], '\n'))
  end
end
return codes
