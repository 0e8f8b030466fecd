-- POST /v1/login, a fresh login code per request, never reused (a reused code would be
-- answered from the server's outcome cache and inflate the figure).
-- args: <codes file, one code a line> <wrk threads> [path, default /v1/login; the Node peer's
-- is /login/]
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local reqs, n, i = {}, 0, 0

function init(args)
  local codes
  codes, n = bench.load(args[1], tonumber(args[2]))
  for k = 1, n do
    reqs[k] = bench.post(args[3] or "/v1/login", '{"code":"' .. codes[k] .. '"}')
  end
end

function request()
  i = i + 1
  if i > n then return bench.exhausted() end
  return reqs[i]
end
