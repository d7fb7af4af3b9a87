-- wrk script: deactivate/reactivate toggles over users bench-OFFSET .. bench-(OFFSET+USERS-1),
-- on v3alpha's REST paths or (STYLE=connect) as Connect JSON calls of the v2 user service.
-- Each wrk thread owns a disjoint slice of users and walks it round-robin, flipping each user's
-- state, so with far more users than connections no two requests for one user are in flight and
-- every answer must be 200. Non-2xx answers are counted and printed.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  users = tonumber(os.getenv("USERS") or "10000")
  nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  token = os.getenv("TOKEN")
  per = math.floor(users / nthreads)
  -- OFFSET: where this wrk's users start (two wrk processes on two nodes take disjoint halves).
  first = tonumber(os.getenv("OFFSET") or "0") + id * per
  next_user = 0
  active = {}
  failures = 0
  -- STYLE: "rest" (v3alpha paths, the default) or "connect" (Connect JSON).
  style = os.getenv("STYLE") or "rest"
  headers = { ["authorization"] = "Bearer " .. token }
  if style == "connect" then
    headers["content-type"] = "application/json"
  end
end

function request()
  -- wrk calls request() once before the run and drops that request: give it one that
  -- changes no bookkeeping.
  if not primed then
    primed = true
    return wrk.format("GET", "/debug/healthz")
  end
  local u = first + next_user
  next_user = (next_user + 1) % per
  local action
  if active[u] == false then
    action = "reactivate"
    active[u] = true
  else
    action = "deactivate"
    active[u] = false
  end
  if style == "connect" then
    -- Connect's JSON over HTTP/1.1: the v2 service's method, the user in the body.
    local method = action == "deactivate" and "DeactivateUser" or "ReactivateUser"
    return wrk.format("POST", "/zitadel.user.v2.UserService/" .. method, headers,
                      '{"userId":"bench-' .. u .. '"}')
  end
  return wrk.format("POST", "/v3alpha/users/bench-" .. u .. "/" .. action, headers)
end

function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures <= 3 then io.write("non-200: " .. status .. " " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do
    f = f + t:get("failures")
  end
  io.write(string.format("non-200 answers: %d\n", f))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
