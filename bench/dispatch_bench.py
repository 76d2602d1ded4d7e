#!/usr/bin/env python3
"""Dispatch latency and per-run overhead: what runyard adds to starting a script.

The script (probe.py) takes time.time() as its first instruction and writes it to a file
the bench names (-e PROBE_FILE=...); then it exits 0 (a script that does nothing else).

Dispatch latency, idle agent (one agent, --slots 1, back in its long poll: the bench
waits 0.2 s after each run ends). Measured from the server's Queued timestamp (run
history, ms) to the script's first instruction: that is the hand-out, Preparing (snapshot
materialization from the node cache), Starting and the interpreter's start-up, i.e.
what dispatch means, without the CLI's own start-up and snapshot walk, which the
"CLI invoked → first instruction" row shows (time.time() just before the CLI is spawned).
Both clocks are this machine's, the server and agent run on 127.0.0.1.
Baseline: the bench forks/execs the same interpreter on the same script itself
(time.time() before Popen → the script's first instruction): the part no launcher avoids.

Per-run overhead: wall time of `runyard submit --wait --json` until it returns the
Completed run, remote (the agent above) and local (--target local: the runtime inside
the CLI, no server), against `python3 probe.py` run directly (subprocess.run). The
overhead is the difference of the medians (aim: < 30 ms).
One warm-up run of each kind is not counted. Usage: bench/dispatch_bench.py [--quick] [--repeat N]
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
from benchlib import (PYTHON, TABLE_HEADER, aim, bench_env, cli, machine, read_float_file,  # noqa: E402
                      row_ms, start_agent, start_server, stop, write_result, write_source)

PROBE = r'''
import time; first_instruction = time.time()
import os
path = os.environ["PROBE_FILE"]
with open(path + ".tmp", "w") as f:
    f.write(repr(first_instruction))
os.rename(path + ".tmp", path)
'''

IDLE_SECONDS = 0.2  # after a run ends, so the agent is back in its long poll ("idle agent")


def history_ms(run, status):
    """time_unix_ms of the last `status` in the run's history."""
    times = [e["time_unix_ms"] for e in run["history"] if e["status"] == status]
    if not times:
        raise RuntimeError(f"no {status} in the history of {run['run_id']}: {run['history']}")
    return times[-1]


def runyard_once(env, work, source, target, i):
    """One `submit --wait`; returns (CLI invoked, wall s, first instruction, run JSON)."""
    probe_file = os.path.join(work, f"probe-{target}-{i}.txt")
    invoked = time.time()
    start = time.perf_counter()
    result = cli(["submit", "--json", "--wait", "--target", target, "--source-directory", source,
                  "--script", "probe.py", "--interpreter", PYTHON, "-e", f"PROBE_FILE={probe_file}"], env)
    wall = time.perf_counter() - start
    run = json.loads(result.stdout)
    if run["status"] != "Completed":
        raise RuntimeError(f"{run['run_id']} ended {run['status']}: {result.stdout}")
    return invoked, wall, read_float_file(probe_file), run


def direct_once(env, work, source, i):
    """The baseline: the bench forks/execs the interpreter on the same script."""
    probe_file = os.path.join(work, f"probe-direct-{i}.txt")
    invoked = time.time()
    start = time.perf_counter()
    subprocess.run([PYTHON, os.path.join(source, "probe.py")], env=dict(env, PROBE_FILE=probe_file),
                   check=True, cwd=source)
    wall = time.perf_counter() - start
    return invoked, wall, read_float_file(probe_file)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="three repetitions (CI smoke)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat

    work = tempfile.mkdtemp(prefix="runyard-bench-dispatch-")
    procs = []
    try:
        env = bench_env(work)
        source = write_source(os.path.join(work, "src"), {"probe.py": PROBE})
        procs.append(start_server(os.path.join(work, "server"), env))
        procs.append(start_agent(os.path.join(work, "agent"), "bench", env, "--slots", "1"))

        remote = {"queued": [], "invoked": [], "running": [], "wall": [], "queued_completed": []}
        local = {"queued": [], "invoked": [], "wall": []}
        direct = {"start": [], "wall": []}
        # Interleaved, so drift in the machine's load touches every kind alike.
        for i in range(repeat + 1):
            invoked, wall, first, run = runyard_once(env, work, source, "bench", i)
            time.sleep(IDLE_SECONDS)
            l_invoked, l_wall, l_first, l_run = runyard_once(env, work, source, "local", i)
            d_invoked, d_wall, d_first = direct_once(env, work, source, i)
            if i == 0:
                continue  # warm-up: page cache, the node's blob cache, gRPC channels
            queued = history_ms(run, "Queued") / 1000
            remote["queued"].append((first - queued) * 1000)
            remote["invoked"].append((first - invoked) * 1000)
            remote["running"].append(history_ms(run, "Running") - history_ms(run, "Queued"))
            remote["wall"].append(wall * 1000)
            remote["queued_completed"].append(history_ms(run, "Completed") - history_ms(run, "Queued"))
            local["queued"].append((l_first - history_ms(l_run, "Queued") / 1000) * 1000)
            local["invoked"].append((l_first - l_invoked) * 1000)
            local["wall"].append(l_wall * 1000)
            direct["start"].append((d_first - d_invoked) * 1000)
            direct["wall"].append(d_wall * 1000)
            print(f"  {run['run_id']}: Queued → first instruction {remote['queued'][-1]:.1f} ms, "
                  f"submit --wait {remote['wall'][-1]:.1f} ms; local {local['wall'][-1]:.1f} ms; "
                  f"direct {direct['wall'][-1]:.1f} ms", file=sys.stderr)

        med = statistics.median
        fork = med(direct["start"])
        base = med(direct["wall"])
        over_remote = med(remote["wall"]) - base
        over_local = med(local["wall"]) - base
        lines = [
            f"## Dispatch latency (submit → the script's first instruction, idle agent; {machine()}; "
            f"loopback; median of {repeat})",
            "",
            TABLE_HEADER[0].replace("(s)", "(ms)"), TABLE_HEADER[1],
            row_ms("fork/exec of the interpreter by the bench (baseline)", direct["start"],
                   extra="Popen → first instruction: interpreter start-up"),
            row_ms("remote: Queued → first instruction", remote["queued"], baseline=fork,
                   extra="server's Queued timestamp (ms) → script; the dispatch latency"),
            row_ms("remote: Queued → Running (history)", remote["running"],
                   extra="hand-out + Preparing + Starting, as the server records them"),
            row_ms("remote: CLI invoked → first instruction", remote["invoked"], baseline=fork,
                   extra="adds the CLI's start-up, snapshot walk and Submit"),
            row_ms("local: Queued → first instruction", local["queued"], baseline=fork,
                   extra="runtime inside the CLI"),
            row_ms("local: CLI invoked → first instruction", local["invoked"], baseline=fork),
            "",
            f"dispatch latency (remote, Queued → first instruction) p50 "
            f"{aim(med(remote['queued']), 15, 'ms')}; of it, {fork:.1f} ms is the interpreter's own "
            f"start-up (baseline), so runyard's share is {med(remote['queued']) - fork:.1f} ms. "
            f"The agent was idle in its long poll before each submit ({IDLE_SECONDS} s after the previous run).",
            "",
            f"## Per-run overhead (a script that does nothing; submit → Completed; {machine()}; median of {repeat})",
            "",
            TABLE_HEADER[0].replace("(s)", "(ms)"), TABLE_HEADER[1],
            row_ms("`python3 probe.py` directly (baseline)", direct["wall"], extra="subprocess.run wall time"),
            row_ms("`runyard submit --wait`, remote agent", remote["wall"], baseline=base,
                   extra="CLI start → Completed run returned"),
            row_ms("remote: Queued → Completed (history)", remote["queued_completed"], baseline=base,
                   extra="server's timestamps, without the CLI"),
            row_ms("`runyard submit --wait --target local`", local["wall"], baseline=base,
                   extra="no server: runtime inside the CLI"),
            "",
            f"overhead over the direct run: remote {aim(over_remote, 30, 'ms')}; "
            f"local {aim(over_local, 30, 'ms')}. One warm-up run of each kind is not counted.",
        ]
        write_result("dispatch.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
