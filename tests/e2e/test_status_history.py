"""Acceptance: a completed remote run's history lists its statuses in order, with times."""
import datetime
import re
import unittest

import harness
from harness import PYTHON

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class StatusHistoryTest(harness.RunyardTestCase):

    def _check_history(self, run):
        history = run["history"]
        statuses = [event["status"] for event in history]
        # Only the expected statuses, in the expected order (NotStarted first and Starting
        # between Preparing and Running are allowed).
        lifecycle = [s for s in statuses if s not in ("NotStarted", "Starting")]
        self.assertEqual(lifecycle, ["Queued", "Preparing", "Running", "Finalizing", "Completed"], statuses)
        if "Starting" in statuses:
            self.assertLess(statuses.index("Preparing"), statuses.index("Starting"))
            self.assertLess(statuses.index("Starting"), statuses.index("Running"))
        if "NotStarted" in statuses:
            self.assertEqual(statuses.index("NotStarted"), 0)
        self.assertEqual(run["status"], statuses[-1])

        previous = None
        for event in history:
            self.assertRegex(event["time"], ISO)
            self.assertIsInstance(event["time_unix_ms"], int)
            # The ISO time and time_unix_ms are the same instant.
            parsed = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
            self.assertAlmostEqual(parsed.timestamp() * 1000, event["time_unix_ms"], delta=1)
            if previous is not None:
                self.assertGreaterEqual(event["time_unix_ms"], previous, history)
            previous = event["time_unix_ms"]

    def test_remote_history(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        source = self.source_dir("hello.py")
        rc, out, err = self.run_cli(["run", "--source-directory", source, "--script", "hello.py",
                                     "--interpreter", PYTHON, "--target", "cpu"], server=server)
        self.assertEqual(rc, 0, out + err)
        run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("Run run-"))
        run = self.status(run_id, server=server)
        self.assertEqual(run["status"], "Completed")
        self._check_history(run)
        # The status changes shown on stderr during the wait follow the same order.
        shown = re.findall(r"^runyard: %s (\w+)$" % run_id, err, re.M)
        self.assertEqual(shown[-1], "Completed", err)
        order = [s for s in shown if s in ("Preparing", "Running", "Finalizing", "Completed")]
        self.assertEqual(order, sorted(order, key=["Preparing", "Running", "Finalizing", "Completed"].index), err)

    def test_local_history(self):
        source = self.source_dir("hello.py")
        rc, out, err = self.run_cli(["run", "--source-directory", source, "--script", "hello.py",
                                     "--interpreter", PYTHON])
        self.assertEqual(rc, 0, out + err)
        run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("Run run-"))
        self._check_history(self.status(run_id))


if __name__ == "__main__":
    unittest.main()
