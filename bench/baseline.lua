-- wrk script for the bare actix-web baseline: small JSON POSTs; prints the same figures as
-- toggle.lua.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  failures = 0
  wrk.method = "POST"
  wrk.body = "{}"
  wrk.headers["content-type"] = "application/json"
end
function response(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end
function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + t:get("failures") end
  io.write(string.format("non-200 answers: %d\n", f))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
