#!/usr/bin/env python3
"""Gang cancel benchmark (issue 16, acceptances 2 and 6): from `runyard cancel RUN` to the
last rank of a distributed run gone, on every node; and from one rank's failure to the
last of the others gone and the run Failed.

A local server and two agents (one pool, one host, --kill-grace-seconds 1). Each run is a
PyTorch per-process launch, 2 nodes x 2 processes, of a script that writes its pid to a
file named by its RANK and waits for a signal (the default SIGTERM action: it dies at
once). For each of N runs: wait for the four pid files, open a pidfd on each rank, take
t0 = time.time(), run `runyard cancel RUN`, and measure from t0:
  - the last rank's process gone (its pidfd readable: it exited; whether reaped or not);
  - the run Canceled in the server's history (every node reported it ended).
The failure row: the same gang, where rank 3 exits with code 3 once all four ranks have
written their pid (it writes time.time() just before it exits); measured from that time to
the other three ranks gone and to Failed in the history.
Baselines in the same run: the same four processes started directly by the bench and
sent SIGTERM with os.kill (the cost of the signal itself), and a single-node run of one
process canceled the same way (what one fate adds over today's cancel).
Usage: bench/gang_cancel_bench.py [--quick] [--repeat N]
"""
import argparse
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import TABLE_HEADER, cli, machine, start_agent, start_server, stop, write_result  # noqa: E402

PYTHON = "/usr/bin/python3"
GRACE_SECONDS = 1
TERMINAL = ("Completed", "Failed", "Canceled")

RANK = r'''
import os, signal, time
folder = os.environ["PID_DIR"]
with open(os.path.join(folder, "rank-%s.tmp" % os.environ.get("RANK", "0")), "w") as f:
    f.write(str(os.getpid()))
os.rename(os.path.join(folder, "rank-%s.tmp" % os.environ.get("RANK", "0")),
          os.path.join(folder, "rank-%s" % os.environ.get("RANK", "0")))
if os.environ.get("RANK") == "3" and os.environ.get("FAIL_RANK_3") == "1":
    while len([n for n in os.listdir(folder) if not n.endswith(".tmp")]) < 4:
        time.sleep(0.001)
    with open(os.path.join(folder, "failed-at"), "w") as f:
        f.write(repr(time.time()))
    os._exit(3)
signal.pause()
'''

SPEC = """\
experiment: bench-gang-cancel
source_directory: .
script: rank.py
compute_target: bench
environment:
  python:
    user_managed_dependencies: true
    interpreter_path: {python}
  environment_variables:
    PID_DIR: "{pid_dir}"
    FAIL_RANK_3: "{fail}"
{distributed}"""

GANG = "distributed_job_config:\n  pytorch:\n    process_count: 4\n    node_count: 2\n" \
       "    communication_backend: gloo\n"


def wait_until(predicate, timeout, what, interval=0.002):
    return benchlib.wait_until(predicate, timeout, what, interval=interval)


def pids_in(folder, count, timeout=120):
    def ready():
        names = [n for n in os.listdir(folder) if n.startswith("rank-") and not n.endswith(".tmp")]
        return names if len(names) == count else None
    names = wait_until(ready, timeout, f"{count} ranks to start in {folder}", interval=0.02)
    pids = []
    for name in names:
        with open(os.path.join(folder, name)) as f:
            pids.append(int(f.read()))
    return pids


def wait_all_gone(pidfds, timeout=60):
    """Returns time.time() when the last of `pidfds` became readable (its process exited)."""
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    left = set(pidfds)
    deadline = time.monotonic() + timeout
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"{len(left)} rank(s) still alive {timeout} s after the cancel")
        for fd, _ in poller.poll(remaining * 1000):
            left.discard(fd)
            poller.unregister(fd)
    return time.time()


def submit(env, work, tag, distributed, fail=False):
    """Submits the rank script as a run: (run id, its pid folder)."""
    pid_dir = os.path.join(work, f"pids-{tag}")
    os.makedirs(pid_dir)
    source = os.path.join(work, f"src-{tag}")
    os.makedirs(source)
    with open(os.path.join(source, "rank.py"), "w") as f:
        f.write(RANK.lstrip())
    spec = os.path.join(source, "run.yaml")
    with open(spec, "w") as f:
        f.write(SPEC.format(python=PYTHON, pid_dir=pid_dir, distributed=distributed,
                            fail="1" if fail else "0"))
    return json.loads(cli(["submit", spec, "--json"], env).stdout)["run_id"], pid_dir


def ended(env, run_id, expected):
    """The run's terminal history time (ms since the epoch), once it has ended `expected`."""
    run = wait_until(lambda: (lambda r: r if r["status"] in TERMINAL else None)(
        json.loads(cli(["status", run_id, "--json"], env).stdout)), 60, f"{run_id} to end", interval=0.02)
    if run["status"] != expected:
        raise RuntimeError(f"{run_id} ended {run['status']}, not {expected}")
    return [e["time_unix_ms"] for e in run["history"] if e["status"] == expected][0]


def measure_failure(env, work, tag):
    """Rank 3 exits 3: (ms to the other three ranks gone, ms to Failed), from its exit."""
    run_id, pid_dir = submit(env, work, tag, GANG, fail=True)
    pids = pids_in(pid_dir, 4)
    others = []
    for pid in pids:
        try:
            others.append(os.pidfd_open(pid))
        except ProcessLookupError:
            pass  # rank 3, already gone
    try:
        gone = wait_all_gone(others)
    finally:
        for fd in others:
            os.close(fd)
    with open(os.path.join(pid_dir, "failed-at")) as f:
        failed_at = float(f.read())
    return (gone - failed_at) * 1000, ended(env, run_id, "Failed") - failed_at * 1000


def measure_cancel(env, work, tag, distributed, ranks):
    run_id, pid_dir = submit(env, work, tag, distributed)
    pidfds = [os.pidfd_open(pid) for pid in pids_in(pid_dir, ranks)]
    try:
        t0 = time.time()
        cli(["cancel", run_id], env)
        gone = wait_all_gone(pidfds)
    finally:
        for fd in pidfds:
            os.close(fd)
    return (gone - t0) * 1000, ended(env, run_id, "Canceled") - t0 * 1000


def direct_baseline(work, index):
    pid_dir = os.path.join(work, f"direct-{index}")
    os.makedirs(pid_dir)
    script = os.path.join(work, "direct-rank.py")
    with open(script, "w") as f:
        f.write(RANK.lstrip())
    procs = [subprocess.Popen([PYTHON, script], env=dict(os.environ, PID_DIR=pid_dir, RANK=str(r)))
             for r in range(4)]
    pids_in(pid_dir, 4)
    pidfds = [os.pidfd_open(p.pid) for p in procs]
    t0 = time.time()
    for p in procs:
        os.kill(p.pid, signal.SIGTERM)
    gone = wait_all_gone(pidfds)
    for fd in pidfds:
        os.close(fd)
    for p in procs:
        p.wait(10)
    return (gone - t0) * 1000


def row_ms(name, values, baseline=None, extra=""):
    med = statistics.median(values)
    ratio = f"{med / baseline:,.1f}×" if baseline else ""
    return f"| {name} | {med:.1f} | {min(values):.1f} | {max(values):.1f} | {ratio} | {extra} |"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one repetition (CI smoke)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat

    work = tempfile.mkdtemp(prefix="runyard-bench-gang-")
    procs = []
    try:
        env = dict(os.environ)
        env["RUNYARD_HOME"] = os.path.join(work, "home")
        env.pop("RUNYARD_SERVER", None)
        procs.append(start_server(os.path.join(work, "server"), env))
        for i in range(2):
            procs.append(start_agent(os.path.join(work, f"agent{i}"), "bench", env, "--name", f"node{i}",
                                     "--kill-grace-seconds", str(GRACE_SECONDS), "--slots", "1"))
        gang_gone, gang_ended, single_gone, single_ended, direct = [], [], [], [], []
        failure_gone, failure_ended = [], []
        for i in range(repeat + 1):  # the first of each warms up and is not counted
            gone, canceled = measure_cancel(env, work, f"gang-{i}", GANG, 4)
            one_gone, one_ended = measure_cancel(env, work, f"single-{i}", "", 1)
            fail_gone, fail_ended = measure_failure(env, work, f"fail-{i}")
            if i == 0:
                continue
            gang_gone.append(gone)
            gang_ended.append(canceled)
            single_gone.append(one_gone)
            single_ended.append(one_ended)
            failure_gone.append(fail_gone)
            failure_ended.append(fail_ended)
            direct.append(direct_baseline(work, i))
            print(f"  gang: last rank gone {gone:.1f} ms, Canceled {canceled:.1f} ms; single run: "
                  f"gone {one_gone:.1f} ms; rank 3 failed: others gone {fail_gone:.1f} ms, "
                  f"Failed {fail_ended:.1f} ms", file=sys.stderr)
        base = statistics.median(direct)
        lines = [
            f"## Gang cancel and failure (`runyard cancel`, or rank 3 exiting 3, to the last rank gone; 2 agents x 2 processes; {machine()}; "
            f"loopback; median of {repeat})",
            "",
            TABLE_HEADER[0].replace("(s)", "(ms)"), TABLE_HEADER[1],
            row_ms("os.kill SIGTERM of 4 directly started processes (baseline)", direct,
                   extra="signal + exit of 4 python3 processes"),
            row_ms("single-node run, 1 process: cancel → process gone", single_gone, baseline=base,
                   extra="today's cancel, for comparison"),
            row_ms("single-node run: cancel → Canceled", single_ended, baseline=base),
            row_ms("2-node gang, 4 ranks: cancel → last rank gone", gang_gone, baseline=base,
                   extra="CLI + gRPC + both agents' poll replies + supervisors' kill"),
            row_ms("2-node gang: cancel → Canceled", gang_ended, baseline=base,
                   extra="every node reported it ended"),
            row_ms("2-node gang: rank 3 exits 3 → the other 3 ranks gone", failure_gone, baseline=base,
                   extra="node 1's supervisor stops rank 2; the server cancels node 0"),
            row_ms("2-node gang: rank 3 exits 3 → Failed", failure_ended, baseline=base,
                   extra="every node reported it ended"),
            "",
            f"gang: median {statistics.median(gang_gone):.1f} ms to the last rank gone, "
            f"{statistics.median(gang_gone) - statistics.median(single_gone):+.1f} ms over a single-node "
            f"run's cancel. One warm-up of each before the {repeat} measured is not counted.",
        ]
        write_result("gang_cancel.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
