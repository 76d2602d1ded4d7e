#!/usr/bin/env python3
"""Log benchmark: stdout throughput under runyard, the agent's memory, and live log latency.

Throughput. A script writes 200 MB to stdout as fast as it can (64 KiB writes of 100-byte
lines) and measures its own wall time, from its first write to its last, into a file the
bench names (-e ELAPSED_FILE=...): what the script feels, the cost runyard adds to a run.
Baselines in the same bench, the same script and environment (PYTHONUNBUFFERED=1):
stdout to /dev/null, to a file on the same disk, and to a pipe the bench drains. Under
runyard: a local server + agent (remote pool, loopback). The slowdown is against the file
baseline (aim: <= 10 %). While a measured script writes, the bench itself sits quiet in
both cases (it waits for the script's elapsed file before it starts `runyard status`
polls): on 2 cores a CLI process started mid-write took the script's CPU and cost it
+20 % that was the bench's, not runyard's. While the run runs the bench samples the agent's VmRSS
(/proc/<pid>/status, every 10 ms) and reads its VmHWM after (aim: peak under 64 MB), and
it checks that run history got every byte (size of user_logs/std_log.txt).
Every measured write, baseline or not, starts from the same page cache: the bench calls
sync() and, as root, drops the clean page cache first. On this VM a 200 MB write into
memory the guest has not touched lately costs ~10x the kernel time of one into recently
freed pages (seen: the same file baseline took 0.04 s or 0.4 s depending on what the
earlier repetitions left cached), which would measure the VM, not runyard.
A run's processes live in their own cgroup (memory accounting, limits, kill), and the
kernel charges every page-cache page a run writes to it; that costs any write a run makes,
stdout or not. So two more rows split the slowdown: the file baseline run in a fresh
memory cgroup of its own (cgroup v1 or v2 with the memory controller; the row is left out
where neither can be made), and runyard with a second agent on `--cgroup-mode none`.

Latency. A script prints a line with its own time.time() every 50 ms (100 lines, after a
release file the bench creates once it reads the script's 'ready' line, so the start-up
is not counted); `runyard logs -f RUN` runs as a subprocess, the bench reads its stdout
line by line and takes receive time - print time per line (p50/p90/max; aim: p50 < 100
ms). Baseline: the same script's stdout read through a plain pipe the same way.
Real binaries, real sockets on 127.0.0.1.
Usage: bench/log_bench.py [--quick] [--repeat N] [--mb MB] [--ticks N]
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
from benchlib import (RUNYARD, TABLE_HEADER, cli, machine, settle_page_cache, start_agent, start_server,  # noqa: E402
                      stop, wait_until, write_result)

PYTHON = "/usr/bin/python3"

WRITER = r'''
import os, sys, time
total = int(os.environ["BENCH_BYTES"])
line = b"%-99s\n" % b"runyard log throughput bench: 100-byte lines, 64 KiB per write"
chunk = (line * 656)[:65535] + b"\n"  # 64 KiB
out = sys.stdout.buffer
start = time.perf_counter()
written = 0
while written < total:
    view = memoryview(chunk)[:min(len(chunk), total - written)]
    while view:
        n = out.write(view)
        n = len(view) if n is None else n
        view = view[n:]
        written += n
out.flush()
elapsed = time.perf_counter() - start
path = os.environ["ELAPSED_FILE"]
with open(path + ".tmp", "w") as f:
    f.write(repr(elapsed))
os.rename(path + ".tmp", path)
'''

TICKER = r'''
import os, sys, time
count = int(os.environ.get("TICKS", "100"))
release = os.environ["RELEASE_FILE"]
print("ready", flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(release):
    if time.monotonic() > deadline:
        sys.exit(9)
    time.sleep(0.002)
start = time.monotonic()
for i in range(count):
    print("tick %d %.6f" % (i, time.time()), flush=True)
    pause = start + 0.05 * (i + 1) - time.monotonic()
    if pause > 0:
        time.sleep(pause)
print("end", flush=True)
'''


def read_float(path, timeout=600):
    wait_until(lambda: os.path.exists(path), timeout, path, interval=0.02)
    with open(path) as f:
        return float(f.read())


def proc_status(pid):
    """{'VmRSS': kB, 'VmHWM': kB} of a process."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


class RssSampler:
    """Samples VmRSS of a process every `interval` s in a thread; peak in kB."""

    def __init__(self, pid, interval=0.01):
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            rss = proc_status(self.pid).get("VmRSS", 0)
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def make_memory_cgroup():
    """A fresh memory cgroup for the baseline (v1, or v2 with the memory controller); None if none can be made."""
    candidates = [("/sys/fs/cgroup/memory", None), ("/sys/fs/cgroup", "cgroup.controllers")]
    for root, controllers in candidates:
        if controllers:
            try:
                with open(os.path.join(root, controllers)) as f:
                    if "memory" not in f.read().split():
                        continue
            except OSError:
                continue
        path = os.path.join(root, f"runyard-bench-{os.getpid()}")
        try:
            os.mkdir(path)
            return path
        except OSError:
            continue
    return None


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def read_ticks(stream, release_file, count):
    """Reads 'ready', creates the release file, then 'tick i t' lines: latencies in ms."""
    latencies = []
    released = False
    for raw in iter(stream.readline, b""):
        received = time.time()
        text = raw.decode(errors="replace").strip()
        if text == "ready" and not released:
            with open(release_file, "w") as f:
                f.write("go\n")
            released = True
        elif text.startswith("tick "):
            _, _, printed = text.split()
            latencies.append((received - float(printed)) * 1000)
        elif text == "end":
            break
    if len(latencies) != count:
        raise RuntimeError(f"read {len(latencies)} of {count} tick lines")
    return latencies


def ms_row(name, values, extra=""):
    return (f"| {name} | {percentile(values, 0.5):.1f} | {percentile(values, 0.9):.1f} | "
            f"{max(values):.1f} | {len(values)} | {extra} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one repetition, 100 MB, 40 ticks (CI smoke)")
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--mb", type=int, default=200, help="MB written to stdout per throughput run")
    parser.add_argument("--ticks", type=int, default=100)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    total = (100 if args.quick and args.mb == 200 else args.mb) * 1000 * 1000
    ticks = 40 if args.quick and args.ticks == 100 else args.ticks

    work = tempfile.mkdtemp(prefix="runyard-bench-logs-")
    procs = []
    memory_cgroup = None
    try:
        env = dict(os.environ)
        env["RUNYARD_HOME"] = os.path.join(work, "home")
        env["PYTHONUNBUFFERED"] = "1"  # what runyard gives a run; the baselines get it too
        env.pop("RUNYARD_SERVER", None)
        source = os.path.join(work, "src")
        os.makedirs(source)
        for name, text in (("writer.py", WRITER), ("ticker.py", TICKER)):
            with open(os.path.join(source, name), "w") as f:
                f.write(text.lstrip())
        writer = os.path.join(source, "writer.py")
        ticker = os.path.join(source, "ticker.py")

        server = start_server(os.path.join(work, "server"), env)
        procs.append(server)
        agent = start_agent(os.path.join(work, "agent"), "bench", env, "--slots", "1")
        procs.append(agent)
        agent_idle_kb = proc_status(agent.pid).get("VmRSS", 0)
        plain_agent = start_agent(os.path.join(work, "agent-no-cgroup"), "bench-no-cgroup", env, "--slots", "1",
                                  "--cgroup-mode", "none")
        procs.append(plain_agent)
        memory_cgroup = make_memory_cgroup()

        # ------------------------------------------------------------------ throughput
        def direct(kind, i):
            elapsed_file = os.path.join(work, f"direct-{kind}-{i}.elapsed")
            run_env = dict(env, BENCH_BYTES=str(total), ELAPSED_FILE=elapsed_file)
            settle_page_cache()
            if kind == "devnull":
                subprocess.run([PYTHON, writer], env=run_env, stdout=subprocess.DEVNULL, check=True)
            elif kind in ("file", "file_cgroup"):
                out_path = os.path.join(work, "direct-out.txt")
                join = None
                if kind == "file_cgroup":
                    def join():
                        with open(os.path.join(memory_cgroup, "cgroup.procs"), "w") as procs_file:
                            procs_file.write(str(os.getpid()))
                with open(out_path, "ab") as out:  # O_APPEND, as std_log.txt is opened for a run
                    subprocess.run([PYTHON, writer], env=run_env, stdout=out, check=True, preexec_fn=join)
                if os.path.getsize(out_path) != total:
                    raise RuntimeError("the direct run wrote the wrong size")
                os.unlink(out_path)
            else:  # a pipe the bench drains
                proc = subprocess.Popen([PYTHON, writer], env=run_env, stdout=subprocess.PIPE)
                got = 0
                while True:
                    data = proc.stdout.read1(1 << 16)
                    if not data:
                        break
                    got += len(data)
                if proc.wait() != 0 or got != total:
                    raise RuntimeError("the piped run failed")
            return read_float(elapsed_file)

        def under_runyard(i, pool="bench"):
            elapsed_file = os.path.join(work, f"runyard-{pool}-{i}.elapsed")
            settle_page_cache()
            sampler = RssSampler(agent.pid if pool == "bench" else plain_agent.pid)
            t0 = time.perf_counter()
            run_id = json.loads(cli(["submit", "--json", "--target", pool, "--source-directory", source,
                                     "--script", "writer.py", "--interpreter", PYTHON,
                                     "-e", f"BENCH_BYTES={total}", "-e", f"ELAPSED_FILE={elapsed_file}"],
                                    env).stdout)["run_id"]
            # The script's own wall time is measured while the bench sits quiet, as in the
            # baselines: the status polls below start CLI processes, which on 2 cores would
            # take CPU from the script. Its elapsed file marks the end of its writes.
            wait_until(lambda: os.path.exists(elapsed_file), 120, f"{run_id} to finish writing")
            run = wait_until(lambda: (lambda r: r if r["status"] in ("Completed", "Failed", "Canceled") else None)(
                json.loads(cli(["status", run_id, "--json"], env).stdout)), 900, f"{run_id} to end", interval=0.05)
            end_to_end = time.perf_counter() - t0
            peak_kb = sampler.stop()
            if run["status"] != "Completed":
                raise RuntimeError(f"{run_id} ended {run['status']}: {run.get('error')}")
            files = {e["path"]: int(e["size"]) for e in json.loads(cli(["files", run_id, "--json"], env).stdout)}
            got = files.get("user_logs/std_log.txt", 0)
            if got != total:
                raise RuntimeError(f"{run_id}: run history holds {got} of the {total} bytes written")
            times = {e["status"]: e["time_unix_ms"] for e in run["history"]}
            return {"elapsed": read_float(elapsed_file), "end_to_end": end_to_end,
                    "running_to_completed": (times["Completed"] - times["Running"]) / 1000,
                    "finalizing_to_completed": (times["Completed"] - times.get("Finalizing", times["Completed"])) / 1000,
                    "peak_kb": peak_kb, "samples": sampler.samples}

        under_runyard("warmup")  # caches, connections; not counted
        under_runyard("warmup", "bench-no-cgroup")
        direct("file", "warmup")
        baselines = {"devnull": [], "file": [], "pipe": []}
        if memory_cgroup:
            baselines["file_cgroup"] = []
        runs, plain_runs = [], []
        for i in range(repeat):
            for kind in baselines:
                baselines[kind].append(direct(kind, i))
            runs.append(under_runyard(i))
            plain_runs.append(under_runyard(i, "bench-no-cgroup"))
            print(f"  rep {i}: file {baselines['file'][-1]:.3f} s, runyard {runs[-1]['elapsed']:.3f} s "
                  f"(run {runs[-1]['running_to_completed']:.3f} s), no cgroup {plain_runs[-1]['elapsed']:.3f} s, "
                  f"agent peak RSS {runs[-1]['peak_kb'] / 1024:.1f} MiB", file=sys.stderr)
        agent_hwm_kb = proc_status(agent.pid).get("VmHWM", 0)

        # ------------------------------------------------------------------ latency
        def latency_runyard(i):
            release = os.path.join(work, f"release-runyard-{i}")
            run_id = json.loads(cli(["submit", "--json", "--target", "bench", "--source-directory", source,
                                     "--script", "ticker.py", "--interpreter", PYTHON,
                                     "-e", f"RELEASE_FILE={release}", "-e", f"TICKS={ticks}"], env).stdout)["run_id"]
            follower = subprocess.Popen([RUNYARD, "logs", "-f", run_id], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
            try:
                return read_ticks(follower.stdout, release, ticks)
            finally:
                follower.wait(60)

        def latency_pipe(i):
            release = os.path.join(work, f"release-pipe-{i}")
            proc = subprocess.Popen([PYTHON, ticker], env=dict(env, RELEASE_FILE=release, TICKS=str(ticks)),
                                    stdout=subprocess.PIPE)
            try:
                return read_ticks(proc.stdout, release, ticks)
            finally:
                proc.wait(60)

        latency_runyard("warmup")
        pipe_lat, runyard_lat = [], []
        for i in range(repeat):
            pipe_lat += latency_pipe(i)
            runyard_lat += latency_runyard(i)

        # ------------------------------------------------------------------ report
        base_file = statistics.median(baselines["file"])
        elapsed = [r["elapsed"] for r in runs]
        slowdown = (statistics.median(elapsed) / base_file - 1) * 100
        plain_elapsed = [r["elapsed"] for r in plain_runs]
        plain_slowdown = (statistics.median(plain_elapsed) / base_file - 1) * 100
        if memory_cgroup:
            base_cgroup = statistics.median(baselines["file_cgroup"])
            log_path_cost = (statistics.median(elapsed) / base_cgroup - 1) * 100
            cgroup_line = (f"The same write to a file from a fresh memory cgroup of its own costs "
                           f"{(base_cgroup / base_file - 1) * 100:+.1f} % against the bare file: that is the "
                           f"kernel's accounting every write of a contained run pays. Against that baseline, "
                           f"what runyard's log path adds is {log_path_cost:+.1f} % "
                           f"(aim: <= 10 %: {'met' if log_path_cost <= 10 else 'NOT met'}). ")
        else:
            cgroup_line = "No memory cgroup could be made here, so the cgroup's own cost is not split out. "
        peak_mib = max(r["peak_kb"] for r in runs) / 1024
        hwm_mib = agent_hwm_kb / 1024
        mb = total / 1e6
        p50 = percentile(runyard_lat, 0.5)

        def srow(name, values, extra=""):
            med = statistics.median(values)
            return (f"| {name} | {med:.3f} | {min(values):.3f} | {max(values):.3f} | "
                    f"{med / base_file:.2f}× | {mb / med:,.0f} MB/s. {extra} |")

        lines = [
            f"## Log throughput ({mb:.0f} MB to stdout in 64 KiB writes; {machine()}; loopback; median of {repeat})",
            "",
            TABLE_HEADER[0], TABLE_HEADER[1],
            srow("stdout > /dev/null", baselines["devnull"], "script's own wall time"),
            srow("stdout > file (baseline)", baselines["file"], "same disk as the server's data dir"),
            *([srow("stdout > file, from a fresh memory cgroup", baselines["file_cgroup"],
                    "what a contained run's writes cost the kernel")] if memory_cgroup else []),
            srow("stdout to a pipe the bench drains", baselines["pipe"]),
            srow("under runyard (remote agent), script's wall time", elapsed,
                 "std_log.txt followed by the agent → spool → Append → server"),
            srow("under runyard, agent on --cgroup-mode none", plain_elapsed, "no cgroup: process group only"),
            srow("under runyard: Running → Completed", [r["running_to_completed"] for r in runs],
                 "every byte in run history before Completed"),
            srow("under runyard: submit → Completed (CLI polling)", [r["end_to_end"] for r in runs]),
            "",
            f"slowdown of the script under runyard vs. stdout to a file: {slowdown:+.1f} % "
            f"(aim: <= 10 %: {'met' if slowdown <= 10 else 'NOT met'}); with the agent on `--cgroup-mode none` "
            f"{plain_slowdown:+.1f} %. {cgroup_line}Vs. a pipe drained by a reader that does "
            f"nothing else: {(statistics.median(elapsed) / statistics.median(baselines['pipe']) - 1) * 100:+.1f} % "
            f"(a pipe alone costs {(statistics.median(baselines['pipe']) / base_file - 1) * 100:+.1f} % here). "
            f"A script that does nothing but write is the worst case: its output goes straight to a local file, so "
            f"the difference is the CPU the agent (following the file, spooling, sending) and the server (on the "
            f"same 2 cores here) take while it writes. Run history held all {total:,} bytes of "
            f"user_logs/std_log.txt after each run. Before every measured write the bench synced and "
            f"dropped the clean page cache (see the bench's docstring).",
            "",
            f"agent memory: {agent_idle_kb / 1024:.1f} MiB RSS idle; peak VmRSS sampled every 10 ms during the "
            f"runs {peak_mib:.1f} MiB; VmHWM (peak since the agent started) {hwm_mib:.1f} MiB "
            f"(aim: under 64 MB: {'met' if max(hwm_mib, peak_mib) * 1.048576 < 64 else 'NOT met'}).",
            "",
            f"## Live log latency (a line every 50 ms, {ticks} lines × {repeat}; print → read by the reader)",
            "",
            "| path | p50 (ms) | p90 | max | lines | notes |",
            "|---|---|---|---|---|---|",
            ms_row("plain pipe (baseline)", pipe_lat, "subprocess stdout, readline"),
            ms_row("`runyard logs -f RUN` (remote agent)", runyard_lat,
                   "script → agent → Append → server → Watch → CLI"),
            "",
            f"p50 {p50:.1f} ms (aim: under 100 ms: {'met' if p50 < 100 else 'NOT met'}). One warm-up run of each "
            f"kind before the measured ones is not counted.",
        ]
        write_result("logs.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        if memory_cgroup:
            try:
                os.rmdir(memory_cgroup)
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
