#!/usr/bin/env python3
"""The wxlogin load benchmark (driven by `bench/run`; stdlib only).

Starts the simulator (`wxlogin sim`) and the server (`wxlogin serve --config`, SQLite in a
fresh temporary directory, or the PostgreSQL/Redis URLs given) as two processes on free
loopback ports, prepares every input outside the timing (users, sessions, tokens, login and
phone codes minted in bulk through the simulator's control API), runs each scenario with wrk,
and prints a Markdown table. Raw output goes to target/bench/<stamp>/.

Every step is bounded: readiness polling, each HTTP call, each wrk run (duration + grace).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua"
DOC = ROOT / "docs" / "benchmarks.md"
APPID = "wx0000000000000001"
# `serve --config` refuses the published dev secret: the bench app has a secret of its own.
SECRET = "0123456789abcdef0123456789abcdef"
SCENARIOS = ["ceiling", "healthz", "me", "refresh", "phone-legacy", "phone", "login"]
# With --peer node: the same load on the Node peer, in the same run, after wxlogin's.
PEER_SCENARIOS = ["peer-me", "peer-login"]
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
HTTP_TIMEOUT = 30


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A keep-alive JSON client for one host (setup only, never timed)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)

    def call(self, method: str, path: str, body=None, token: str | None = None, ok=(200, 201)):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
                if attempt:
                    raise
        if resp.status not in ok:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None


def wait_ready(port: int, path: str, proc: subprocess.Popen, what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            status = c.getresponse().status
            c.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready on port {port} after {limit:.0f} s")


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])  # kB
    except OSError:
        pass
    return out


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def per_thread(pid: int, read) -> dict[str, int]:
    """`read(task_dir)` -> (thread name, number), summed per thread name of `pid`; threads
    that end or cannot be read meanwhile are left out."""
    out: dict[str, int] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            name, value = read(task)
        except (OSError, IndexError, ValueError):
            continue
        out[name] = out.get(name, 0) + value
    return out


def thread_ticks(pid: int) -> dict[str, int]:
    """CPU ticks (utime + stime) per thread name of `pid`: where a scenario's CPU goes
    (tokio workers, the SQLite writer, the HTTP client's resolver, ...)."""
    def read(task: Path) -> tuple[str, int]:
        head, _, rest = (task / "stat").read_text().rpartition(")")
        fields = rest.split()
        return head.split("(", 1)[1], int(fields[11]) + int(fields[12])
    return per_thread(pid, read)


def machine_ticks() -> list[int]:
    """The whole machine's CPU ticks from /proc/stat: user, nice, system, idle, iowait, irq,
    softirq, steal."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return [0] * 8


def machine_split(before: list[int], after: list[int]) -> dict[str, float]:
    """Percent of the machine's CPU time in each state between two `machine_ticks`: what
    the processes' own CPU columns leave out (the kernel's I/O and network work in its own
    threads and interrupts, steal by the hypervisor)."""
    d = [b - a for a, b in zip(before, after)]
    total = sum(d) or 1
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    return {n: round(100 * v / total, 1) for n, v in zip(names, d)}


def thread_waits(pid: int) -> dict[str, int]:
    """Nanoseconds each thread name of `pid` spent runnable but waiting for a CPU
    (`/proc/<pid>/task/<tid>/schedstat`, second field): with the CPU columns, it tells a
    thread starved of CPU from one blocked on something else (a queue, a lock, the disk)."""
    def read(task: Path) -> tuple[str, int]:
        name = (task / "comm").read_text().strip()
        return name, int((task / "schedstat").read_text().split()[1])
    return per_thread(pid, read)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Samples VmRSS every 50 ms (a fallback where VmHWM cannot be reset)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))
            self.stop.wait(0.05)


class Bench:
    def __init__(self, args):
        self.args = args
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out = ROOT / "target" / "bench" / stamp
        self.out.mkdir(parents=True, exist_ok=True)
        self.inputs = self.out / "inputs"
        self.inputs.mkdir()
        self.bin = Path(args.binary)
        self.procs: list[subprocess.Popen] = []
        self.data = Path(tempfile.mkdtemp(prefix="wxlogin-bench-"))
        self.results: list[dict] = []
        self.users: list[dict] = []

    # --- processes -------------------------------------------------------------------------

    def start(self):
        a = self.args
        self.sim_port, self.api_port, self.admin_port = free_port(), free_port(), free_port()
        key = subprocess.run([str(self.bin), "gen-master-key"], check=True, capture_output=True,
                             text=True, timeout=30).stdout
        (self.data / "master.key").write_text(key)
        (self.data / "master.key").chmod(0o600)
        db = a.database_url or f"sqlite://{self.data / 'wxlogin.db'}"
        cfg = [
            f'public_url = "http://127.0.0.1:{self.api_port}"',
            "[http]", 'host = "127.0.0.1"', f"port = {self.api_port}",
            "[admin]", 'host = "127.0.0.1"', f"port = {self.admin_port}",
            "[database]", f'url = "{db}"',
        ]
        if a.sqlite_synchronous:
            cfg.append(f'sqlite_synchronous = "{a.sqlite_synchronous}"')
        if a.redis_url:
            cfg += ["[redis]", f'url = "{a.redis_url}"']
        cfg += [
            "[wechat]", f'base_url = "http://127.0.0.1:{self.sim_port}"',
            "[[apps]]", f'appid = "{APPID}"', f'secret = "{SECRET}"',
            "[registration]", 'policy = "open"',
            "[rate_limits]", "per_ip_per_second = 0", "per_openid_per_second = 0",
            "per_phone_per_second = 0",
            "[secrets]", f'master_key_file = "{self.data / "master.key"}"',
        ]
        (self.data / "bench.toml").write_text("\n".join(cfg) + "\n")
        shutil.copy(self.data / "bench.toml", self.out / "server.toml")

        env = dict(os.environ, RUST_LOG=a.sim_log)
        self.sim = subprocess.Popen(
            [str(self.bin), "sim", "--port", str(self.sim_port), "--app", f"{APPID}:{SECRET}"],
            stdout=open(self.out / "sim.log", "wb"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        self.procs.append(self.sim)
        wait_ready(self.sim_port, "/_sim/v1/clock", self.sim, "the simulator")

        env = dict(os.environ, RUST_LOG=a.server_log)
        self.server = subprocess.Popen(
            [str(self.bin), "--log-format", a.log_format, "serve", "--config",
             str(self.data / "bench.toml")],
            stdout=open(self.out / "server.log", "wb"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        self.procs.append(self.server)
        wait_ready(self.api_port, "/readyz", self.server, "the server")
        log(f"server pid {self.server.pid} on :{self.api_port}, simulator pid {self.sim.pid} "
            f"on :{self.sim_port}, data in {self.data}")

    def start_peer(self):
        """The Node peer (koa + ioredis): a copy of --peer-dir, `npm ci` there, two workers,
        the same simulator as WeChat, sessions in the Redis on --peer-redis-port."""
        a = self.args
        src = Path(a.peer_dir or os.environ.get("WXLOGIN_PEER_NODE_DIR", ""))
        if not (src / "server.js").is_file():
            raise RuntimeError("--peer node needs --peer-dir (or WXLOGIN_PEER_NODE_DIR): "
                               "the node-seed folder with server.js")
        copy = self.data / "node-seed"
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("node_modules"))
        log(f"peer: npm ci in {copy}")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=copy,
                       check=True, timeout=600, stdout=subprocess.DEVNULL)
        self.peer_port = free_port()
        env = dict(os.environ, WX_BASE=f"http://127.0.0.1:{self.sim_port}", WX_APPID=APPID,
                   WX_SECRET=SECRET, PORT=str(self.peer_port), WORKERS="2",
                   REDIS_PORT=str(a.peer_redis_port))
        self.peer = subprocess.Popen(["node", "server.js"], cwd=copy, env=env,
                                     stdout=open(self.out / "peer.log", "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(self.peer)
        wait_ready(self.peer_port, "/me", self.peer, "the Node peer")
        log(f"peer pid {self.peer.pid} on :{self.peer_port}")

    def setup_peer_users(self):
        """A token per user from the peer: login, the phone number through the legacy payload,
        and `phone:<number>` set in Redis first (the peer's registration is out of band)."""
        api, sim = Client(self.peer_port), Client(self.sim_port)
        with socket.create_connection(("127.0.0.1", self.args.peer_redis_port), timeout=10) as r:
            for u in self.users:
                # The peer looks the number up as WeChat's phoneNumber: without +86.
                key, val = f"phone:{u['phone'].removeprefix('+86')}", u["user"]
                r.sendall(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n"
                          f"${len(val)}\r\n{val}\r\n".encode())
                if not r.recv(64).startswith(b"+OK"):
                    raise RuntimeError("Redis refused SET")
        for u in self.users:
            code = sim.call("POST", "/_sim/v1/login_codes", {"appid": APPID, "user": u["user"]})["code"]
            session = api.call("POST", "/login/", {"code": code})["data"]["session"]
            e = sim.call("POST", "/_sim/v1/encrypted_phone",
                         {"appid": APPID, "user": u["user"], "phone": u["phone"]})
            ph = api.call("POST", "/getPhoneNumber/", {"session": session,
                                                      "encryptedData": e["encrypted_data"],
                                                      "iv": e["iv"]})
            if "token" not in ph.get("data", {}):
                raise RuntimeError(f"the peer issued no token: {ph}")
            u["peer_token"] = ph["data"]["token"]

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        if not self.args.keep_data:
            shutil.rmtree(self.data, ignore_errors=True)

    # --- inputs (never timed) --------------------------------------------------------------

    def setup_users(self):
        n = self.args.users
        api, sim = Client(self.api_port), Client(self.sim_port)
        t0 = time.monotonic()
        for i in range(n):
            user, phone = f"bench-{i:05d}", f"+86139{i:08d}"
            code = sim.call("POST", "/_sim/v1/login_codes", {"appid": APPID, "user": user})["code"]
            login = api.call("POST", "/v1/login", {"code": code})
            pcode = sim.call("POST", "/_sim/v1/phone_codes",
                             {"appid": APPID, "user": user, "phone": phone})["code"]
            ph = api.call("POST", "/v1/phone", {"session": login["session"], "code": pcode})
            if ph.get("registered"):
                tokens = ph["tokens"]
            else:
                reg = api.call("POST", "/v1/register",
                               {"registration_ticket": ph["registration_ticket"],
                                "nickname": f"Bench {i}"})
                tokens = reg["tokens"]
            self.users.append({"user": user, "phone": phone, "session": login["session"],
                               "access": tokens["access_token"],
                               "refresh": tokens["refresh_token"]})
        log(f"{n} users registered with sessions and tokens in {time.monotonic() - t0:.1f} s")

    def mint(self, kind: str, total: int) -> list[tuple[dict, str]]:
        """`total` fresh codes, spread over the users in chunks of at most 10000."""
        sim = Client(self.sim_port)
        out: list[tuple[dict, str]] = []
        chunk = min(10_000, max(1, -(-total // len(self.users))))
        j = 0
        while len(out) < total:
            u = self.users[j % len(self.users)]
            count = min(chunk, total - len(out))
            body = {"appid": APPID, "user": u["user"], "count": count}
            if kind == "phone_codes":
                body["phone"] = u["phone"]
            codes = sim.call("POST", f"/_sim/v1/{kind}", body)["codes"]
            out.extend((u, c) for c in codes)
            j += 1
        return out

    def prepare(self, name: str) -> Path | None:
        budget = self.args.duration * self.args.max_rate
        f = self.inputs / f"{name}.txt"
        t0 = time.monotonic()
        if name in ("ceiling", "healthz"):
            return None
        if name == "me":
            f.write_text("".join(u["access"] + "\n" for u in self.users))
        elif name == "refresh":
            f.write_text("".join(u["refresh"] + "\n" for u in self.users))
        elif name == "peer-me":
            f.write_text("".join(u["peer_token"] + "\n" for u in self.users))
        elif name in ("login", "peer-login"):
            # Interleave users so consecutive requests hit different users.
            codes = self.mint("login_codes", budget)
            f.write_text("".join(c + "\n" for _, c in interleave(codes, len(self.users))))
        elif name == "phone":
            codes = self.mint("phone_codes", budget)
            f.write_text("".join(f"{u['session']} {c}\n"
                                 for u, c in interleave(codes, len(self.users))))
        elif name == "phone-legacy":
            sim = Client(self.sim_port)
            lines = []
            for u in self.users:
                e = sim.call("POST", "/_sim/v1/encrypted_phone",
                             {"appid": APPID, "user": u["user"], "phone": u["phone"]})
                lines.append(f"{u['session']} {e['encrypted_data']} {e['iv']}\n")
            f.write_text("".join(lines))
        log(f"{name}: inputs ready in {time.monotonic() - t0:.1f} s")
        return f

    # --- runs ------------------------------------------------------------------------------

    def run_scenario(self, name: str):
        a = self.args
        inputs = self.prepare(name)
        script = {"ceiling": "static", "healthz": "static", "me": "me", "refresh": "refresh",
                  "phone": "phone", "phone-legacy": "phone_legacy", "login": "login",
                  "peer-me": "me", "peer-login": "login"}[name]
        server = self.peer if name.startswith("peer-") else self.server
        if name == "ceiling":
            url = f"http://127.0.0.1:{self.sim_port}{a.ceiling_path}"
        elif name.startswith("peer-"):
            url = f"http://127.0.0.1:{self.peer_port}"
        elif name == "healthz":
            url = f"http://127.0.0.1:{self.api_port}/healthz"
        else:
            url = f"http://127.0.0.1:{self.api_port}"
        cmd = [a.wrk, f"-t{a.threads}", f"-c{a.connections}", f"-d{a.duration}s",
               "--timeout", "5s", "-s", str(LUA / f"{script}.lua"), url]
        if inputs:
            cmd += ["--", str(inputs), str(a.threads)]
            # The same scripts drive the Node peer, at its own paths.
            cmd += {"peer-me": ["/me"], "peer-login": ["/login/"]}.get(name, [])
        time.sleep(a.settle)
        load = Path("/proc/loadavg").read_text().split()[:3]
        # For the peer: its master process only (the two workers are children), so its CPU and
        # RSS columns undercount; compare its req/s and latencies.
        pid = server.pid if name != "ceiling" else self.sim.pid
        peak_reset = reset_peak(pid)
        sampler = RssSampler(pid)
        sampler.start()
        c0 = (cpu_ticks(server.pid), cpu_ticks(self.sim.pid), time.monotonic())
        t0, w0, m0 = thread_ticks(server.pid), thread_waits(server.pid), machine_ticks()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        log(f"{name}: {' '.join(cmd)}  (load average {' '.join(load)})")
        perf = None
        if a.perf and name != "ceiling":
            perf = subprocess.Popen(
                ["perf", "record", "-F", str(a.perf_freq or (97 if a.perf == "graph" else 499)),
                 *(["--call-graph", "dwarf,16384"] if a.perf == "graph" else []),
                 "-p", str(self.server.pid), "-o", str(self.out / f"{name}.perf.data"),
                 "--", "sleep", str(max(1, a.duration - 1))],
                stdout=subprocess.DEVNULL, stderr=open(self.out / f"{name}.perf.log", "wb"))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 60,
                              env=dict(os.environ, BENCH_LUA_DIR=str(LUA)))
        c1 = (cpu_ticks(server.pid), cpu_ticks(self.sim.pid), time.monotonic())
        # wrk is the only child reaped during the run (perf is still recording).
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t1, w1, m1 = thread_ticks(server.pid), thread_waits(server.pid), machine_ticks()
        sampler.stop.set()
        sampler.join()
        if perf:
            perf.wait(timeout=60)
            with open(self.out / f"{name}.perf.txt", "wb") as f:
                graph = ["--children", "--sort", "symbol", "-g", "none"] if a.perf == "graph" \
                    else ["--no-children", "--sort", "dso,symbol"]
                subprocess.run(["perf", "report", "--stdio", *graph, "--percent-limit", "0.5", "-i",
                                str(self.out / f"{name}.perf.data")],
                               stdout=f, stderr=subprocess.DEVNULL, timeout=300)
        st = proc_status(pid)
        (self.out / f"{name}.wrk.txt").write_text(
            f"$ {' '.join(cmd)}\nload average before: {' '.join(load)}\n\n{proc.stdout}\n{proc.stderr}")
        m = re.search(r"^BENCH (\{.*\})$", proc.stdout, re.M)
        if proc.returncode != 0 or not m:
            raise RuntimeError(f"wrk failed for {name}: {proc.stderr[-500:] or proc.stdout[-500:]}")
        r = json.loads(m.group(1))
        hz = os.sysconf("SC_CLK_TCK")
        wall = c1[2] - c0[2]
        errors = (r["status_errors"] + r["connect_errors"] + r["read_errors"] + r["write_errors"]
                  + r["timeouts"])
        peak = st.get("VmHWM", 0) if peak_reset else max(sampler.peak, st.get("VmHWM", 0))
        res = {
            "scenario": name, "rps": r["requests"] / (r["duration_us"] / 1e6),
            "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "max_ms": r["max_us"] / 1000, "errors": errors, "exhausted": r["exhausted"],
            "requests": r["requests"], "rss_mib": peak / 1024,
            "server_cpu": 100 * (c1[0] - c0[0]) / hz / wall,
            "sim_cpu": 100 * (c1[1] - c0[1]) / hz / wall, "load": load, "raw": r,
            "wrk_cpu": 100 * ((kids1.ru_utime + kids1.ru_stime)
                              - (kids0.ru_utime + kids0.ru_stime)) / wall,
            "server_threads": {name: round(100 * (t1.get(name, 0) - t0.get(name, 0)) / hz / wall, 1)
                               for name in t1 if t1.get(name, 0) > t0.get(name, 0)},
            # Percent of the run each thread name spent runnable, waiting for a CPU.
            "machine": machine_split(m0, m1),
            "server_thread_waits": {name: round(100 * (w1[name] - w0.get(name, 0)) / 1e9 / wall, 1)
                                    for name in w1 if w1[name] > w0.get(name, 0) + 1e6},
        }
        self.results.append(res)
        if perf and a.perf == "graph":
            # Where the CPU went, in buckets (WeChat call, SQLite writer, JWT, logging, ...).
            attrib = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "perf-attribute"),
                 str(self.out / f"{name}.perf.data"), "--rps", f"{res['rps']:.1f}",
                 "--cpu", f"{res['server_cpu']:.1f}"],
                capture_output=True, text=True, timeout=900)
            (self.out / f"{name}.perf.attrib.md").write_text(attrib.stdout + attrib.stderr)
        log(f"{name}: {res['rps']:.0f} req/s, p99 {res['p99_ms']:.2f} ms, errors {errors}, "
            f"peak RSS {res['rss_mib']:.1f} MiB, server CPU {res['server_cpu']:.0f}%, "
            f"sim CPU {res['sim_cpu']:.0f}%, wrk CPU {res['wrk_cpu']:.0f}%; server threads "
            + ", ".join(f"{k} {v:.0f}%" for k, v in sorted(res["server_threads"].items(),
                                                            key=lambda kv: -kv[1]))
            + f"; machine idle {res['machine']['idle']:.0f}%, iowait {res['machine']['iowait']:.0f}%"
            + "; waiting for a CPU: "
            + ", ".join(f"{k} {v:.0f}%" for k, v in sorted(res["server_thread_waits"].items(),
                                                            key=lambda kv: -kv[1])))

    # --- report ----------------------------------------------------------------------------

    def table(self) -> str:
        ceiling = next((r["rps"] for r in self.results if r["scenario"] == "ceiling"), None)
        rows = ["| scenario | req/s | of ceiling | p50 ms | p99 ms | max ms | errors | peak RSS MiB "
                "| server CPU | sim CPU | machine busy |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.results:
            frac = f"{100 * r['rps'] / ceiling:.0f}%" if ceiling else "-"
            err = str(r["errors"]) + (f" ({r['exhausted']} out of input)" if r["exhausted"] else "")
            rss = f"{r['rss_mib']:.1f}" + (" (sim)" if r["scenario"] == "ceiling" else "")
            rows.append(f"| {r['scenario']} | {r['rps']:,.0f} | {frac} | {r['p50_ms']:.2f} | "
                        f"{r['p99_ms']:.2f} | {r['max_ms']:.1f} | {err} | {rss} | "
                        f"{r['server_cpu']:.0f}% | {r['sim_cpu']:.0f}% | "
                        f"{100 - r['machine']['idle'] - r['machine']['iowait']:.0f}% |")
        return "\n".join(rows)

    def header(self) -> str:
        a = self.args
        cpu = "unknown"
        try:
            for line in subprocess.run(["lscpu"], capture_output=True, text=True,
                                       timeout=10).stdout.splitlines():
                if line.startswith("Model name:"):
                    cpu = line.split(":", 1)[1].strip()
        except (OSError, subprocess.SubprocessError):
            pass
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                   cwd=ROOT, capture_output=True, text=True,
                                   timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit, dirty = "unknown", ""
        loads = ", ".join(f"{r['scenario']} {r['load'][0]}" for r in self.results)
        db = "PostgreSQL" if (a.database_url or "").startswith("postgres") else (
            "MySQL" if (a.database_url or "").startswith("mysql") else "SQLite (embedded)")
        return "\n".join([
            f"- Date: {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
            f"- Machine: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}",
            f"- Commit: `{commit}`" + (" (with uncommitted changes)" if dirty else ""),
            f"- Store: {db}" + (", Redis" if a.redis_url else "") +
            (f", `sqlite_synchronous = {a.sqlite_synchronous}`" if a.sqlite_synchronous else "") +
            f"; server log level `{a.server_log}`, simulator `{a.sim_log}`",
            f"- Load: wrk -t{a.threads} -c{a.connections} -d{a.duration}s; server, simulator "
            "and wrk on the same machine, over loopback",
            f"- 1-minute load average before each scenario: {loads}",
        ])

    def write(self):
        table, header = self.table(), self.header()
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2))
        (self.out / "table.md").write_text(header + "\n\n" + table + "\n")
        print(header + "\n\n" + table)
        log(f"raw output in {self.out}")
        if self.args.write_doc:
            text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
            if BEGIN not in text or END not in text:
                raise RuntimeError(f"{DOC} lacks the {BEGIN} / {END} markers")
            pre, rest = text.split(BEGIN, 1)
            _, post = rest.split(END, 1)
            DOC.write_text(f"{pre}{BEGIN}\n{header}\n\n{table}\n{END}{post}")
            log(f"updated {DOC.relative_to(ROOT)}")


def interleave(items: list, groups: int) -> list:
    """Reorders chunks minted per user so that consecutive items belong to different users."""
    by_user: dict[int, list] = {}
    for it in items:
        by_user.setdefault(id(it[0]), []).append(it)
    lists = list(by_user.values())
    out, k = [], 0
    while len(out) < len(items):
        for lst in lists:
            if k < len(lst):
                out.append(lst[k])
        k += 1
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=str(ROOT / "target" / "release" / "wxlogin"))
    p.add_argument("--wrk", default="wrk")
    p.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--users", type=int, default=256, help="simulated users set up before the runs")
    p.add_argument("--max-rate", type=int, default=30_000,
                   help="codes minted per second of run for login/phone (default 30000)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--ceiling-path", default="/_sim/v1/clock",
                   help="the simulator's cheapest endpoint")
    p.add_argument("--server-log", default="info", help="RUST_LOG of the server (default info)")
    p.add_argument("--sim-log", default="warn", help="RUST_LOG of the simulator (default warn)")
    p.add_argument("--log-format", default="json", choices=["json", "pretty"])
    p.add_argument("--database-url", help="postgres://… (default: SQLite in a temp directory)")
    p.add_argument("--sqlite-synchronous", choices=["full", "normal"],
                   help="SQLite's database.sqlite_synchronous (default: the server's, full)")
    p.add_argument("--redis-url", help="redis://… (optional)")
    p.add_argument("--settle", type=float, default=1.0, help="pause before each run, seconds")
    p.add_argument("--write-doc", action="store_true",
                   help="replace the results section of docs/benchmarks.md")
    p.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")
    p.add_argument("--peer", choices=["node"],
                   help="also run peer-me and peer-login on a peer server in the same run")
    p.add_argument("--peer-dir", help="the Node peer's folder (node-seed; copied, then npm ci "
                                      "in the copy); default $WXLOGIN_PEER_NODE_DIR")
    p.add_argument("--peer-redis-port", type=int, default=6379,
                   help="the Redis on 127.0.0.1 that the peer keeps sessions in")
    p.add_argument("--perf-freq", type=int,
                   help="perf sampling rate, Hz (default 499 flat, 97 graph: DWARF stacks are big)")
    p.add_argument("--perf", choices=["flat", "graph"],
                   help="record the server with perf during each scenario (target/bench/<stamp>/"
                        "<scenario>.perf.txt)")
    a = p.parse_args()
    names = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if a.duration < 1 or a.duration > 300:
        p.error("--duration must be 1..300 seconds")

    # refresh needs more token chains than connections (one in flight per connection).
    a.users = max(a.users, 2 * a.connections)
    b = Bench(a)
    try:
        b.start()
        if a.peer or any(n not in ("ceiling", "healthz") for n in names):
            b.setup_users()
        for n in names:
            b.run_scenario(n)
        if a.peer:
            b.start_peer()
            if not b.users:
                b.setup_users()
            b.setup_peer_users()
            for n in PEER_SCENARIOS:
                b.run_scenario(n)
        b.write()
    finally:
        b.stop()
    bad = [r["scenario"] for r in b.results if r["errors"]]
    if bad:
        log(f"errors in: {', '.join(bad)} (see {b.out})")
        sys.exit(1)


if __name__ == "__main__":
    main()
