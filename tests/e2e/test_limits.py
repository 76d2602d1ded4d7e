"""Acceptance 3 and 6 of the sandbox issue: run limits and accounting through the run's cgroup.

  - resources.memory_mb: a memory hog is killed by the kernel, the run ends Failed with
    error.code OutOfMemory; a run beside it on the same agent and the runs after it are fine
    (remote and local);
  - agent --pids-limit: a fork bomb stops at the limit, never has more processes, and leaves
    none behind; the agent and a run beside it keep working;
  - accounting: `runyard status --json` reports cpu_seconds and peak_memory_bytes within 10%
    of what a script is known to use (baselines measured here with getrusage), and the human
    `runyard status` has a "Used:" line;
  - resources.cpus caps the CPU a run gets;
  - --cgroup-mode none: the run still runs, runtime.txt says "limits NOT enforced", usage null.

Nothing sleeps for a guessed duration: the scripts report what they did, runs are waited for
by status, and a neighbour run is held open by a latch while the hog/bomb is killed.

The tests need the agent (root here) to be able to create cgroups with a memory and a pids
controller (cgroup v1 hierarchies, or cgroup v2 with them delegated); elsewhere they are skipped.
"""
import json
import os
import textwrap
import threading
import unittest
import uuid

import harness
from harness import AGENT_BIN, PYTHON

MIB = 1024 * 1024

HOG_SCRIPT = r'''
import sys
step = 20 * 1024 * 1024
limit = 2 * 1024 * 1024 * 1024
blocks = []
total = 0
print("hog starting", flush=True)
while total < limit:
    block = bytearray(step)
    for i in range(0, step, 4096):   # touch every page
        block[i] = 1
    blocks.append(block)
    total += step
    print("allocated", total // (1024 * 1024), "MiB", flush=True)
print("hog done: 2 GiB allocated and nobody stopped it", flush=True)
'''

# Forks children that sleep until fork fails; prints how many it made, then waits for its
# latch (so that a neighbour run can be checked while the bomb holds its processes) and
# exits 1. A cap keeps a missing limit from hurting the machine.
BOMB_SCRIPT = harness.LATCH_WAITER + r'''
import os, sys, time
release = sys.argv[1]
cap = int(sys.argv[2])
children = 0
error = None
while children < cap:
    try:
        pid = os.fork()
    except OSError as e:
        error = e
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    children += 1
if error is None:
    print("bomb hit its own cap: made", children, "children and fork never failed", flush=True)
else:
    print("fork failed after", children, "children:", error, flush=True)
print("children", children, flush=True)
wait_for_latch(release, 300)
print("released", flush=True)
sys.exit(1)
'''

# argv: MiB to allocate and touch, CPU seconds to burn after that.
ACCOUNT_SCRIPT = r'''
import sys, time
mib = int(sys.argv[1])
burn = float(sys.argv[2])
data = bytearray(mib * 1024 * 1024)
for i in range(0, len(data), 4096):   # written every 4096 bytes: every page is resident
    data[i] = 1
start = time.process_time()
while time.process_time() - start < burn:
    pass
print("allocated", mib, "MiB; burned %.3f s CPU" % (time.process_time() - start), flush=True)
with open("/proc/self/status") as f:   # this program's own peak RSS (ru_maxrss includes its parent's)
    print([line for line in f if line.startswith("VmHWM:")][0].strip(), flush=True)
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)   # the kernel's count for this one process
print("cpu_total: %.6f" % (usage.ru_utime + usage.ru_stime), flush=True)
'''

# argv: wall seconds to burn CPU for, number of burning processes.
WALL_BURN_SCRIPT = r'''
import os, sys, time
seconds = float(sys.argv[1])
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
end = time.time() + seconds
pids = []
for _ in range(workers - 1):
    pid = os.fork()
    if pid == 0:
        while time.time() < end:
            pass
        os._exit(0)
    pids.append(pid)
while time.time() < end:
    pass
for pid in pids:
    os.waitpid(pid, 0)
print("burned %.1f s of wall time in %d processes; own CPU %.3f s" % (seconds, workers, time.process_time()),
      flush=True)
'''

SCRIPTS = {
    "hog.py": HOG_SCRIPT,
    "bomb.py": BOMB_SCRIPT,
    "account.py": ACCOUNT_SCRIPT,
    "wallburn.py": WALL_BURN_SCRIPT,
}


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cgroup_mounts():
    """{'unified': cgroup2 mount, <v1 controller>: its mount} from /proc/self/mountinfo."""
    mounts = {}
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2":
            mounts.setdefault("unified", fields[4])
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option not in ("rw", "ro"):
                    mounts.setdefault(option, fields[4])
    return mounts


def limits_unsupported_reason():
    """Why this machine cannot give runs cgroup limits (None when it can)."""
    if os.geteuid() != 0:
        return "not root: the agent cannot create cgroups with limits here"
    mounts = cgroup_mounts()
    if all(c in mounts for c in ("freezer", "memory", "pids")):
        return None
    if "unified" in mounts and "memory" in _read(os.path.join(mounts["unified"], "cgroup.controllers")):
        return None
    return "no cgroup memory/pids controllers on this machine"


def stdout_of(argv, output):
    """Runs argv (no shell, stdout to the file `output`); returns its stdout."""
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
    _, status = os.waitpid(pid, 0)
    with open(output) as f:
        text = f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise AssertionError("%s failed: status %d\n%s" % (argv, status, text))
    return text


def vm_hwm_bytes(text):
    """The 'VmHWM: N kB' line account.py prints, in bytes."""
    lines = [line for line in text.splitlines() if line.startswith("VmHWM:")]
    if not lines:
        raise AssertionError("no VmHWM line in:\n" + text)
    return int(lines[-1].split()[1]) * 1024


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


class MarkerCounter(threading.Thread):
    """Scans /proc continuously; the most live processes carrying `marker` seen at once."""

    def __init__(self, marker, interval=0.005):
        super().__init__(daemon=True)
        self.marker = marker
        self.interval = interval
        self.most = 0
        self.scans = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            count = len(harness.find_processes(self.marker))
            self.most = max(self.most, count)
            self.scans += 1
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=10)


class LimitsTest(harness.RunyardTestCase):

    def setUp(self):
        super().setUp()
        reason = limits_unsupported_reason()
        if reason:
            self.skipTest(reason)
        self.mounts = cgroup_mounts()
        self.source = self.make_dir("limits-src")
        for name, text in SCRIPTS.items():
            with open(os.path.join(self.source, name), "w") as f:
                f.write(text.lstrip())
        with open(os.path.join(self.source, "hello.py"), "w") as f:
            f.write('print("hello from runyard", flush=True)\n')
        with open(os.path.join(self.source, "wait_for_file.py"), "w") as f:
            f.write(textwrap.dedent(harness.SCRIPTS["wait_for_file.py"]).lstrip())

    # ------------------------------------------------------------------ fixtures

    def start_limited_agent(self, server, slots=2, extra_args=(), pool=None):
        """An agent with extra flags (--pids-limit, --cgroup-mode); .mode_name from its log."""
        name = "lim-" + uuid.uuid4().hex[:6]
        pool = pool or "pool-" + name
        work_dir = self.make_dir("agent-" + name)
        argv = [AGENT_BIN, "--server", server.address, "--pool", pool, "--work-dir", work_dir,
                "--slots", str(slots), "--name", name, "--kill-grace-seconds", "2"] + list(extra_args) + self.agent_security_args(server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, pool, work_dir)
        self.agents.append(agent)
        line = process.wait_for_line(r"runs are contained (in cgroup v2|in cgroup v1|by process group only)")
        agent.mode_line = line.string.strip()
        agent.mode_name = {"in cgroup v2": "cgroup v2", "in cgroup v1": "cgroup v1",
                           "by process group only": "process group"}[line.group(1)]
        match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)")
        agent.agent_id = match.group(1)
        harness.log("agent %s: %s" % (" ".join(extra_args) or "(auto)", agent.mode_line))
        return agent

    def assert_cgroup_agent(self, agent):
        """Limits need a cgroup with controllers: the auto mode must have found one here."""
        self.assertIn(agent.mode_name, ("cgroup v1", "cgroup v2"), agent.mode_line)
        self.assertNotIn("no limits", agent.mode_line)

    def write_spec(self, script, target, resources=None, arguments=(), name=None):
        lines = ["experiment: limits",
                 "source_directory: " + json.dumps(self.source),
                 "script: " + json.dumps(script),
                 "compute_target: " + json.dumps(target),
                 "max_run_duration_seconds: 300",
                 "environment:",
                 "  python:",
                 "    user_managed_dependencies: true",
                 "    interpreter_path: " + json.dumps(PYTHON)]
        if arguments:
            lines.append("arguments: " + json.dumps([str(a) for a in arguments]))
        if resources:
            lines.append("resources:")
            for key, value in resources.items():
                lines.append("  %s: %s" % (key, json.dumps(value)))
        path = os.path.join(self.tmp, "%s-%s.yaml" % (name or os.path.splitext(script)[0], uuid.uuid4().hex[:6]))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def submit_spec(self, spec, server=None, marker=None):
        args = [spec]
        if marker:
            args += ["-e", "%s=%s" % (harness.MARKER_VAR, marker)]
        return self.submit(args, server=server)["run_id"]

    def submit_script(self, script, target, server, arguments=(), marker=None):
        args = ["--source-directory", self.source, "--script", script, "--interpreter", PYTHON,
                "--target", target]
        if marker:
            args += ["-e", "%s=%s" % (harness.MARKER_VAR, marker)]
        if arguments:
            args += ["--"] + [str(a) for a in arguments]
        return self.submit(args, server=server)["run_id"]

    def runtime_txt(self, run_id, server=None):
        path = os.path.join(self.tmp, "runtime-%s.txt" % run_id)
        rc, out, err = self.run_cli(["download", run_id, "system_logs/runtime.txt", "-o", path], server=server)
        self.assertEqual(rc, 0, "cannot download runtime.txt of %s: %s%s" % (run_id, out, err))
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def safe_logs(self, run_id, server=None):
        rc, out, err = self.run_cli(["logs", run_id], server=server)
        return out if rc == 0 else "(no logs: %s)" % err.strip()

    def explain(self, run, server=None):
        run_id = run["run_id"]
        try:
            runtime = self.runtime_txt(run_id, server=server)
        except AssertionError as error:
            runtime = str(error)
        return "%s\n--- std_log:\n%s\n--- runtime.txt:\n%s%s" % (
            json.dumps(run, indent=1), self.safe_logs(run_id, server), runtime, self.describe_processes())

    def assert_completed(self, run_id, server=None, timeout=120):
        run = self.wait_for_terminal(run_id, server=server, timeout=timeout)
        if run["status"] != "Completed":
            self.fail("run %s is %s, not Completed\n%s" % (run_id, run["status"], self.explain(run, server)))
        return run

    def assert_out_of_memory(self, run, server=None):
        details = self.explain(run, server)
        self.assertEqual(run["status"], "Failed", details)
        self.assertIsNotNone(run["error"], details)
        self.assertEqual(run["error"]["code"], "OutOfMemory", details)
        self.assertIn("the run used more than its memory limit", run["error"]["message"], details)
        log_text = self.logs(run["run_id"], server=server)
        self.assertIn("hog starting", log_text)
        self.assertNotIn("hog done", log_text, "the hog was never stopped")
        allocated = [int(line.split()[1]) for line in log_text.splitlines() if line.startswith("allocated ")]
        harness.log("hog %s: last allocation reported %s MiB; %s: %s" % (
            run["run_id"], allocated[-1] if allocated else 0, run["error"]["code"], run["error"]["message"]))
        # 200 MiB of limit: it cannot have held much more than that (and the interpreter).
        self.assertLessEqual(max(allocated or [0]), 200, log_text[-2000:])
        runtime = self.runtime_txt(run["run_id"], server=server)
        self.assertIn("limits: memory %d bytes" % (200 * MIB), runtime)
        return runtime

    def assert_no_cgroup_left(self, run_id):
        paths = [os.path.join(mount, "runyard", run_id) for mount in set(self.mounts.values())]
        try:
            harness.wait_for(lambda: not any(os.path.exists(p) for p in paths), timeout=10, interval=0.05,
                             what="cgroups of %s to be removed" % run_id)
        except harness.WaitTimeout:
            self.fail("cgroup leak after %s: %s" % (run_id, [p for p in paths if os.path.exists(p)]))

    # ------------------------------------------------------------------ 1. memory hog

    def test_memory_hog_is_out_of_memory_agent_keeps_working(self):
        server = self.start_server()
        agent = self.start_limited_agent(server, slots=2)
        self.assert_cgroup_agent(agent)
        # A neighbour that is running while the hog is killed, held open by a latch.
        release = self.latch()
        neighbour = self.submit_script("wait_for_file.py", agent.pool, server, arguments=[release])
        self.wait_for_status(neighbour, "Running", server=server)
        self.wait_for_log(neighbour, "ready", server=server)

        hog_marker = self.new_marker()
        hog = self.submit_spec(self.write_spec("hog.py", agent.pool, {"memory_mb": 200}), server=server,
                               marker=hog_marker)
        run = self.wait_for_terminal(hog, server=server, timeout=120)
        runtime = self.assert_out_of_memory(run, server=server)
        self.assertIn("processes contained by " + agent.mode_name, runtime)
        self.assert_no_process(hog_marker)
        self.assert_no_cgroup_left(hog)

        # The neighbour survived the kill and completes once released.
        self.assertEqual(self.status(neighbour, server=server)["status"], "Running")
        self.release_latch(release)
        done = self.assert_completed(neighbour, server=server)
        self.assertIn("released", self.logs(neighbour, server=server))
        self.assertIsNone(done["error"])

        # And the agent still runs new runs to completion.
        after = self.submit_script("hello.py", agent.pool, server)
        self.assert_completed(after, server=server)
        self.assertIn("hello from runyard", self.logs(after, server=server))
        self.assertTrue(agent.process.alive(), agent.process.tail())

    # ------------------------------------------------------------------ 2. fork bomb

    def test_fork_bomb_stops_at_pids_limit(self):
        server = self.start_server()
        agent = self.start_limited_agent(server, slots=2, extra_args=["--pids-limit", "50"])
        self.assert_cgroup_agent(agent)
        marker = self.new_marker()
        counter = MarkerCounter(marker)
        counter.start()
        self.addCleanup(counter.stop)
        release = self.latch()
        bomb = self.submit_script("bomb.py", agent.pool, server, arguments=[release, 1000], marker=marker)
        self.wait_for_log(bomb, "children ", server=server, timeout=120)
        log_text = self.logs(bomb, server=server)
        self.assertNotIn("bomb hit its own cap", log_text, "the pids limit was not enforced:\n" + log_text)
        self.assertIn("fork failed after", log_text)
        children = int([l for l in log_text.splitlines() if l.startswith("children ")][0].split()[1])
        # The processes are there now (the bomb holds them until released): count them too.
        harness.wait_for(lambda: counter.scans >= 3, timeout=30, what="three scans of /proc")
        live = len(harness.find_processes(marker))
        harness.log("fork bomb %s: made %d children (%d processes with the script); %d live now, "
                    "at most %d seen at once" % (bomb, children, children + 1, live, counter.most))
        self.assertLessEqual(children + 1, 50, log_text)
        self.assertGreaterEqual(children, 10, "fork failed far below the limit:\n" + log_text)
        self.assertLessEqual(counter.most, 50)
        self.assertLessEqual(live, 50)

        # While the bomb holds its 50 processes, the agent runs another run to completion:
        # the limit is the run's, not the agent's.
        beside = self.submit_script("hello.py", agent.pool, server)
        self.assert_completed(beside, server=server)
        self.assertIn("hello from runyard", self.logs(beside, server=server))

        self.release_latch(release)
        run = self.wait_for_terminal(bomb, server=server, timeout=120)
        details = self.explain(run, server)
        self.assertEqual(run["status"], "Failed", details)
        # It exits 1 after its fork failed (released): a plain script failure, not OutOfMemory.
        self.assertEqual(run["error"]["code"], "UserError", details)
        self.assertEqual(run["exit_code"], 1, details)
        self.assertIn("limits: memory 0 bytes, cpus 0, pids 50", self.runtime_txt(bomb, server=server))
        # Every sleeping child died with the run.
        self.assert_no_process(marker, timeout=10)
        counter.stop()
        self.assertLessEqual(counter.most, 50)
        self.assert_no_cgroup_left(bomb)

        after = self.submit_script("hello.py", agent.pool, server)
        self.assert_completed(after, server=server)
        self.assertTrue(agent.process.alive(), agent.process.tail())

        pids_peak_file = (os.path.join(self.mounts["pids"], "runyard", "pids.peak") if agent.mode_name == "cgroup v1"
                          else None)
        with self.subTest("usage.peak_pids reported"):
            if pids_peak_file and not os.path.exists(pids_peak_file):
                self.skipTest("this kernel's cgroup v1 pids controller has no pids.peak")
            peak_pids = (run.get("usage") or {}).get("peak_pids")
            harness.log("fork bomb %s: usage %s" % (bomb, run.get("usage")))
            self.assertIsNotNone(run.get("usage"), details)
            self.assertTrue(peak_pids and children + 1 <= peak_pids <= 50,
                            "usage.peak_pids %r: expected %d..50 (the pids cgroup has pids.peak)" % (
                                peak_pids, children + 1))

    # ------------------------------------------------------------------ 3. accounting

    def measure_baseline_rss(self, times):
        """The interpreter's own peak RSS without the allocation (VmHWM: ru_maxrss would include the
        test's own RSS, inherited across fork and exec): `times` samples."""
        script = os.path.join(self.source, "account.py")
        output = os.path.join(self.tmp, "baseline.out")
        return [vm_hwm_bytes(stdout_of([PYTHON, script, "0", "0"], output)) for _ in range(times)]

    def test_accounting_within_ten_percent(self):
        server = self.start_server()
        agent = self.start_limited_agent(server, slots=1)
        self.assert_cgroup_agent(agent)
        rss_samples = self.measure_baseline_rss(3)
        run_id = self.submit_script("account.py", agent.pool, server, arguments=["300", "2.0"])
        run = self.assert_completed(run_id, server=server, timeout=180)
        baseline_rss = median(rss_samples + self.measure_baseline_rss(2))
        run_log = self.logs(run_id, server=server)
        self.assertIn("allocated 300 MiB; burned", run_log)
        harness.log("accounting run's own report: %s" % " / ".join(
            line for line in run_log.splitlines() if line.startswith(("allocated", "VmHWM", "cpu_total"))))
        details = self.explain(run, server)
        self.assertIsNotNone(run.get("usage"), "no usage for a finished run:\n" + details)
        cpu = run["cpu_seconds"]
        peak = run["peak_memory_bytes"]
        self.assertEqual(run["usage"]["cpu_seconds"], cpu)
        self.assertEqual(run["usage"]["peak_memory_bytes"], peak)
        # The known amount of CPU is the kernel's own count for the script's process (getrusage at
        # its end): 2.0 s of burn plus the interpreter's start and faulting in 300 MiB. The fault
        # part costs 0.7-1.3 s depending on the machine's load and on the memory cgroup charging
        # every page, so a baseline taken outside the run (the earlier form of this test) was
        # flaky on a busy CI machine; the script's own figure is taken under the same conditions.
        expected_cpu = float([line for line in run_log.splitlines() if line.startswith("cpu_total:")][-1].split()[1])
        self.assertGreaterEqual(expected_cpu, 2.0, run_log)
        expected_peak = 300 * MIB + baseline_rss
        harness.log("accounting %s (%s): cpu_seconds %.3f vs the script's own %.3f: %+.1f%%; "
                    "peak_memory_bytes %d (%.1f MiB) vs expected %.1f MiB (300 + baseline RSS %.1f): %+.1f%%" % (
                        run_id, agent.mode_name, cpu, expected_cpu, 100 * (cpu / expected_cpu - 1),
                        peak, peak / MIB, expected_peak / MIB, baseline_rss / MIB,
                        100 * (peak / expected_peak - 1)))
        self.assertLessEqual(abs(cpu - expected_cpu), 0.10 * expected_cpu, details)
        self.assertGreaterEqual(peak, 300 * MIB, details)
        self.assertLessEqual(abs(peak - expected_peak), 0.10 * expected_peak, details)
        self.assertLessEqual(peak, 300 * MIB * 1.10 + 30 * MIB, details)

        rc, out, err = self.run_cli(["status", run_id], server=server)
        self.assertEqual(rc, 0, err)
        used = [line for line in out.splitlines() if line.startswith("Used:")]
        self.assertTrue(used, "no 'Used:' line in runyard status:\n" + out)
        self.assertIn("CPU seconds", used[0])
        self.assertIn("%.2f" % cpu, used[0])
        harness.log("runyard status: %s" % used[0])
        self.assertIn("CPU seconds, peak memory", self.runtime_txt(run_id, server=server))

    # ------------------------------------------------------------------ 4. cpus

    def run_wall_burn(self, cpus, seconds, workers):
        server = self.start_server()
        agent = self.start_limited_agent(server, slots=1)
        self.assert_cgroup_agent(agent)
        spec = self.write_spec("wallburn.py", agent.pool, {"cpus": cpus}, arguments=[seconds, workers])
        rc, out, err = self.run_cli(["submit", "--json", spec], server=server)
        self.assertEqual(rc, 0, "a spec with resources.cpus: %r was refused: %s%s" % (cpus, out, err))
        run_id = json.loads(out)["run_id"]
        run = self.assert_completed(run_id, server=server, timeout=120)
        details = self.explain(run, server)
        self.assertIsNotNone(run.get("usage"), details)
        runtime = self.runtime_txt(run_id, server=server)
        self.assertIn("limits: memory 0 bytes, cpus %g" % cpus, runtime)
        harness.log("cpus %g, %d burner(s) for %g s wall: cpu_seconds %.3f" % (
            cpus, workers, seconds, run["cpu_seconds"]))
        return run, details

    def test_cpus_half_core(self):
        run, details = self.run_wall_burn(0.5, 2, 1)
        self.assertGreaterEqual(run["cpu_seconds"], 0.7, details)
        self.assertLessEqual(run["cpu_seconds"], 1.3, details)

    def test_cpus_one_core_two_burners(self):
        # Two processes burning for 2 s of wall time would use ~4 CPU seconds on 2 idle cores;
        # with cpus: 1 the run gets one core's worth: ~2.0 (less when the machine is busy, hence
        # the low floor: the ceiling is what this checks).
        run, details = self.run_wall_burn(1, 2, 2)
        self.assertGreaterEqual(run["cpu_seconds"], 0.8, details)
        self.assertLessEqual(run["cpu_seconds"], 2.6, details)

    # ------------------------------------------------------------------ 5. no cgroups

    def test_mode_none_runs_without_limits(self):
        server = self.start_server()
        agent = self.start_limited_agent(server, slots=1, extra_args=["--cgroup-mode", "none"])
        self.assertEqual(agent.mode_name, "process group", agent.mode_line)
        run_id = self.submit_spec(self.write_spec("hello.py", agent.pool, {"memory_mb": 200}), server=server)
        run = self.assert_completed(run_id, server=server)
        self.assertIn("hello from runyard", self.logs(run_id, server=server))
        runtime = self.runtime_txt(run_id, server=server)
        self.assertIn("limits NOT enforced", runtime)
        self.assertNotIn("limits: memory", runtime)
        self.assertIn("usage", run)
        self.assertIsNone(run["usage"], json.dumps(run, indent=1))
        self.assertNotIn("cpu_seconds", run)
        rc, out, err = self.run_cli(["status", run_id], server=server)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("Used:", out)

    # ------------------------------------------------------------------ 6. local

    def test_local_memory_hog_is_out_of_memory(self):
        spec = self.write_spec("hog.py", "local", {"memory_mb": 200})
        marker = self.new_marker()
        rc, out, err = self.run_cli(["run", spec, "-e", "%s=%s" % (harness.MARKER_VAR, marker)], timeout=180)
        self.assertNotEqual(rc, 0, "an OOM-killed run must make `runyard run` fail\n%s\n%s" % (out, err))
        lines = [line for line in out.splitlines() if line.startswith("Run run-")]
        self.assertTrue(lines, "no 'Run run-...' line:\n%s\n%s" % (out, err))
        run_id = lines[0].split()[1]
        run = self.status(run_id)
        self.assert_out_of_memory(run)
        self.assert_no_process(marker)
        self.assert_no_cgroup_left(run_id)
        # The local machine still runs a run to completion afterwards.
        rc, out, err = self.run_cli(["run", "--source-directory", self.source, "--script", "hello.py",
                                     "--interpreter", PYTHON, "--target", "local"], timeout=180)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("hello from runyard", out)


if __name__ == "__main__":
    unittest.main()
