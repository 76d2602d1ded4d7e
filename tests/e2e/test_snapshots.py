"""Content-addressed snapshots end to end: delta upload and download, ignore files,
git properties and the agent's node blob cache.

The size limits (refusal before upload) are in test_snapshot_limits.py.
"""
import hashlib
import json
import os
import re
import subprocess
import tarfile
import textwrap
import time
import unittest

import harness
from harness import PYTHON, log

# The line the agent (and the local executor) writes to system_logs/runtime.txt.
SNAPSHOT_LINE = re.compile(
    r"snapshot (?P<id>[0-9a-f]{64}): (?P<files>\d+) files, (?P<bytes>\d+) bytes; "
    r"fetched (?P<fetched_blobs>\d+) blobs \((?P<fetched_bytes>\d+) bytes\) in (?P<fetch_ms>\d+) ms, "
    r"(?P<cached>\d+) from the node cache; materialized in (?P<materialize_ms>\d+) ms")

# Prints the sha256 and the first 16 bytes (hex) of the file named by argv[1].
SHOW_SCRIPT = """
    import hashlib, sys
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    print("sha256", hashlib.sha256(data).hexdigest(), flush=True)
    print("head", data[:16].hex(), flush=True)
    print("size", len(data), flush=True)
"""

# Prints 'ready <run id>', waits until the latch at argv[1] is released, then prints
# the sha256 of each data/part*.bin file.
HOLD_SCRIPT = harness.LATCH_WAITER + textwrap.dedent("""
    import hashlib, os, sys
    print("ready", os.environ.get("RUNYARD_RUN_ID", "?"), flush=True)
    if not wait_for_latch(sys.argv[1], 300):
        sys.exit("never released")
    for name in sorted(os.listdir("data")):
        with open(os.path.join("data", name), "rb") as f:
            print("data/" + name, hashlib.sha256(f.read()).hexdigest(), flush=True)
""")

# Prints, as one JSON line, every file of its working directory (but outputs/ and logs/).
LIST_SCRIPT = """
    import json, os
    seen = []
    for root, dirs, files in os.walk("."):
        if root == ".":
            dirs[:] = [d for d in dirs if d not in ("outputs", "logs")]
        for name in files:
            seen.append(os.path.relpath(os.path.join(root, name), "."))
    print("FILES " + json.dumps(sorted(seen)), flush=True)
"""


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def write_script(folder, name, text):
    write_file(os.path.join(folder, name), textwrap.dedent(text).lstrip())


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree_files(root):
    """{relative path: bytes} of every regular file under root."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def cas_blobs(cas_root):
    """{digest: size} of the blobs in a CAS folder (<root>/<2 hex>/<digest>; tmp/ left out)."""
    blobs = {}
    if not os.path.isdir(cas_root):
        return blobs
    for folder, dirs, files in os.walk(cas_root):
        dirs[:] = [d for d in dirs if d != "tmp"]
        for name in files:
            if re.fullmatch(r"[0-9a-f]{64}", name):
                blobs[name] = os.path.getsize(os.path.join(folder, name))
    return blobs


class SnapshotTestCase(harness.RunyardTestCase):
    """Helpers shared by the snapshot tests."""

    def submit_timed(self, args, server=None):
        start = time.monotonic()
        submitted = self.submit(args, server=server)
        return submitted, time.monotonic() - start

    def runtime_log(self, run_id, server=None):
        """The run's system_logs/runtime.txt, downloaded with the CLI."""
        target = os.path.join(self.tmp, "runtime-%s.txt" % run_id)
        rc, out, err = self.run_cli(["download", run_id, "system_logs/runtime.txt", "-o", target], server=server)
        self.assertEqual(rc, 0, "download of runtime.txt failed\n%s%s" % (out, err))
        with open(target, encoding="utf-8", errors="replace") as f:
            return f.read()

    def snapshot_line(self, run_id, server=None):
        text = self.runtime_log(run_id, server=server)
        match = SNAPSHOT_LINE.search(text)
        self.assertIsNotNone(match, "no snapshot line in system_logs/runtime.txt of %s:\n%s" % (run_id, text))
        return {k: (v if k == "id" else int(v)) for k, v in match.groupdict().items()}, text

    def assert_completed(self, run_id, server=None, timeout=180):
        run = self.wait_for_terminal(run_id, server=server, timeout=timeout)
        self.assertEqual(run["status"], "Completed", "%s\n%s" % (
            json.dumps(run, indent=1), self.describe_processes()))
        return run


class SnapshotDeltaTest(SnapshotTestCase):
    """Acceptance: only changed blobs go up (CLI -> server) and come down (server -> agent)."""

    FOLDERS = 10
    FILES_PER_FOLDER = 100
    FILE_BYTES = 200_000          # 1,000 files, 200 MB
    CHANGED_BYTES = 100_000

    def test_delta_upload_and_download(self):
        test_start = time.monotonic()
        server = self.start_server()
        agent = self.start_agent(server, pool="cpu")

        source = self.make_dir("big-src")
        for folder in range(self.FOLDERS):
            for index in range(self.FILES_PER_FOLDER):
                write_file(os.path.join(source, "d%02d" % folder, "f%03d.bin" % index),
                           os.urandom(self.FILE_BYTES))
        write_script(source, "show.py", SHOW_SCRIPT)
        changed = os.path.join("d03", "f042.bin")
        total_files = self.FOLDERS * self.FILES_PER_FOLDER + 1
        data_bytes = self.FOLDERS * self.FILES_PER_FOLDER * self.FILE_BYTES
        log("tree of %d files written in %.1f s" % (total_files, time.monotonic() - test_start))

        args = ["--source-directory", source, "--script", "show.py", "--interpreter", PYTHON,
                "--target", "cpu", "--", changed]

        # 1. First submit: everything goes up.
        first, full_s = self.submit_timed(args, server=server)
        snap1 = first["snapshot"]
        self.assertEqual(snap1["files"], total_files, snap1)
        self.assertGreaterEqual(snap1["bytes"], data_bytes, snap1)
        self.assertGreaterEqual(snap1["uploaded_bytes"], 200_000_000, snap1)
        self.assertEqual(snap1["uploaded_blobs"], total_files + 1, snap1)  # every file + the manifest
        self.assertEqual(snap1["skipped_files"], 0, snap1)
        self.assertEqual(snap1["id"], first["spec"]["snapshot_id"], first)
        self.assertEqual(snap1["uploaded_bytes"], snap1["bytes"] + snap1["manifest_bytes"], snap1)

        # 2. One file rewritten, 100 KB of new bytes: that blob and the manifest go up.
        new_content = os.urandom(self.CHANGED_BYTES)
        write_file(os.path.join(source, changed), new_content)
        second, delta_s = self.submit_timed(args, server=server)
        snap2 = second["snapshot"]
        self.assertNotEqual(snap2["id"], snap1["id"])
        self.assertEqual(snap2["files"], total_files, snap2)
        self.assertEqual(snap2["uploaded_blobs"], 2, snap2)
        self.assertEqual(snap2["uploaded_bytes"], self.CHANGED_BYTES + snap2["manifest_bytes"], snap2)
        self.assertEqual(snap2["skipped_files"], total_files - 1, snap2)
        self.assertEqual(snap2["skipped_bytes"], snap2["bytes"] - self.CHANGED_BYTES, snap2)

        # 3. Nothing changed: nothing goes up, same snapshot id.
        third, unchanged_s = self.submit_timed(args, server=server)
        snap3 = third["snapshot"]
        self.assertEqual(snap3["id"], snap2["id"], snap3)
        self.assertEqual(snap3["uploaded_blobs"], 0, snap3)
        self.assertEqual(snap3["uploaded_bytes"], 0, snap3)
        self.assertEqual(snap3["skipped_files"], total_files, snap3)

        log("upload timings: full %.2f s (%d bytes), incremental %.2f s (%d bytes), unchanged %.2f s" % (
            full_s, snap1["uploaded_bytes"], delta_s, snap2["uploaded_bytes"], unchanged_s))

        # Delta down: every run completes; the second fetched just the changed blob and
        # the manifest, the third nothing.
        runs = [first["run_id"], second["run_id"], third["run_id"]]
        for run_id in runs:
            self.assert_completed(run_id, server=server, timeout=240)

        line1, _ = self.snapshot_line(runs[0], server=server)
        self.assertEqual(line1["id"], snap1["id"])
        self.assertEqual(line1["files"], total_files, line1)
        self.assertEqual(line1["fetched_blobs"], total_files + 1, line1)
        self.assertEqual(line1["fetched_bytes"], snap1["bytes"] + snap1["manifest_bytes"], line1)

        line2, text2 = self.snapshot_line(runs[1], server=server)
        self.assertEqual(line2["id"], snap2["id"], text2)
        self.assertEqual(line2["files"], total_files, text2)
        self.assertEqual(line2["bytes"], snap2["bytes"], text2)
        self.assertEqual(line2["fetched_blobs"], 2, text2)
        self.assertEqual(line2["fetched_bytes"], self.CHANGED_BYTES + snap2["manifest_bytes"], text2)
        self.assertEqual(line2["cached"], total_files - 1, text2)

        line3, text3 = self.snapshot_line(runs[2], server=server)
        self.assertEqual(line3["fetched_blobs"], 0, text3)
        self.assertEqual(line3["fetched_bytes"], 0, text3)
        log("agent fetch: run 1 %d ms (materialized %d ms), run 2 %d ms, run 3 %d ms" % (
            line1["fetch_ms"], line1["materialize_ms"], line2["fetch_ms"], line3["fetch_ms"]))

        # The scripts saw the old bytes, then the new ones.
        old_logs = self.logs(runs[0], server=server)
        self.assertIn("size %d" % self.FILE_BYTES, old_logs)
        expected = "sha256 %s\nhead %s\nsize %d\n" % (hashlib.sha256(new_content).hexdigest(),
                                                      new_content[:16].hex(), self.CHANGED_BYTES)
        self.assertEqual(self.logs(runs[1], server=server), expected)
        self.assertEqual(self.logs(runs[2], server=server), expected)

        elapsed = time.monotonic() - test_start
        log("delta test took %.1f s" % elapsed)


class IgnoreRulesTest(SnapshotTestCase):
    """.gitignore / .amlignore per folder, .git/ always left out: what the run sees = the archive."""

    def make_source(self):
        src = self.make_dir("ignore-src")
        files = {
            ".gitignore": "*.log\ndata/\n!keep.log\n",
            "main.txt": "main\n",
            "a.log": "ignored log\n",
            "keep.log": "kept by negation\n",
            "data/x.txt": "in an ignored folder\n",
            "data/keep.log": "in an ignored folder: a negation cannot bring it back\n",
            "sub/.gitignore": "*.tmp\n/anchored.txt\n",
            "sub/b.tmp": "ignored by sub/.gitignore\n",
            "sub/c.log": "ignored by the root's *.log\n",
            "sub/keep.log": "kept by the root's negation\n",
            "sub/d.txt": "kept\n",
            "sub/anchored.txt": "ignored: anchored to sub/\n",
            "sub/deeper/anchored.txt": "kept: the anchored rule is for sub/ only\n",
            "sub/deeper/e.tmp": "ignored: sub's rules apply below it\n",
            "sub/data/y.txt": "ignored: data/ matches at any depth\n",
            "other/.gitignore": "*.txt\n",
            "other/.amlignore": "*.bin\n",
            "other/e.txt": "kept: .amlignore replaces this folder's .gitignore\n",
            "other/f.bin": "ignored by other/.amlignore\n",
            "other/g.log": "ignored by the root's *.log\n",
            "top.tmp": "kept: *.tmp is only sub's rule\n",
            ".git/HEAD": "ref: refs/heads/main\n",
            ".git/config": "[core]\n",
            "sub/.git/HEAD": "a nested .git folder is left out too\n",
        }
        for path, text in files.items():
            write_file(os.path.join(src, path), text)
        write_script(src, "list.py", LIST_SCRIPT)
        expected = sorted([
            ".gitignore", "main.txt", "keep.log", "sub/.gitignore", "sub/keep.log", "sub/d.txt",
            "sub/deeper/anchored.txt", "other/.gitignore", "other/.amlignore", "other/e.txt",
            "top.tmp", "list.py",
        ])
        return src, expected

    def test_ignore_files_end_to_end(self):
        src, expected = self.make_source()
        submitted = self.submit(["--source-directory", src, "--script", "list.py", "--interpreter", PYTHON])
        snap = submitted["snapshot"]
        self.assertEqual(snap["files"], len(expected), snap)
        self.assertGreater(snap["ignored"], 0, snap)
        run_id = submitted["run_id"]
        self.assert_completed(run_id)

        logs = self.logs(run_id)
        match = re.search(r"^FILES (.*)$", logs, re.M)
        self.assertIsNotNone(match, logs)
        self.assertEqual(json.loads(match.group(1)), expected)

        # The snapshot as an archive: the same files, the same bytes.
        archive = os.path.join(self.tmp, "snapshot.tar.gz")
        rc, out, err = self.run_cli(["snapshot", "download", run_id, "-o", archive])
        self.assertEqual(rc, 0, out + err)
        in_archive = {}
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                name = member.name[2:] if member.name.startswith("./") else member.name
                if member.isfile():
                    in_archive[name] = tar.extractfile(member).read()
                else:
                    self.assertTrue(member.isdir(), "unexpected member %s (type %r)" % (member.name, member.type))
        self.assertEqual(sorted(in_archive), expected)
        for path in expected:
            with open(os.path.join(src, path), "rb") as f:
                self.assertEqual(in_archive[path], f.read(), path)

    def test_snapshot_upload_command(self):
        """`runyard snapshot upload` prints the same id as submit, and a second upload sends nothing."""
        src, expected = self.make_source()
        rc, out, err = self.run_cli(["snapshot", "upload", "--source-directory", src, "--json"])
        self.assertEqual(rc, 0, out + err)
        first = json.loads(out)
        self.assertEqual(first["files"], len(expected), first)
        self.assertEqual(first["uploaded_blobs"], len(expected) + 1, first)
        rc, out, err = self.run_cli(["snapshot", "upload", "--source-directory", src, "--json"])
        self.assertEqual(rc, 0, out + err)
        again = json.loads(out)
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(again["uploaded_blobs"], 0, again)
        self.assertEqual(again["uploaded_bytes"], 0, again)
        submitted = self.submit(["--source-directory", src, "--script", "list.py", "--interpreter", PYTHON])
        self.assertEqual(submitted["snapshot"]["id"], first["id"])
        self.assertEqual(submitted["spec"]["snapshot_id"], first["id"])
        self.assert_completed(submitted["run_id"])


class GitPropertiesTest(SnapshotTestCase):
    """A source folder in a git work tree gives the run runyard.git.* properties."""

    URL = "https://example.invalid/repo.git"

    def git(self, repo, *args):
        env = dict(self.env)
        env.update(GIT_CONFIG_NOSYSTEM="1", HOME=self.tmp, GIT_AUTHOR_DATE="2024-01-01T00:00:00",
                   GIT_COMMITTER_DATE="2024-01-01T00:00:00")
        done = subprocess.run(["git", "-C", repo] + list(args), env=env, capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 0, "git %s: %s" % (" ".join(args), done.stderr.decode(errors="replace")))
        return done.stdout.decode().strip()

    def test_git_properties(self):
        repo = self.make_dir("repo")
        self.git(repo, "init", "-q")
        self.git(repo, "symbolic-ref", "HEAD", "refs/heads/trunk")
        self.git(repo, "config", "user.name", "Runyard Test")
        self.git(repo, "config", "user.email", "test@example.invalid")
        self.git(repo, "remote", "add", "origin", self.URL)
        write_script(repo, "hello.py", harness.SCRIPTS["hello.py"])
        self.git(repo, "add", "hello.py")
        self.git(repo, "commit", "-q", "-m", "first")
        commit = self.git(repo, "rev-parse", "HEAD")
        args = ["--source-directory", repo, "--script", "hello.py", "--interpreter", PYTHON]

        clean = self.submit(args)
        self.assertEqual(clean["snapshot"]["files"], 1, clean["snapshot"])  # .git/ left out
        run = self.assert_completed(clean["run_id"])
        self.assertEqual(run["properties"].get("runyard.git.repository_uri"), self.URL, run["properties"])
        self.assertEqual(run["properties"].get("runyard.git.branch"), "trunk", run["properties"])
        self.assertEqual(run["properties"].get("runyard.git.commit"), commit, run["properties"])
        self.assertEqual(run["properties"].get("runyard.git.dirty"), "false", run["properties"])

        with open(os.path.join(repo, "hello.py"), "a") as f:
            f.write("print('changed', flush=True)\n")
        dirty = self.submit(args)
        run = self.assert_completed(dirty["run_id"])
        self.assertEqual(run["properties"].get("runyard.git.commit"), commit, run["properties"])
        self.assertEqual(run["properties"].get("runyard.git.dirty"), "true", run["properties"])
        self.assertIn("changed", self.logs(dirty["run_id"]))

        # Through a server to an agent, the properties are the same.
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        remote = self.submit(args + ["--target", "cpu"], server=server)
        run = self.assert_completed(remote["run_id"], server=server)
        self.assertEqual(run["properties"].get("runyard.git.repository_uri"), self.URL, run["properties"])
        self.assertEqual(run["properties"].get("runyard.git.branch"), "trunk", run["properties"])
        self.assertEqual(run["properties"].get("runyard.git.commit"), commit, run["properties"])
        self.assertEqual(run["properties"].get("runyard.git.dirty"), "true", run["properties"])

        # A folder outside any work tree has no git properties.
        plain = self.source_dir("hello.py")
        run = self.assert_completed(self.submit(["--source-directory", plain, "--script", "hello.py",
                                                 "--interpreter", PYTHON])["run_id"])
        self.assertFalse([k for k in run.get("properties", {}) if k.startswith("runyard.git.")], run)


class ManifestDetailsTest(SnapshotTestCase):
    """Modes, duplicate contents and empty folders survive the trip to an agent and back."""

    INSPECT_SCRIPT = """
        import json, os
        print("SEEN " + json.dumps({
            "tool_executable": os.access("tool.sh", os.X_OK),
            "empty_is_dir": os.path.isdir("empty"),
            "empty_entries": sorted(os.listdir("empty")) if os.path.isdir("empty") else None,
            "dup1": open("dup1.txt").read(),
            "dup2": open("nested/dup2.txt").read(),
        }, sort_keys=True), flush=True)
    """

    def test_modes_duplicates_and_empty_folders(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        src = self.make_dir("details-src")
        write_script(src, "inspect.py", self.INSPECT_SCRIPT)
        write_file(os.path.join(src, "tool.sh"), "#!/bin/sh\necho tool\n")
        os.chmod(os.path.join(src, "tool.sh"), 0o755)
        write_file(os.path.join(src, "dup1.txt"), "same bytes\n")
        write_file(os.path.join(src, "nested", "dup2.txt"), "same bytes\n")
        os.makedirs(os.path.join(src, "empty"))
        args = ["--source-directory", src, "--script", "inspect.py", "--interpreter", PYTHON, "--target", "cpu"]

        first = self.submit(args, server=server)
        snap = first["snapshot"]
        self.assertEqual(snap["files"], 4, snap)
        self.assertEqual(snap["uploaded_blobs"], 4, snap)  # 3 distinct contents + the manifest
        self.assertEqual(snap["skipped_files"], 0, snap)
        self.assert_completed(first["run_id"], server=server)
        seen = json.loads(re.search(r"^SEEN (.*)$", self.logs(first["run_id"], server=server), re.M).group(1))
        self.assertEqual(seen, {"tool_executable": True, "empty_is_dir": True, "empty_entries": [],
                                "dup1": "same bytes\n", "dup2": "same bytes\n"})

        # The archive of a run on a pool, from the server's store.
        archive = os.path.join(self.tmp, "details.tar.gz")
        rc, out, err = self.run_cli(["snapshot", "download", first["run_id"], "-o", archive], server=server)
        self.assertEqual(rc, 0, out + err)
        with tarfile.open(archive, "r:gz") as tar:
            members = {(m.name[2:] if m.name.startswith("./") else m.name).rstrip("/"): m for m in tar.getmembers()}
            self.assertEqual(sorted(n for n, m in members.items() if m.isfile()),
                             ["dup1.txt", "inspect.py", "nested/dup2.txt", "tool.sh"])
            self.assertTrue(members["empty"].isdir())
            self.assertEqual(members["tool.sh"].mode & 0o777, 0o755)
            self.assertEqual(members["dup1.txt"].mode & 0o111, 0)
            self.assertEqual(tar.extractfile(members["nested/dup2.txt"]).read(), b"same bytes\n")

        # Only the mode changes: a new snapshot, and only its manifest goes up and comes down.
        os.chmod(os.path.join(src, "tool.sh"), 0o644)
        second = self.submit(args, server=server)
        snap2 = second["snapshot"]
        self.assertNotEqual(snap2["id"], snap["id"])
        self.assertEqual(snap2["uploaded_blobs"], 1, snap2)
        self.assertEqual(snap2["uploaded_bytes"], snap2["manifest_bytes"], snap2)
        self.assertEqual(snap2["skipped_files"], 4, snap2)
        self.assert_completed(second["run_id"], server=server)
        seen = json.loads(re.search(r"^SEEN (.*)$", self.logs(second["run_id"], server=server), re.M).group(1))
        self.assertFalse(seen["tool_executable"], seen)
        line, text = self.snapshot_line(second["run_id"], server=server)
        self.assertEqual(line["fetched_blobs"], 1, text)
        self.assertEqual(line["fetched_bytes"], snap2["manifest_bytes"], text)


class NodeCacheTest(SnapshotTestCase):
    """The agent's blob cache: a snapshot seen before is not fetched again; eviction keeps the quota."""

    def random_source(self, name, files, size):
        src = self.make_dir(name)
        for index in range(files):
            write_file(os.path.join(src, "data", "part%d.bin" % index), os.urandom(size))
        write_script(src, "show.py", SHOW_SCRIPT)
        return src

    def test_same_snapshot_twice_fetches_nothing(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        src = self.random_source("src", 5, 50_000)
        args = ["--source-directory", src, "--script", "show.py", "--interpreter", PYTHON,
                "--target", "cpu", "--", "data/part0.bin"]
        first = self.submit(args, server=server)
        self.assert_completed(first["run_id"], server=server)
        second = self.submit(args, server=server)
        self.assertEqual(second["snapshot"]["id"], first["snapshot"]["id"])
        self.assert_completed(second["run_id"], server=server)

        line1, text1 = self.snapshot_line(first["run_id"], server=server)
        self.assertEqual(line1["fetched_blobs"], 7, text1)  # 6 files + the manifest
        self.assertEqual(line1["cached"], 0, text1)
        line2, text2 = self.snapshot_line(second["run_id"], server=server)
        self.assertEqual(line2["fetched_blobs"], 0, text2)
        self.assertEqual(line2["fetched_bytes"], 0, text2)
        self.assertEqual(line2["cached"], 7, text2)
        self.assertEqual(line2["files"], 6, text2)

    def test_eviction_keeps_quota_and_never_breaks_a_run(self):
        quota = 1_000_000
        server = self.start_server()
        agent = self.start_agent_with_cache(server, quota)
        cas = os.path.join(agent.work_dir, "cas")

        snapshots = []
        for name in ("one", "two"):
            src = self.random_source("src-" + name, 3, 1_000_000)  # 3 MB each, all different
            submitted = self.submit(["--source-directory", src, "--script", "show.py", "--interpreter", PYTHON,
                                     "--target", "cpu", "--", "data/part2.bin"], server=server)
            run_id = submitted["run_id"]
            self.assert_completed(run_id, server=server)
            # The run saw its own bytes.
            self.assertIn("sha256 %s\n" % sha256_file(os.path.join(src, "data", "part2.bin")),
                          self.logs(run_id, server=server))
            digests = {sha256_file(os.path.join(src, "data", "part%d.bin" % i)) for i in range(3)}
            snapshots.append((run_id, submitted["snapshot"], digests))
            line, text = self.snapshot_line(run_id, server=server)
            # 3 data blobs, the script and the manifest: the script's blob is shared by both
            # snapshots, and may still be cached for the second.
            self.assertEqual(line["fetched_blobs"] + line["cached"], 5, text)
            self.assertGreaterEqual(line["fetched_blobs"], 4, text)
            self.assertIn("node cache over quota: evicted", text)

        blobs = cas_blobs(cas)
        total = sum(blobs.values())
        log("node cache after the runs: %d blobs, %d bytes (quota %d)" % (len(blobs), total, quota))
        last_snapshot = snapshots[1][1]
        self.assertLessEqual(total, quota + last_snapshot["bytes"] + last_snapshot["manifest_bytes"], blobs)
        self.assertLessEqual(total, quota, blobs)  # nothing is pinned once the run is over
        first_blobs = snapshots[0][2] | {snapshots[0][1]["id"]}
        self.assertFalse(first_blobs & set(blobs), "blobs of the first snapshot are still in %s" % cas)

        # An evicted snapshot runs again: fetched anew.
        rerun = self.submit(["--source-directory", self.tmp + "/src-one", "--script", "show.py",
                             "--interpreter", PYTHON, "--target", "cpu", "--", "data/part0.bin"], server=server)
        self.assertEqual(rerun["snapshot"]["id"], snapshots[0][1]["id"])
        self.assert_completed(rerun["run_id"], server=server)
        line, text = self.snapshot_line(rerun["run_id"], server=server)
        self.assertGreaterEqual(line["fetched_blobs"], 4, text)

    def test_running_snapshot_is_pinned(self):
        """Another run's eviction never removes the blobs of a run still going, nor breaks its files."""
        quota = 1_000_000
        server = self.start_server()
        agent = self.start_agent_with_cache(server, quota, slots=2)
        cas = os.path.join(agent.work_dir, "cas")
        release = self.latch()

        held_src = self.random_source("src-held", 3, 1_000_000)
        write_script(held_src, "hold.py", HOLD_SCRIPT)
        held = self.submit(["--source-directory", held_src, "--script", "hold.py", "--interpreter", PYTHON,
                            "--target", "cpu", "--", release], server=server)
        self.wait_for_log(held["run_id"], "ready " + held["run_id"], server=server, timeout=120)
        held_blobs = {sha256_file(os.path.join(held_src, "data", "part%d.bin" % i)) for i in range(3)}
        held_blobs.add(held["snapshot"]["id"])

        quick_src = self.random_source("src-quick", 3, 1_000_000)
        quick = self.submit(["--source-directory", quick_src, "--script", "show.py", "--interpreter", PYTHON,
                             "--target", "cpu", "--", "data/part0.bin"], server=server)
        self.assert_completed(quick["run_id"], server=server)
        _, text = self.snapshot_line(quick["run_id"], server=server)
        self.assertIn("node cache over quota: evicted", text)
        self.assertLessEqual(held_blobs, set(cas_blobs(cas)), "a running run's blobs were evicted")
        self.assertEqual(self.status(held["run_id"], server=server)["status"], "Running")

        self.release_latch(release)
        self.assert_completed(held["run_id"], server=server)
        self.assertFalse(held_blobs & set(cas_blobs(cas)), "blobs of the ended run are still cached")
        self.assertLessEqual(sum(cas_blobs(cas).values()), quota)
        # The held run read its files after the other run's eviction: all there, all intact.
        held_logs = self.logs(held["run_id"], server=server)
        for index in range(3):
            name = "data/part%d.bin" % index
            self.assertIn("%s %s\n" % (name, sha256_file(os.path.join(held_src, name))), held_logs)

    def start_agent_with_cache(self, server, cache_max_bytes, name="small-cache", slots=1):
        """harness.start_agent with --cache-max-bytes (the harness has no such parameter)."""
        work_dir = self.make_dir("agent-" + name)
        argv = [harness.AGENT_BIN, "--server", server.address, "--pool", "cpu", "--work-dir", work_dir,
                "--slots", str(slots), "--name", name, "--kill-grace-seconds", "2",
                "--cache-max-bytes", str(cache_max_bytes)] + self.agent_security_args(server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, "cpu", work_dir)
        self.agents.append(agent)
        match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)", timeout=60)
        agent.agent_id = match.group(1)
        return agent


if __name__ == "__main__":
    unittest.main()
