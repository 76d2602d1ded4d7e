"""Acceptance 1 and 5: every process of a run is contained, and a deadline or a cancel kills them all.

The script below is built to escape a plain process-group kill: it ignores SIGTERM, forks a
child that calls setsid() (a session and process group of its own) and ignores SIGTERM too,
and that child double-forks a grandchild (reparented away from the run) which ignores
SIGTERM and execs `sleep 300`, keeping the run's output pipe open. Only a real containment
(cgroup v2, cgroup v1 freezer, or process group + RUNYARD_RUN_TAG sweep) catches all three.

Each run carries a unique marker (-e RUNYARD_TEST_MARKER=<uuid>); a background thread scans
/proc/*/environ every few ms and records, per marker, when its processes were last seen and
when the first complete scan found none. From that:
  - deadline: no process of the run may be left grace + 1 s after the run's terminal status
    time (from its status history);
  - cancel: none may be left grace + 1 s after `runyard cancel` returned;
and the run's cgroup directories must be gone (no cgroup leak).
"""
import os
import signal
import re
import threading
import time
import unittest
import uuid

import harness
from harness import AGENT_BIN, PYTHON

GRACE_SECONDS = 1
MAX_SECONDS = 1
REPETITIONS = 20
BATCH = 4  # the auto-mode agent's slots

MODES = ("v2", "v1", "none")
MODE_NAMES = {"v2": "cgroup v2", "v1": "cgroup v1", "none": "process group"}
V1_CONTROLLERS = ("freezer", "pids", "memory")

ESCAPE_SCRIPT = harness.LATCH_WAITER + r'''
import os, signal, sys

signal.signal(signal.SIGTERM, signal.SIG_IGN)   # inherited by the forks, kept across exec
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(r)
    os.setsid()                                 # out of the run's session and process group
    middle = os.fork()
    if middle == 0:
        if os.fork() == 0:                      # the grandchild: orphaned at once
            os.write(w, b"g%d\n" % os.getpid())
            os.close(w)
            os.execvp("sleep", ["sleep", "300"])
        os._exit(0)
    os.waitpid(middle, 0)
    os.write(w, b"c%d\n" % os.getpid())
    os.close(w)
    while True:
        signal.pause()                          # until killed (SIGTERM is ignored)
os.close(w)
with os.fdopen(r, "rb") as f:
    pids = f.read().split()                     # EOF once child and grandchild have written
print("ready", os.getpid(), b" ".join(pids).decode(), flush=True)
if sys.argv[1:2] == ["exit"]:                   # the main process ends, its tree does not,
    wait_for_latch(sys.argv[2], 300)            # once the test has seen that tree
    sys.exit(0)
while True:
    signal.pause()
'''

_MARKER_RE = re.compile(rb"(?:^|\0)" + harness.MARKER_VAR.encode() + rb"=(m[0-9a-f]{32})(?:\0|$)")


def _read(path, mode="rb"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return b"" if "b" in mode else ""


def cgroup_mounts():
    """{'unified': the cgroup2 mount, <v1 controller>: its hierarchy's mount, ...} (/proc/self/mountinfo)."""
    mounts = {}
    for line in _read("/proc/self/mountinfo", "r").splitlines():
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


def process_cgroups(pid):
    """{'unified': path, <v1 controller>: path, ...} from /proc/<pid>/cgroup."""
    groups = {}
    for line in _read("/proc/%d/cgroup" % pid, "r").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            groups["unified"] = parts[2]
        for controller in parts[1].split(","):
            if controller:
                groups[controller] = parts[2]
    return groups


def session_of(pid):
    stat = _read("/proc/%d/stat" % pid).decode(errors="replace")
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[3]) if len(fields) > 3 else None  # state ppid pgrp session


class ProcessWatcher(threading.Thread):
    """Scans /proc continuously; per marker: when its processes were last seen, when they were gone."""

    def __init__(self, interval=0.01):
        super().__init__(daemon=True)
        self.interval = interval
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.last_seen = {}
        self.gone_at = {}
        self.first_cgroups = {}
        self.reappeared = set()
        self._missing = {}

    def watch(self, marker):
        with self._lock:
            self.last_seen.setdefault(marker, None)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)

    def run(self):
        while not self._halt.is_set():
            self._scan()
            self._halt.wait(self.interval)

    def _scan(self):
        seen = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            match = _MARKER_RE.search(_read("/proc/%d/environ" % pid))
            if not match:
                continue
            marker = match.group(1).decode()
            state = harness.process_state(pid)
            if state is None or state in ("Z", "X"):
                continue
            now = time.time()
            with self._lock:
                if marker not in self.last_seen:
                    continue
                self.last_seen[marker] = now
                if self.gone_at.pop(marker, None) is not None:
                    self.reappeared.add(marker)
                if marker not in self.first_cgroups:
                    self.first_cgroups[marker] = process_cgroups(pid)
            seen.add(marker)
        end = time.time()
        with self._lock:
            for marker, last in self.last_seen.items():
                if marker in seen:
                    self._missing.pop(marker, None)
                elif last is not None and marker not in self.gone_at:
                    # Gone once two scans in a row miss it (a read of /proc/<pid>/environ can
                    # come back empty while the process execs); gone at the end of the first.
                    if marker in self._missing:
                        self.gone_at[marker] = self._missing.pop(marker)
                    else:
                        self._missing[marker] = end

    def state(self, marker):
        with self._lock:
            return self.last_seen.get(marker), self.gone_at.get(marker), self.first_cgroups.get(marker)


class ContainmentTest(harness.RunyardTestCase):

    worst = {}  # (mode, case) -> worst seconds from the reference time to no process left

    @classmethod
    def tearDownClass(cls):
        for (mode, case), (seconds, run_id) in sorted(cls.worst.items()):
            harness.log("worst %-14s %-8s: %+.3f s to no process left (%s)" % (mode, case, seconds, run_id))

    def setUp(self):
        super().setUp()
        self.watcher = ProcessWatcher()
        self.watcher.start()
        self.addCleanup(self.watcher.stop)
        self.mounts = cgroup_mounts()
        self.source = self.make_dir("escape-src")
        with open(os.path.join(self.source, "escape.py"), "w") as f:
            f.write(ESCAPE_SCRIPT.lstrip())

    # ------------------------------------------------------------------ fixtures

    def start_contained_agent(self, server, mode, slots=2):
        """An agent with --cgroup-mode `mode` in pool 'pool-<mode>'; .mode_name from its log."""
        name = "%s-%s" % (mode, uuid.uuid4().hex[:6])
        work_dir = self.make_dir("agent-" + name)
        argv = [AGENT_BIN, "--server", server.address, "--pool", "pool-" + mode, "--work-dir", work_dir,
                "--slots", str(slots), "--name", name, "--kill-grace-seconds", str(GRACE_SECONDS),
                "--cgroup-mode", mode] + self.agent_security_args(server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, "pool-" + mode, work_dir)
        self.agents.append(agent)
        line = process.wait_for_line(r"runs are contained (in cgroup v2|in cgroup v1|by process group only)")
        agent.mode_name = {"in cgroup v2": "cgroup v2", "in cgroup v1": "cgroup v1",
                           "by process group only": "process group"}[line.group(1)]
        if mode != "auto":
            self.assertEqual(agent.mode_name, MODE_NAMES[mode], process.tail())
        match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)")
        agent.agent_id = match.group(1)
        harness.log("agent --cgroup-mode %s: %s" % (mode, line.string.strip()))
        return agent

    def submit_escape(self, target, server=None, max_seconds=None, extra=(), script_args=()):
        marker = self.new_marker()
        self.watcher.watch(marker)
        args = ["--source-directory", self.source, "--script", "escape.py", "--interpreter", PYTHON,
                "--target", target, "-e", "%s=%s" % (harness.MARKER_VAR, marker)] + list(extra)
        if max_seconds is not None:
            args += ["--max-run-duration-seconds", str(max_seconds)]
        if script_args:
            args += ["--"] + list(script_args)
        run_id = self.submit(args, server=server)["run_id"]
        return run_id, marker

    def runtime_txt(self, run_id, server=None):
        path = os.path.join(self.tmp, "runtime-%s.txt" % run_id)
        rc, out, err = self.run_cli(["download", run_id, "system_logs/runtime.txt", "-o", path], server=server)
        self.assertEqual(rc, 0, out + err)
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    # ------------------------------------------------------------------ checks

    def check_escaped_tree(self, run_id, marker, mode_name):
        """While running: the script, its setsid'd child and the orphaned grandchild are there,
        out of the script's session, and held by the containment."""
        processes = wait_for_processes(marker, 3)
        pids = [pid for pid, _ in processes]
        sessions = {session_of(pid) for pid in pids}
        self.assertGreaterEqual(len(sessions), 2, "the script's child did not leave its session: %s" % processes)
        for pid in pids:
            groups = process_cgroups(pid)
            if mode_name == "cgroup v2":
                self.assertTrue(groups.get("unified", "").endswith("/runyard/" + run_id),
                                "pid %d is not in the run's cgroup: %s" % (pid, groups))
            elif mode_name == "cgroup v1":
                for controller in V1_CONTROLLERS:
                    if controller in self.mounts:
                        self.assertTrue(groups.get(controller, "").endswith("/runyard/" + run_id),
                                        "pid %d is not in the run's %s cgroup: %s" % (pid, controller, groups))
            else:
                self.assertIn(b"RUNYARD_RUN_TAG=" + run_id.encode(), _read("/proc/%d/environ" % pid),
                              "pid %d does not carry the run's tag" % pid)
        return pids

    def assert_gone_by(self, marker, reference, mode, case, run_id):
        """No process with `marker` is left GRACE + 1 s after `reference` (wall clock, s)."""
        limit = reference + GRACE_SECONDS + 1
        patience = max(limit, time.time()) + 0.5 - time.time()  # room for the watcher's own scan lag
        try:
            harness.wait_for(lambda: self.watcher.state(marker)[1] is not None, timeout=patience,
                             interval=0.02, what="the watcher to find the processes of %s gone" % run_id)
        except harness.WaitTimeout:
            pass  # the checks below say what is left
        last_seen, gone_at, _ = self.watcher.state(marker)
        self.assertIsNotNone(last_seen, "the watcher never saw the processes of %s" % run_id)
        self.assertNotIn(marker, self.watcher.reappeared, "processes of %s reappeared" % run_id)
        if gone_at is None or gone_at > limit:
            self.fail("%s %s run %s: processes still there %.3f s after the reference (limit %d s): %s\n%s" % (
                mode, case, run_id, (gone_at or time.time()) - reference, GRACE_SECONDS + 1,
                harness.find_processes(marker), self.describe_processes()))
        self.assertEqual(harness.find_processes(marker), [])
        seconds = gone_at - reference
        key = (mode, case)
        if key not in self.worst or seconds > self.worst[key][0]:
            type(self).worst[key] = (seconds, run_id)
        return seconds

    def run_cgroup_dirs(self, run_id, marker, mode_name, v2_parent=None):
        """The cgroup directories the run lived in (as its processes said) plus the documented ones."""
        dirs = set()
        _, _, groups = self.watcher.state(marker)
        for hierarchy, path in (groups or {}).items():
            if run_id in path and hierarchy in self.mounts:
                dirs.add(os.path.join(self.mounts[hierarchy], path.lstrip("/")))
        if mode_name == "cgroup v2" and "unified" in self.mounts:
            dirs.add(os.path.join(v2_parent or os.path.join(self.mounts["unified"], "runyard"), run_id))
        if mode_name == "cgroup v1":
            for controller in V1_CONTROLLERS:
                if controller in self.mounts:
                    dirs.add(os.path.join(self.mounts[controller], "runyard", run_id))
        return sorted(dirs)

    def assert_no_cgroup_left(self, run_id, marker, mode_name, v2_parent=None):
        dirs = self.run_cgroup_dirs(run_id, marker, mode_name, v2_parent)
        if mode_name != "process group":
            self.assertTrue(dirs, "no cgroup known for %s" % run_id)
        try:
            harness.wait_for(lambda: not any(os.path.exists(d) for d in dirs), timeout=GRACE_SECONDS + 1,
                             interval=0.05, what="cgroups of %s to be removed" % run_id)
        except harness.WaitTimeout:
            left = [d for d in dirs if os.path.exists(d)]
            self.fail("cgroup leak after %s: %s (procs: %s)" % (
                run_id, left, [_read(os.path.join(d, "cgroup.procs"), "r").split() for d in left]))
        # Whatever the mode, nothing named after the run stays in any hierarchy.
        for hierarchy, mount in self.mounts.items():
            path = os.path.join(mount, "runyard", run_id)
            self.assertFalse(os.path.exists(path), "cgroup leak: %s" % path)

    def check_runtime_log(self, run_id, mode_name, case, server=None):
        text = self.runtime_txt(run_id, server=server)
        self.assertIn("processes contained by " + mode_name, text)
        reason = "max run duration reached" if case == "deadline" else "cancel requested"
        self.assertIn("%s: SIGTERM to every process of the run (%s)" % (reason, mode_name), text)
        # The script ignores SIGTERM: only the SIGKILL after the grace ends it.
        self.assertIn("grace period over: SIGKILL", text)
        return text

    def check_deadline_run(self, run, marker, mode, mode_name, server=None, v2_parent=None):
        run_id = run["run_id"]
        self.assertEqual(run["status"], "Canceled", run)
        self.assertIsNotNone(run["error"], run)
        self.assertEqual(run["error"]["code"], "MaxRunDurationExceeded", run)
        self.assertIn("ready", self.logs(run_id, server=server), "the script never forked its tree")
        running = self.history_time(run, "Running") / 1000.0
        terminal = self.history_time(run, "Canceled", last=True) / 1000.0
        self.assertGreaterEqual(terminal - running, MAX_SECONDS - 0.5, "stopped before its deadline")
        seconds = self.assert_gone_by(marker, terminal, mode, "deadline", run_id)
        harness.log("%s deadline %s: Running -> Canceled %.3f s; no process left %+.3f s after Canceled" % (
            mode, run_id, terminal - running, seconds))
        self.check_runtime_log(run_id, mode_name, "deadline", server=server)
        self.assert_no_cgroup_left(run_id, marker, mode_name, v2_parent)

    def cancel_running(self, run_id, marker, mode_name, server=None):
        """Waits for Running and 'ready', checks the tree, cancels; returns when the cancel returned."""
        self.wait_for_status(run_id, "Running", server=server, timeout=60)
        self.wait_for_log(run_id, "ready", server=server)
        self.check_escaped_tree(run_id, marker, mode_name)
        rc, out, err = self.run_cli(["cancel", run_id], server=server)
        returned = time.time()
        self.assertEqual(rc, 0, out + err)
        return returned

    def check_canceled_run(self, run, marker, returned, mode, mode_name, server=None, v2_parent=None):
        run_id = run["run_id"]
        self.assertEqual(run["status"], "Canceled", run)
        self.assertIsNotNone(run["error"], run)
        self.assertEqual(run["error"]["code"], "Canceled", run)
        seconds = self.assert_gone_by(marker, returned, mode, "cancel", run_id)
        terminal = self.history_time(run, "Canceled", last=True) / 1000.0
        harness.log("%s cancel %s: Canceled %.3f s after the cancel returned; no process left after %.3f s" % (
            mode, run_id, terminal - returned, seconds))
        self.check_runtime_log(run_id, mode_name, "cancel", server=server)
        self.assert_no_cgroup_left(run_id, marker, mode_name, v2_parent)

    def wait_all_terminal(self, run_ids, server=None, timeout=180):
        pending = set(run_ids)
        found = {}

        def check():
            for run in self.list_runs(server=server):
                if run["run_id"] in pending and run["status"] in harness.TERMINAL:
                    found[run["run_id"]] = run
            return pending <= set(found)

        harness.wait_for(check, timeout=timeout, interval=0.2, what="%d runs to end" % len(pending),
                         describe=lambda: "still running: %s%s" % (sorted(pending - set(found)),
                                                                  self.describe_processes()))
        return found

    @staticmethod
    def v2_parent(agent):
        match = re.search(r"runs are contained in cgroup v2 under (\S+)", agent.process.output())
        return match.group(1) if match else None

    # ------------------------------------------------------------------ tests

    def test_deadline_and_cancel_in_each_mode(self):
        """--cgroup-mode v2, v1 and none: a deadline and a cancel leave no process and no cgroup."""
        server = self.start_server()
        agents = {mode: self.start_contained_agent(server, mode, slots=3) for mode in MODES}
        # The deadline runs go first and end by themselves while the cancels are done.
        deadline_runs = {mode: self.submit_escape(agents[mode].pool, server, max_seconds=MAX_SECONDS)
                         for mode in MODES}
        exit_latches = {mode: self.latch() for mode in MODES}
        exit_runs = {mode: self.submit_escape(agents[mode].pool, server, script_args=["exit", exit_latches[mode]])
                     for mode in MODES}
        for mode in MODES:
            with self.subTest(mode=mode, case="cancel"):
                run_id, marker = self.submit_escape(agents[mode].pool, server)
                returned = self.cancel_running(run_id, marker, MODE_NAMES[mode], server=server)
                run = self.wait_for_terminal(run_id, server=server, timeout=30)
                self.check_canceled_run(run, marker, returned, mode, MODE_NAMES[mode], server=server,
                                        v2_parent=self.v2_parent(agents[mode]))
        for mode in MODES:
            with self.subTest(mode=mode, case="deadline"):
                run_id, marker = deadline_runs[mode]
                run = self.wait_for_terminal(run_id, server=server, timeout=60)
                self.check_deadline_run(run, marker, mode, MODE_NAMES[mode], server=server,
                                        v2_parent=self.v2_parent(agents[mode]))
        for mode in MODES:
            with self.subTest(mode=mode, case="main exits"):
                # The main process exits 0: its setsid'd child and orphaned grandchild die with the run.
                run_id, marker = exit_runs[mode]
                self.wait_for_log(run_id, "ready", server=server)
                self.check_escaped_tree(run_id, marker, MODE_NAMES[mode])
                self.release_latch(exit_latches[mode])
                run = self.wait_for_terminal(run_id, server=server, timeout=60)
                self.assertEqual(run["status"], "Completed", run)
                self.assertIn("ready", self.logs(run_id, server=server))
                terminal = self.history_time(run, "Completed", last=True) / 1000.0
                seconds = self.assert_gone_by(marker, terminal, mode, "exit", run_id)
                harness.log("%s main exits %s: no process left %+.3f s after Completed" % (mode, run_id, seconds))
                self.assertIn("processes contained by " + MODE_NAMES[mode], self.runtime_txt(run_id, server=server))
                self.assert_no_cgroup_left(run_id, marker, MODE_NAMES[mode], self.v2_parent(agents[mode]))

    def test_repeated_deadline_and_cancel_auto(self):
        """Acceptance 1, 20 repetitions each of a deadline and a cancel on an auto-mode agent."""
        server = self.start_server()
        agent = self.start_contained_agent(server, "auto", slots=BATCH)
        mode = "auto (%s)" % agent.mode_name
        v2_parent = self.v2_parent(agent)

        began = time.monotonic()
        submitted = [self.submit_escape(agent.pool, server, max_seconds=MAX_SECONDS)
                     for _ in range(REPETITIONS)]
        runs = self.wait_all_terminal([run_id for run_id, _ in submitted], server=server)
        for i, (run_id, marker) in enumerate(submitted):
            with self.subTest(case="deadline", repetition=i):
                self.check_deadline_run(runs[run_id], marker, mode, agent.mode_name, server=server,
                                        v2_parent=v2_parent)
        harness.log("%d deadline runs in %.1f s" % (REPETITIONS, time.monotonic() - began))

        began = time.monotonic()
        done = 0
        while done < REPETITIONS:
            batch = [self.submit_escape(agent.pool, server) for _ in range(min(BATCH, REPETITIONS - done))]
            returned = {}
            for run_id, marker in batch:
                returned[run_id] = self.cancel_running(run_id, marker, agent.mode_name, server=server)
            runs = self.wait_all_terminal([run_id for run_id, _ in batch], server=server, timeout=60)
            for run_id, marker in batch:
                with self.subTest(case="cancel", repetition=done):
                    self.check_canceled_run(runs[run_id], marker, returned[run_id], mode, agent.mode_name,
                                            server=server, v2_parent=v2_parent)
                done += 1
        harness.log("%d cancel runs in %.1f s" % (REPETITIONS, time.monotonic() - began))

    def test_local_runs(self):
        """Local runs (inside the CLI) are contained the same way (auto mode)."""
        # Foreground `runyard run` with a deadline.
        marker = self.new_marker()
        self.watcher.watch(marker)
        rc, out, err = self.run_cli(
            ["run", "--source-directory", self.source, "--script", "escape.py", "--interpreter", PYTHON,
             "--target", "local", "--max-run-duration-seconds", str(MAX_SECONDS),
             "--kill-grace-seconds", str(GRACE_SECONDS), "-e", "%s=%s" % (harness.MARKER_VAR, marker)],
            timeout=60)
        self.assertNotEqual(rc, 0, out + err)
        run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("Run run-"))
        run = self.status(run_id)
        mode_name = re.search(r"processes contained by (cgroup v2|cgroup v1|process group)",
                              self.runtime_txt(run_id)).group(1)
        harness.log("local runs are contained by %s" % mode_name)
        self.check_deadline_run(run, marker, "local", mode_name)

        # Background local run (`runyard _exec-local`), canceled.
        with self.subTest(case="cancel"):
            run_id, marker = self.submit_escape("local", extra=["--kill-grace-seconds", str(GRACE_SECONDS)])
            returned = self.cancel_running(run_id, marker, mode_name)
            run = self.wait_for_terminal(run_id, timeout=30)
            self.check_canceled_run(run, marker, returned, "local", mode_name)

    def test_agent_stop_kills_contained_runs(self):
        """An agent told to stop now (SIGINT; a second SIGTERM does the same after a drain) takes
        every process of its runs with it, in each mode."""
        server = self.start_server()
        for mode in MODES:
            with self.subTest(mode=mode):
                agent = self.start_contained_agent(server, mode, slots=1)
                run_id, marker = self.submit_escape(agent.pool, server)
                self.wait_for_status(run_id, "Running", server=server, timeout=60)
                self.wait_for_log(run_id, "ready", server=server)
                self.check_escaped_tree(run_id, marker, MODE_NAMES[mode])
                stopped = time.time()
                agent.process.stop(grace=GRACE_SECONDS + 10, sig=signal.SIGINT)
                seconds = self.assert_gone_by(marker, stopped, mode, "agent stop", run_id)
                harness.log("%s agent stop: no process of %s left %.3f s after the SIGINT" % (mode, run_id, seconds))
                self.assert_no_cgroup_left(run_id, marker, MODE_NAMES[mode], self.v2_parent(agent))

    def test_v1_run_cgroups_nest_under_the_agents_own(self):
        """A run's cgroups are children of the agent's own (v2 does this): otherwise a run escapes
        the limits and accounting of the agent's cgroup, e.g. its service's MemoryMax or pids.max."""
        server = self.start_server()
        for mode in ("v2", "v1"):
            with self.subTest(mode=mode):
                agent = self.start_contained_agent(server, mode, slots=1)
                own = process_cgroups(agent.pid)
                run_id, marker = self.submit_escape(agent.pool, server)
                self.wait_for_status(run_id, "Running", server=server, timeout=60)
                self.wait_for_log(run_id, "ready", server=server)
                pid = wait_for_processes(marker, 3)[0][0]
                groups = process_cgroups(pid)
                try:
                    hierarchies = ["unified"] if mode == "v2" else [c for c in V1_CONTROLLERS if c in own]
                    for hierarchy in hierarchies:
                        parent = own[hierarchy].rstrip("/")
                        self.assertTrue(groups[hierarchy].startswith(parent + "/"),
                                        "%s: the run's %s cgroup %s is not below the agent's own %s" % (
                                            mode, hierarchy, groups[hierarchy], own[hierarchy]))
                finally:
                    self.run_cli(["cancel", run_id], server=server)
                    self.wait_for_terminal(run_id, server=server, timeout=30)


def wait_for_processes(marker, count, timeout=10):
    """Waits until at least `count` live processes carry `marker`; returns them."""
    return harness.wait_for(lambda: (lambda found: found if len(found) >= count else None)(
        harness.find_processes(marker)), timeout=timeout, interval=0.05,
        what="%d processes with marker %s" % (count, marker),
        describe=lambda: "found: %s" % harness.find_processes(marker))


if __name__ == "__main__":
    unittest.main()
