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

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
