#!/usr/bin/env python3
"""Server benchmark: 10,000 queued runs handed out to 20 simulated agents.

What the control plane alone sustains: queue, leases, run history in SQLite and the
agents' long poll, with nothing run on the node. A real runyard-server on 127.0.0.1 with
its default store; the load comes from bench/server_load.cc (runyard-server-load, built
with the project), which
  1. queues --runs copies of one run's spec with 4 threads calling Submit (the template
     run is submitted once with the CLI, so its snapshot is real);
  2. starts --agents simulated agents, one thread and one channel each, that Register,
     Poll for one run at a time and report it Preparing, Starting, Running, Finalizing
     and Completed (five UpdateStatus calls, as a real agent makes), as fast as they can.
Figures: submits/s and Submit latency; runs handed out and completed per second (first
poll → last Completed); acquire latency (a Poll that brought a run, p50/p99) and
UpdateStatus latency. The issue gives no baseline for this one; the load generator
shares the 2 cores with the server, so the figures are a floor for a server that has a
machine to itself.
Usage: bench/server_bench.py [--quick] [--repeat N] [--runs N] [--agents N]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, PYTHON, bench_env, cli, machine, start_server, stop, write_result, write_source  # noqa: E402

LOAD = os.path.join(BIN, "bench", "runyard-server-load")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="300 runs, 4 agents, one repetition (CI smoke)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    runs = 300 if args.quick else args.runs
    agents = 4 if args.quick else args.agents
    if not os.path.exists(LOAD):
        sys.exit(f"{LOAD} is missing: build the target runyard-server-load (bench/run builds it)")

    results = []
    for r in range(repeat):
        work = tempfile.mkdtemp(prefix="runyard-bench-server-")
        procs = []
        try:
            env = bench_env(work)
            source = write_source(os.path.join(work, "src"), {"tiny.py": "pass\n"})
            # The server's capacity, not its per-token policy: the load's one submitter token
            # would otherwise be held to max_requests_per_second.
            procs.append(start_server(os.path.join(work, "server"), env, "--max-requests-per-second", "1000000"))
            # The template stays queued in a pool no agent serves.
            template = json.loads(cli(["submit", "--json", "--target", "template", "--source-directory", source,
                                       "--script", "tiny.py", "--interpreter", PYTHON], env).stdout)["run_id"]
            out = subprocess.run([LOAD, "--server", env["RUNYARD_SERVER"], "--template", template,
                                  "--runs", str(runs), "--agents", str(agents)],
                                 capture_output=True, text=True, timeout=1200, env=env)  # token, CA
            if out.returncode != 0:
                raise RuntimeError(f"runyard-server-load failed: {out.stderr.strip()}")
            result = json.loads(out.stdout)
            if result["handed_out"] != runs:
                raise RuntimeError(f"{result['handed_out']} of {runs} runs handed out")
            done = json.loads(cli(["list", "--json", "--experiment", "default", "--limit", "5"], env).stdout)
            if any(run["status"] not in ("Completed", "Queued") for run in done):
                raise RuntimeError(f"unexpected run status after the load: {done[0]}")
            results.append(result)
            print(f"  repetition {r + 1}: {result['runs_per_s']:.0f} runs/s handed out and completed, acquire "
                  f"p50 {result['acquire_p50_ms']:.2f} ms p99 {result['acquire_p99_ms']:.2f} ms, "
                  f"{result['submit_per_s']:.0f} submits/s", file=sys.stderr)
        finally:
            stop(procs)
            shutil.rmtree(work, ignore_errors=True)

    def values(key):
        return [result[key] for result in results]

    def line(name, key, unit, extra=""):
        vals = values(key)
        fmt = (lambda v: f"{v:,.0f}") if unit == "runs/s" else (lambda v: f"{v:.2f}")
        return (f"| {name} | {fmt(statistics.median(vals))} | {fmt(min(vals))} | {fmt(max(vals))} | {unit} | "
                f"{extra} |")

    lines = [
        f"## Server ({runs:,} queued runs, {agents} simulated agents; {machine()}; loopback; median of {repeat})",
        "",
        "| measurement | median | min | max | unit | notes |",
        "|---|---|---|---|---|---|",
        line("runs handed out and completed", "runs_per_s", "runs/s",
             "first poll → last Completed; each run: Poll + 5 UpdateStatus"),
        line("acquire latency p50", "acquire_p50_ms", "ms", "a Poll that brought a run (queue never empty)"),
        line("acquire latency p99", "acquire_p99_ms", "ms", ""),
        line("UpdateStatus latency p50", "report_p50_ms", "ms", "history write + lease renewal"),
        line("UpdateStatus latency p99", "report_p99_ms", "ms", ""),
        line("Submit rate", "submit_per_s", "runs/s", "4 threads; spec validation, snapshot check, insert"),
        line("Submit latency p50", "submit_p50_ms", "ms", ""),
        line("Submit latency p99", "submit_p99_ms", "ms", ""),
        "",
        f"{statistics.median(values('runs_per_s')):,.0f} runs/s handed out and completed by {agents} agents; "
        f"acquire p50 {statistics.median(values('acquire_p50_ms')):.2f} ms, "
        f"p99 {statistics.median(values('acquire_p99_ms')):.2f} ms. Server and load generator share the "
        f"{os.cpu_count()} cores; SQLite store (WAL) on the local disk. No baseline is set for this benchmark.",
    ]
    write_result("server.md", "\n".join(lines), args.quick)


if __name__ == "__main__":
    sys.exit(main())
