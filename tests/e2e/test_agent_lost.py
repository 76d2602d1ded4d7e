"""Acceptance: a run whose agent dies becomes NotResponding, then Failed with AgentLost."""
import os
import signal
import unittest

import harness
from harness import PYTHON


class AgentLostTest(harness.RunyardTestCase):

    def test_killed_agent_fails_its_run(self):
        server = self.start_server(lease_seconds=2, agent_lost_seconds=2)
        agent = self.start_agent(server, pool="cpu")
        source = self.source_dir("sleeper.py")
        marker = self.new_marker()
        submitted = self.submit(["--source-directory", source, "--script", "sleeper.py",
                                 "--interpreter", PYTHON, "--target", "cpu",
                                 "-e", "%s=%s" % (harness.MARKER_VAR, marker)], server=server)
        run_id = submitted["run_id"]
        run = self.wait_for_status(run_id, "Running", server=server, timeout=60)
        self.assertEqual(run["agent_id"], agent.agent_id)
        self.wait_for_log(run_id, "ready", server=server)

        os.kill(agent.pid, signal.SIGKILL)
        agent.process.kill()  # reaps it

        # NotResponding lasts about --agent-lost-seconds: watch for it, but rely on the
        # history (a slow poll on a loaded machine may miss the live status).
        seen = self.wait_for_status(run_id, {"NotResponding"} | harness.TERMINAL, server=server,
                                    timeout=30, interval=0.1)
        harness.log("status seen after the agent was killed: %s" % seen["status"])
        run = self.wait_for_terminal(run_id, server=server, timeout=30)
        self.assertEqual(run["status"], "Failed", run)
        self.assertIsNotNone(run["error"], run)
        self.assertEqual(run["error"]["code"], "AgentLost", run)
        self.assertIn(agent.agent_id, run["error"]["message"])
        statuses = self.history_statuses(run)
        self.assertLess(statuses.index("Running"), statuses.index("NotResponding"))
        self.assertLess(statuses.index("NotResponding"), statuses.index("Failed"))
        lost_after = (self.history_time(run, "Failed") - self.history_time(run, "NotResponding")) / 1000.0
        harness.log("NotResponding -> Failed/AgentLost after %.3f s" % lost_after)
        self.assertGreaterEqual(lost_after, 1.5, "AgentLost before --agent-lost-seconds passed")

        # The run's processes outlive a SIGKILLed agent (process-group mode does not reap
        # them yet): clean them up by marker.
        orphans = harness.kill_processes(marker)
        if orphans:
            harness.log("killed %d orphaned process(es) of the lost run" % len(orphans))
        self.assert_no_process(marker)

        # The lost run stays Failed.
        self.assertEqual(self.status(run_id, server=server)["status"], "Failed")


if __name__ == "__main__":
    unittest.main()
