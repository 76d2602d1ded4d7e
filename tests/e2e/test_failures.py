"""Acceptance: a failing script fails the run with UserError; a missing script is refused up front."""
import unittest

import harness
from harness import PYTHON


class FailuresTest(harness.RunyardTestCase):

    def _check_exit_3(self, server=None, target="local"):
        source = self.source_dir("exit_code.py")
        rc, out, err = self.run_cli(["run", "--source-directory", source, "--script", "exit_code.py",
                                     "--interpreter", PYTHON, "--target", target, "--", "3"], server=server)
        self.assertNotEqual(rc, 0, "a failed run must make `runyard run` fail\n%s\n%s" % (out, err))
        self.assertIn("exiting with 3", out)
        run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("Run run-"))
        run = self.status(run_id, server=server)
        self.assertEqual(run["status"], "Failed", run)
        self.assertEqual(run["exit_code"], 3, run)
        self.assertIsNotNone(run["error"], run)
        self.assertEqual(run["error"]["code"], "UserError", run)
        self.assertIn("3", run["error"]["message"])
        self.assertEqual(self.history_statuses(run)[-1], "Failed")

    def test_exit_code_local(self):
        self._check_exit_3()

    def test_exit_code_remote(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        self._check_exit_3(server=server, target="cpu")

    def _check_missing_script(self, server=None, target="local"):
        source = self.source_dir("hello.py")
        before = len(self.list_runs(server=server))
        for args in (["submit"], ["submit", "--wait"], ["run"]):
            rc, out, err = self.run_cli(args + ["--source-directory", source, "--script", "missing.py",
                                                "--interpreter", PYTHON, "--target", target], server=server)
            self.assertNotEqual(rc, 0, "%s: %s %s" % (args, out, err))
            self.assertEqual(rc, 2, "bad input should exit 2: %s" % err)
            self.assertIn("script", err)
            self.assertIn("missing.py", err)
            self.assertNotIn("submitted", err)
        self.assertEqual(len(self.list_runs(server=server)), before, "a refused submit left a run behind")

    def test_missing_script_local(self):
        self._check_missing_script()

    def test_missing_script_remote(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        self._check_missing_script(server=server, target="cpu")


if __name__ == "__main__":
    unittest.main()
