-- The Node peer's POST /login/, a fresh login code per request (as login.lua for wxlogin).
-- args: <codes file, one code a line> <wrk threads>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local reqs, n, i = {}, 0, 0

function init(args)
  local codes
  codes, n = bench.load(args[1], tonumber(args[2]))
  for k = 1, n do
    reqs[k] = bench.post("/login/", '{"code":"' .. codes[k] .. '"}')
  end
end

function request()
  i = i + 1
  if i > n then return bench.exhausted() end
  return reqs[i]
end
