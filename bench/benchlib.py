"""Shared pieces of runyard's benchmarks: start the real daemons, call the CLI, print tables."""
import math
import os
import re
import statistics
import subprocess
import threading
import time
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("RUNYARD_BIN_DIR", os.path.join(ROOT, "build"))
RUNYARD = os.path.join(BIN, "cli", "runyard")
SERVER = os.path.join(BIN, "server", "runyard-server")
AGENT = os.path.join(BIN, "agent", "runyard-agent")

# The same TLS material and token handling as the e2e tests (tests/e2e/security.py).
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import security  # noqa: E402


def machine():
    """The machine every figure is measured on."""
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return f"{os.cpu_count()} cores, {mem_kb / 1024 / 1024:.0f} GiB RAM"


def start(cmd, ready_pattern, env):
    """Starts a daemon and waits for its readiness line on stderr (no fixed sleeps)."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    found = threading.Event()
    match = {}

    def pump():
        for line in proc.stderr:
            m = re.search(ready_pattern, line)
            if m and not found.is_set():
                match["m"] = m
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    if not found.wait(30):
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start")
    return proc, match["m"]


def start_server(data_dir, env, *extra):
    """runyard-server on 127.0.0.1, a free port, with security on as in production (TLS, a
    first admin token); sets env['RUNYARD_SERVER'], RUNYARD_TOKEN (the admin token),
    RUNYARD_CA_FILE and RUNYARD_JOIN_TOKEN_FILE (for start_agent)."""
    tls = security.tls_material()
    token_file = os.path.join(data_dir, "admin-token")
    proc, m = start([SERVER, "--listen", "127.0.0.1:0", "--data-dir", data_dir, *security.server_args(data_dir),
                     *extra], r"listening on (\S+)", env)
    env["RUNYARD_SERVER"] = m.group(1)
    env["RUNYARD_CA_FILE"] = tls.ca
    env["RUNYARD_TOKEN"] = security.read_token(token_file)
    join = os.path.join(data_dir, "join-token")
    if not os.path.exists(join):
        cli(["tokens", "create", "--join", "--name", "bench agents", "--output-file", join], env)
    env["RUNYARD_JOIN_TOKEN_FILE"] = join
    return proc


def start_agent(work_dir, pool, env, *extra):
    proc, _ = start([AGENT, "--server", env["RUNYARD_SERVER"], "--pool", pool, "--work-dir", work_dir,
                     "--server-ca-file", env["RUNYARD_CA_FILE"], "--join-token-file", env["RUNYARD_JOIN_TOKEN_FILE"],
                     *extra], r"registered with", env)
    return proc


def stop(procs):
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def cli(args, env, check=True):
    result = subprocess.run([RUNYARD] + args, env=env, capture_output=True, text=True, timeout=1800)
    if check and result.returncode != 0:
        raise RuntimeError(f"runyard {' '.join(args)} failed: {result.stderr}")
    return result


def wait_until(predicate, timeout, what, interval=0.01):
    """Polls predicate() until it returns something truthy (returned); RuntimeError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def timed(fn):
    start_time = time.perf_counter()
    value = fn()
    return time.perf_counter() - start_time, value


def phase_seconds(run, start_status, end_status):
    """Seconds between two statuses in a run's history (status --json)."""
    times = {event["status"]: event["time_unix_ms"] for event in run["history"]}
    return (times[end_status] - times[start_status]) / 1000


def row(name, values, baseline=None, extra="", unit="s"):
    """| name | median | min | max | ratio to baseline | notes |"""
    med = statistics.median(values)
    ratio = f"{med / baseline:.2f}×" if baseline else ""
    fmt = (lambda v: f"{v:.3f}") if unit == "s" else (lambda v: f"{v:,.0f}")
    return f"| {name} | {fmt(med)} | {fmt(min(values))} | {fmt(max(values))} | {ratio} | {extra} |"


TABLE_HEADER = ["| measurement | median (s) | min | max | ratio | notes |", "|---|---|---|---|---|---|"]


def write_result(name, text, quick):
    print(text)
    if not quick:
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", name), "w") as f:
            f.write(text + "\n")


# --- Added for dispatch_bench, throughput_bench, footprint_bench and bench/run. ---

PYTHON = "/usr/bin/python3"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def bench_env(work):
    """A copy of os.environ with RUNYARD_HOME under `work` and no inherited RUNYARD_SERVER."""
    env = dict(os.environ)
    env["RUNYARD_HOME"] = os.path.join(work, "home")
    env.pop("RUNYARD_SERVER", None)
    return env


def write_source(folder, files):
    """Creates `folder` with {name: text} files (a run's source directory)."""
    os.makedirs(folder, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text.lstrip())
    return folder


def read_float_file(path, timeout=60):
    """Waits for a file a script wrote (atomically) and returns the float in it."""
    wait_until(lambda: os.path.exists(path), timeout, path, interval=0.005)
    with open(path) as f:
        return float(f.read())


def proc_kb(pid, key="VmRSS"):
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM); 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name == key:
                    return int(rest.split()[0])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    """utime + stime of a process (and its waited-for children), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the ')': state is field 3, so utime (14) .. cstime (17) are fields[11:15].
    return sum(int(v) for v in fields[11:15])


def percentile(values, fraction):
    """Nearest-rank percentile (fraction in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def row_ms(name, values, baseline=None, extra=""):
    """benchlib.row for values in milliseconds, one decimal."""
    med = statistics.median(values)
    ratio = f"{med / baseline:.2f}×" if baseline else ""
    return f"| {name} | {med:.1f} | {min(values):.1f} | {max(values):.1f} | {ratio} | {extra} |"


def aim(value, limit, unit, below=True):
    """'X unit (aim: < limit unit: met)' — every target is stated next to its figure."""
    ok = value < limit if below else value >= limit
    sign = "<" if below else "≥"
    sep = "" if unit == "×" else " "
    return f"{value:.3g}{sep}{unit} (aim: {sign} {limit:g}{sep}{unit}: {'met' if ok else 'NOT met'})"


def settle_page_cache():
    """Writes back what is dirty and, as root, drops the clean page cache, so that every
    measured write starts from the same memory state (see log_bench's docstring)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1")
    except OSError:
        pass
