-- wrk script: every request creates a new user (POST /hub/api/users/<unique>), i.e. one
-- acknowledged Raft write. Env: API_TOKEN, NAME_PREFIX (unique per run).
local counter = 0
local prefix = os.getenv("NAME_PREFIX") or "w"
local token = os.getenv("API_TOKEN") or ""
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

function request()
  counter = counter + 1
  local path = string.format("/hub/api/users/%s-%d-%d", prefix, tid, counter)
  return wrk.format("POST", path, {["Authorization"] = "token " .. token}, "")
end

local bad = 0
function response(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end

function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_s": %.3f, "rps": %.1f, "non2xx": %d, "socket_errors": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
