-- A fixed request (the ceiling and /healthz rows): only the shared done() report.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
