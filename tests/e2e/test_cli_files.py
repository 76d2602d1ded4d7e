"""CLI: prefix downloads are byte-exact, `files` says when uploads are complete, files
written while a run runs can be listed and downloaded before it ends, `logs -f` and `run`
end with a summary, and `logs --rank N` fails clearly for a rank that does not exist."""
import hashlib
import json
import os
import re
import shlex
import textwrap
import unittest
import uuid

import harness
from harness import PYTHON, wait_for

SCRIPTS = {
    # Writes outputs (nested folders, an empty file, a 5 MB file) and a log file, printing
    # 'wrote PATH SIZE SHA256' for each.
    "make_outputs.py": """
        import hashlib, os
        def write(path, data):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            print("wrote %s %d %s" % (path, len(data), hashlib.sha256(data).hexdigest()), flush=True)
        write("outputs/a.txt", b"alpha\\n")
        write("outputs/nested/b.json", b'{"b": 1}\\n')
        write("outputs/nested/deeper/c.bin", bytes(range(256)) * 3)
        write("outputs/empty.txt", b"")
        write("outputs/big.bin", os.urandom(5 * 1024 * 1024))
        write("logs/not-an-output.txt", b"a log, not an output\\n")
        print("all written", flush=True)
    """,
    # Writes outputs/live/early.txt, then waits until the latch at argv[1] is released,
    # then writes outputs/late.txt.
    "live_output.py": harness.LATCH_WAITER + textwrap.dedent("""
        import os, sys
        os.makedirs("outputs/live", exist_ok=True)
        with open("outputs/live/early.txt", "w") as f:
            f.write("written while the run runs\\n")
        print("early written", flush=True)
        if not wait_for_latch(sys.argv[1], 300):
            print("never released", flush=True)
            sys.exit(9)
        with open("outputs/late.txt", "w") as f:
            f.write("written after the release\\n")
        print("released", flush=True)
    """),
}

EARLY_TEXT = b"written while the run runs\n"


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree(root):
    """Every file below root, as relative paths."""
    found = set()
    for folder, _, names in os.walk(root):
        for name in names:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def written_files(log_text):
    """{path: (size, sha256)} from the 'wrote ...' lines of make_outputs.py."""
    return {m.group(1): (int(m.group(2)), m.group(3))
            for m in re.finditer(r"^wrote (\S+) (\d+) ([0-9a-f]{64})$", log_text, re.M)}


class CliFilesTest(harness.RunyardTestCase):

    def setUp(self):
        super().setUp()
        self.server = self.start_server()
        self.agent = self.start_agent(self.server, pool="cpu")

    def scripts_dir(self, *names):
        path = self.make_dir("src-" + uuid.uuid4().hex[:8])
        for name in names:
            with open(os.path.join(path, name), "w") as f:
                f.write(textwrap.dedent(SCRIPTS[name]).lstrip())
        return path

    def script_args(self, source, script, *arguments, target="cpu"):
        return (["--source-directory", source, "--script", script, "--interpreter", PYTHON, "--target", target]
                + (["--"] + list(arguments) if arguments else []))

    def files(self, run_id, server=None):
        return {f["path"]: f for f in self.cli_json(["files", run_id], server=server)}

    def assert_downloaded(self, into, expected):
        """`into` holds exactly the `expected` files ({path: (size, sha256)}), byte for byte."""
        self.assertEqual(tree(into), set(expected), "files below %s" % into)
        for path, (size, digest) in expected.items():
            local = os.path.join(into, path)
            self.assertEqual(os.path.getsize(local), size, path)
            self.assertEqual(sha256_of(local), digest, path)

    # ------------------------------------------------------------------ tests

    def test_prefix_download_is_byte_identical_and_files_are_complete(self):
        source = self.scripts_dir("make_outputs.py")
        rc, out, err = self.run_cli(["run"] + self.script_args(source, "make_outputs.py"), server=self.server,
                                    timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s%s" % (out, err, self.describe_processes()))
        self.assertIn("all written", out)
        summary = re.search(r"\nRun (run-[0-9a-zA-Z]+) Completed \(exit code 0\) after [^\n]+\n"
                            r"Outputs: (runyard download [^\n]+)\n"
                            r"Details: [^\n]+\n$", out)
        self.assertIsNotNone(summary, "no summary at the end of stdout:\n" + out)
        run_id, download_command = summary.group(1), summary.group(2)
        expected = written_files(self.logs(run_id, server=self.server))
        outputs = {p: v for p, v in expected.items() if p.startswith("outputs/")}
        self.assertEqual(len(outputs), 5, expected)

        # After the run: every file complete, sizes as written.
        files = self.files(run_id, server=self.server)
        for path, (size, _) in expected.items():
            self.assertIn(path, files, files)
            self.assertEqual(files[path]["size"], size, path)
        for path, entry in files.items():
            self.assertIs(entry["complete"], True, entry)
            self.assertEqual(entry["upload"], "complete", entry)
        rc, table, note = self.run_cli(["files", run_id], server=self.server)
        self.assertEqual(rc, 0, note)
        self.assertRegex(table, r"(?m)^\s+5242880  complete\s+outputs/big\.bin$")
        self.assertIn("every file is complete", note)

        # The command the summary gives, as printed (its -o is relative: the CLI's cwd).
        args = shlex.split(download_command)
        self.assertEqual(args[:5], ["runyard", "download", run_id, "--prefix", "outputs/"])
        rc, out, err = self.run_cli(args[1:])
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, err))
        into = os.path.join(self.tmp, args[args.index("-o") + 1])
        self.assert_downloaded(into, outputs)
        # Not a terminal: no progress bar, one summary line.
        self.assertEqual(out.count("\n"), 1, out)
        self.assertRegex(out, r"^downloaded 5 files, 5\.2 MB, under 'outputs/' of %s to " % run_id)
        self.assertNotIn("\r", out)

        # --json says what it did.
        into_json = os.path.join(self.tmp, "dl-json")
        result = self.cli_json(["download", run_id, "--prefix", "outputs/nested/", "-o", into_json],
                               server=self.server)
        self.assertEqual(result["files"], 2)
        self.assertEqual(result["bytes"], outputs["outputs/nested/b.json"][0] + outputs["outputs/nested/deeper/c.bin"][0])
        self.assertIs(result["complete"], True)
        self.assertEqual(sorted(result["paths"]), ["outputs/nested/b.json", "outputs/nested/deeper/c.bin"])
        self.assert_downloaded(into_json, {p: v for p, v in outputs.items() if p.startswith("outputs/nested/")})

        # The single-file form and the folder form still work.
        single = os.path.join(self.tmp, "big-copy.bin")
        rc, _, err = self.run_cli(["download", run_id, "outputs/big.bin", "-o", single], server=self.server)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sha256_of(single), outputs["outputs/big.bin"][1])
        folder = os.path.join(self.tmp, "dl-folder")
        rc, _, err = self.run_cli(["download", run_id, "outputs/", "-o", folder], server=self.server)
        self.assertEqual(rc, 0, err)
        self.assert_downloaded(folder, outputs)

        # A prefix nothing has is an error naming it.
        rc, _, err = self.run_cli(["download", run_id, "--prefix", "nothing/"], server=self.server)
        self.assertEqual(rc, 2)
        self.assertIn("no files under 'nothing/'", err)

    def test_prefix_download_never_writes_through_a_symlink(self):
        source = self.scripts_dir("make_outputs.py")
        submitted = self.submit(self.script_args(source, "make_outputs.py"), server=self.server)
        run_id = submitted["run_id"]
        self.assertEqual(self.wait_for_terminal(run_id, server=self.server)["status"], "Completed")
        into = self.make_dir("dl-trap")
        elsewhere = self.make_dir("elsewhere")
        os.symlink(elsewhere, os.path.join(into, "outputs"))
        rc, out, err = self.run_cli(["download", run_id, "--prefix", "outputs/", "-o", into], server=self.server)
        self.assertNotEqual(rc, 0, out)
        self.assertIn(os.path.join(into, "outputs"), err)
        self.assertIn("symbolic link", err)
        self.assertEqual(os.listdir(elsewhere), [])

    def test_local_run_prefix_download(self):
        source = self.scripts_dir("make_outputs.py")
        rc, out, err = self.run_cli(["run"] + self.script_args(source, "make_outputs.py", target="local"),
                                    timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, err))
        summary = re.search(r"\nRun (run-[0-9a-zA-Z]+) Completed \(exit code 0\)[^\n]*\nOutputs: ([^\n]+)\n", out)
        self.assertIsNotNone(summary, out)
        run_id, outputs_folder = summary.group(1), summary.group(2)
        self.assertTrue(os.path.isfile(os.path.join(outputs_folder, "big.bin")), outputs_folder)
        expected = {p: v for p, v in written_files(self.logs(run_id)).items() if p.startswith("outputs/")}
        into = os.path.join(self.tmp, "dl-local")
        rc, out, err = self.run_cli(["download", run_id, "--prefix", "outputs/", "-o", into])
        self.assertEqual(rc, 0, err)
        self.assert_downloaded(into, expected)
        self.assertTrue(all(f["complete"] for f in self.cli_json(["files", run_id])))

    def test_files_written_while_running_are_listed_and_downloadable_before_the_end(self):
        source = self.scripts_dir("live_output.py")
        release = self.latch()
        run_id = self.submit(self.script_args(source, "live_output.py", release), server=self.server)["run_id"]
        follower = self.popen_cli(["logs", "-f", run_id], server=self.server)
        follower.wait_for_line(r"^early written$", timeout=120)

        # The agent sends outputs/ every ~2 s while the run runs: wait for the whole file.
        last = {}

        def early_listed():
            last["files"] = self.files(run_id, server=self.server)
            entry = last["files"].get("outputs/live/early.txt")
            return entry if entry and entry["size"] == len(EARLY_TEXT) else None

        entry = wait_for(early_listed, timeout=30, interval=0.2, what="outputs/live/early.txt in `files`",
                         describe=lambda: "last listing: %s" % json.dumps(last.get("files"), indent=1))
        self.assertIs(entry["complete"], False, entry)
        self.assertEqual(entry["upload"], "uploading", entry)
        rc, _, note = self.run_cli(["files", run_id], server=self.server)
        self.assertEqual(rc, 0, note)
        self.assertIn("still uploading", note)

        into = os.path.join(self.tmp, "dl-live")
        rc, out, err = self.run_cli(["download", run_id, "--prefix", "outputs/", "-o", into], server=self.server)
        self.assertEqual(rc, 0, err)
        self.assertIn("still uploading", err)
        with open(os.path.join(into, "outputs", "live", "early.txt"), "rb") as f:
            self.assertEqual(f.read(), EARLY_TEXT)
        # All of that happened before the end: the script cannot end before its latch is released.
        self.assertEqual(self.status(run_id, server=self.server)["status"], "Running")
        self.assertTrue(follower.alive())

        self.release_latch(release)
        self.assertEqual(follower.proc.wait(timeout=120), 0, follower.output())
        follower.kill()  # joins its reader threads
        logs = self.logs(run_id, server=self.server)
        self.assertIn("released", logs)
        # stdout is the log, exactly; the summary is on stderr.
        self.assertEqual(follower.stdout(), logs)
        self.assertRegex(follower.stderr(), r"Run %s Completed \(exit code 0\) after [^\n]+\n"
                                            r"Outputs: runyard download %s --prefix outputs/ -o %s --server %s\n"
                         % (run_id, run_id, run_id, re.escape(self.server.address)))

        files = self.files(run_id, server=self.server)
        self.assertIn("outputs/late.txt", files)
        self.assertTrue(all(f["complete"] for f in files.values()), files)

    def test_failed_run_summary_and_rank_logs(self):
        source = self.make_dir("src-exit")
        with open(os.path.join(source, "exit_code.py"), "w") as f:
            f.write(textwrap.dedent(harness.SCRIPTS["exit_code.py"]).lstrip())
        rc, out, err = self.run_cli(["run"] + self.script_args(source, "exit_code.py", "3"), server=self.server,
                                    timeout=300)
        self.assertEqual(rc, 1, "stdout:\n%s\nstderr:\n%s" % (out, err))
        summary = re.search(r"\nRun (run-[0-9a-zA-Z]+) Failed \(exit code 3\) after [^\n]+\n"
                            r"Error: UserError: [^\n]+\n"
                            r"Outputs: none [^\n]+\n"
                            r"Details: [^\n]+\n$", out)
        self.assertIsNotNone(summary, "no summary at the end of stdout:\n" + out)
        run_id = summary.group(1)

        # logs -f of an ended run: the log, then the summary; as JSON the last object.
        rc, out, err = self.run_cli(["logs", "-f", run_id], server=self.server)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "exiting with 3\n")
        self.assertIn("Run %s Failed (exit code 3)" % run_id, err)
        rc, out, err = self.run_cli(["logs", "-f", run_id, "--json"], server=self.server)
        self.assertEqual(rc, 0, err)
        last = json.loads(out.strip().splitlines()[-1])["summary"]
        self.assertEqual((last["status"], last["exit_code"], last["error"]["code"]), ("Failed", 3, "UserError"))

        # Rank 0 is the run's log; rank 1 does not exist (the run is not distributed).
        rc, out, err = self.run_cli(["logs", run_id, "--rank", "0"], server=self.server)
        self.assertEqual((rc, out), (0, "exiting with 3\n"), err)
        for follow in ([], ["-f"]):
            rc, out, err = self.run_cli(["logs", run_id, "--rank", "1"] + follow, server=self.server, timeout=30)
            self.assertEqual(rc, 2, "logs --rank 1 %s: stdout %r stderr %r" % (follow, out, err))
            self.assertEqual(out, "")
            self.assertIn("is not distributed: its only rank is 0", err)
        rc, _, err = self.run_cli(["logs", run_id, "--rank", "-1"], server=self.server)
        self.assertEqual(rc, 2, err)


if __name__ == "__main__":
    unittest.main()
