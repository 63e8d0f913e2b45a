-- bench.lua: request generator for wrk.
-- Usage: wrk -s bench.lua URL -- MODE NONCE ARTICLES PATH EVENTS TOKEN
--   beacon  POST /v1/views, text/plain JSON, a new visitor and a random X-Forwarded-For each
--   pixel   GET /v1/views/pixel.gif?article=..&visitor=.., a random X-Forwarded-For each
--   batch   POST /v1/views/batch with EVENTS events, each with a unique event_id and visitor
--   get     GET PATH, the same request every time
-- BENCH_DELAY_MS in the environment paces each connection (a steady load below saturation,
-- for latency under load); it is read at load time because wrk asks then whether delay() exists.
-- done() prints one line "BENCH {json}" with the totals and latency percentiles (µs).

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

local mode, nonce, articles, path, events, token
local counter = 0
local static

-- A browser's User-Agent: wrk sends none, and an empty one is counted as a bot.
local UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
           "Chrome/126.0.0.0 Safari/537.36"

local function random_ip()
  return string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255),
                       math.random(1, 254))
end

function init(args)
  mode, nonce, articles = args[1], args[2], tonumber(args[3])
  path = args[4]
  events = tonumber(args[5] or "10000")
  token = args[6] or ""
  math.randomseed(os.time() * 1000 + id)
  if mode == "get" then
    static = wrk.format("GET", path)
  end
end

local function next_visitor()
  counter = counter + 1
  return string.format("%s-%d-%d", nonce, id, counter)
end

local function batch_body()
  local parts = {}
  for i = 1, events do
    local visitor = next_visitor()
    parts[i] = string.format('{"article":"bench-%d","event_id":"%s","visitor":"%s"}',
                             counter % articles, visitor, visitor)
  end
  return '{"events":[' .. table.concat(parts, ",") .. ']}'
end

function request()
  if mode == "get" then
    return static
  elseif mode == "beacon" then
    local visitor = next_visitor()
    local body = string.format('{"article":"bench-%d","visitor":"%s"}', counter % articles,
                               visitor)
    return wrk.format("POST", "/v1/views", {["Content-Type"] = "text/plain;charset=UTF-8",
                      ["X-Forwarded-For"] = random_ip(), ["User-Agent"] = UA}, body)
  elseif mode == "pixel" then
    local visitor = next_visitor()
    return wrk.format("GET", string.format("/v1/views/pixel.gif?article=bench-%d&visitor=%s",
                      counter % articles, visitor), {["X-Forwarded-For"] = random_ip(), ["User-Agent"] = UA})
  else
    return wrk.format("POST", "/v1/views/batch", {["Content-Type"] = "application/json",
                      ["Authorization"] = "Bearer " .. token, ["User-Agent"] = UA},
                      batch_body())
  end
end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
