-- POST /v1/phone (code variant) on existing sessions: a fresh phone code per request.
-- args: <file of "session code" lines> <wrk threads>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local reqs, n, i = {}, 0, 0

function init(args)
  local lines
  lines, n = bench.load(args[1], tonumber(args[2]))
  for k = 1, n do
    local session, code = bench.split(lines[k])
    reqs[k] = bench.post("/v1/phone", '{"session":"' .. session .. '","code":"' .. code .. '"}')
  end
end

function request()
  i = i + 1
  if i > n then return bench.exhausted() end
  return reqs[i]
end
