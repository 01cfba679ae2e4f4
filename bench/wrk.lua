-- POST bodies for wrk: each thread cycles through the bodies in BENCH_BODIES (one urlencoded body per line),
-- starting at a different offset, and reports its figures as one JSON line at the end.
local bodies = {}
local headers = {}
local position = 1
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("BENCH_BODIES")
  if path and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then table.insert(bodies, line) end
    end
  end
  local auth = os.getenv("BENCH_AUTHORIZATION")
  if auth and auth ~= "" then headers["Authorization"] = auth end
  if #bodies > 0 then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    position = (id * 7919) % #bodies + 1
  end
end

function request()
  if #bodies == 0 then
    return wrk.format("GET", nil, headers, nil)
  end
  local body = bodies[position]
  position = position % #bodies + 1
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
