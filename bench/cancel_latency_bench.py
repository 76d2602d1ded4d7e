#!/usr/bin/env python3
"""Cancel latency benchmark: from `runyard cancel RUN` to SIGTERM in the run's process.

A script prints 'ready' and traps SIGTERM, writing the time.time() at which the signal
arrived to a file (path given with -e). For each of N runs on a local server + agent
(--kill-grace-seconds 1): wait for 'ready' in the run's log, take t0 = time.time(), run
`runyard cancel RUN`, and measure, all from t0:
  - the CLI returned (process start, gRPC, server's reply);
  - the server recorded CancelRequested (status history);
  - the agent logged "cancel requested: SIGTERM ..." (its runtime.txt line, UTC with ms);
  - the script received SIGTERM (end to end: CLI start, gRPC, the agent's poll reply, the kill).
Baseline in the same run: the bench signals an identical, directly started script itself
(os.kill), and, for the cost of starting a process, with `/bin/kill -TERM` (subprocess).
One warm-up cancel is not counted. Real binaries, real sockets on 127.0.0.1.
Usage: bench/cancel_latency_bench.py [--quick] [--repeat N]
"""
import argparse
import calendar
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import (TABLE_HEADER, cli, machine, start_agent, start_server, stop,  # noqa: E402
                      write_result)

PYTHON = "/usr/bin/python3"
GRACE_SECONDS = 1

PROBE = r'''
import os, signal, sys, time

def on_term(signum, frame):
    received = time.time()
    path = os.environ["PROBE_FILE"]
    with open(path + ".tmp", "w") as f:
        f.write(repr(received))
    os.rename(path + ".tmp", path)
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(3600)
'''


def wait_until(predicate, timeout, what, interval=0.005):
    """Tighter polling by default than benchlib's: this bench measures milliseconds."""
    return benchlib.wait_until(predicate, timeout, what, interval=interval)


def read_probe(path, timeout=30):
    wait_until(lambda: os.path.exists(path), timeout, f"SIGTERM in the script ({path})")
    with open(path) as f:
        return float(f.read())


def iso_utc(stamp):
    """'2026-11-26T18:28:02.962Z' -> seconds since the epoch."""
    whole, _, millis = stamp.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(millis or 0) / 1000


def row_ms(name, values, baseline=None, extra=""):
    """benchlib.row, in milliseconds with a decimal (the baselines are well under 1 ms)."""
    med = statistics.median(values)
    ratio = f"{med / baseline:,.0f}×" if baseline else ""
    return f"| {name} | {med:.1f} | {min(values):.1f} | {max(values):.1f} | {ratio} | {extra} |"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="two repetitions (CI smoke)")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat

    work = tempfile.mkdtemp(prefix="runyard-bench-cancel-")
    procs = []
    try:
        env = dict(os.environ)
        env["RUNYARD_HOME"] = os.path.join(work, "home")
        env.pop("RUNYARD_SERVER", None)
        source = os.path.join(work, "src")
        os.makedirs(source)
        with open(os.path.join(source, "probe.py"), "w") as f:
            f.write(PROBE.lstrip())

        procs.append(start_server(os.path.join(work, "server"), env))
        procs.append(start_agent(os.path.join(work, "agent"), "bench", env,
                                 "--kill-grace-seconds", str(GRACE_SECONDS), "--slots", "1"))

        cli_returned, server_seen, agent_logged, received = [], [], [], []
        mode = "?"
        for i in range(repeat + 1):  # the first one warms up (page cache, connections) and is not counted
            probe_file = os.path.join(work, f"probe-{i}.txt")
            run_id = json.loads(cli(["submit", "--json", "--target", "bench", "--source-directory", source,
                                     "--script", "probe.py", "--interpreter", PYTHON,
                                     "-e", f"PROBE_FILE={probe_file}"], env).stdout)["run_id"]
            wait_until(lambda: "ready" in cli(["logs", run_id], env, check=False).stdout, 60,
                       f"'ready' in the log of {run_id}", interval=0.05)
            t0 = time.time()
            cli(["cancel", run_id], env)
            returned = time.time()
            got = read_probe(probe_file)
            run = wait_until(lambda: (lambda r: r if r["status"] in ("Completed", "Failed", "Canceled") else None)(
                json.loads(cli(["status", run_id, "--json"], env).stdout)), 60, f"{run_id} to end", interval=0.05)
            if run["status"] != "Canceled":
                raise RuntimeError(f"{run_id} ended {run['status']}, not Canceled")
            requested = [e["time_unix_ms"] for e in run["history"] if e["status"] == "CancelRequested"]
            runtime_txt = os.path.join(work, f"runtime-{i}.txt")
            cli(["download", run_id, "system_logs/runtime.txt", "-o", runtime_txt], env)
            with open(runtime_txt) as f:
                text = f.read()
            m = re.search(r"^(\S+Z) cancel requested: SIGTERM to every process of the run \(([^)]*)\)", text, re.M)
            if not m:
                raise RuntimeError(f"no 'cancel requested: SIGTERM' line in the runtime.txt of {run_id}:\n{text}")
            mode = m.group(2)
            if i == 0:
                continue
            cli_returned.append((returned - t0) * 1000)
            if requested:
                server_seen.append(requested[0] - t0 * 1000)
            agent_logged.append((iso_utc(m.group(1)) - t0) * 1000)
            received.append((got - t0) * 1000)
            print(f"  {run_id}: cancel returned {cli_returned[-1]:.1f} ms, agent {agent_logged[-1]:.1f} ms, "
                  f"SIGTERM in the script {received[-1]:.1f} ms after t0", file=sys.stderr)

        # Baselines: the same script started directly, signaled by the bench itself.
        direct, via_kill = [], []
        for i in range(repeat):
            for how, values in (("os.kill", direct), ("kill", via_kill)):
                probe_file = os.path.join(work, f"direct-{how}-{i}.txt")
                proc = subprocess.Popen([PYTHON, os.path.join(source, "probe.py")], stdout=subprocess.PIPE,
                                        text=True, env=dict(env, PROBE_FILE=probe_file))
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError("the direct probe did not start")
                t0 = time.time()
                if how == "os.kill":
                    os.kill(proc.pid, signal.SIGTERM)
                else:
                    subprocess.run(["kill", "-TERM", str(proc.pid)], check=True)
                values.append((read_probe(probe_file) - t0) * 1000)
                proc.wait(10)

        base = statistics.median(direct)
        lines = [
            f"## Cancel latency (`runyard cancel` to SIGTERM in the run; {machine()}; loopback; "
            f"median of {repeat}; containment: {mode})",
            "",
            TABLE_HEADER[0].replace("(s)", "(ms)"), TABLE_HEADER[1],
            row_ms("os.kill(pid, SIGTERM) by the bench (baseline)", direct, extra="signal delivery + Python handler"),
            row_ms("`kill -TERM pid` as a subprocess", via_kill, baseline=base, extra="cost of starting a process"),
            row_ms("`runyard cancel` returned", cli_returned, baseline=base, extra="CLI start + gRPC"),
            *([row_ms("server records CancelRequested", server_seen, baseline=base, extra="status history")]
              if server_seen else []),
            row_ms("agent logs 'cancel requested: SIGTERM'", agent_logged, baseline=base,
                   extra="runtime.txt timestamp (ms resolution)"),
            row_ms("SIGTERM received by the run's script (end to end)", received, baseline=base,
                   extra="CLI + gRPC + agent's poll reply + kill"),
            "",
            f"end to end: median {statistics.median(received):.1f} ms (aim: under 100 ms: "
            f"{'met' if statistics.median(received) < 100 else 'NOT met'}), worst {max(received):.1f} ms; "
            f"of the median, {statistics.median(received) - statistics.median(server_seen or [0]):.1f} ms "
            f"from the server's CancelRequested to SIGTERM in the script (the rest is the CLI starting and "
            f"calling). One warm-up cancel before the {repeat} measured is not counted.",
        ]
        write_result("cancel_latency.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
