"""Acceptance: `runyard cancel` stops a running run and its whole process tree, remote and local."""
import unittest

import harness
from harness import PYTHON


class CancelTest(harness.RunyardTestCase):

    def _check_cancel(self, server=None, target="local"):
        source = self.source_dir("sleeper.py")
        marker = self.new_marker()
        args = ["--source-directory", source, "--script", "sleeper.py", "--interpreter", PYTHON,
                "--target", target, "-e", "%s=%s" % (harness.MARKER_VAR, marker)]
        if server is None:
            args += ["--kill-grace-seconds", "2"]
        submitted = self.submit(args, server=server)
        run_id = submitted["run_id"]

        self.wait_for_status(run_id, "Running", server=server, timeout=60)
        self.wait_for_log(run_id, "ready", server=server)
        # The script and its child sleep are there before the cancel.
        self.assertGreaterEqual(len(harness.find_processes(marker)), 2, harness.find_processes(marker))

        rc, out, err = self.run_cli(["cancel", run_id], server=server)
        self.assertEqual(rc, 0, err)
        self.assertIn(run_id, out)

        run = self.wait_for_terminal(run_id, server=server, timeout=60)
        self.assertEqual(run["status"], "Canceled", run)
        self.assertIsNotNone(run["error"], run)
        self.assertEqual(run["error"]["code"], "Canceled", run)
        statuses = self.history_statuses(run)
        self.assertIn("CancelRequested", statuses)
        self.assertLess(statuses.index("CancelRequested"), statuses.index("Canceled"))
        harness.log("%s: cancel took %d ms from CancelRequested to Canceled" % (
            target, self.history_time(run, "Canceled") - self.history_time(run, "CancelRequested")))
        self.assert_no_process(marker)

        # Canceling again is harmless and changes nothing.
        rc, _, err = self.run_cli(["cancel", run_id], server=server)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.status(run_id, server=server)["status"], "Canceled")

    def test_cancel_remote(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu", kill_grace_seconds=2)
        self._check_cancel(server=server, target="cpu")

    def test_cancel_local_background(self):
        # Without --wait a local run executes in a background `runyard _exec-local` process.
        self._check_cancel()


if __name__ == "__main__":
    unittest.main()
