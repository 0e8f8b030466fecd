-- POST /v1/token/refresh with rotation: every refresh token is presented once; the new one in
-- the response goes back into this thread's queue. Each thread holds more tokens than it has
-- connections, so a connection never waits for one (an empty queue is counted as exhausted).
-- args: <file of refresh tokens> <wrk threads>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local queue, head, tail = {}, 1, 0
lost = 0   -- 200 responses without a refresh token (should stay 0)

function init(args)
  local tokens, n = bench.load(args[1], tonumber(args[2]))
  for k = 1, n do
    tail = tail + 1
    queue[tail] = tokens[k]
  end
end

function request()
  if head > tail then return bench.exhausted() end
  local token = queue[head]
  queue[head] = nil
  head = head + 1
  return bench.post("/v1/token/refresh", '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status ~= 200 then return end
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  else
    lost = lost + 1
  end
end
