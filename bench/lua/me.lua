-- GET /v1/me with a bearer access token (cycled through the prepared tokens).
-- args: <file of access tokens> <wrk threads> [path, default /v1/me; the Node peer's is /me]
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local reqs, n, i = {}, 0, 0

function init(args)
  local tokens
  tokens, n = bench.load(args[1], tonumber(args[2]))
  for k = 1, n do
    reqs[k] = wrk.format("GET", args[3] or "/v1/me", { ["Authorization"] = "Bearer " .. tokens[k] })
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end
