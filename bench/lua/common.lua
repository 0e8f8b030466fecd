-- Shared by the bench scripts (loaded with dofile from each scenario script).
-- Each wrk thread gets a thread id in setup(); init() loads this thread's share of an input
-- file (every line i with i % nthreads == tid), so no input is ever used by two threads.
-- done() prints one machine-readable line, "BENCH {...}", that bench/bench.py parses.

bench = { threads = {}, count = 0 }

function setup(thread)
  thread:set("tid", bench.count)
  bench.count = bench.count + 1
  table.insert(bench.threads, thread)
end

exhausted = 0   -- requests for which no fresh input was left (sent to a 404 path: counted as errors)

function bench.load(file, nthreads)
  local lines, n, idx = {}, 0, 0
  for line in io.lines(file) do
    if idx % nthreads == tid then
      n = n + 1
      lines[n] = line
    end
    idx = idx + 1
  end
  return lines, n
end

function bench.split(line)
  local a, b = line:match("^(%S+)%s+(%S+)$")
  return a, b
end

function bench.post(path, body)
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
end

function bench.exhausted()
  exhausted = exhausted + 1
  return wrk.format("GET", "/_bench/input-exhausted")
end

function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(bench.threads) do
    ex = ex + (tonumber(t:get("exhausted")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"exhausted":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, ex, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
