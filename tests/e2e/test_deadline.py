"""Acceptance: max_run_duration_seconds stops a run that ignores SIGTERM, its children included."""
import unittest

import harness
from harness import PYTHON

MAX_SECONDS = 2
GRACE_SECONDS = 2
SLACK_SECONDS = 2


class DeadlineTest(harness.RunyardTestCase):

    def _check_deadline(self, server=None, target="local"):
        source = self.source_dir("sleeper.py")
        marker = self.new_marker()
        args = ["run", "--source-directory", source, "--script", "sleeper.py", "--interpreter", PYTHON,
                "--target", target, "--max-run-duration-seconds", str(MAX_SECONDS),
                "-e", "%s=%s" % (harness.MARKER_VAR, marker)]
        if server is None:
            args += ["--kill-grace-seconds", str(GRACE_SECONDS)]
        rc, out, err = self.run_cli(args + ["--", "trap"], server=server, timeout=120)
        self.assertNotEqual(rc, 0, "a run stopped at its deadline did not complete\n%s\n%s" % (out, err))
        run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("Run run-"))

        run = self.status(run_id, server=server)
        self.assertEqual(run["status"], "Canceled", run)
        self.assertIsNotNone(run["error"], run)
        self.assertEqual(run["error"]["code"], "MaxRunDurationExceeded", run)

        logs = self.logs(run_id, server=server)
        self.assertIn("ready", logs)
        self.assertIn("got SIGTERM, ignoring it", logs, "the script never saw SIGTERM")
        self.assertNotIn("slept 60 s", logs)

        running = self.history_time(run, "Running")
        ended = self.history_time(run, "Canceled", last=True)
        elapsed = (ended - running) / 1000.0
        harness.log("%s: Running -> Canceled in %.3f s (deadline %d s + grace %d s)"
                    % (target, elapsed, MAX_SECONDS, GRACE_SECONDS))
        self.assertGreaterEqual(elapsed, MAX_SECONDS - 0.5, "stopped before its deadline")
        self.assertLess(elapsed, MAX_SECONDS + GRACE_SECONDS + SLACK_SECONDS, run["history"])

        # Neither the script (which ignored SIGTERM) nor its `sleep 60` child is left.
        self.assert_no_process(marker)

    def test_deadline_local(self):
        self._check_deadline()

    def test_deadline_remote(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu", kill_grace_seconds=GRACE_SECONDS)
        self._check_deadline(server=server, target="cpu")


if __name__ == "__main__":
    unittest.main()
