-- POSTs for wrk where the path changes too: BENCH_REQUESTS holds one "PATH<TAB>BODY" per line, BENCH_CONTENT_TYPE
-- the bodies' type, BENCH_AUTHORIZATION an optional header. Each thread cycles through the lines from its own
-- offset and reports its figures as one JSON line at the end, as wrk.lua does.
local lines = {}
local headers = {}
local position = 1
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    local path, body = line:match("^([^\t]+)\t(.*)$")
    if path then table.insert(lines, {path, body}) end
  end
  local auth = os.getenv("BENCH_AUTHORIZATION")
  if auth and auth ~= "" then headers["Authorization"] = auth end
  headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/x-www-form-urlencoded"
  position = (id * 7919) % #lines + 1
end

function request()
  local entry = lines[position]
  position = position % #lines + 1
  return wrk.format("POST", entry[1], headers, entry[2])
end

-- Non-2xx answers by status, kept per thread as text ("409=3 503=1") so that done() can read it across threads.
local refused = {}
function response(status, headers, body)
  if status >= 300 then
    refused[status] = (refused[status] or 0) + 1
    local parts = {}
    for code, count in pairs(refused) do table.insert(parts, code .. "=" .. count) end
    statuses = table.concat(parts, " ")
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local by_status = {}
  for _, thread in ipairs(threads) do
    local text = thread:get("statuses")
    if text then table.insert(by_status, text) end
  end
  io.write("BENCH_STATUSES " .. table.concat(by_status, " ") .. "\n")
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
