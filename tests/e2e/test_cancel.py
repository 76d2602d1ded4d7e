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

    def test_cancel_queued_remote(self):
        """A run canceled while Queued (its pool busy) ends Canceled and never starts."""
        server = self.start_server()
        self.start_agent(server, pool="cpu", slots=1)
        source = self.source_dir("wait_for_file.py", "hello.py")
        release = self.latch()
        blocker = self.submit(["--source-directory", source, "--script", "wait_for_file.py",
                               "--interpreter", PYTHON, "--target", "cpu", "--", release], server=server)
        self.wait_for_status(blocker["run_id"], "Running", server=server)
        marker = self.new_marker()
        queued = self.submit(["--source-directory", source, "--script", "hello.py", "--interpreter", PYTHON,
                              "--target", "cpu", "-e", "%s=%s" % (harness.MARKER_VAR, marker)], server=server)
        self.assertEqual(queued["status"], "Queued", queued)
        rc, _, err = self.run_cli(["cancel", queued["run_id"]], server=server)
        self.assertEqual(rc, 0, err)
        run = self.wait_for_terminal(queued["run_id"], server=server, timeout=30)
        self.assertEqual(run["status"], "Canceled", run)
        self.assertEqual(run["error"]["code"], "Canceled", run)

        self.release_latch(release)
        self.assertEqual(self.wait_for_terminal(blocker["run_id"], server=server)["status"], "Completed")
        # The freed slot must not pick the canceled run up: a third run goes through, and the
        # canceled one still never ran.
        third = self.submit(["--source-directory", source, "--script", "hello.py", "--interpreter", PYTHON,
                             "--target", "cpu"], server=server)
        self.assertEqual(self.wait_for_terminal(third["run_id"], server=server)["status"], "Completed")
        run = self.status(queued["run_id"], server=server)
        self.assertEqual(run["status"], "Canceled", run)
        self.assertNotIn("Running", self.history_statuses(run))
        self.assertNotIn("Preparing", self.history_statuses(run))
        self.assertEqual(self.logs(queued["run_id"], server=server), "")

    def _check_children_die_with_run(self, server=None, target="local"):
        source = self.source_dir("leave_child.py")
        marker = self.new_marker()
        rc, out, err = self.run_cli(["run", "--source-directory", source, "--script", "leave_child.py",
                                     "--interpreter", PYTHON, "--target", target,
                                     "-e", "%s=%s" % (harness.MARKER_VAR, marker)], server=server)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("left child", out)
        self.assert_no_process(marker)

    def test_children_die_with_completed_run_local(self):
        self._check_children_die_with_run()

    def test_children_die_with_completed_run_remote(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        self._check_children_die_with_run(server=server, target="cpu")


if __name__ == "__main__":
    unittest.main()
