"""Acceptance: runs on a pool of two agents; downloads are byte-exact; runs spread over agents."""
import filecmp
import os
import unittest

import harness
from harness import PYTHON, QUICKSTART_SPEC


class RemotePoolTest(harness.RunyardTestCase):

    def setUp(self):
        super().setUp()
        self.server = self.start_server()
        self.agent_a = self.start_agent(self.server, pool="cpu", name="a")
        self.agent_b = self.start_agent(self.server, pool="cpu", name="b")
        self.agents_by_id = {a.agent_id: a for a in (self.agent_a, self.agent_b)}

    def test_quickstart_on_pool_and_download(self):
        rc, out, err = self.run_cli(["run", QUICKSTART_SPEC, "--target", "cpu"], server=self.server, timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s%s" % (out, err, self.describe_processes()))
        self.assertIn("epoch  40/40", out)
        run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("Run run-"))

        run = self.status(run_id, server=self.server)
        self.assertEqual(run["status"], "Completed")
        self.assertEqual(run["exit_code"], 0)
        self.assertEqual(run["target"], "cpu")
        self.assertIn(run["agent_id"], self.agents_by_id)
        agent = self.agents_by_id[run["agent_id"]]
        wd = os.path.join(agent.run_dir(run_id), "wd")

        files = {f["path"]: f["size"] for f in self.cli_json(["files", run_id], server=self.server)}
        for path in ("outputs/model.npz", "logs/metrics.csv", "user_logs/std_log.txt"):
            self.assertIn(path, files, files)
        self.assertEqual(files["outputs/model.npz"], os.path.getsize(os.path.join(wd, "outputs", "model.npz")))

        # One file to a given name.
        model = os.path.join(self.tmp, "downloaded-model.npz")
        rc, _, err = self.run_cli(["download", run_id, "outputs/model.npz", "-o", model], server=self.server)
        self.assertEqual(rc, 0, err)
        self.assertTrue(filecmp.cmp(model, os.path.join(wd, "outputs", "model.npz"), shallow=False))

        # A folder into a directory.
        into = os.path.join(self.tmp, "dl")
        rc, _, err = self.run_cli(["download", run_id, "logs/", "-o", into], server=self.server)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(os.listdir(os.path.join(into, "logs"))), ["metrics.csv"])
        self.assertTrue(filecmp.cmp(os.path.join(into, "logs", "metrics.csv"),
                                    os.path.join(wd, "logs", "metrics.csv"), shallow=False))

        # The log in history is the agent's std_log, byte for byte.
        with open(os.path.join(agent.run_dir(run_id), "user_logs", "std_log.txt")) as f:
            self.assertEqual(self.logs(run_id, server=self.server), f.read())

    def test_two_runs_at_once_use_both_agents(self):
        source = self.source_dir("wait_for_file.py")
        release = self.latch()
        markers = [self.new_marker(), self.new_marker()]
        run_ids = []
        for marker in markers:
            submitted = self.submit(["--source-directory", source, "--script", "wait_for_file.py",
                                     "--interpreter", PYTHON, "--target", "cpu",
                                     "-e", "%s=%s" % (harness.MARKER_VAR, marker), "--", release],
                                    server=self.server)
            self.assertIn(submitted["status"], ("Queued", "Preparing", "Starting", "Running"))
            run_ids.append(submitted["run_id"])

        runs = [self.wait_for_status(r, "Running", server=self.server, timeout=60) for r in run_ids]
        # Both scripts block until their latch is released, so they are running at the same time.
        for run_id in run_ids:
            self.wait_for_log(run_id, "ready " + run_id, server=self.server)
        agent_ids = [run["agent_id"] for run in runs]
        self.assertNotEqual(agent_ids[0], agent_ids[1])
        self.assertEqual(set(agent_ids), set(self.agents_by_id))

        self.release_latch(release)
        for run_id in run_ids:
            run = self.wait_for_terminal(run_id, server=self.server)
            self.assertEqual(run["status"], "Completed", run)
            self.assertIn("released", self.logs(run_id, server=self.server))
        for marker in markers:
            self.assert_no_process(marker)

    def test_remote_output_is_live(self):
        """`runyard run --target POOL` shows output while the run is still Running."""
        source = self.source_dir("ticker.py")
        release = os.path.join(self.tmp, "release")
        cli = self.popen_cli(["run", "--source-directory", source, "--script", "ticker.py",
                              "--interpreter", PYTHON, "--target", "cpu", "--", release], server=self.server)
        cli.wait_for_line(r"^tick 3$", timeout=120)
        run_id = cli.wait_for_line(r"runyard: submitted (run-[0-9a-zA-Z]+)", timeout=5).group(1)
        self.assertEqual(self.status(run_id, server=self.server)["status"], "Running")
        self.assertTrue(cli.alive())

        # `logs -f` follows the same run live too, and ends when the run ends.
        follower = self.popen_cli(["logs", "-f", run_id], server=self.server)
        follower.wait_for_line(r"^tick 0$", timeout=60)
        with open(release, "w") as f:
            f.write("go\n")
        self.assertEqual(cli.proc.wait(timeout=120), 0, cli.output())
        self.assertEqual(follower.proc.wait(timeout=60), 0, follower.output())
        cli.kill()
        follower.kill()
        logs = self.logs(run_id, server=self.server)
        self.assertIn("done after", logs)
        self.assertEqual(follower.stdout(), logs)
        self.assertTrue(cli.stdout().startswith(logs), cli.output())


if __name__ == "__main__":
    unittest.main()
