"""The in-run API's record channel on the node: what a script appends to
$RUNYARD_RUN_API_DIR/records.jsonl reaches run history (system_logs/run_records.jsonl) byte
for byte, `committed` tells the script when the control plane has it, locally and on a
pool, and an agent SIGKILLed while the script runs still delivers every line written
before the kill once it is started again. (The server's ingestion of the lines into
metrics is tested elsewhere: these tests check the run file only.)"""
import json
import os
import pwd
import shutil
import signal
import textwrap
import unittest
import uuid

import faults
import harness
from harness import AGENT_BIN, BIN_DIR, PYTHON
from test_sandbox import bubblewrap_works

HISTORY_PATH = "system_logs/run_records.jsonl"

# argv: control folder, first line number, how many lines, then what to do after them:
#   wait      wait until `committed` covers them, then exit
#   swap      the same, after trying to rename `committed` (printing whether it could)
#   wait,hold wait for `committed`, write marker phase1, hold for latch go2; then write
#             argv[4] more lines WITHOUT waiting, write marker phase2 and hold until killed
WRITER = harness.LATCH_WAITER + textwrap.dedent('''
    import json, os, sys, time

    control, first, count, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    channel = os.environ["RUNYARD_RUN_API_DIR"]
    context = json.load(open(os.path.join(channel, "context.json")))
    records = os.open(context["records"], os.O_WRONLY | os.O_APPEND)

    def line(i):
        return json.dumps({"k": "metric", "n": "loss", "type": "scalar", "v": [1.0 / (i + 1)],
                           "s": i, "t": 1700000000.0 + i}, separators=(",", ":")) + "\\n"

    def write(first, count):
        for i in range(first, first + count):  # one os.write per record, as the SDK does
            os.write(records, line(i).encode())
        return os.fstat(records).st_size

    def committed():
        with open(context["committed"], "rb") as f:
            text = f.read()
        assert len(text) == 21 and text.endswith(b"\\n"), text
        return int(text)

    def mark(name, value):
        path = os.path.join(control, name)
        with open(path + ".tmp", "w") as f:
            json.dump(value, f)
        os.rename(path + ".tmp", path)

    print("PYTHONPATH=" + os.environ.get("PYTHONPATH", ""), flush=True)
    import importlib.util  # located, not imported: the SDK's folder is readable in the run
    found = importlib.util.find_spec("runyard")
    print("runyard found at", found.origin if found else None, flush=True)
    if mode == "swap":  # under run_as the folder is the runtime's: no file can be swapped
        try:
            os.rename(context["committed"], context["committed"] + ".moved")
            os.rename(context["committed"] + ".moved", context["committed"])
            print("swap: allowed", flush=True)
        except OSError as error:
            print("swap: errno %d" % error.errno, flush=True)
    print("run_id in context:", context["run_id"], flush=True)
    size = write(first, count)
    deadline = time.monotonic() + 120
    waited = time.monotonic()
    while committed() < size:
        if time.monotonic() > deadline:
            print("committed stuck at", committed(), "of", size, flush=True)
            sys.exit(7)
        time.sleep(0.005)
    print("committed %d bytes after %.1f ms" % (size, (time.monotonic() - waited) * 1000), flush=True)
    if mode in ("wait", "swap"):
        sys.exit(0)
    mark("phase1", {"size": size})
    if not wait_for_latch(os.path.join(control, "go2"), 300):
        sys.exit(9)
    size = write(first + count, int(sys.argv[5]))
    mark("phase2", {"size": size})
    wait_for_latch(os.path.join(control, "go3"), 300)  # never released: the run is stopped
''')


def expected_lines(first, count):
    return "".join(
        json.dumps({"k": "metric", "n": "loss", "type": "scalar", "v": [1.0 / (i + 1)],
                    "s": i, "t": 1700000000.0 + i}, separators=(",", ":")) + "\n"
        for i in range(first, first + count))


class RunApiChannelTest(faults.FaultTestCase):

    def setUp(self):
        super().setUp()
        self.control = self.make_dir("control")
        self.source = self.make_dir("src-writer")
        with open(os.path.join(self.source, "writer.py"), "w") as f:
            f.write(WRITER)

    def writer_args(self, target, *arguments):
        return ["--source-directory", self.source, "--script", "writer.py", "--interpreter", PYTHON,
                "--target", target, "--", self.control] + [str(a) for a in arguments]

    def records_in_history(self, run_id, server=None):
        target = os.path.join(self.make_dir("dl"), "records-%s.jsonl" % run_id)
        self.download(run_id, HISTORY_PATH, target, server=server)
        with open(target, encoding="utf-8") as f:
            return f.read()

    def assert_sdk_on_path(self, log_text):
        """Where the build tree holds the SDK, the script has it first on PYTHONPATH."""
        sdk = os.path.realpath(os.path.join(BIN_DIR, "sdk", "python"))
        path_line = next(l for l in log_text.splitlines() if l.startswith("PYTHONPATH="))
        if os.path.isfile(os.path.join(sdk, "runyard", "__init__.py")):
            self.assertEqual(path_line[len("PYTHONPATH="):].split(":")[0], sdk, log_text)
            self.assertIn("runyard found at %s/runyard/__init__.py" % sdk, log_text)
        else:
            harness.log("no SDK in the build tree yet (%s): PYTHONPATH not checked" % sdk)

    def test_local_run_records_reach_run_history(self):
        rc, out, err = self.run_cli(["run"] + self.writer_args("local", 0, 25, "wait"), timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, err))
        self.assertIn("committed", out)
        run_id = next(l.split()[1] for l in out.splitlines() if l.startswith("Run run-"))
        self.assertEqual(self.status(run_id)["status"], "Completed")
        self.assertIn("run_id in context: " + run_id, out)
        self.assertEqual(self.run_files(run_id)[HISTORY_PATH], len(expected_lines(0, 25).encode()))
        self.assertEqual(self.records_in_history(run_id), expected_lines(0, 25))
        self.assert_sdk_on_path(out)

    def test_spec_can_keep_the_sdk_off_the_path(self):
        spec = os.path.join(self.source, "run.yaml")
        with open(spec, "w") as f:
            f.write("script: writer.py\ncompute_target: local\nazureml_compat: false\n"
                    "arguments: [%s, '0', '1', wait]\n"
                    "environment:\n  python:\n    user_managed_dependencies: true\n"
                    "    interpreter_path: %s\n" % (json.dumps(self.control), PYTHON))
        rc, out, err = self.run_cli(["run", spec], timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, err))
        self.assertIn("PYTHONPATH=\n", out)  # nothing put there: the spec opted out
        run_id = next(l.split()[1] for l in out.splitlines() if l.startswith("Run run-"))
        self.assertEqual(self.records_in_history(run_id), expected_lines(0, 1))

    def test_pool_run_records_reach_run_history(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        rc, out, err = self.run_cli(["run"] + self.writer_args("cpu", 0, 40, "wait"), server=server,
                                    timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s%s" % (out, err, self.describe_processes()))
        run_id = next(l.split()[1] for l in out.splitlines() if l.startswith("Run run-"))
        self.assertEqual(self.status(run_id, server=server)["status"], "Completed")
        self.assertEqual(self.records_in_history(run_id, server=server), expected_lines(0, 40))
        self.assert_sdk_on_path(out)

    def test_agent_killed_and_restarted_delivers_every_record(self):
        """The agent is frozen while the script writes its second batch (so it certainly
        never saw it), then SIGKILLed: the restarted agent must send those lines too."""
        server = self.start_server(lease_seconds=3, agent_lost_seconds=3)
        agent = self.start_agent(server, pool="cpu")
        self.latch(os.path.join(self.control, "go2"))
        self.latch(os.path.join(self.control, "go3"))
        marker = self.new_marker()
        run_id = self.submit(["-e", "%s=%s" % (harness.MARKER_VAR, marker)]
                             + self.writer_args("cpu", 0, 30, "hold", 50), server=server)["run_id"]
        self.wait_for_marker("phase1")
        # Committed (the script saw it): in run history before anything goes wrong.
        self.assertEqual(self.records_in_history(run_id, server=server), expected_lines(0, 30))

        os.kill(agent.pid, signal.SIGSTOP)
        self.release_latch(os.path.join(self.control, "go2"))
        self.wait_for_marker("phase2")
        self.kill_agent(agent)
        self.assertEqual(self.run_files(run_id, server=server)[HISTORY_PATH],
                         len(expected_lines(0, 30).encode()), "the frozen agent sent the second batch")
        self.restart_agent(agent)

        run = self.wait_for_terminal(run_id, server=server, timeout=60)
        self.assertEqual(run["status"], "Failed", run)
        self.assertEqual(run["error"]["code"], "AgentLost", run)
        self.assert_no_process(marker, timeout=30)
        everything = expected_lines(0, 80)
        harness.wait_for(lambda: self.run_files(run_id, server=server).get(HISTORY_PATH) == len(everything.encode()),
                         timeout=30, interval=0.2, what="every record written before the kill in run history",
                         describe=lambda: "run files: %s%s" % (self.run_files(run_id, server=server),
                                                               self.describe_processes()))
        self.assertEqual(self.records_in_history(run_id, server=server), everything)

    @unittest.skipUnless(os.geteuid() == 0, "runs as another user need an agent running as root")
    @unittest.skipUnless(bubblewrap_works(), "bwrap is missing or cannot build a sandbox here")
    def test_sandboxed_run_as_nobody_writes_records(self):
        """run_as_user nobody inside bubblewrap: the script may append to records.jsonl
        (writable run_api/ in the sandbox) and read `committed`, and cannot replace either."""
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user 'nobody' on this machine")
        # Outside /tmp, every folder above the run's passable by `nobody` (as test_sandbox).
        base = os.path.join("/var/tmp", "runyard-e2e-" + uuid.uuid4().hex[:10])
        os.makedirs(os.path.join(base, "work"), mode=0o755)
        os.chmod(base, 0o755)
        self.addCleanup(shutil.rmtree, base, True)
        os.chmod(self.tmp, 0o755)
        os.chmod(self.control, 0o777)  # the script (nobody) writes nothing there in this mode
        config = os.path.join(base, "agent.yaml")
        with open(config, "w") as f:
            f.write("run_as_user: nobody\nsandbox: bubblewrap\nsandbox_hide_paths: [%s]\n" % base)
        server = self.start_server()
        argv = [AGENT_BIN, "--config", config, "--server", server.address, "--pool", "sb",
                "--work-dir", os.path.join(base, "work"), "--name", "sb", "--kill-grace-seconds", "2"]
        argv += self.agent_security_args(server)
        process = harness.ManagedProcess("agent sb", argv, self.env, os.path.join(self.tmp, "agent-sb.log"))
        self.agents.append(harness.Agent(process, None, "sb", "sb", os.path.join(base, "work")))
        process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)")
        rc, out, err = self.run_cli(["run"] + self.writer_args("sb", 0, 10, "swap"), server=server,
                                    timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s%s" % (out, err, self.describe_processes()))
        run_id = next(l.split()[1] for l in out.splitlines() if l.startswith("Run run-"))
        self.assertIn("swap: errno 13", out)
        self.assertEqual(self.records_in_history(run_id, server=server), expected_lines(0, 10))
        self.assert_sdk_on_path(out)

    def wait_for_marker(self, name):
        harness.wait_for(lambda: os.path.exists(os.path.join(self.control, name)), timeout=120,
                         interval=0.05, what="the script's marker %s" % name,
                         describe=self.describe_processes)


if __name__ == "__main__":
    unittest.main()
