"""Acceptance: live logs and durable incremental upload — every byte arrives once, while
the run runs, whatever fails.

A deterministic workload script (WORKLOAD below) writes numbered lines to stdout and
several files to outputs/ in phases. Each phase after the first waits for a latch (`go<N>`,
a FIFO, see harness.LATCH_WAITER) the test releases, and each finished phase leaves a marker
(`done<N>`, JSON: what was written so far, with SHA-256 digests) in a control folder outside
the run. So the test knows exactly what the script wrote while the fault lasted, and faults
are timed by events, not sleeps. After the run, `runyard download` must give back, byte for
byte, the script's stdout (user_logs/std_log.txt) and every outputs/ file — no gap, no
duplicate.

  * the server is SIGKILLed while bytes are in flight and restarted on the same data dir
    and port after the script wrote more while it was down;
  * the agent-server path is cut for 20 s by a TCP proxy (RST everything / blackhole);
  * the agent is SIGKILLed mid-run and restarted on its work dir: the run ends
    Failed/AgentLost in time, and the outputs (and stdout) written before the kill are kept
    intact — whether the agent had sent them, had not seen them (frozen with SIGSTOP before
    they were written), or had them queued while the path was cut. The outputs include a
    file replaced by a smaller one, one replaced by a larger one and one rewritten in place.

Set RUNYARD_E2E_LONG_CUT=1 to also run a 75 s cut, longer than the ~36 s of retries the
agent had before the on-disk spool (takes ~2.5 min).
"""
import hashlib
import json
import os
import re
import signal
import time
import unittest

import faults
import harness
from harness import PYTHON

# ----------------------------------------------------------------------------- the workload

# Content generators and the bookkeeping of file operations, shared by the script and the
# test (the test execs this too, to rebuild what any file held after any phase).
GENERATORS = r'''
import hashlib, random

def stdout_line(i):
    """Line i of the script's stdout: 100 bytes, numbered, unique."""
    digest = hashlib.sha256(b"line %d" % i).hexdigest().encode()
    return b"line %08d %s %s\n" % (i, digest, b"." * 20)

def stdout_bytes(first, count):
    return b"".join(stdout_line(i) for i in range(first, first + count))

def block(name, index, size):
    """Deterministic, incompressible bytes: block `index` of a file's content stream `name`."""
    return random.Random("%s#%d" % (name, index)).randbytes(size)

def expand(phase):
    """A phase's file operations, appends split 'steps' ways."""
    steps = []
    for op in phase.get("files", []):
        if op["op"] == "append" and op.get("steps", 1) > 1:
            part = op["bytes"] // op["steps"]
            for k in range(op["steps"]):
                size = part if k < op["steps"] - 1 else op["bytes"] - part * (op["steps"] - 1)
                steps.append(dict(op, bytes=size, steps=1))
        else:
            steps.append(op)
    return steps

def apply_step(step, expected, counter):
    """Updates `expected` (path -> bytearray: what the file holds) for one operation and
    returns the bytes the operation writes."""
    op, path = step["op"], step["path"]
    def fresh(size):
        index = counter.get(path, 0)
        counter[path] = index + 1
        return block(path, index, size)
    if op == "append":
        data = fresh(step["bytes"])
        expected.setdefault(path, bytearray()).extend(data)
    elif op == "create_empty":
        data = b""
        expected[path] = bytearray()
    elif op in ("rewrite_rename", "rewrite_in_place"):
        data = fresh(step["bytes"] if op == "rewrite_rename" else len(expected[path]))
        expected[path] = bytearray(data)
    else:
        raise SystemExit("unknown op " + op)
    return data

def replay(plan, phases):
    """What each outputs/ file held after the first `phases` phases of `plan`."""
    expected, counter = {}, {}
    for phase in plan[:phases]:
        for step in expand(phase):
            apply_step(step, expected, counter)
    return expected
'''

WORKLOAD = harness.LATCH_WAITER + GENERATORS + r'''
import json, os, sys, time

control = sys.argv[1]
plan = json.loads(sys.argv[2])
os.makedirs("outputs", exist_ok=True)
expected = {}          # outputs/<path> -> bytearray: what the file holds now
counter = {}           # file -> next block index of its content stream
stdout_sha = hashlib.sha256()
stdout_size = 0
next_line = 0


def do_step(step):
    op, path = step["op"], step["path"]
    full = os.path.join("outputs", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    data = apply_step(step, expected, counter)
    if op == "append":
        with open(full, "ab") as f:
            f.write(data)
    elif op == "create_empty":
        open(full, "wb").close()
    elif op == "rewrite_rename":  # a new file under the same name (new inode)
        with open(full + ".tmp", "wb") as f:
            f.write(data)
        os.rename(full + ".tmp", full)
    elif op == "rewrite_in_place":  # same size, new content, same inode
        with open(full, "r+b") as f:
            f.write(data)


def state():
    return {"stdout_bytes": stdout_size, "stdout_sha256": stdout_sha.hexdigest(), "stdout_lines": next_line,
            "files": {p: {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for p, b in expected.items()}}


def mark(name, value):
    path = os.path.join(control, name)
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.rename(path + ".tmp", path)


for number, phase in enumerate(plan, start=1):
    if number > 1 and not wait_for_latch(os.path.join(control, "go%d" % number), 300):
        sys.exit(9)
    batches = max(1, int(phase.get("batches", 20)))
    steps = expand(phase)
    lines = phase.get("stdout_lines", 0)
    spread = float(phase.get("spread", 0))
    start = time.monotonic()
    for b in range(batches):
        count = lines // batches + (1 if b < lines % batches else 0)
        data = stdout_bytes(next_line, count)
        next_line += count
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        stdout_sha.update(data)
        stdout_size += len(data)
        # this batch's share of the file operations
        for step in steps[b * len(steps) // batches:(b + 1) * len(steps) // batches]:
            do_step(step)
        # pacing: the phase's writes are spread over `spread` seconds
        pause = start + spread * (b + 1) / batches - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    mark("done%d" % number, state())

final = state()
with open(os.path.join("outputs", "expected_sha256.json"), "w") as f:
    json.dump(final, f, indent=1, sort_keys=True)
with open(os.path.join("outputs", "expected_sha256.json"), "rb") as f:
    own = f.read()
final["files"]["expected_sha256.json"] = {"size": len(own), "sha256": hashlib.sha256(own).hexdigest()}
mark("final.json", final)
'''

_generators = {}
exec(GENERATORS, _generators)  # the same functions the script uses

KIB = 1024
MIB = 1024 * 1024


# ----------------------------------------------------------------------------- the tests


class UploadFaultsTest(faults.FaultTestCase):

    # ------------------------------------------------------------------ helpers

    def setUp(self):
        super().setUp()
        self.control = self.make_dir("control")

    def submit_workload(self, server, plan, pool="cpu"):
        source = self.make_dir("src-workload")
        with open(os.path.join(source, "workload.py"), "w") as f:
            f.write(WORKLOAD.lstrip())
        self.marker = self.new_marker()
        self.plan = plan
        for number in range(2, len(plan) + 1):
            self.latch(os.path.join(self.control, "go%d" % number))
        submitted = self.submit(["--source-directory", source, "--script", "workload.py",
                                 "--interpreter", PYTHON, "--target", pool,
                                 "-e", "%s=%s" % (harness.MARKER_VAR, self.marker),
                                 "--", self.control, json.dumps(plan)], server=server)
        return submitted["run_id"]

    def release(self, phase):
        self.release_latch(os.path.join(self.control, "go%d" % phase))

    def wait_marker(self, name, run_id, server, timeout=90):
        path = os.path.join(self.control, name)

        def describe():
            try:
                run = self.status(run_id, server=server)
                status = "%s %s" % (run["status"], run.get("error"))
            except Exception as error:  # the server may be down on purpose
                status = "(status unavailable: %r)" % (error,)
            return "run status: %s%s" % (status, self.describe_processes())

        harness.wait_for(lambda: os.path.exists(path), timeout=timeout, interval=0.05,
                         what="the script's marker %s" % name, describe=describe)
        with open(path) as f:
            return json.load(f)

    def wait_server_has(self, run_id, server, at_least, timeout=30, what="bytes", exact=False):
        """Waits until run history holds at least (exact: exactly) `at_least` ({path: size});
        returns the files."""
        last = {}

        def holds(path, size):
            have = last["files"].get(path, -1)
            return have == size if exact else have >= size

        def check():
            last["files"] = self.run_files(run_id, server=server)
            return all(holds(path, size) for path, size in at_least.items()) and last["files"]

        return harness.wait_for(check, timeout=timeout, interval=0.1, what=what,
                                describe=lambda: "wanted %s\nrun history has %s%s" % (
                                    at_least, last.get("files"), self.describe_processes()))

    def std_log_size(self, run_id, server):
        return self.run_files(run_id, server=server).get("user_logs/std_log.txt", 0)

    def check_everything_arrived(self, run_id, server, expected, label, verbose=True, phases=None):
        """Downloads std_log and every outputs/ file; returns a list of problems (empty: all good).
        `phases`: how many phases of self.plan `expected` covers (for the diagnostics)."""
        problems = []
        download_dir = self.make_dir("download-" + label)
        files = self.run_files(run_id, server=server)
        if verbose:
            harness.log("%s: run history holds %s" % (label, {p: s for p, s in sorted(files.items())}))

        # stdout
        std_log = os.path.join(download_dir, "std_log.txt")
        self.download(run_id, "user_logs/std_log.txt", std_log, server=server)
        with open(std_log, "rb") as f:
            got = f.read()
        want = _generators["stdout_bytes"](0, expected["stdout_lines"])
        assert len(want) == expected["stdout_bytes"], "test and script disagree on the stdout content"
        if hashlib.sha256(got).hexdigest() != expected["stdout_sha256"]:
            problems.append("user_logs/std_log.txt: " + describe_stream_difference(want, got))

        # outputs/
        expected_outputs = {"outputs/" + path: value for path, value in expected["files"].items()}
        got_outputs = {path for path in files if path.startswith("outputs/")}
        missing = sorted(set(expected_outputs) - got_outputs)
        extra = sorted(got_outputs - set(expected_outputs))
        if missing:
            problems.append("outputs missing from run history: %s" % missing)
        if extra:
            problems.append("outputs in run history that the script did not write (or left): %s" % extra)
        for path in sorted(set(expected_outputs) & got_outputs):
            target = os.path.join(download_dir, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.download(run_id, path, target, server=server)
            digest = faults.sha256_file(target)
            size = os.path.getsize(target)
            want_file = expected_outputs[path]
            if digest != want_file["sha256"] or size != want_file["size"]:
                problems.append("%s: downloaded %d bytes (sha256 %s), the script wrote %d bytes (sha256 %s)%s%s" % (
                    path, size, digest[:16], want_file["size"], want_file["sha256"][:16],
                    "" if files.get(path) == size else "; listed size %s" % files.get(path),
                    self.explain_file(path[len("outputs/"):], target, phases)))
        return problems

    def explain_file(self, path, downloaded, phases):
        """'; = what it held after phase 1' and the like: the file's versions rebuilt from the plan."""
        if phases is None:
            phases = len(self.plan)
        with open(downloaded, "rb") as f:
            got = f.read()
        versions = []
        for k in range(1, phases + 1):
            content = bytes(_generators["replay"](self.plan, k).get(path, b""))
            if not versions or versions[-1][1] != content:
                versions.append((k, content))
        current = versions[-1][1]
        for k, content in versions[:-1]:
            if got == content:
                return "; it is the version written in phase %d (the later change never arrived)" % k
        offset = faults.first_difference(current, got)
        for k, content in versions[:-1]:
            old_part = faults.first_difference(content, got)
            if old_part and got[old_part:] == current[old_part:len(got)] and len(got) == len(current):
                return ("; bytes 0-%d are the version of phase %d, the rest the final one (only the tail "
                        "past the old size was sent)" % (old_part - 1, k))
            if offset == 0 and content and got[:len(content)] == content[:len(got)] and len(got) >= len(content):
                return "; starts with the version of phase %d (%d bytes)" % (k, len(content))
        return "; first difference at byte %s" % offset

    # ------------------------------------------------------------------ plans

    @staticmethod
    def fault_plan(fault_spread):
        """Four phases: 1 before the fault (checked live), 2 in flight when it hits, 3 entirely
        during the fault (spread over `fault_spread` s), 4 after it. ~12 MB of stdout, 5 files."""
        return [
            {"stdout_lines": 30000, "spread": 1.0, "files": [
                {"op": "append", "path": "append.txt", "bytes": 300 * KIB, "steps": 3},
                {"op": "rewrite_rename", "path": "rewritten.txt", "bytes": 400 * KIB}]},
            {"stdout_lines": 30000, "spread": 2.0, "files": [
                {"op": "append", "path": "large.bin", "bytes": 5 * MIB, "steps": 5}]},
            {"stdout_lines": 40000, "spread": fault_spread, "files": [
                {"op": "append", "path": "large.bin", "bytes": 5 * MIB, "steps": 5},
                {"op": "append", "path": "append.txt", "bytes": 300 * KIB, "steps": 3},
                {"op": "rewrite_rename", "path": "rewritten.txt", "bytes": 200 * KIB},
                {"op": "append", "path": "sub/dir/notes.txt", "bytes": 1000},
                {"op": "create_empty", "path": "empty.txt"}]},
            {"stdout_lines": 20000, "spread": 1.0, "files": [
                {"op": "append", "path": "append.txt", "bytes": 300 * KIB, "steps": 3},
                {"op": "rewrite_in_place", "path": "rewritten.txt"}]},
        ]

    def run_until_fault(self, server, pool="cpu", fault_spread=2.5):
        """Submits the fault plan; returns (run_id, done1) once phase 1 is in run history
        (live) and phase 2's bytes are arriving — the moment to strike."""
        run_id = self.submit_workload(server, self.fault_plan(fault_spread), pool=pool)
        self.wait_for_status(run_id, "Running", server=server, timeout=60)
        done1 = self.wait_marker("done1", run_id, server)
        # Live: phase 1 reaches run history while the script runs (it now waits for go2).
        started = time.monotonic()
        self.wait_server_has(run_id, server, dict(
            {"user_logs/std_log.txt": done1["stdout_bytes"]},
            **{"outputs/" + p: v["size"] for p, v in done1["files"].items()}),
            timeout=30, what="phase 1 (stdout and outputs) in run history while the run runs")
        harness.log("phase 1 (%d stdout bytes, %d files) in run history %.2f s after the script wrote it" % (
            done1["stdout_bytes"], len(done1["files"]), time.monotonic() - started))
        self.release(2)
        harness.wait_for(lambda: self.std_log_size(run_id, server) > done1["stdout_bytes"], timeout=30,
                         interval=0.02, what="phase 2's stdout to start arriving",
                         describe=self.describe_processes)
        return run_id, done1

    def finish_and_check(self, run_id, server, label, backlog, timeout=120):
        """After the fault: what the script wrote until then (`backlog`, its done3) must reach
        run history while the run still runs (it waits for go4); then phase 4 and the end."""
        problems = []
        started = time.monotonic()
        try:
            self.wait_server_has(run_id, server, dict(
                {"user_logs/std_log.txt": backlog["stdout_bytes"]},
                **{"outputs/" + p: v["size"] for p, v in backlog["files"].items()}),
                timeout=60, exact=True, what="what was written during the fault in run history while the run runs")
            harness.log("%s: the backlog reached run history %.2f s after the fault ended, while the run runs" % (
                label, time.monotonic() - started))
        except harness.WaitTimeout as error:
            problems.append("live after the fault: %s" % str(error).split("\n--- ")[0])
        self.release(4)
        final = self.wait_marker("final.json", run_id, server, timeout=timeout)
        run = self.wait_for_terminal(run_id, server=server, timeout=timeout)
        harness.log("%s: run %s ended %s (%s); history %s" % (
            label, run_id, run["status"], run.get("error"), self.history_statuses(run)))
        problems += self.check_everything_arrived(run_id, server, final, label)
        if run["status"] != "Completed":
            problems.insert(0, "the run ended %s (%s), not Completed" % (run["status"], run.get("error")))
        if problems:
            self.fail("%s:\n  - %s%s" % (label, "\n  - ".join(problems), self.describe_processes()))

    def cut_path(self, mode, seconds, lease_seconds=None, agent_lost_seconds=None):
        server = self.start_server(lease_seconds=lease_seconds, agent_lost_seconds=agent_lost_seconds)
        proxy = self.start_proxy(server)
        agent = self.start_agent(proxy, pool="cpu")
        run_id, done1 = self.run_until_fault(server, fault_spread=min(10.0, seconds / 2))
        proxy.cut(mode)
        cut_at = time.monotonic()
        in_flight = self.std_log_size(run_id, server)
        harness.log("cut (%s) with %d of phase 2's stdout bytes in run history" % (
            mode, in_flight - done1["stdout_bytes"]))
        self.release(3)
        done3 = self.wait_marker("done3", run_id, server, timeout=seconds + 30)
        self.assertEqual(proxy.mode, mode)
        self.assertLess(time.monotonic() - cut_at, seconds,
                        "the script wrote phase 3 after the cut should have ended")
        harness.log("phase 3 written while cut: stdout up to %d bytes, %s" % (
            done3["stdout_bytes"], {p: v["size"] for p, v in done3["files"].items()}))
        # The cut lasts `seconds` by requirement: a real wait, not a guess about timing.
        time.sleep(max(0.0, seconds - (time.monotonic() - cut_at)))
        cut_stats = proxy.stats()
        run_during = self.status(run_id, server=server)
        proxy.restore()
        harness.log("cut lasted %.1f s; proxy %s; run was %s at the end of the cut" % (
            time.monotonic() - cut_at, cut_stats, run_during["status"]))
        self.assertTrue(agent.process.alive(), agent.process.tail())
        self.finish_and_check(run_id, server, "cut %s %d s" % (mode, seconds), backlog=done3)

    # ------------------------------------------------------------------ a) server restart

    def test_server_killed_and_restarted_mid_run(self):
        server = self.start_server()
        agent = self.start_agent(server, pool="cpu")
        run_id, done1 = self.run_until_fault(server)
        self.kill_server(server)
        self.release(3)
        done3 = self.wait_marker("done3", run_id, server)
        # The server stayed down until the script wrote all of phase 3.
        self.assertFalse(server.process.alive())
        harness.log("phase 3 written while the server was down: stdout up to %d bytes, %s" % (
            done3["stdout_bytes"], {p: v["size"] for p, v in done3["files"].items()}))
        self.restart_server(server)
        self.assertTrue(agent.process.alive(), agent.process.tail())
        self.finish_and_check(run_id, server, "server restart", backlog=done3)

    # ------------------------------------------------------------------ b) path cut 20 s

    def test_agent_server_path_cut_20s_reset(self):
        """Every connection reset and every reconnect refused for 20 s."""
        self.cut_path("reset", 20)

    def test_agent_server_path_blackholed_20s(self):
        """Nothing flows for 20 s, nothing is closed (a partition)."""
        self.cut_path("blackhole", 20)

    @unittest.skipUnless(os.environ.get("RUNYARD_E2E_LONG_CUT"), "set RUNYARD_E2E_LONG_CUT=1 (takes ~2.5 min)")
    def test_agent_server_path_cut_longer_than_retry_budget(self):
        """A 75 s cut (leases long enough that the server does not give the run up)."""
        self.cut_path("reset", 75, lease_seconds=300, agent_lost_seconds=300)

    # ------------------------------------------------------------------ c) agent killed

    def test_agent_killed_and_restarted_keeps_outputs(self):
        """Phase 2 is written and the agent SIGKILLed as soon as the test sees it done: some
        of it may have been sent live, some not (timing decides)."""
        self.check_agent_killed("plain")

    def test_agent_killed_before_it_saw_the_last_outputs(self):
        """The agent is frozen (SIGSTOP) while the script writes phase 2, then SIGKILLed: it
        certainly never saw those outputs; the restarted agent must send them."""
        self.check_agent_killed("frozen")

    def test_agent_killed_while_cut_off_keeps_outputs_and_log(self):
        """The path is cut (reset) while the script writes phase 2 (stdout and outputs), then
        the agent is SIGKILLed: what phase 2 wrote is only on the node when the agent dies."""
        self.check_agent_killed("cut")

    def check_agent_killed(self, how):
        lease_seconds, agent_lost_seconds = 3, 3
        server = self.start_server(lease_seconds=lease_seconds, agent_lost_seconds=agent_lost_seconds)
        proxy = self.start_proxy(server) if how == "cut" else None
        agent = self.start_agent(proxy or server, pool="cpu")
        plan = [
            # Phase 1: written, then seen in run history before the kill.
            {"stdout_lines": 20000, "spread": 0.5, "files": [
                {"op": "append", "path": "early.bin", "bytes": 3 * MIB, "steps": 3},
                {"op": "rewrite_rename", "path": "early_rewritten.txt", "bytes": 100 * KIB},
                {"op": "rewrite_rename", "path": "early_grown.txt", "bytes": 50 * KIB},
                {"op": "append", "path": "early_same_size.txt", "bytes": 64 * KIB}]},
            # Phase 2: written right before the kill; while the agent is frozen (no stdout then:
            # a frozen agent does not drain the pipe, the script would block on it); or while
            # the path is cut (over 2.5 s: the agent scans outputs/ during the cut).
            {"stdout_lines": {"plain": 5000, "frozen": 0, "cut": 5000}[how],
             "spread": 2.5 if how == "cut" else 0, "batches": 5 if how == "cut" else 1,
             "files": [
                {"op": "append", "path": "early.bin", "bytes": 1 * MIB},
                {"op": "rewrite_rename", "path": "early_rewritten.txt", "bytes": 50 * KIB},  # smaller
                {"op": "rewrite_rename", "path": "early_grown.txt", "bytes": 80 * KIB},  # larger
                {"op": "rewrite_in_place", "path": "early_same_size.txt"},  # same size
                {"op": "append", "path": "late.bin", "bytes": 2 * MIB},
                {"op": "create_empty", "path": "late_empty.txt"}]},
            # Phase 3 never comes: the script waits for go3 until its run is stopped.
            {"stdout_lines": 1},
        ]
        run_id = self.submit_workload(server, plan)
        self.wait_for_status(run_id, "Running", server=server, timeout=60)
        done1 = self.wait_marker("done1", run_id, server)
        self.wait_server_has(run_id, server, dict(
            {"user_logs/std_log.txt": done1["stdout_bytes"]},
            **{"outputs/" + p: v["size"] for p, v in done1["files"].items()}),
            timeout=30, what="phase 1 in run history while the run runs")
        if how == "cut":
            proxy.cut("reset")
        elif how == "frozen":
            os.kill(agent.pid, signal.SIGSTOP)
            harness.log("agent %s (pid %d) frozen (SIGSTOP)" % (agent.name, agent.pid))
        self.release(2)
        done2 = self.wait_marker("done2", run_id, server)
        self.kill_agent(agent)
        killed_at_ms = time.time() * 1000
        if how == "cut":
            harness.log("killed while cut: proxy %s" % proxy.stats())
            proxy.restore()
        # Nothing more can arrive until the agent is restarted: what run history holds now
        # is what the killed agent had sent.
        at_kill = self.run_files(run_id, server=server)
        uploaded = set()
        at_kill_dir = self.make_dir("at-kill")
        for path, value in done2["files"].items():
            if at_kill.get("outputs/" + path) == value["size"]:
                target = self.download(run_id, "outputs/" + path, os.path.join(at_kill_dir, path.replace("/", "_")),
                                       server=server)
                if faults.sha256_file(target) == value["sha256"]:
                    uploaded.add(path)
        harness.log("agent killed; of the outputs the script had written, in run history at the kill "
                    "(by SHA-256): %s; not (or not as written): %s; std_log %s of %d bytes" % (
                        sorted(uploaded), sorted(set(done2["files"]) - uploaded),
                        at_kill.get("user_logs/std_log.txt"), done2["stdout_bytes"]))
        new_agent = self.restart_agent(agent)

        budget = lease_seconds + agent_lost_seconds
        run = self.wait_for_terminal(run_id, server=server, timeout=budget + 30)
        self.assertEqual(run["status"], "Failed", run)
        self.assertIsNotNone(run["error"], run)
        self.assertEqual(run["error"]["code"], "AgentLost", run)
        harness.log("error message: %s" % run["error"].get("message"))
        failed_after = (self.history_time(run, "Failed") - killed_at_ms) / 1000.0
        harness.log("Failed/AgentLost %.2f s after the kill (lease %d s + agent lost %d s)" % (
            failed_after, lease_seconds, agent_lost_seconds))
        # The lease may have been renewed just before the kill (or the cut); the reaper ticks
        # every second.
        self.assertLessEqual(failed_after, budget + 2.0,
                             "AgentLost came later than lease + agent-lost time (+2 s)")

        # The restarted agent stopped what the killed one left running.
        self.assert_no_process(self.marker, timeout=30)
        self.assertNotEqual(new_agent.agent_id, agent.agent_id)

        # Every outputs/ file written before the kill is in run history, byte for byte (the
        # restarted agent may be the one sending what the killed one had not): wait, bounded.
        expected = {"stdout_bytes": done2["stdout_bytes"], "stdout_sha256": done2["stdout_sha256"],
                    "stdout_lines": done2["stdout_lines"], "files": done2["files"]}
        last = {}

        def all_there():
            last["problems"] = self.check_everything_arrived(run_id, server, expected, "agent killed",
                                                             verbose="problems" not in last, phases=2)
            return not last["problems"]

        try:
            harness.wait_for(all_there, timeout=30, interval=1.0,
                             what="outputs written before the kill in run history")
        except harness.WaitTimeout:
            self.fail("after the agent was killed (uploaded at the kill: %s), not every byte written before "
                      "it arrived exactly once:\n  - %s%s" % (
                          sorted(uploaded), "\n  - ".join(last.get("problems", [])), self.describe_processes()))
        # And it stays Failed/AgentLost.
        self.assertEqual(self.status(run_id, server=server)["status"], "Failed")


# ----------------------------------------------------------------------------- diagnostics

LINE = re.compile(rb"^line (\d{8}) ")


def describe_stream_difference(want, got):
    """Says how the downloaded stdout differs from what the script wrote: size, first
    difference, and which numbered lines are missing, repeated or foreign."""
    offset = faults.first_difference(want, got)
    text = "downloaded %d bytes, the script wrote %d; first difference at byte %s" % (len(got), len(want), offset)
    numbers = []
    foreign = 0
    for raw in got.split(b"\n"):
        if not raw:
            continue
        m = LINE.match(raw)
        if m and raw + b"\n" == _generators["stdout_line"](int(m.group(1))):
            numbers.append(int(m.group(1)))
        else:
            foreign += 1
    total = len(want) // 100
    seen = set()
    duplicates = [n for n in numbers if n in seen or seen.add(n)]
    missing = sorted(set(range(total)) - seen)
    text += "; %d whole lines of %d, %d missing %s, %d repeated %s, %d broken/foreign" % (
        len(seen), total, len(missing), ranges(missing), len(duplicates), ranges(sorted(set(duplicates))), foreign)
    return text


def ranges(numbers, most=6):
    """[1,2,3,7] -> '[1-3, 7]' (at most `most` ranges shown)."""
    spans = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    shown = ", ".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in spans[:most])
    return "[%s%s]" % (shown, ", ..." if len(spans) > most else "")


if __name__ == "__main__":
    unittest.main()
