#!/usr/bin/env python3
"""In-run API benchmark: what one `run.log("loss", x)` costs the script, and how soon a
logged value is visible in `runyard metrics` (issue 15, acceptance 5).

a) Cost per call, in the script (µs; median of --rounds rounds of --calls calls, one
   python3 process, the same loop for every row):
   - `run.log` of runyard's SDK (from the build tree) on a live run context: a run_api
     folder as the runtime makes it (context.json, records.jsonl, committed), nobody
     following it;
   - the same, in a real local run (`runyard run`): the runtime follows records.jsonl and
     ships every record to the run history while the script logs;
   baselines in the same process: os.write of the same record line, built with
   json.dumps per call and prebuilt (the bare syscall); and a synchronous HTTP POST of the
   metric as JSON per call to a local http.server (127.0.0.1, its own process, a
   keep-alive http.client connection; a handler that stores nothing), the way the MLflow
   client logs one metric per request.
b) Logged → visible latency: a run on a local server + agent whose script logs
   time.time() as metric "stamp" every ~100 ms (--stamps values); the bench runs
   `runyard metrics RUN --name stamp --json` back to back and takes, for each value, the
   moment the first call that shows it returned, minus the logged time. A poll that
   returns at t saw the state of some moment between its start and t, so the figure is an
   upper bound, off by at most one poll (the CLI call's own duration, reported). The
   script also times run.flush() after each log: logged → committed to the server.
Usage: bench/run_api_bench.py [--quick] [--rounds N] [--calls N] [--stamps N]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import PYTHON, cli, machine, percentile, start_agent, start_server, stop, write_result  # noqa: E402

SDK_DIR = os.path.join(benchlib.BIN, "sdk", "python")
GOAL_US = 5.0
GOAL_VISIBLE_MS = 100.0

# Runs in one python3 process: every variant with the same loop, rounds interleaved so a
# slow moment of the machine hits every row alike. Prints one JSON line: µs per call.
COST_SCRIPT = r'''
import http.client, json, os, sys, time

rounds, calls, http_calls, port = (int(a) for a in sys.argv[1:5])
only_sdk = port == 0

from runyard import Run  # the SDK, from PYTHONPATH
run = Run.get_context()
if type(run).__name__ == "_OfflineRun" or "Offline" in type(run).__name__:
    sys.exit("no live run context: RUNYARD_RUN_API_DIR=%s" % os.environ.get("RUNYARD_RUN_API_DIR"))

def sdk(n):
    log = run.log
    started = time.perf_counter()
    for i in range(n):
        log("loss", 0.5 + i * 1e-7)
    return time.perf_counter() - started

line_fd = os.open(os.path.join(os.environ.get("BENCH_TMP", "."), "baseline.jsonl"),
                  os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

def json_line(n):
    dumps, write, now = json.dumps, os.write, time.time
    started = time.perf_counter()
    for i in range(n):
        write(line_fd, (dumps({"k": "metric", "n": "loss", "type": "scalar", "v": [0.5 + i * 1e-7],
                               "t": now()}) + "\n").encode())
    return time.perf_counter() - started

PREBUILT = b'{"k":"metric","n":"loss","type":"scalar","v":[0.5000123],"t":1767225600.123456}\n'

def prebuilt(n):
    write = os.write
    started = time.perf_counter()
    for i in range(n):
        write(line_fd, PREBUILT)
    return time.perf_counter() - started

def http_post(n):
    import socket
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as requests/urllib3 do
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    for i in range(n):
        body = json.dumps({"run_id": "bench", "key": "loss", "value": 0.5 + i * 1e-7,
                           "timestamp": int(time.time() * 1000), "step": i})
        connection.request("POST", "/api/2.0/mlflow/runs/log-metric", body, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit("HTTP %d" % response.status)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed

variants = {"sdk": (sdk, calls)}
if not only_sdk:
    variants.update({"json_line": (json_line, calls), "prebuilt": (prebuilt, calls),
                     "http": (http_post, http_calls)})
for fn, n in variants.values():  # warm-up: imports, caches, the connection's first use
    fn(min(n, 1000))
result = {name: [] for name in variants}
for _ in range(rounds):
    for name, (fn, n) in variants.items():
        result[name].append(fn(n) * 1e6 / n)
if not only_sdk:
    run.flush()
print("RESULT " + json.dumps(result), flush=True)
'''

# A do-nothing JSON endpoint: reads the body, answers 200 with "{}", keeps the connection
# (the best case for the HTTP baseline: no storage, no TLS, no authentication).
HTTP_SERVER = r'''
import http.server, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # else its header and body writes meet the delayed ACK: 40 ms

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
'''

# Logs time.time() every ~100 ms; times flush() after each log.
STAMP_SCRIPT = r'''
import json, sys, time
from azureml.core import Run

count = int(sys.argv[1])
run = Run.get_context()
flushes = []
print("stamping", flush=True)
next_at = time.monotonic()
for i in range(count):
    run.log("stamp", time.time())
    started = time.perf_counter()
    run.flush()
    flushes.append((time.perf_counter() - started) * 1000)
    next_at += 0.1
    time.sleep(max(0.0, next_at - time.monotonic()))
print("RESULT " + json.dumps({"flush_ms": flushes}), flush=True)
'''


def result_line(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError("no RESULT line in:\n" + text[-3000:])


def fake_run_api(folder):
    """A run_api folder as the runtime creates it (the contract), for a script run by hand."""
    os.makedirs(folder)
    records = os.path.join(folder, "records.jsonl")
    committed = os.path.join(folder, "committed")
    open(records, "w").close()
    work = os.path.join(os.path.dirname(folder), "wd")
    with open(os.path.join(folder, "context.json"), "w") as f:
        json.dump({"run_id": "run-bench", "experiment": "bench", "display_name": "bench",
                   "parent_run_id": "", "tags": {}, "properties": {}, "compute_target": "local",
                   "limits": {"max_metric_values": 10 ** 9, "max_children": 10000, "max_tags": 1000,
                              "max_name_chars": 255, "max_text_value_chars": 65536},
                   "records": records, "committed": committed,
                   "images_dir": os.path.join(work, "logs", "images"), "logs_dir": os.path.join(work, "logs"),
                   "outputs_dir": os.path.join(work, "outputs")}, f)
    return records


def measure_cost(work, env, rounds, calls, http_calls):
    """µs per call of every variant, in one process on a hand-made run context."""
    server = subprocess.Popen([PYTHON, "-c", HTTP_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        script = os.path.join(work, "cost.py")
        with open(script, "w") as f:
            f.write(COST_SCRIPT)
        records = fake_run_api(os.path.join(work, "fake-run", "run_api"))
        script_env = dict(env, PYTHONPATH=SDK_DIR, BENCH_TMP=work,
                          RUNYARD_RUN_API_DIR=os.path.dirname(records))
        # flush() at the script's end waits for `committed`: nobody follows this folder, so
        # it says everything is (the cost of a call does not depend on it).
        with open(os.path.join(os.path.dirname(records), "committed"), "w") as f:
            f.write("%020d\n" % 10 ** 15)
        done = subprocess.run([PYTHON, script, str(rounds), str(calls), str(http_calls), str(port)],
                              env=script_env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"cost script failed: {done.stderr[-3000:]}")
        result = result_line(done.stdout)
        result["record_bytes"] = os.path.getsize(records) / (min(calls, 1000) + rounds * calls)
        return result
    finally:
        server.terminate()
        server.wait(10)


def measure_cost_in_local_run(work, env, rounds, calls):
    """µs per run.log call in a real local run (`runyard run`)."""
    source = benchlib.write_source(os.path.join(work, "src-cost"), {"cost.py": COST_SCRIPT})
    started = time.monotonic()
    out = cli(["run", "--source-directory", source, "--script", "cost.py", "--interpreter", PYTHON,
               "--", str(rounds), str(calls), "0", "0"], env).stdout
    return result_line(out)["sdk"], time.monotonic() - started


def measure_visibility(work, env, stamps):
    """(latencies ms, poll durations ms, flush ms) on a local server + agent."""
    source = benchlib.write_source(os.path.join(work, "src-stamp"), {"stamp.py": STAMP_SCRIPT})
    run_id = json.loads(cli(["submit", "--json", "--target", "bench", "--source-directory", source,
                             "--script", "stamp.py", "--interpreter", PYTHON, "--", str(stamps)],
                            env).stdout)["run_id"]

    def stamping():
        if "stamping" in cli(["logs", run_id], env, check=False).stdout:
            return True
        run = json.loads(cli(["status", run_id, "--json"], env).stdout)
        if run["status"] in ("Completed", "Failed", "Canceled"):
            raise RuntimeError(f"{run_id} ended {run['status']} before stamping: {run.get('error')}\n"
                               + cli(["logs", run_id], env, check=False).stdout[-2000:])
        return False

    benchlib.wait_until(stamping, 60, f"{run_id} to start stamping", interval=0.02)
    first_seen = {}  # seq -> (time the poll returned, value)
    polls = []
    deadline = time.monotonic() + stamps * 0.1 + 60
    while len(first_seen) < stamps:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(first_seen)} of {stamps} stamps seen in `runyard metrics`")
        started = time.time()
        result = cli(["metrics", run_id, "--name", "stamp", "--json"], env, check=False)
        returned = time.time()
        polls.append((returned - started) * 1000)
        if result.returncode != 0:
            continue  # the series does not exist before the first value
        series = json.loads(result.stdout)["series"]
        for value in series[0]["values"] if series else []:
            first_seen.setdefault(value["seq"], (returned, value["value"]))
    run = benchlib.wait_until(lambda: (lambda r: r if r["status"] in ("Completed", "Failed", "Canceled") else None)(
        json.loads(cli(["status", run_id, "--json"], env).stdout)), 60, f"{run_id} to end", interval=0.05)
    if run["status"] != "Completed":
        raise RuntimeError(f"{run_id} ended {run['status']}: {run.get('error')}")
    flush_ms = result_line(cli(["logs", run_id], env).stdout)["flush_ms"]
    latencies = [(seen - logged) * 1000 for seen, logged in first_seen.values()]
    return latencies, polls, flush_ms


def us_row(name, values, baseline=None, extra=""):
    med = statistics.median(values)
    ratio = f"{med / baseline:.2f}×" if baseline else ""
    return f"| {name} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | {ratio} | {extra} |"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100000)
    parser.add_argument("--http-calls", type=int, default=5000)
    parser.add_argument("--stamps", type=int, default=100)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.http_calls, args.stamps = 3, 5000, 300, 10
    if not os.path.isdir(os.path.join(SDK_DIR, "runyard")):
        print(f"run_api_bench: no Python SDK at {SDK_DIR} (build target runyard_python_sdk)", file=sys.stderr)
        return 1

    began = time.monotonic()
    work = tempfile.mkdtemp(prefix="runyard-bench-run-api-")
    procs = []
    try:
        env = benchlib.bench_env(work)
        cost = measure_cost(work, env, args.rounds, args.calls, args.http_calls)
        print(f"run_api_bench: cost per call measured ({time.monotonic() - began:.1f} s)", file=sys.stderr)
        in_run, in_run_s = measure_cost_in_local_run(work, env, args.rounds, args.calls)
        print(f"run_api_bench: in a local run ({time.monotonic() - began:.1f} s)", file=sys.stderr)
        procs.append(start_server(os.path.join(work, "server"), env))
        procs.append(start_agent(os.path.join(work, "agent"), "bench", env, "--slots", "1"))
        latencies, polls, flush_ms = measure_visibility(work, env, args.stamps)

        base = statistics.median(cost["json_line"])
        sdk_us = statistics.median(cost["sdk"])
        p50 = percentile(latencies, 0.5)
        lines = [
            f"## In-run API: `run.log` cost and logged → visible latency ({machine()}; loopback)",
            "",
            f"a) µs per call, median of {args.rounds} rounds of {args.calls:,} calls "
            f"({args.http_calls:,} for HTTP), one python3 process, rounds interleaved:",
            "",
            "| measurement | median (µs) | min | max | ratio | notes |", "|---|---|---|---|---|---|",
            us_row("os.write of the same record line, built with json.dumps (baseline)", cost["json_line"],
                   extra="what a script appending JSON lines itself pays"),
            us_row("os.write of a prebuilt line", cost["prebuilt"], baseline=base, extra="the syscall alone"),
            us_row("`run.log(\"loss\", x)`, runyard SDK, live run context", cost["sdk"], baseline=base,
                   extra=f"one O_APPEND write per call, {cost['record_bytes']:.0f} bytes per record"),
            us_row("`run.log(\"loss\", x)` in a real local run (`runyard run`)", in_run, baseline=base,
                   extra=f"the runtime ships the records meanwhile (run took {in_run_s:.1f} s)"),
            us_row("synchronous HTTP POST per metric, keep-alive (MLflow's way)", cost["http"], baseline=base,
                   extra="http.client → local http.server that stores nothing"),
            "",
            f"run.log: {benchlib.aim(sdk_us, GOAL_US, 'µs', below=True)} per call; "
            f"{statistics.median(cost['http']) / sdk_us:.0f}× cheaper than an HTTP request per metric.",
            "",
            f"b) logged → visible in `runyard metrics RUN --name stamp --json` (server + agent, {len(latencies)} "
            f"values logged ~100 ms apart):",
            "",
            "| measurement | p50 (ms) | p90 | max | notes |", "|---|---|---|---|---|",
            f"| logged → first poll that shows it returned | {p50:.1f} | {percentile(latencies, 0.9):.1f} | "
            f"{max(latencies):.1f} | upper bound: off by at most one poll |",
            f"| poll period: one `runyard metrics --json` call | {percentile(polls, 0.5):.1f} | "
            f"{percentile(polls, 0.9):.1f} | {max(polls):.1f} | CLI start + gRPC; bounds the resolution |",
            f"| `run.flush()` right after a log (→ committed to the server) | {percentile(flush_ms, 0.5):.1f} | "
            f"{percentile(flush_ms, 0.9):.1f} | {max(flush_ms):.1f} | the script's own clock |",
            "",
            f"logged → visible: p50 {benchlib.aim(p50, GOAL_VISIBLE_MS, 'ms', below=True)}.",
        ]
        write_result("run_api.md", "\n".join(lines), args.quick)
        return 0
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
