#!/usr/bin/env python3
"""Agent footprint: what an idle runyard-agent costs a node, and its memory under a big log.

Idle: a server and an agent (--slots 1) on 127.0.0.1 that have nothing to do; over a
window of 60 s (quick: 5 s) the bench samples VmRSS (/proc/<pid>/status) once a second
and reads utime+stime (/proc/<pid>/stat, clock ticks, so ±1 tick) at its start and end:
CPU % = CPU seconds / window. Aims: agent RSS < 20 MB, CPU < 0.1 %. The server's figures
are shown too. Reference processes sampled the same way: an idle `sleep` (the least a
process costs) and an idle python3 interpreter (what a node runs anyway).
Under load: a run writes 200 MB (quick: 20 MB) to stdout in 64 KiB writes; the bench
samples the agent's VmRSS every 10 ms while it runs and reads VmHWM after; then the
agent's RSS once it is idle again.
Usage: bench/footprint_bench.py [--quick] [--window SECONDS] [--mb MB]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK_TCK, PYTHON, aim, bench_env, cli, cpu_ticks, machine, proc_kb,  # noqa: E402
                      start_agent, start_server, stop, write_result, write_source)

WRITER = r'''
import os, sys
total = int(os.environ["BENCH_BYTES"])
line = b"%-99s\n" % b"runyard footprint bench: 100-byte lines, 64 KiB per write"
chunk = (line * 656)[:65535] + b"\n"
out = sys.stdout.buffer
written = 0
while written < total:
    n = min(len(chunk), total - written)
    out.write(chunk[:n])
    written += n
out.flush()
'''


def idle_window(pids, seconds, interval):
    """{name: (RSS samples in MiB, CPU %)} over one window of `seconds`, sampled together."""
    rss = {name: [] for name in pids}
    ticks0 = {name: cpu_ticks(pid) for name, pid in pids.items()}
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        for name, pid in pids.items():
            rss[name].append(proc_kb(pid) / 1024)
        time.sleep(interval)  # the measurement window itself, not a wait for an event
    window = time.monotonic() - began
    result = {}
    for name, pid in pids.items():
        used = (cpu_ticks(pid) - ticks0[name]) / CLK_TCK
        result[name] = (rss[name], 100 * used / window)
    return result, window


class RssSampler(threading.Thread):
    """VmRSS of one process every 10 ms, in a thread, until stop()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.done = pid, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append(proc_kb(self.pid) / 1024)
            time.sleep(0.01)

    def stop(self):
        self.done.set()
        self.join()
        return self.samples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s window, 20 MB log (CI smoke)")
    parser.add_argument("--window", type=float, default=60)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    window = 5 if args.quick else args.window
    mb = 20 if args.quick else args.mb

    work = tempfile.mkdtemp(prefix="runyard-bench-footprint-")
    procs, refs = [], []
    try:
        env = bench_env(work)
        source = write_source(os.path.join(work, "src"), {"writer.py": WRITER})
        server = start_server(os.path.join(work, "server"), env)
        procs.append(server)
        agent = start_agent(os.path.join(work, "agent"), "bench", env, "--slots", "1")
        procs.append(agent)
        refs.append(subprocess.Popen(["sleep", "3600"]))
        refs.append(subprocess.Popen([PYTHON, "-c", "import time; time.sleep(3600)"]))
        time.sleep(1)  # let the fresh processes finish starting before the window opens

        pids = {"agent": agent.pid, "server": server.pid, "sleep": refs[0].pid, "python3": refs[1].pid}
        idle, measured = idle_window(pids, window, 0.5 if args.quick else 1.0)

        # Under load: a big log through the agent.
        sampler = RssSampler(agent.pid)
        sampler.start()
        result = cli(["submit", "--json", "--wait", "--target", "bench", "--source-directory", source,
                      "--script", "writer.py", "--interpreter", PYTHON,
                      "-e", f"BENCH_BYTES={mb * 1_000_000}"], env)
        during = sampler.stop()
        run = json.loads(result.stdout)
        if run["status"] != "Completed":
            raise RuntimeError(f"the {mb} MB log run ended {run['status']}")
        hwm = proc_kb(agent.pid, "VmHWM") / 1024
        after, _ = idle_window({"agent": agent.pid}, 1 if args.quick else 2, 0.25)

        med = statistics.median
        agent_rss, agent_cpu = idle["agent"]

        def mib_row(name, samples, ref=None, extra=""):
            ratio = f"{med(samples) / ref:.2f}×" if ref else ""
            return f"| {name} | {med(samples):.1f} | {min(samples):.1f} | {max(samples):.1f} | {ratio} | {extra} |"

        py_ref = med(idle["python3"][0])
        lines = [
            f"## Agent footprint (idle over {measured:.0f} s, then a {mb} MB log run; {machine()})",
            "",
            "| measurement | median | min | max | ratio | notes |",
            "|---|---|---|---|---|---|",
            mib_row("idle `sleep`, RSS MiB (reference)", idle["sleep"][0]),
            mib_row("idle python3 interpreter, RSS MiB (baseline)", idle["python3"][0]),
            mib_row("idle runyard-agent, RSS MiB", agent_rss, ref=py_ref, extra="ratio to idle python3"),
            mib_row("idle runyard-server, RSS MiB", idle["server"][0], ref=py_ref),
            f"| idle runyard-agent, CPU % | {agent_cpu:.3f} |  |  |  | over {measured:.0f} s; one "
            f"{1000 / CLK_TCK:.0f} ms tick = {100 / CLK_TCK / measured:.3f} % |",
            f"| idle runyard-server, CPU % | {idle['server'][1]:.3f} |  |  |  | same window |",
            mib_row(f"runyard-agent during a {mb} MB log run, RSS MiB", during,
                    extra=f"sampled every 10 ms; VmHWM after: {hwm:.1f} MiB"),
            mib_row("runyard-agent idle after that run, RSS MiB", after["agent"][0]),
            "",
            f"idle agent: RSS {aim(med(agent_rss) * 1.048576, 20, 'MB')} (MB = 10⁶ bytes), "
            f"CPU {aim(agent_cpu, 0.1, '%')}; "
            f"peak RSS during the {mb} MB log run {max(during):.1f} MiB.",
        ]
        write_result("footprint.md", "\n".join(lines), args.quick)
    finally:
        for ref in refs:
            ref.kill()
            ref.wait()
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
