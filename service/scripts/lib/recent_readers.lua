-- lib/recent_readers.lua: an article's most recent distinct readers, kept so that the lists'
-- minimum-readers rule is one lookup per article for every window (integrity.ReaderGate).
--
-- A value holds up to N entries, most recent first: a reader id (8 characters, as the
-- readers samples hold them) and the last clock hour it was seen in (8 digits). An article
-- has N distinct readers in a window starting at clock hour H exactly when its N-th entry's
-- hour is at least H: those N were all seen since H, and had N readers been seen since H,
-- each would be seen no earlier than its last hour. Folding in the ids of an hour, or of a
-- day at its first hour, in any order, keeps that true: a reader dropped for being older
-- than all N kept can only return with a later hour.
-- samples.lua folds the rollup's last two hours in; recent.lua and purge.lua rebuild an
-- article's value from every readers sample still kept.

local RECENT_ID, RECENT_HOUR = 8, 8
local RECENT_ENTRY = RECENT_ID + RECENT_HOUR

-- `held` with the readers `ids` (a readers sample's value) seen in clock hour `hour`, at
-- most `n` entries; `held` itself when nothing changes.
local function recent_merge(held, ids, hour, n)
  local entries = {}
  for i = 1, #held, RECENT_ENTRY do
    entries[#entries + 1] = {string.sub(held, i, i + RECENT_ID - 1),
      tonumber(string.sub(held, i + RECENT_ID, i + RECENT_ENTRY - 1))}
  end
  local changed = #entries > n
  for i = 1, #ids, RECENT_ID do
    local id = string.sub(ids, i, i + RECENT_ID - 1)
    local found, oldest = nil, nil
    for _, entry in ipairs(entries) do
      if entry[1] == id then found = entry break end
      if oldest == nil or entry[2] < oldest[2] then oldest = entry end
    end
    if found then
      if found[2] < hour then found[2], changed = hour, true end
    elseif #entries < n then
      entries[#entries + 1], changed = {id, hour}, true
    elseif oldest and oldest[2] < hour then
      oldest[1], oldest[2], changed = id, hour, true
    end
  end
  if not changed then return held end
  table.sort(entries, function(a, b) return a[2] > b[2] end)
  local parts = {}
  for k = 1, math.min(#entries, n) do
    parts[k] = entries[k][1] .. string.format('%0' .. RECENT_HOUR .. 'd', entries[k][2])
  end
  return table.concat(parts)
end

-- An article's value rebuilt from readers samples: `sources` KEYS indexes, `hours` the clock
-- hour each stands for (a day's sample: the day's first hour); written, or removed when
-- no sample holds a reader.
local function recent_rebuild(recent_k, article, sources, hours, n)
  local held = ''
  for s, k in ipairs(sources) do
    local ids = redis.call('HGET', KEYS[k], article)
    if ids then held = recent_merge(held, ids, hours[s], n) end
  end
  if held == '' then
    redis.call('HDEL', recent_k, article)
  else
    redis.call('HSET', recent_k, article, held)
  end
end
