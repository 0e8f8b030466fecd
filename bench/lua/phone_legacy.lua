-- POST /v1/phone (legacy encrypted_data + iv) on existing sessions. The payloads are made by
-- the simulator under each user's current session_key just before the run; decrypting one is
-- not single-use, so the list is cycled through.
-- args: <file of "session encrypted_data iv" lines> <wrk threads>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local reqs, n, i = {}, 0, 0

function init(args)
  local lines
  lines, n = bench.load(args[1], tonumber(args[2]))
  for k = 1, n do
    local session, data, iv = lines[k]:match("^(%S+)%s+(%S+)%s+(%S+)$")
    reqs[k] = bench.post("/v1/phone",
      '{"session":"' .. session .. '","encrypted_data":"' .. data .. '","iv":"' .. iv .. '"}')
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end
