"""The agent leaves nothing behind on its node: orphans of runs are reparented to it and reaped
(it is their child subreaper), and what an agent killed with SIGKILL left behind (processes,
cgroups) is cleaned up when an agent starts again on the same work dir.

Nothing sleeps for a guessed duration: scripts report pids and wait on latches, and the
test waits (bounded) on /proc for processes to appear, be reparented and disappear.
"""
import os
import re
import signal
import unittest
import uuid

import harness
from harness import AGENT_BIN, PYTHON

# The main process forks a child that forks a grandchild and exits at once: the grandchild
# is an orphan. Once the main process has reaped the child (so the orphan has been
# reparented) it tells the orphan, which reports its new parent and exits when its latch is
# released; the main process waits for its own latch.
ORPHAN_SCRIPT = harness.LATCH_WAITER + r'''
import os, sys
release, orphan_release = sys.argv[1], sys.argv[2]
report_r, report_w = os.pipe()
reaped_r, reaped_w = os.pipe()
child = os.fork()
if child == 0:
    if os.fork() == 0:
        os.close(report_r)
        os.close(reaped_w)
        os.read(reaped_r, 1)                      # the middle process is reaped: reparented
        os.write(report_w, b"%d %d\n" % (os.getpid(), os.getppid()))
        os.close(report_w)
        wait_for_latch(orphan_release, 300)
        os._exit(0)
    os._exit(0)
os.close(report_w)
os.close(reaped_r)
os.waitpid(child, 0)                              # returns once the child's orphans are moved
os.write(reaped_w, b"x")
os.close(reaped_w)
with os.fdopen(report_r) as f:
    pid, parent = f.readline().split()
print("orphan", pid, "parent", parent, flush=True)
if not wait_for_latch(release, 300):
    sys.exit("never released")
print("released", flush=True)
'''

# Leaves a setsid'd, double-forked grandchild that ignores SIGTERM and sleeps, then sleeps.
ESCAPE_SCRIPT = r'''
import os, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, b"%d\n" % os.getpid())
        os.execvp("sleep", ["sleep", "300"])
    os._exit(0)
os.close(w)
with os.fdopen(r) as f:
    grandchild = f.readline().strip()
print("ready", os.getpid(), grandchild, flush=True)
while True:
    signal.pause()                                # until killed (SIGTERM is ignored)
'''


def process_parent(pid):
    """The parent pid of `pid`, or None once it is gone (a zombie still has one)."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[1])


def process_exists(pid):
    return os.path.exists("/proc/%s" % pid)


class AgentHygieneTest(harness.RunyardTestCase):

    def setUp(self):
        super().setUp()
        self.server = self.start_server()
        self.source = self.make_dir("src")
        for name, text in (("orphan.py", ORPHAN_SCRIPT), ("escape.py", ESCAPE_SCRIPT)):
            with open(os.path.join(self.source, name), "w") as f:
                f.write(text)

    def submit_script(self, script, pool, args=(), marker=None):
        extra = ["-e", "%s=%s" % (harness.MARKER_VAR, marker)] if marker else []
        return self.submit(["--source-directory", self.source, "--script", script, "--interpreter", PYTHON,
                            "--target", pool] + extra + ["--"] + list(args), server=self.server)["run_id"]

    def test_orphans_come_to_the_agent_and_are_reaped(self):
        agent = self.start_agent(self.server, pool="orphans-" + uuid.uuid4().hex[:6])
        release = self.latch()
        orphan_release = self.latch()
        run_id = self.submit_script("orphan.py", agent.pool, [release, orphan_release])
        self.wait_for_log(run_id, "orphan ", server=self.server)
        match = re.search(r"orphan (\d+) parent (\d+)", self.logs(run_id, server=self.server))
        orphan, parent = int(match.group(1)), int(match.group(2))
        self.assertEqual(parent, agent.process.pid, "the orphan went to %d, not to the agent (%d)" % (
            parent, agent.process.pid))
        # It exits while the run goes on: the agent reaps it (no zombie stays behind).
        self.release_latch(orphan_release)
        harness.wait_for(lambda: not process_exists(orphan), timeout=30,
                         what="orphan %d reaped by the agent" % orphan,
                         describe=lambda: "state of %d: %s" % (orphan, harness.process_state(orphan)))
        self.assertEqual(self.status(run_id, server=self.server)["status"], "Running")
        self.release_latch(release)
        run = self.wait_for_terminal(run_id, server=self.server)
        self.assertEqual(run["status"], "Completed", run)

    def start_agent_on(self, work_dir, pool, mode):
        name = "hy-" + uuid.uuid4().hex[:6]
        argv = [AGENT_BIN, "--server", self.server.address, "--pool", pool, "--work-dir", work_dir,
                "--name", name, "--kill-grace-seconds", "1", "--cgroup-mode", mode] + self.agent_security_args(self.server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, pool, work_dir)
        self.agents.append(agent)
        agent.agent_id = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)").group(1)
        return agent

    def test_leftovers_of_a_killed_agent_are_cleaned_up_at_its_next_start(self):
        """SIGKILL the agent while a run (with a setsid'd, double-forked grandchild that ignores
        SIGTERM) runs: its processes survive the agent; the next agent on the same work dir
        kills them and removes the run's cgroups before it takes new work. In each mode."""
        for mode in ("v2", "v1", "none"):
            with self.subTest(mode=mode):
                work_dir = self.make_dir("work-" + mode)
                pool = "hygiene-%s-%s" % (mode, uuid.uuid4().hex[:6])
                agent = self.start_agent_on(work_dir, pool, mode)
                marker = self.new_marker()
                run_id = self.submit_script("escape.py", pool, marker=marker)
                self.wait_for_log(run_id, "ready", server=self.server)
                main_pid, grandchild = map(int, re.search(r"ready (\d+) (\d+)",
                                                          self.logs(run_id, server=self.server)).groups())
                with open("/proc/%d/cgroup" % main_pid) as f:
                    cgroups = [line.split(":", 2)[2] for line in f.read().splitlines()
                               if line.split(":", 2)[2].endswith("/" + run_id)]
                agent.process.proc.send_signal(signal.SIGKILL)
                agent.process.kill()
                # The run outlived its agent.
                self.assertTrue(process_exists(main_pid) and process_exists(grandchild))

                self.start_agent_on(work_dir, pool, mode)
                for pid in (main_pid, grandchild):
                    harness.wait_for(lambda: not process_exists(pid), timeout=30,
                                     what="%s: process %d of %s killed by the next agent" % (mode, pid, run_id))
                self.assertEqual(harness.find_processes(marker), [])
                if mode != "none":
                    self.assertTrue(cgroups, "the run had no cgroup of its own in mode %s" % mode)
                for relative in cgroups:
                    leftovers = [os.path.join(root, relative.lstrip("/")) for root in cgroup_roots()]
                    self.assertEqual([path for path in leftovers if os.path.isdir(path)], [],
                                     "%s: cgroup of %s left behind" % (mode, run_id))
                self.assertEqual(os.listdir(os.path.join(work_dir, "state", "runs")), [])


def cgroup_roots():
    """Mount points of every cgroup hierarchy (v1 controllers and the v2 one)."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            if after.split()[0] in ("cgroup", "cgroup2"):
                roots.append(before.split()[4])
    return roots


if __name__ == "__main__":
    unittest.main()
