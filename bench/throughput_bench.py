#!/usr/bin/env python3
"""Throughput: 200 tiny runs on one agent with 2 slots, against a shell loop of the same
200 processes with the same parallelism.

The script (tiny.py) does nothing. Baseline: `seq 200 | xargs -P 2 -I{} python3 tiny.py`
(wall time, runs/s): the same processes, two at a time, with nothing around them.
Under runyard, one agent (--slots 2) on 127.0.0.1, two ways:
  - end to end: the bench runs 200 `runyard submit` (two at a time, as a user scripting
    submits would) while the agent already works; from the first submit to the last
    Completed in run history. The CLI processes share the 2 cores with the runs.
  - queue drain: 200 runs queued before the agent of their pool starts; from the first
    hand-out (first Preparing in history) to the last Completed: the agent and server alone.
Aim: end to end ≥ 0.8× the shell loop's runs/s. Every run must end Completed.
CPU per run, to explain the gap on a machine whose cores are all busy: for the end to end
mode, CPU seconds of the scripts (the agent's reaped children), the agent itself, the
server, and the `runyard submit` processes (the bench's reaped children while it submits),
each divided by the number of runs; the shell loop's CPU (scripts + xargs) the same way.
Usage: bench/throughput_bench.py [--quick] [--repeat N] [--runs N]
"""
import argparse
import concurrent.futures
import json
import resource
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK_TCK, PYTHON, aim, bench_env, cli, machine, start_agent, start_server, stop,  # noqa: E402
                      wait_until, write_result, write_source)

SLOTS = 2
TERMINAL = ("Completed", "Failed", "Canceled")


def submit_all(env, source, pool, experiment, runs):
    """`runyard submit` × runs, SLOTS at a time; returns the run ids."""
    def one(_):
        return json.loads(cli(["submit", "--json", "--target", pool, "--experiment", experiment,
                               "--source-directory", source, "--script", "tiny.py",
                               "--interpreter", PYTHON], env).stdout)["run_id"]
    with concurrent.futures.ThreadPoolExecutor(SLOTS) as pool_:
        return list(pool_.map(one, range(runs)))


def wait_all(env, experiment, runs):
    """Waits until every run of the experiment ended; returns their JSON (with history)."""
    def done():
        found = json.loads(cli(["list", "--json", "--experiment", experiment, "--limit", str(runs * 2)],
                               env).stdout)
        return found if len(found) == runs and all(r["status"] in TERMINAL for r in found) else None
    found = wait_until(done, 900, f"{runs} runs of {experiment} to end", interval=0.5)
    failed = [r for r in found if r["status"] != "Completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} runs did not complete, e.g. {failed[0]}")
    if not all(r.get("history") for r in found):  # list may leave history out: ask each run
        found = [json.loads(cli(["status", r["run_id"], "--json"], env).stdout) for r in found]
    return found


def stat_ticks(pid):
    """(own utime+stime, reaped children's cutime+cstime) of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def children_cpu_seconds():
    """CPU seconds of every child the bench has reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def times_ms(found, status):
    return [e["time_unix_ms"] for r in found for e in r["history"] if e["status"] == status]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 runs, one repetition (CI smoke)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    runs = 10 if args.quick else args.runs

    work = tempfile.mkdtemp(prefix="runyard-bench-throughput-")
    procs = []
    try:
        env = bench_env(work)
        source = write_source(os.path.join(work, "src"), {"tiny.py": "pass\n"})
        procs.append(start_server(os.path.join(work, "server"), env))
        procs.append(start_agent(os.path.join(work, "agent"), "bench", env, "--slots", str(SLOTS)))
        # Warm-up (not counted): page cache, the node's blob cache, the store.
        wait_all(env, "warmup", len(submit_all(env, source, "bench", "warmup", SLOTS)))

        server_pid, agent_pid = procs[0].pid, procs[1].pid
        shell, end_to_end, drain = [], [], []
        cpu = {"shell": [], "scripts": [], "agent": [], "server": [], "cli": []}  # ms per run
        for r in range(repeat):
            before = children_cpu_seconds()
            start = time.perf_counter()
            subprocess.run(["sh", "-c", f"seq {runs} | xargs -P {SLOTS} -I{{}} {PYTHON} tiny.py"],
                           cwd=source, check=True)
            shell.append(runs / (time.perf_counter() - start))
            cpu["shell"].append((children_cpu_seconds() - before) * 1000 / runs)

            experiment = f"e2e-{r}"
            agent_before, server_before = stat_ticks(agent_pid), stat_ticks(server_pid)
            cli_before = children_cpu_seconds()
            t0 = time.time()
            submit_all(env, source, "bench", experiment, runs)
            cli_cpu = children_cpu_seconds() - cli_before
            found = wait_all(env, experiment, runs)
            end_to_end.append(runs / (max(times_ms(found, "Completed")) / 1000 - t0))
            agent_after, server_after = stat_ticks(agent_pid), stat_ticks(server_pid)
            per_run = 1000 / CLK_TCK / runs
            cpu["scripts"].append((agent_after[1] - agent_before[1]) * per_run)
            cpu["agent"].append((agent_after[0] - agent_before[0]) * per_run)
            cpu["server"].append((server_after[0] - server_before[0]) * per_run)
            cpu["cli"].append(cli_cpu * 1000 / runs)

            pool, experiment = f"drain-{r}", f"drain-{r}"
            submit_all(env, source, pool, experiment, runs)
            agent = start_agent(os.path.join(work, f"agent-{pool}"), pool, env, "--slots", str(SLOTS))
            try:
                found = wait_all(env, experiment, runs)
            finally:
                stop([agent])
            span = (max(times_ms(found, "Completed")) - min(times_ms(found, "Preparing"))) / 1000
            drain.append(runs / span)
            print(f"  repetition {r + 1}: shell {shell[-1]:.1f} runs/s, end to end {end_to_end[-1]:.1f}, "
                  f"drain {drain[-1]:.1f}", file=sys.stderr)

        med = statistics.median
        base = med(shell)

        def rate_row(name, values, ratio=True, extra=""):
            r_ = f"{med(values) / base:.2f}×" if ratio else ""
            return (f"| {name} | {med(values):.1f} | {min(values):.1f} | {max(values):.1f} | {r_} | "
                    f"{runs / med(values):.2f} s for {runs} runs. {extra} |")

        lines = [
            f"## Throughput ({runs} tiny runs, one agent with {SLOTS} slots; {machine()}; loopback; "
            f"median of {repeat})",
            "",
            "| measurement | median (runs/s) | min | max | ratio | notes |",
            "|---|---|---|---|---|---|",
            rate_row(f"`xargs -P {SLOTS}` of the same {runs} processes (baseline)", shell, ratio=False),
            rate_row("runyard end to end (submits 2 at a time while the agent runs)", end_to_end,
                     extra="first submit → last Completed"),
            rate_row("runyard queue drain (all queued, then the agent starts)", drain,
                     extra="first Preparing → last Completed"),
            "",
            f"end to end / shell loop: {aim(med(end_to_end) / base, 0.8, '×', below=False)}; "
            f"queue drain / shell loop: {med(drain) / base:.2f}×. Every run ended Completed. "
            f"One warm-up of {SLOTS} runs is not counted.",
        ]
        total = sum(med(cpu[key]) for key in ("scripts", "agent", "server", "cli"))
        cores = os.cpu_count()
        lines += [
            "",
            f"CPU per run, end to end mode (ms of CPU per run; {cores} cores, all busy while the runs go):",
            "",
            "| where | CPU ms per run | notes |",
            "|---|---|---|",
            f"| shell loop: scripts + xargs (baseline) | {med(cpu['shell']):.1f} | "
            f"ceiling {cores * 1000 / med(cpu['shell']):.0f} runs/s on {cores} cores |",
            f"| runyard: the scripts | {med(cpu['scripts']):.1f} | the agent's reaped children |",
            f"| runyard: the agent | {med(cpu['agent']):.1f} | spool, reports, cgroups, snapshot, spawn |",
            f"| runyard: the server | {med(cpu['server']):.1f} | Submit, Poll, status and log appends, Watch |",
            f"| runyard: `runyard submit` processes | {med(cpu['cli']):.1f} | start-up, snapshot, Submit |",
            f"| runyard: all of it | {total:.1f} | ceiling {cores * 1000 / total:.0f} runs/s on {cores} cores |",
        ]
        write_result("throughput.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
