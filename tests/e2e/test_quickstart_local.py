"""Acceptance: the quickstart runs locally, its output is live, and its history is complete."""
import os
import re
import unittest

import harness
from harness import PYTHON, QUICKSTART_SPEC


class QuickstartLocalTest(harness.RunyardTestCase):

    def test_quickstart_runs_locally(self):
        rc, out, err = self.run_cli(["run", QUICKSTART_SPEC], timeout=300)
        self.assertEqual(rc, 0, "runyard run failed\nstdout:\n%s\nstderr:\n%s" % (out, err))

        # Every epoch printed, in order.
        epochs = [int(m.group(1)) for m in re.finditer(r"^epoch\s+(\d+)/40\b", out, re.M)]
        self.assertEqual(epochs, list(range(1, 41)), out)

        # The summary at the end: run id, Completed, and an Outputs: path holding the model.
        summary = re.search(r"\nRun (run-[0-9a-zA-Z]+) Completed \(exit code 0\)[^\n]*\n"
                            r"Outputs: ([^\n]+)\n", out)
        self.assertIsNotNone(summary, "no summary in stdout:\n" + out)
        run_id, outputs = summary.group(1), summary.group(2).strip()
        self.assertNotIn("epoch", out[summary.end():], "summary is not at the end")
        self.assertTrue(os.path.isdir(outputs), outputs)
        self.assertTrue(os.path.isfile(os.path.join(outputs, "model.npz")), os.listdir(outputs))
        self.assertGreater(os.path.getsize(os.path.join(outputs, "model.npz")), 0)

        run = self.status(run_id)
        self.assertEqual(run["run_id"], run_id)
        self.assertEqual(run["status"], "Completed")
        self.assertEqual(run["exit_code"], 0)
        self.assertIsNone(run["error"])
        self.assertEqual(run["target"], "local")

        files = {f["path"]: f["size"] for f in self.cli_json(["files", run_id])}
        for path in ("outputs/model.npz", "logs/metrics.csv", "user_logs/std_log.txt"):
            self.assertIn(path, files, files)
        self.assertEqual(files["outputs/model.npz"], os.path.getsize(os.path.join(outputs, "model.npz")))

        # `runyard logs` is exactly what `run` showed live, before its summary.
        logs = self.logs(run_id)
        self.assertIn("epoch  40/40", logs)
        self.assertEqual(out[:len(logs)], logs)
        self.assertEqual(out[len(logs):].lstrip("\n")[:4 + len(run_id)], "Run " + run_id)
        self.assertEqual(files["user_logs/std_log.txt"], len(logs.encode()))

        # metrics.csv has a header and 40 rows.
        rc, csv_text, err = self.run_cli(["download", run_id, "logs/metrics.csv", "-o",
                                          os.path.join(self.tmp, "metrics.csv")])
        self.assertEqual(rc, 0, err)
        with open(os.path.join(self.tmp, "metrics.csv")) as f:
            self.assertEqual(len(f.read().strip().splitlines()), 41)

    def test_output_is_live(self):
        """A line the script prints is shown by `runyard run` while the run is still Running."""
        source = self.source_dir("wait_for_file.py")
        release = self.latch()
        cli = self.popen_cli(["run", "--source-directory", source, "--script", "wait_for_file.py",
                              "--interpreter", PYTHON, "--", release])
        match = cli.wait_for_line(r"^ready (run-[0-9a-zA-Z]+)", timeout=120)
        run_id = match.group(1)
        # The script cannot end before its latch is released: it is Running now.
        run = self.status(run_id)
        self.assertEqual(run["status"], "Running")
        self.assertTrue(cli.alive())
        self.assertNotIn("released", cli.output())

        self.release_latch(release)
        rc = cli.proc.wait(timeout=120)
        cli.kill()  # joins the reader threads
        self.assertEqual(rc, 0, cli.output())
        self.assertIn("released", cli.stdout())
        self.assertTrue(cli.stdout().startswith(self.logs(run_id)), cli.output())
        self.assertEqual(self.status(run_id)["status"], "Completed")


if __name__ == "__main__":
    unittest.main()
