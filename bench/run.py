#!/usr/bin/env python3
"""The load benchmark of issue #3, in one run (bench/README.md).

    bench/run.sh            # full: wrk -t1 -c32, 3 x 10 s per cell, medians
    bench/run.sh --quick    # smoke: 1 x 2 s per cell, smaller counts

Builds the servers, then for every implementation and scenario starts a fresh
server pinned to CPU 0 and loads it with wrk pinned to CPU 1 (the Redis rows
also start a fresh redis-server, on CPU 1 beside wrk). Prints one markdown
report and writes it to bench/results/latest.md.
"""

import argparse
import datetime
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
NODE_DIR = os.path.join(BENCH, "node")
# Where cargo puts the binaries: CARGO_TARGET_DIR when set (relative to the
# root, where build() runs cargo), else target/.
RELEASE = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target", "release")
SERVER_CPU = "0"
LOAD_CPU = "1"
# redis-server shares the load CPU with wrk: the session server keeps CPU 0 to
# itself as in the other rows, so its own work (encoding, parsing, the number
# of round trips it waits for) is what differs between the Redis rows. The
# report gives the server's and redis-server's CPU use per cell, which says
# whether a cell was bound by the server or by CPU 1.
REDIS_CPU = LOAD_CPU
# No comma: SESSION_SECRET is a comma-separated list, and every secret is tried on verify.
SECRET = "bench-secret-not-for-production"

# Lua for wrk: exit as soon as LIMIT responses arrived (wrk would otherwise wait
# out its duration). With one wrk thread the count is exact; up to -c requests
# may still be in flight, which the server then also handles.
STOP_LUA = """
local limit = tonumber(os.getenv("WRK_LIMIT"))
local n = 0
local bad = 0
response = function(status, headers, body)
  n = n + 1
  if status ~= 200 then bad = bad + 1 end
  if n >= limit then
    io.stdout:write("responses " .. n .. " non200 " .. bad .. "\\n")
    io.stdout:flush()
    os.exit(0)
  end
end
"""


# Lua for the lost-update test: LIMIT counting requests (GET / with the
# session's cookie), then only GET /hello (no session). Each wrk connection
# waits for a response before its next request; once every counting request is
# answered and 50 /hello answers per connection are in, it prints how many
# counting (JSON) responses came back, and exits.
LOST_LUA = """
local limit = tonumber(os.getenv("WRK_LIMIT"))
local hellos_needed = 50 * tonumber(os.getenv("WRK_CONNECTIONS"))
local sent, counted, hellos, bad = 0, 0, 0, 0
local count_req, hello_req
init = function(args)
  count_req = wrk.format("GET", "/")
  hello_req = wrk.format("GET", "/hello")
end
request = function()
  sent = sent + 1
  if sent <= limit then return count_req end
  return hello_req
end
response = function(status, headers, body)
  -- /hello answers 200 "hello": anything else answers a counting request (a
  -- failed one may have a plain-text body, and must not be taken for a hello).
  if status ~= 200 or (body and string.sub(body, 1, 1) == "{") then
    counted = counted + 1
    if status ~= 200 then bad = bad + 1 end
  else
    hellos = hellos + 1
  end
  -- wrk 4.1 calls request() once more than it sends (one per thread), so
  -- LIMIT - 1 counting answers is all of them.
  if hellos >= hellos_needed and counted >= limit - 1 then
    io.stdout:write("responses " .. counted .. " non200 " .. bad .. "\\n")
    io.stdout:flush()
    os.exit(0)
  end
end
"""


# Lua for wrk: the URL's request with the cookies listed in the file
# WRK_COOKIES_FILE (one per line) in turn. With -c32 and 32 or more cookies,
# the 32 requests in flight are the last 32 sent, so they are (nearly always) on
# 32 different sessions: no contention. A file, not the environment: 10 000
# cookies are more than one environment string may hold.
SPREAD_LUA = """
local cookies, i = {}, 0
init = function(args)
  for c in io.lines(os.getenv("WRK_COOKIES_FILE")) do table.insert(cookies, c) end
end
request = function()
  i = i + 1
  return wrk.format("GET", nil, {Cookie = cookies[i % #cookies + 1]})
end
"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def sh(cmd, cwd=ROOT, **kw):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, cwd=cwd, check=True, **kw)


def output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "not installed"


# ---------------------------------------------------------------- setup


def ensure_tools():
    tools = {"wrk": "wrk", "strace": "strace", "taskset": "util-linux",
             "valgrind": "valgrind", "callgrind_control": "valgrind",
             # The Redis rows; the typed RedisStore needs Redis 7.0 or later.
             "redis-server": "redis-server", "redis-cli": "redis-tools"}
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if missing:
        if os.geteuid() != 0:
            sys.exit(f"missing tools: apt-get install {' '.join(missing)}")
        packages = missing
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", *packages])
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("node and npm are needed for the express-session rows")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 CPUs: the server on CPU 0, wrk on CPU 1")


def build():
    # `--features redis`: the counter's `--store redis` (the memory and file
    # stores are the same code either way).
    sh(["cargo", "build", "--release", "--features", "redis", "--example", "counter"])
    sh(["cargo", "build", "--release", "-p", "session-bench", "--bins"])
    sh(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, stdout=sys.stderr)
    if has_reap_bench():
        sh(["cargo", "bench", "--no-run", "--bench", "file_reap"])


def has_reap_bench():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return 'name = "file_reap"' in f.read()


# ---------------------------------------------------------------- servers


class Impl:
    """redis: None, or how the server gets the URL of its own fresh
    redis-server: "flag" (`--url URL`) or "env" (`REDIS_URL`)."""

    def __init__(self, key, label, cmd, cookie=None, store_dir=False, env=None, redis=None):
        self.key, self.label, self.cmd, self.cookie = key, label, cmd, cookie
        self.store_dir, self.env, self.redis = store_dir, env or {}, redis
        self.unavailable = None  # why it could not start, once known


# --baseline: the rows an older counter build adds, beside the current ones.
BEFORE = {"ours-mem-before": "ours-mem", "ours-file-before": "ours-file", "ours-redis-before": "ours-redis"}


def baseline_impl(impl, counter):
    """`impl`, one of BEFORE's current rows, run by `counter`, an older build
    of the counter example (`--baseline`): its row in the before/after table."""
    return Impl(f"{impl.key}-before", f"{impl.label}, before", [counter, *impl.cmd[1:]], impl.cookie,
                store_dir=impl.store_dir, env=impl.env, redis=impl.redis)


def implementations():
    counter = os.path.join(RELEASE, "examples", "counter")
    node = ["node", os.path.join(NODE_DIR, "app.js")]
    return [
        Impl("bare", "axum, no session (/json)", [os.path.join(RELEASE, "axum-bare")]),
        Impl("ours-mem", "typed sessions MemoryStore", [counter, "--store", "memory"], "_es_demo"),
        Impl("ts-mem", "tower-sessions 0.15 MemoryStore, signed",
             [os.path.join(RELEASE, "axum-tower-sessions")], "_ts_demo"),
        Impl("ex-mem", "express-session 1.19 MemoryStore", node + ["--store", "memory"], "_es_demo",
             env={"NODE_ENV": "production"}),
        Impl("ours-file", "typed sessions FileStore (fsync)", [counter, "--store", "file"], "_fs_demo",
             store_dir=True),
        Impl("ex-file", "express-session + session-file-store 1.5", node + ["--store", "file"],
             "_fs_demo", store_dir=True, env={"NODE_ENV": "production"}),
        Impl("ours-redis", "typed sessions RedisStore", [counter, "--store", "redis"], "_rs_demo",
             redis="flag"),
        # Exclusive sessions (`--exclusive`): the same servers, one request of a
        # session at a time.
        Impl("ours-mem-x", "typed sessions MemoryStore, exclusive", [counter, "--store", "memory", "--exclusive"],
             "_es_demo"),
        Impl("ours-file-x", "typed sessions FileStore (fsync), exclusive",
             [counter, "--store", "file", "--exclusive"], "_fs_demo", store_dir=True),
        Impl("ours-redis-x", "typed sessions RedisStore, exclusive", [counter, "--store", "redis", "--exclusive"],
             "_rs_demo", redis="flag"),
        Impl("ts-redis", "tower-sessions 0.14 + tower-sessions-redis-store 0.16 (fred), signed",
             [os.path.join(RELEASE, "axum-tower-sessions-redis")], "_ts_demo", redis="env"),
        Impl("ex-redis", "express-session + connect-redis 9 (node-redis 5)", node + ["--store", "redis"],
             "_rs_demo", redis="flag", env={"NODE_ENV": "production"}),
    ]


class Redis:
    """A fresh redis-server without persistence, pinned to REDIS_CPU; a context manager."""

    def __init__(self):
        self.port = free_port()

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["taskset", "-c", REDIS_CPU, "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise NotAvailable(f"redis-server exited with {self.proc.returncode}")
            if output(["redis-cli", "-p", str(self.port), "PING"]) == "PONG":
                return self
            time.sleep(0.05)
        self.__exit__()
        raise NotAvailable("redis-server did not answer PING within 10 s")

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def commandstats(self):
        """{command: calls} from INFO commandstats."""
        text = output(["redis-cli", "-p", str(self.port), "INFO", "commandstats"])
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^cmdstat_([^:]+):calls=(\d+)", text, re.M)}


def cpu_seconds(pid):
    """User + system CPU time of a process so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotAvailable(Exception):
    pass


class Server:
    """A fresh server process pinned to the server CPU; a context manager."""

    def __init__(self, impl, pinned=True, wrapper=()):
        self.impl, self.pinned, self.wrapper = impl, pinned, list(wrapper)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-{impl.key}-") if impl.store_dir else None
        self.redis = None

    def __enter__(self):
        program = self.impl.cmd[0]
        if os.path.isabs(program) and not os.path.exists(program):
            raise RuntimeError(f"{program} is not built: run without --skip-build")
        cpus = SERVER_CPU if self.pinned else f"{SERVER_CPU},{LOAD_CPU}"
        cmd = ["taskset", "-c", cpus, *self.wrapper, *self.impl.cmd]
        if self.dir:
            cmd += ["--path", self.dir]
        env = dict(os.environ, SESSION_SECRET=SECRET, **self.impl.env)
        env.pop("PORT", None)
        env.pop("REDIS_URL", None)
        if self.impl.redis:
            self.redis = Redis().__enter__()
            if self.impl.redis == "flag":
                cmd += ["--url", self.redis.url]
            else:
                env["REDIS_URL"] = self.redis.url
        cmd.append(str(self.port))
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
                                     cwd=self.dir or ROOT, text=True)
        deadline = time.time() + (120 if self.wrapper else 30)
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:  # exited
                self.proc.wait()
                self.stderr.seek(0)
                why = self.stderr.read().decode(errors="replace").strip().splitlines()
                self.cleanup()
                raise NotAvailable(why[-1] if why else f"exit {self.proc.returncode}")
            if "http://" in line:
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return self
        self.__exit__()
        raise NotAvailable("did not print its address within 30 s")

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.cleanup()

    def cleanup(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.redis:
            self.redis.__exit__()
            self.redis = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def request(self, path, cookie=None, conn=None):
        """One GET; returns (status, body, session cookie pair or None)."""
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": cookie} if cookie else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read().decode()
        pair = None
        for value in response.headers.get_all("Set-Cookie") or []:
            if value.startswith(self.impl.cookie + "="):
                pair = value.split(";")[0]
        if own:
            conn.close()
        return response.status, body, pair

    def new_session(self, conn=None):
        status, body, pair = self.request("/", conn=conn)
        if status != 200 or not pair:
            raise RuntimeError(f"{self.impl.key}: GET / gave {status} {body!r}, cookie {pair}")
        return pair


# ---------------------------------------------------------------- wrk


def wrk(url, duration, cookie=None, limit=None, connections=32, lua=STOP_LUA, cookies=None):
    """cookies: a list of session cookies to send in turn (SPREAD_LUA)."""
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    env = dict(os.environ)
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    if cookies:
        lua = SPREAD_LUA
        jar = tempfile.NamedTemporaryFile("w", prefix="bench-cookies-", suffix=".txt", delete=False)
        with jar:
            jar.write("\n".join(cookies) + "\n")
        env["WRK_COOKIES_FILE"] = jar.name
    if limit or cookies:
        script = os.path.join(tempfile.gettempdir(), f"bench-{os.getpid()}-{hash(lua) & 0xffff}.lua")
        with open(script, "w") as f:
            f.write(lua)
        cmd += ["-s", script]
    if limit:
        env["WRK_LIMIT"] = str(limit)
        env["WRK_CONNECTIONS"] = str(connections)
    cmd.append(url)
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, env=env).stdout
    finally:
        if cookies:
            os.unlink(env["WRK_COOKIES_FILE"])
    if limit:
        m = re.search(r"responses (\d+) non200 (\d+)", text)
        if not m:
            raise RuntimeError(f"wrk stopped before {limit} responses:\n{text}")
        return {"responses": int(m.group(1)), "non200": int(m.group(2))}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not rps:
        raise RuntimeError(f"wrk failed:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    requests = re.search(r"(\d+) requests in", text)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    return {
        "rps": float(rps.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(map(int, errors.groups())) if errors else 0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
        "requests": int(requests.group(1)) if requests else None,
    }


# ---------------------------------------------------------------- scenarios

SCENARIOS = {
    # key: (path, needs a cookie: False, True, or how many sessions to send in turn)
    "hello": ("/hello", False),
    "json": ("/json", False),
    "new": ("/", False),
    "write": ("/", True),
    # Redis rows only: writes spread over 32 sessions, without contention.
    "write32": ("/", 32),
    "read": ("/peek", True),
    # Many sessions (issue #15): requests spread over cfg.many_sessions
    # existing sessions, each in turn, as a server with many users sees them.
    "write-many": ("/", "many"),
    "read-many": ("/peek", "many"),
}
MANY = ("write-many", "read-many")


def applies(impl, scenario):
    if impl.key == "bare":
        return scenario in ("hello", "json")
    if scenario == "write32":
        return bool(impl.redis)
    if scenario in MANY:
        return impl.key not in EXCLUSIVE
    return scenario != "json"


def snapshot_dir(path):
    state = {}
    for name in os.listdir(path):
        st = os.stat(os.path.join(path, name))
        state[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return state


LOADS = []  # 1-minute load averages seen before each cell
CFG = None  # the parsed options, set by main


def measure_once(impl, scenario):
    """One wrk run on a fresh server; raises NotAvailable when the server cannot start."""
    path, needs_cookie = SCENARIOS[scenario]
    LOADS.append(os.getloadavg()[0])
    notes = []
    with Server(impl) as server:
        cookie = cookies = None
        if needs_cookie is True:
            cookie = server.new_session()
        elif needs_cookie:
            count = CFG.many_sessions if needs_cookie == "many" else needs_cookie
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            cookies = [server.new_session(conn) for _ in range(count)]
            conn.close()
        before = snapshot_dir(server.dir) if server.dir and scenario == "read" else None
        pids = {"server": server.proc.pid}
        if server.redis:
            pids["redis"] = server.redis.proc.pid
            stats = server.redis.commandstats()
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        start = time.monotonic()
        result = wrk(server.url + path, CFG.duration, cookie, cookies=cookies)
        elapsed = time.monotonic() - start
        for name, pid in pids.items():
            # Share of one CPU used during the wrk run (wrk's start and stop included).
            used = cpu_seconds(pid) - cpu[name]
            result[f"{name}_cpu"] = used / elapsed
            if result["requests"]:
                result[f"{name}_us"] = 1e6 * used / result["requests"]
        if server.redis and result["requests"]:
            # Redis commands per answered request under load: retries show here.
            after = server.redis.commandstats()
            result["commands"] = {name: (calls - stats.get(name, 0)) / result["requests"]
                                  for name, calls in after.items()
                                  if name != "info" and calls != stats.get(name, 0)}
        if before is not None:
            after = snapshot_dir(server.dir)
            changed = sum(1 for k, v in after.items() if before.get(k) != v)
            notes.append(f"session files rewritten during the read run: {changed}")
    if result["non2xx"] or result["errors"]:
        notes.append(f"non-2xx {result['non2xx']}, socket errors {result['errors']}")
    result["notes"] = notes
    log(f"  {impl.key:9} {scenario:6} {result['rps']:>10.0f} req/s  p99 {result['p99_ms']:.2f} ms")
    return result


def median_commands(tables):
    """The median per command name over runs (a name missing from a run counts 0)."""
    if not tables:
        return None
    names = {name for table in tables for name in table}
    return {name: statistics.median(t.get(name, 0) for t in tables) for name in names}


def throughput(impls, cfg):
    """Every cell, in rounds: each round runs every implementation and scenario
    once, so that a machine getting busier or calmer shifts all rows alike
    rather than biasing the ratios. A cell is the median of its rounds."""
    raw = {}
    for round_ in range(cfg.runs):
        log(f"== throughput, round {round_ + 1} of {cfg.runs}")
        for impl in impls:
            for scenario in SCENARIOS:
                if impl.unavailable or not applies(impl, scenario):
                    continue
                try:
                    # Measured before the cell's list exists: a server that
                    # cannot start leaves no empty cell behind.
                    result = measure_once(impl, scenario)
                    raw.setdefault((impl.key, scenario), []).append(result)
                except NotAvailable as why:
                    impl.unavailable = str(why)
                    log(f"  {impl.key:9} not available: {why}")
    return {
        key: {
            "rps": statistics.median(r["rps"] for r in runs),
            "runs": [r["rps"] for r in runs],
            "p99_ms": statistics.median(r["p99_ms"] or 0 for r in runs),
            "server_cpu": statistics.median(r["server_cpu"] for r in runs),
            "redis_cpu": statistics.median(r["redis_cpu"] for r in runs) if "redis_cpu" in runs[0] else None,
            "server_us": statistics.median(r.get("server_us") or 0 for r in runs),
            "redis_us": statistics.median(r.get("redis_us") or 0 for r in runs),
            "commands": median_commands([r["commands"] for r in runs if "commands" in r]),
            "notes": sorted({n for r in runs for n in r["notes"]}),
        }
        for key, runs in raw.items()
    }


def rss_per_session(impl, cfg):
    """Bytes of RSS per stored counter session, after cfg.rss_sessions new sessions."""
    try:
        with Server(impl) as server:
            wrk(server.url + "/", 600, limit=1000)  # warm up: allocator, maps, JIT
            time.sleep(0.5)
            before = server.rss()
            made = wrk(server.url + "/", 600, limit=cfg.rss_sessions)
            time.sleep(1.0)
            after = server.rss()
    except NotAvailable as why:
        impl.unavailable = str(why)
        return None
    if made["non200"]:
        raise RuntimeError(f"{impl.key}: {made['non200']} failed session creations")
    sessions = made["responses"]
    return {"bytes": (after - before) / sessions, "sessions": sessions, "before": before, "after": after}


def cost_growth(impl, cfg):
    """Write and read req/s on a store prefilled with few vs many sessions."""
    table = {}
    for size in (cfg.growth_small, cfg.growth_large):
        rows = {"write": [], "read": []}
        for _ in range(cfg.runs):
            with Server(impl) as server:
                wrk(server.url + "/", 1200, limit=size)
                cookie = server.new_session()
                rows["write"].append(wrk(server.url + "/", cfg.duration, cookie)["rps"])
                rows["read"].append(wrk(server.url + "/peek", cfg.duration, cookie)["rps"])
                log(f"  {impl.key:9} {size:>8} sessions  write {rows['write'][-1]:.0f}  read {rows['read'][-1]:.0f}")
        table[size] = {k: statistics.median(v) for k, v in rows.items()}
    return table


# Each exclusive row and the row it is measured against.
EXCLUSIVE = {"ours-mem-x": "ours-mem", "ours-file-x": "ours-file", "ours-redis-x": "ours-redis"}


def uncontended(impls, cfg):
    """Same-session writes from one connection (no request ever waits for
    another), with exclusive sessions off and on: what the option costs by
    itself. The two rows of a store alternate within each round."""
    by = {i.key: i for i in impls}
    pairs = [(off, on) for on, off in EXCLUSIVE.items()
             if on in by and off in by and not by[on].unavailable and not by[off].unavailable]
    raw = {}
    for round_ in range(cfg.runs):
        for pair in pairs:
            for key in pair:
                with Server(by[key]) as server:
                    cookie = server.new_session()
                    raw.setdefault(key, []).append(
                        wrk(server.url + "/", cfg.duration, cookie, connections=1)["rps"])
                log(f"  {key:12} uncontended write {raw[key][-1]:>8.0f} req/s")
    return {key: statistics.median(v) for key, v in raw.items()}


def lost_updates(impl, cfg):
    """cfg.lost_requests GET / with one session's cookie over 32 wrk connections,
    then GET /peek: lost = increments sent + 1 - final count.

    A correctness test, not a speed one: the server gets both CPUs, so that a
    tokio server runs two workers and requests can interleave (pinned to one
    CPU, a store that never yields would serialize them)."""
    try:
        with Server(impl, pinned=False) as server:
            cookie = server.new_session()  # count is 1
            result = wrk(server.url + "/", 600, cookie, limit=cfg.lost_requests, lua=LOST_LUA)
            _, body, _ = server.request("/peek", cookie)
    except NotAvailable as why:
        impl.unavailable = str(why)
        return None
    final = int(re.search(r'"count":\s*(\d+)', body).group(1))
    sent = result["responses"]  # counting requests answered (wrk may generate one it never sends)
    failed = result["non200"]
    return {"sent": sent, "failed": failed, "final": final, "lost": 1 + sent - failed - final}


def redis_commands(impl, cfg):
    """Redis commands per request, by name, for each session scenario: the
    INFO commandstats delta over cfg.redis_requests sequential requests on one
    keep-alive connection, after 20 warm-up requests (so that a script is
    loaded and connections are set up). Commands a Lua script calls count
    under their own names, as Redis counts them; the INFO calls themselves
    are left out."""
    table = {}
    for scenario in ("new", "write", "read"):
        path, needs_cookie = SCENARIOS[scenario]
        try:
            with Server(impl) as server:
                cookie = server.new_session() if needs_cookie else None
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                for _ in range(20):
                    server.request(path, cookie, conn)
                before = server.redis.commandstats()
                for _ in range(cfg.redis_requests):
                    status, body, _ = server.request(path, cookie, conn)
                    if status != 200:
                        raise RuntimeError(f"{impl.key} {scenario}: {status} {body!r}")
                after = server.redis.commandstats()
                conn.close()
        except NotAvailable as why:
            impl.unavailable = str(why)
            return None
        per = {name: (calls - before.get(name, 0)) / cfg.redis_requests
               for name, calls in after.items() if name != "info" and calls != before.get(name, 0)}
        table[scenario] = per
        log(f"  {impl.key:9} {scenario:6} " + ", ".join(f"{n} {v:.2f}" for n, v in sorted(per.items())))
    return table


WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")


def read_path_writes(impl, requests=200):
    """File opens for writing and renames per GET /peek, counted by strace."""
    try:
        with Server(impl) as server:
            cookie = server.new_session()
            trace = os.path.join(tempfile.gettempdir(), f"bench-strace-{impl.key}.txt")
            strace = subprocess.Popen(
                ["strace", "-f", "-qq", "-e", "trace=open,openat,rename,renameat,renameat2",
                 "-e", "status=successful", "-o", trace, "-p", str(server.proc.pid)],
                stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            for _ in range(requests):
                server.request("/peek", cookie, conn)
            conn.close()
            time.sleep(0.5)
            strace.send_signal(signal.SIGINT)
            strace.wait(10)
    except NotAvailable as why:
        impl.unavailable = str(why)
        return None
    with open(trace) as f:
        lines = f.readlines()
    os.remove(trace)
    renames = sum(1 for line in lines if "rename" in line)
    opens = sum(1 for line in lines if "open" in line and WRITE_FLAGS.search(line))
    return {"renames": renames / requests, "write_opens": opens / requests}


def instructions(impl, scenario, cfg):
    """User-space instructions per request, counted by callgrind: reproducible
    on a busy machine where req/s is not (kernel time is not counted)."""
    path, needs_cookie = SCENARIOS[scenario]
    out = os.path.join(tempfile.gettempdir(), f"bench-callgrind-{impl.key}-{scenario}-{os.getpid()}")
    wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    with Server(impl, wrapper=wrapper) as server:
        cookie = server.new_session() if needs_cookie else None
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        for _ in range(200):  # warm up
            server.request(path, cookie, conn)
        pid = str(server.proc.pid)
        subprocess.run(["callgrind_control", "-z", pid], capture_output=True, check=True)
        for _ in range(cfg.callgrind_requests):
            server.request(path, cookie, conn)
        subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)
        conn.close()
    total = None
    for name in os.listdir(os.path.dirname(out)):
        full = os.path.join(os.path.dirname(out), name)
        if full.startswith(out):
            if full == out + ".1":
                with open(full) as f:
                    total = int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1))
            os.remove(full)
    if total is None:
        raise RuntimeError(f"callgrind wrote no dump for {impl.key} {scenario}")
    log(f"  {impl.key:9} {scenario:6} {total / cfg.callgrind_requests:>10.0f} instructions/request")
    return total / cfg.callgrind_requests


def reap_bench(cfg):
    """The file-store reap benchmark (bench/file_reap.rs on the file-store branch), if main has it."""
    if not has_reap_bench():
        return None
    cmd = ["taskset", "-c", SERVER_CPU, "cargo", "bench", "-q", "--bench", "file_reap", "--",
           str(cfg.reap_files)]
    text = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).stdout

    def p99(label):
        m = re.search(re.escape(label) + r".*?p99\s+([\d.]+)(ns|µs|us|ms|s)\b", text)
        if not m:
            return None
        return float(m.group(1)) * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    idle = [v for v in (p99("idle:"), p99("idle again:")) if v is not None]
    during = [v for v in (p99("first reap"), p99("second reap")) if v is not None]
    # Conservative: the worse reap against the calmer idle phase.
    return {"idle": min(idle) if idle else None, "during": max(during) if during else None,
            "text": text.strip()}


# ---------------------------------------------------------------- report


def k(rps):
    return "n/a" if rps is None else (f"{rps / 1000:.1f}k" if rps >= 1000 else f"{rps:.0f}")


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def verdict(value, goal, higher=True):
    if value is None:
        return "not measured"
    return "met" if (value >= goal if higher else value <= goal) else "**missed**"


def environment(cfg):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = output(["wrk", "-v"]).splitlines()
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- mode: {'--quick (1 run x 2 s per cell: a smoke run, not a measurement)' if cfg.quick else f'full ({cfg.runs} runs x {cfg.duration} s per cell, medians)'}",
        f"- machine: {os.cpu_count()} CPUs, {cpu}, kernel {os.uname().release}",
        f"- load average before the run: {cfg.load_before}; after: {' '.join(f'{x:.2f}' for x in os.getloadavg())};"
        f" highest 1-minute load seen before a throughput cell: {max(LOADS, default=0):.2f}"
        " (this run's own server and wrk add up to about 2)",
        f"- {output(['rustc', '--version'])}; node {output(['node', '--version'])}; {wrk_version[0] if wrk_version else 'wrk ?'}",
        f"- server on CPU {SERVER_CPU}, wrk -t1 -c32 on CPU {LOAD_CPU}, fresh server per run;"
        f" Redis rows: a fresh {output(['redis-server', '--version']).split(' sha=')[0] or 'redis-server'}"
        f" per server (no persistence), on CPU {REDIS_CPU}",
    ]


# The rows each of ours is compared with in the throughput table: (key, name).
PEERS = {
    "ours-mem": [("ts-mem", "tower")],
    "ours-file": [("ex-file", "express-file")],
    "ours-redis": [("ts-redis", "tower-redis"), ("ex-redis", "express-redis")],
}


def redis_report(impls, cells, redis_cmds):
    """The Redis sections: commands per request, and where the CPU went."""
    lines = []
    if redis_cmds:
        lines += ["## Redis commands per request (INFO commandstats)", "",
                  "The delta of `INFO commandstats` over a fixed number of sequential requests of one scenario"
                  " (after 20 warm-up requests), divided by that number. Commands called from a Lua script"
                  " count under their own names, as Redis counts them (so a script call that does GET and SET"
                  " shows as evalsha 1, get 1, set 1); the INFO calls are left out.", "",
                  "| implementation | new session GET / | write GET / | read GET /peek |", "|---|---|---|---|"]
        for impl in impls:
            if impl.key not in redis_cmds:
                continue
            table = redis_cmds[impl.key]
            if table is None:
                lines.append(f"| {impl.label} | not available | | |")
                continue
            row = [impl.label]
            for scenario in ("new", "write", "read"):
                per = table.get(scenario, {})
                detail = ", ".join(f"{name} {v:.2f}".replace(".00", "") for name, v in sorted(per.items()))
                total = f"{sum(per.values()):.2f}".replace(".00", "")
                row.append(f"**{total}**: {detail}" if per else "0")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    scenarios = ("new", "write", "write32", "read")
    rows = [i for i in impls if i.redis and any((i.key, s) in cells for s in scenarios)]
    if not rows:
        return lines

    def each(title, intro, cell_text):
        out = [title, "", intro, "",
               "| implementation | new session GET / | write GET /, one session | write GET /, 32 sessions | read GET /peek |",
               "|---|--:|--:|--:|--:|"]
        for impl in rows:
            texts = [cell_text(impl, s, cells.get((impl.key, s))) for s in scenarios]
            out.append("| " + " | ".join([impl.label] + ["n/a" if t is None else t for t in texts]) + " |")
        return out + [""]

    def rps_text(impl, scenario, cell):
        return rps_with_peers(impl.key, scenario, cells)

    lines += each("## Redis rows: throughput (req/s, median) with contended and uncontended writes",
                  "*write, one session* is the table's write scenario: 32 connections on one session's"
                  " cookie, so saves race (ours compares and sets, retrying a save that lost the race;"
                  " tower-sessions and connect-redis overwrite). *write, 32 sessions*: each request"
                  " takes the next of 32 sessions' cookies in turn, so the 32 requests in flight are on"
                  " different sessions.", rps_text)
    lines += each("## Redis rows: commands per answered request under load (median)",
                  "The `INFO commandstats` delta over a throughput run divided by wrk's answered requests"
                  " (requests still in flight at the end add up to 32 commands' worth of bias)."
                  " Retried saves show here.",
                  lambda impl, s, cell: None if not cell or not cell.get("commands") else
                  f"**{sum(cell['commands'].values()):.2f}**: " +
                  ", ".join(f"{n} {v:.2f}" for n, v in sorted(cell["commands"].items())))
    lines += each("## Redis rows: CPU use during the throughput runs (median)",
                  "Share of one CPU, server / redis-server, then CPU time per answered request (user +"
                  f" system, from /proc/PID/stat), server / redis-server. The session server alone on CPU"
                  f" {SERVER_CPU}; redis-server on CPU {REDIS_CPU} with wrk. A server well below 1.00 was"
                  " waiting: on Redis round trips it could not overlap, on retry back-offs, or on CPU 1"
                  " (redis-server + wrk) or other processes. CPU time per request moves less with other"
                  " load than req/s does (but caches and frequency still move it).",
                  lambda impl, s, cell: None if not cell else
                  f"{cell['server_cpu']:.2f} / {cell['redis_cpu']:.2f}; "
                  f"{cell['server_us']:.1f} / {cell['redis_us']:.1f} µs")
    return lines


def rps_with_peers(key, scenario, cells):
    """A cell's req/s and its ratio to each of PEERS' cells (`30.2k (1.15× tower)`), or None."""
    cell = cells.get((key, scenario))
    if not cell:
        return None
    text = k(cell["rps"])
    for peer, name in PEERS.get(key, ()):
        if (peer, scenario) in cells:
            text += f" ({fmt_ratio(ratio(cell['rps'], cells[(peer, scenario)]['rps']))} {name})"
    return text


def many_report(impls, cells):
    """The many-session rows: every implementation, with its peers' ratios."""
    rows = [impl for impl in impls if any((impl.key, m) in cells for m in MANY)]
    if not rows:
        return []
    lines = [f"## Many sessions (req/s, median): requests spread over {CFG.many_sessions} sessions", "",
             f"{CFG.many_sessions} sessions are made first (one `GET /` each); wrk then sends their cookies"
             " in turn (a Lua script), 32 connections, so the 32 requests in flight are on 32 different"
             " sessions and every request finds a different session from the one before.", "",
             "| implementation | write GET / | read GET /peek |", "|---|--:|--:|"]
    for impl in rows:
        row = [impl.label]
        for scenario in MANY:
            row.append(rps_with_peers(impl.key, scenario, cells) or "n/a")
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def before_after_report(impls, cells, rss, lost):
    """--baseline: each current row over the older build's, scenario by scenario."""
    by = {i.key: i for i in impls}
    pairs = [(after, before) for before, after in BEFORE.items()
             if before in by and after in by and not by[before].unavailable and not by[after].unavailable]
    if not pairs:
        return []
    scenarios = [s for s in SCENARIOS if s not in ("json",)]
    lines = ["## Before and after (req/s, median; after ÷ before)", "",
             "The same scenarios on the older build (`--baseline`) and the current one, in the same rounds.", "",
             "| store | " + " | ".join(scenarios) + " | RSS per session | lost updates |",
             "|---|" + "--:|" * (len(scenarios) + 2)]
    for after, before in pairs:
        row = [by[after].label]
        for scenario in scenarios:
            a, b = cells.get((after, scenario)), cells.get((before, scenario))
            row.append(f"{k(b['rps'])} → {k(a['rps'])} ({fmt_ratio(ratio(a['rps'], b['rps']))})" if a and b else "")
        ra, rb = rss.get(after), rss.get(before)
        row.append(f"{rb['bytes']:.0f} → {ra['bytes']:.0f} B" if ra and rb else "")
        la, lb = lost.get(after), lost.get(before)
        row.append(f"{lb['lost']} → {la['lost']}" if la and lb else "")
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def in_process(cfg):
    """src/bin/overhead.rs (the layers driven in process, no sockets), pinned
    to the server CPU: its markdown report, or why it did not run."""
    cmd = ["taskset", "-c", SERVER_CPU, os.path.join(RELEASE, "overhead")]
    if cfg.quick:
        cmd.append("--quick")
    if not cfg.no_callgrind:
        cmd.append("--instructions")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        why = result.stderr.strip().splitlines()
        return f"## In process\n\nnot available: {why[-1] if why else result.returncode}\n"
    return result.stdout


def report(cfg, impls, cells, rss, growth, lost, read_writes, reap, irs, redis_cmds, solo, overhead):
    by = {i.key: i for i in impls}
    bare = cells.get(("bare", "json"))
    bare_rps = bare["rps"] if bare else None
    lines = ["# Session benchmark", "", *environment(cfg), ""]

    lines += ["## Throughput (req/s, median) and ratios", "",
              "| implementation | /hello (no session) | new session GET / | same session write GET / | same session read GET /peek | RSS bytes per stored session |",
              "|---|--:|--:|--:|--:|--:|"]
    for impl in impls:
        if impl.unavailable:
            lines.append(f"| {impl.label} | not available: {impl.unavailable} | | | | |")
            continue
        row = [impl.label, k(cells.get((impl.key, "hello"), {}).get("rps"))]
        if impl.key == "bare":
            row += [f"{k(bare_rps)} (/json, the ceiling)", "", ""]
        else:
            for scenario in ("new", "write", "read"):
                cell = cells.get((impl.key, scenario))
                rps = cell["rps"] if cell else None
                text = f"{k(rps)} ({fmt_ratio(ratio(rps, bare_rps))} bare)"
                for peer, name in PEERS.get(impl.key, ()):
                    if (peer, scenario) in cells:
                        text += f", {fmt_ratio(ratio(rps, cells[(peer, scenario)]['rps']))} {name}"
                row.append(text)
        r = rss.get(impl.key)
        row.append(f"{r['bytes']:.0f} ({r['sessions']} sessions)" if r else "")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    notes = [(key, n) for key, cell in cells.items() for n in cell["notes"]]
    for (key, scenario), note in notes:
        lines.append(f"- {by[key].label}, {scenario}: {note}")
    if notes:
        lines.append("")
    lines += redis_report(impls, cells, redis_cmds)
    lines += many_report(impls, cells)
    lines += before_after_report(impls, cells, rss, lost)
    if overhead:
        # The in-process benchmark's own markdown (its sections are `##`, as here).
        lines += overhead.splitlines() + [""]

    def rps(key, scenario):
        cell = cells.get((key, scenario))
        return cell["rps"] if cell else None

    if irs:
        lines += ["## User-space instructions per request (callgrind)", "",
                  "Counted by valgrind's callgrind over a fixed number of sequential requests after a warm-up:"
                  " reproducible on a busy machine, where req/s is not. Kernel time (sockets, epoll) is not counted,"
                  " so these ratios are not throughput ratios.", "",
                  "| implementation | new session GET / | write GET / | read GET /peek |", "|---|--:|--:|--:|"]
        for key in ("bare", "ours-mem", "ts-mem"):
            if key not in by or not any(k_[0] == key for k_ in irs):
                continue
            if key == "bare":
                lines.append(f"| {by[key].label} | {irs[(key, 'json')]:.0f} (/json) | | |")
                continue
            row = [by[key].label]
            for scenario in ("new", "write", "read"):
                v = irs.get((key, scenario))
                text = "n/a" if v is None else f"{v:.0f}"
                if key == "ours-mem" and v and irs.get(("ts-mem", scenario)):
                    text += f" ({fmt_ratio(v / irs[('ts-mem', scenario)])} tower)"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

    goals = []
    for scenario, goal in (("new", 0.7), ("write", 0.8), ("read", 0.9)):
        value = ratio(rps("ours-mem", scenario), bare_rps)
        goals.append((f"memory {scenario} ≥ {goal}× bare axum /json", fmt_ratio(value), verdict(value, goal)))
    for scenario, goal in (("new", 1.3), ("write", 1.3), ("read", 1.1)):
        value = ratio(rps("ours-mem", scenario), rps("ts-mem", scenario))
        goals.append((f"memory {scenario} ≥ {goal}× tower-sessions", fmt_ratio(value), verdict(value, goal)))
    for scenario, what in (("new", "new"), ("write", "write (one session, contended)"),
                           ("write32", "write (32 sessions)"), ("read", "read")):
        value = ratio(rps("ours-redis", scenario), rps("ts-redis", scenario))
        goals.append((f"redis {what} ≥ 1.3× tower-sessions-redis-store", fmt_ratio(value), verdict(value, 1.3)))
    for scenario, goal in (("write", 3), ("read", 30)):
        value = ratio(rps("ours-file", scenario), rps("ex-file", scenario))
        goals.append((f"file {scenario} ≥ {goal}× session-file-store", fmt_ratio(value), verdict(value, goal)))
    for scenario, goal in (("write-many", 3), ("read-many", 30)):
        value = ratio(rps("ours-file", scenario), rps("ex-file", scenario))
        goals.append((f"file {scenario.split('-')[0]} over {cfg.many_sessions} sessions ≥ {goal}× session-file-store",
                      f"{fmt_ratio(value)} ({k(rps('ours-file', scenario))} req/s at 32 connections)",
                      verdict(value, goal)))
    w = read_writes.get("ours-file")
    w = None if w is None else w["renames"] + w["write_opens"]
    goals.append(("file: zero file writes on the read path",
                  "n/a" if w is None else f"{w:.2f} write opens + renames per /peek",
                  verdict(w, 0, higher=False)))
    r = rss.get("ours-mem")
    goals.append((f"memory ≤ 200 B RSS per session at {cfg.rss_sessions} sessions",
                  "n/a" if r is None else f"{r['bytes']:.0f} B",
                  verdict(r and r["bytes"], 200, higher=False)))
    g = growth.get("ours-mem")
    for scenario in ("write", "read"):
        value = ratio(g[cfg.growth_large][scenario], g[cfg.growth_small][scenario]) if g else None
        goals.append((f"memory {scenario} with {cfg.growth_large} sessions ≥ 0.9× with {cfg.growth_small}",
                      fmt_ratio(value), verdict(value, 0.9)))
    if reap and reap["idle"] and reap["during"]:
        value = reap["during"] / reap["idle"]
        goals.append((f"file reap of {cfg.reap_files} files: p99 during a reap ≤ 2× idle (worse reap / calmer idle)",
                      f"{value:.2f}× ({reap['during']:.2f} ms vs {reap['idle']:.2f} ms)",
                      verdict(value, 2, higher=False)))
    else:
        goals.append(("file reap: p99 during reap ≤ 2× idle", "not run (no file_reap bench, or the file-store row was not selected)", "not measured"))
    for key, store in (("ours-mem", "memory"), ("ours-file", "file"), ("ours-redis", "redis")):
        lo = lost.get(key)
        goals.append((f"lost updates, 32 writers on one session ({store})",
                      "n/a" if not lo else f"{lo['lost']} of {lo['sent']} ({100 * lo['lost'] / lo['sent']:.1f}%)",
                      "reported (no goal: exclusive sessions are the answer)"))
    for on, off in EXCLUSIVE.items():
        lo = lost.get(on)
        goals.append((f"exclusive: 0 lost updates, 32 writers on one session ({off})",
                      "n/a" if not lo else f"{lo['lost']} of {lo['sent']}",
                      verdict(lo and lo["lost"], 0, higher=False)))
        value = ratio(solo.get(on), solo.get(off))
        goals.append((f"exclusive: uncontended write ≥ 0.95× without it ({off})", fmt_ratio(value),
                      verdict(value, 0.95)))
    lines += ["## Goals", "", "| goal | measured | verdict |", "|---|--:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in goals]
    lines.append("")

    if growth:
        lines += ["## Cost growth (req/s, median, same session)", "",
                  f"| implementation | write, {cfg.growth_small} stored | write, {cfg.growth_large} stored | ratio | read, {cfg.growth_small} stored | read, {cfg.growth_large} stored | ratio |",
                  "|---|--:|--:|--:|--:|--:|--:|"]
        for key, g in growth.items():
            s, l_ = g[cfg.growth_small], g[cfg.growth_large]
            lines.append(f"| {by[key].label} | {k(s['write'])} | {k(l_['write'])} | {fmt_ratio(ratio(l_['write'], s['write']))} | "
                         f"{k(s['read'])} | {k(l_['read'])} | {fmt_ratio(ratio(l_['read'], s['read']))} |")
        lines.append("")

    lines += ["## Lost updates: 32 concurrent writers, one session", "",
              "wrk sends GET / with one session's cookie over 32 connections"
              " (then only GET /hello until every counting response is in), then one GET /peek;"
              " lost = successful GET / + 1 (the request that made the session) - final count."
              " The server runs on both CPUs here so that requests can interleave.", "",
              "| implementation | GET / sent | failed | final count | lost |", "|---|--:|--:|--:|--:|"]
    for impl in impls:
        if impl.key in lost:
            lo = lost[impl.key]
            if lo is None:
                lines.append(f"| {impl.label} | not available | | | |")
            else:
                lines.append(f"| {impl.label} | {lo['sent']} | {lo['failed']} | {lo['final']} | "
                             f"{lo['lost']} ({100 * lo['lost'] / lo['sent']:.1f}%) |")
    lines.append("")

    if any(on in by for on in EXCLUSIVE):
        lines += ["## Exclusive sessions: off and on", "",
                  "Lost updates as above; same-session write throughput with 32 connections (every request"
                  " waits for the one before it when the option is on) and with one connection (nothing"
                  " ever waits: the option's own cost).", "",
                  "| store | lost, off | lost, on | write, 32 connections: off / on | write, 1 connection: off / on |",
                  "|---|--:|--:|--:|--:|"]
        for on, off in EXCLUSIVE.items():
            if on not in by or off not in by:
                continue
            def lost_text(key):
                lo = lost.get(key)
                return "n/a" if not lo else f"{lo['lost']} of {lo['sent']} ({100 * lo['lost'] / lo['sent']:.1f}%)"
            w_off, w_on = rps(off, "write"), rps(on, "write")
            s_off, s_on = solo.get(off), solo.get(on)
            lines.append(f"| {by[off].label} | {lost_text(off)} | {lost_text(on)} | "
                         f"{k(w_off)} / {k(w_on)} ({fmt_ratio(ratio(w_on, w_off))}) | "
                         f"{k(s_off)} / {k(s_on)} ({fmt_ratio(ratio(s_on, s_off))}) |")
        lines.append("")

    lines += ["## File writes per read (GET /peek), counted by strace", ""]
    for key, w in read_writes.items():
        lines.append(f"- {by[key].label}: " + ("not available" if w is None else
                     f"{w['write_opens']:.2f} opens for writing and {w['renames']:.2f} renames per request"))
    lines.append("")

    if reap:
        lines += ["## File store reap under load (cargo bench --bench file_reap)", "", "```", reap["text"], "```", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 run x 2 s, smaller counts")
    parser.add_argument("--runs", type=int, help="runs per cell (median); default 3, quick 1")
    parser.add_argument("--duration", type=int, help="seconds per wrk run; default 10, quick 2")
    parser.add_argument("--only", help="comma-separated implementation keys: bare,ours-mem,ts-mem,ex-mem,"
                        "ours-file,ex-file,ours-redis,ts-redis,ex-redis,ours-mem-x,ours-file-x,ours-redis-x")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the instruction counts")
    parser.add_argument("--no-extras", action="store_true",
                        help="throughput, lost updates and the exclusive rows only: skip RSS, cost growth,"
                             " strace, Redis command counts and the reap benchmark")
    parser.add_argument("--skip-build", action="store_true", help="use the binaries already built")
    parser.add_argument("--baseline", metavar="COUNTER",
                        help="an older build of the counter example (built with --features redis): adds its"
                             " memory, file and Redis rows beside the current ones, and a before/after table")
    parser.add_argument("--out", default=os.path.join(BENCH, "results", "latest.md"))
    cfg = parser.parse_args()
    global CFG
    CFG = cfg
    cfg.runs = cfg.runs or (1 if cfg.quick else 3)
    cfg.duration = cfg.duration or (2 if cfg.quick else 10)
    cfg.rss_sessions = 20_000 if cfg.quick else 100_000
    cfg.growth_small = 1_000
    cfg.growth_large = 100_000 if cfg.quick else 1_000_000
    cfg.lost_requests = 2_000 if cfg.quick else 10_000
    cfg.reap_files = 10_000 if cfg.quick else 100_000
    cfg.callgrind_requests = 300 if cfg.quick else 2_000
    cfg.redis_requests = 1_000
    cfg.many_sessions = 1_000 if cfg.quick else 10_000
    cfg.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {cfg.load_before}: other work is running, numbers will be noisy")

    ensure_tools()
    if not cfg.skip_build:
        build()
    # The orchestrator (python's own requests: lost updates, strace reads) runs
    # beside wrk; the servers are pinned to the other CPU by taskset.
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    impls = implementations()
    if cfg.baseline:
        # Each right after its current row, so that the tables read in pairs.
        counter = os.path.abspath(cfg.baseline)
        after = set(BEFORE.values())
        impls = [j for i in impls for j in ([i, baseline_impl(i, counter)] if i.key in after else [i])]
    if cfg.only:
        wanted = cfg.only.split(",")
        impls = [i for i in impls if i.key in wanted or i.key == "bare" or BEFORE.get(i.key) in wanted]

    cells = throughput(impls, cfg)
    rss, growth, lost, read_writes, redis_cmds = {}, {}, {}, {}, {}
    for impl in impls:
        if impl.unavailable:
            continue
        log(f"== {impl.label}")
        if impl.key != "bare":
            lost[impl.key] = lost_updates(impl, cfg)
        if cfg.no_extras:
            continue
        if impl.key in ("ours-mem", "ours-mem-before", "ts-mem", "ex-mem"):
            rss[impl.key] = rss_per_session(impl, cfg)
        if impl.store_dir:
            read_writes[impl.key] = read_path_writes(impl)
        if impl.redis:
            redis_cmds[impl.key] = redis_commands(impl, cfg)
        if impl.key == "ours-mem":
            growth[impl.key] = cost_growth(impl, cfg)
    reap = None
    if not cfg.no_extras and any(i.key == "ours-file" and not i.unavailable for i in impls):
        log("== file store reap benchmark")
        reap = reap_bench(cfg)

    irs = {}
    if not cfg.no_callgrind:
        log("== instructions per request (callgrind)")
        for impl in impls:
            if impl.key in ("bare", "ours-mem", "ts-mem") and not impl.unavailable:
                for scenario in SCENARIOS:
                    if applies(impl, scenario) and scenario != "hello":
                        irs[(impl.key, scenario)] = instructions(impl, scenario, cfg)

    solo = {}
    if any(i.key in EXCLUSIVE and not i.unavailable for i in impls):
        log("== exclusive sessions: uncontended writes, off and on")
        solo = uncontended(impls, cfg)
    overhead = None
    if not cfg.only or "ours-mem" in cfg.only.split(","):
        log("== in process: what each layer adds to a request (overhead)")
        overhead = in_process(cfg)
    text = report(cfg, impls, cells, rss, growth, lost, read_writes, reap, irs, redis_cmds, solo, overhead)
    os.makedirs(os.path.dirname(cfg.out), exist_ok=True)
    with open(cfg.out, "w") as f:
        f.write(text + "\n")
    print(text)
    log(f"written to {cfg.out}")


if __name__ == "__main__":
    main()
