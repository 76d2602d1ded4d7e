"""The agent leaves nothing behind on its node: orphans of runs are reparented to it and reaped
(it is their child subreaper), and what an agent killed with SIGKILL left behind (processes,
cgroups) is cleaned up when an agent starts again on the same work dir.

Nothing sleeps for a guessed duration: scripts report pids and wait for release files, and the
test waits (bounded) on /proc for processes to appear, be reparented and disappear.
"""
import os
import re
import signal
import time
import unittest
import uuid

import harness
from harness import AGENT_BIN, PYTHON

# The main process forks a child that forks a grandchild and exits at once: the grandchild
# is an orphan. It waits until it has been reparented, reports its new parent, and exits
# when told to; the main process waits for the release file.
ORPHAN_SCRIPT = r'''
import os, sys, time
release, orphan_release = sys.argv[1], sys.argv[2]
r, w = os.pipe()
child = os.fork()
if child == 0:
    if os.fork() == 0:
        os.close(r)
        first_parent = os.getppid()
        while os.getppid() == first_parent:       # the middle process is exiting
            time.sleep(0.01)
        os.write(w, b"%d %d\n" % (os.getpid(), os.getppid()))
        os.close(w)
        while not os.path.exists(orphan_release):
            time.sleep(0.02)
        os._exit(0)
    os._exit(0)
os.close(w)
os.waitpid(child, 0)
with os.fdopen(r) as f:
    pid, parent = f.readline().split()
print("orphan", pid, "parent", parent, flush=True)
while not os.path.exists(release):
    time.sleep(0.02)
print("released", flush=True)
'''

# Leaves a setsid'd, double-forked grandchild that ignores SIGTERM and sleeps, then sleeps.
ESCAPE_SCRIPT = r'''
import os, signal, sys, time
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
    time.sleep(3600)
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
        release = os.path.join(self.tmp, "release")
        orphan_release = os.path.join(self.tmp, "orphan-release")
        run_id = self.submit_script("orphan.py", agent.pool, [release, orphan_release])
        self.wait_for_log(run_id, "orphan ", server=self.server)
        match = re.search(r"orphan (\d+) parent (\d+)", self.logs(run_id, server=self.server))
        orphan, parent = int(match.group(1)), int(match.group(2))
        self.assertEqual(parent, agent.process.pid, "the orphan went to %d, not to the agent (%d)" % (
            parent, agent.process.pid))
        # It exits while the run goes on: the agent reaps it (no zombie stays behind).
        open(orphan_release, "w").close()
        harness.wait_for(lambda: not process_exists(orphan), timeout=30,
                         what="orphan %d reaped by the agent" % orphan,
                         describe=lambda: "state of %d: %s" % (orphan, harness.process_state(orphan)))
        self.assertEqual(self.status(run_id, server=self.server)["status"], "Running")
        open(release, "w").close()
        run = self.wait_for_terminal(run_id, server=self.server)
        self.assertEqual(run["status"], "Completed", run)


if __name__ == "__main__":
    unittest.main()
