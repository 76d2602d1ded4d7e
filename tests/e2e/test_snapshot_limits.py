"""Snapshot size limits: an over-limit submit is refused before anything is uploaded or queued."""
import json
import os
import textwrap
import unittest

import harness
from harness import PYTHON


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def count_files(root):
    return sum(len(files) for _, _, files in os.walk(root)) if os.path.isdir(root) else 0


class SnapshotLimitsTest(harness.RunyardTestCase):

    def test_server_limits_refuse_before_upload(self):
        server = self.start_server_with_limits(max_mb=1, max_files=5)
        self.start_agent(server, pool="cpu")
        src = self.make_dir("src")
        write_file(os.path.join(src, "big", "huge.bin"), os.urandom(800_000))
        write_file(os.path.join(src, "big", "second.bin"), os.urandom(300_000))
        for name in ("a", "b", "c"):
            write_file(os.path.join(src, "small", name + ".txt"), name * 1000)
        write_file(os.path.join(src, "hello.py"), textwrap.dedent(harness.SCRIPTS["hello.py"]).lstrip())
        args = ["submit", "--json", "--source-directory", src, "--script", "hello.py", "--interpreter", PYTHON,
                "--target", "cpu"]
        blobs_dir = os.path.join(server.data_dir, "blobs")
        runs_before = self.list_runs(server=server)
        blobs_before = count_files(blobs_dir)

        rc, out, err = self.run_cli(args, server=server)
        self.assertEqual(rc, 2, "stdout:\n%s\nstderr:\n%s" % (out, err))
        self.assertEqual(out.strip(), "", "nothing on stdout for a refused submit")
        self.assertTrue("1.0 MB" in err or "5 files" in err, err)
        self.assertIn("big/huge.bin", err)          # the largest file
        self.assertIn("big/", err.replace("big/huge.bin", "").replace("big/second.bin", ""))  # its folder
        self.assertIn("--max-snapshot-mb", err)
        # Largest file first.
        self.assertLess(err.index("big/huge.bin"), err.index("big/second.bin"), err)
        self.assertEqual(self.list_runs(server=server), runs_before)
        self.assertEqual(count_files(blobs_dir), blobs_before, "blobs were uploaded by a refused submit")

        # `snapshot upload` obeys the same limits.
        rc, out, err = self.run_cli(["snapshot", "upload", "--source-directory", src, "--target", "cpu"],
                                    server=server)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("big/huge.bin", err)
        self.assertEqual(count_files(blobs_dir), blobs_before)

        # Raised on the command line: accepted, and it runs.
        rc, out, err = self.run_cli(args + ["--max-snapshot-mb", "50", "--max-snapshot-files", "100"], server=server)
        self.assertEqual(rc, 0, out + err)
        submitted = json.loads(out)
        self.assertEqual(submitted["snapshot"]["files"], 6)
        run = self.wait_for_terminal(submitted["run_id"], server=server, timeout=180)
        self.assertEqual(run["status"], "Completed", run)
        self.assertIn("hello from runyard", self.logs(submitted["run_id"], server=server))
        self.assertEqual(len(self.list_runs(server=server)), len(runs_before) + 1)
        self.assertGreater(count_files(blobs_dir), blobs_before)

    def test_local_default_file_limit(self):
        src = self.make_dir("many")
        for index in range(2000):
            write_file(os.path.join(src, "d%d" % (index % 4), "f%04d.txt" % index), "%d\n" % index)
        write_file(os.path.join(src, "hello.py"), textwrap.dedent(harness.SCRIPTS["hello.py"]).lstrip())
        args = ["submit", "--json", "--source-directory", src, "--script", "hello.py", "--interpreter", PYTHON]
        local_blobs = os.path.join(self.home, "blobs")
        runs_before = self.list_runs()
        blobs_before = count_files(local_blobs)

        rc, out, err = self.run_cli(args)
        self.assertEqual(rc, 2, "stdout:\n%s\nstderr:\n%s" % (out, err))
        self.assertIn("2001 files", err)
        self.assertIn("2000 files", err)
        self.assertIn("--max-snapshot-files", err)
        self.assertEqual(self.list_runs(), runs_before)
        self.assertEqual(count_files(local_blobs), blobs_before)

        rc, out, err = self.run_cli(args + ["--max-snapshot-files", "3000"])
        self.assertEqual(rc, 0, out + err)
        submitted = json.loads(out)
        self.assertEqual(submitted["snapshot"]["files"], 2001)
        run = self.wait_for_terminal(submitted["run_id"], timeout=180)
        self.assertEqual(run["status"], "Completed", run)
        self.assertIn("hello from runyard", self.logs(submitted["run_id"]))

    def start_server_with_limits(self, max_mb, max_files):
        """harness.start_server with --max-snapshot-mb/--max-snapshot-files (not harness parameters)."""
        return self.start_server(extra_args=["--max-snapshot-mb", str(max_mb),
                                             "--max-snapshot-files", str(max_files)])


if __name__ == "__main__":
    unittest.main()
