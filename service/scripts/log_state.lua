-- log_state.lua: what each shard's event-log stream holds, for /metrics and the drain.
--
-- KEYS: per shard, its log stream, then its drain state hash.
-- Returns per shard: entries held, entries ever added, entries ever archived.

local out = {}
for i = 1, #KEYS, 2 do
  local held, added = 0, 0
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for j = 1, #info, 2 do
      if info[j] == 'length' then held = info[j + 1] end
      if info[j] == 'entries-added' then added = info[j + 1] end
    end
  end
  out[#out + 1] = held
  out[#out + 1] = added
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[i + 1], 'drained') or '0')
end
return out
