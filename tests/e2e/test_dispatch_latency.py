"""Acceptance: an idle agent picks up a run quickly, and idle processes do not spin."""
import time
import unittest

import harness
from harness import PYTHON

MAX_DISPATCH_MS = 1000
IDLE_WINDOW_SECONDS = 3.0
MAX_IDLE_TICKS = 5  # clock ticks of utime+stime over the window (about 50 ms at 100 Hz)


class DispatchLatencyTest(harness.RunyardTestCase):

    def test_queued_to_running_is_fast(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        source = self.source_dir("hello.py")
        # The first run right after registration, the second once the agent is idle again
        # (back in its long poll).
        for attempt in ("first", "second"):
            submitted = self.submit(["--source-directory", source, "--script", "hello.py",
                                     "--interpreter", PYTHON, "--target", "cpu"], server=server)
            run = self.wait_for_terminal(submitted["run_id"], server=server, timeout=60)
            self.assertEqual(run["status"], "Completed", run)
            statuses = self.history_statuses(run)
            self.assertIn("Queued", statuses)
            self.assertIn("Running", statuses)
            latency = self.history_time(run, "Running") - self.history_time(run, "Queued", last=True)
            harness.log("dispatch latency (%s run) Queued -> Running: %d ms (history %s)" % (
                attempt, latency, [(e["status"], e["time_unix_ms"]) for e in run["history"]]))
            self.assertLess(latency, MAX_DISPATCH_MS)

    def test_idle_cpu(self):
        server = self.start_server()
        agent = self.start_agent(server, pool="cpu")
        ticks = {}
        start = {"server": harness.cpu_ticks(server.pid), "agent": harness.cpu_ticks(agent.pid)}
        began = time.monotonic()
        time.sleep(IDLE_WINDOW_SECONDS)  # the measurement window itself, not a wait for an event
        window = time.monotonic() - began
        ticks["server"] = harness.cpu_ticks(server.pid) - start["server"]
        ticks["agent"] = harness.cpu_ticks(agent.pid) - start["agent"]
        self.assertTrue(server.process.alive() and agent.process.alive())
        harness.log("idle CPU over %.2f s: server %d ticks, agent %d ticks (%d ticks/s)" % (
            window, ticks["server"], ticks["agent"], harness.CLK_TCK))
        for name, used in ticks.items():
            self.assertLess(used, MAX_IDLE_TICKS, "%s used %d clock ticks while idle" % (name, used))


if __name__ == "__main__":
    unittest.main()
