"""Acceptance 4 of the sandbox issue: a run executes as the configured unprivileged user, and in
bubblewrap mode cannot write outside its run directory and /tmp nor see the agent's files.

A probe script reads back, from inside the run, its uid, NoNewPrivs, rlimits, whether / is
mounted read-only, what it can write (its working directory, /tmp, /etc, /var/tmp, the agent's
work dir), what it can see of the agent's files (work dir, config), and whether it reaches the
server's port. It prints one JSON line; the test takes it from the run's logs.

The agent runs as root with --run-as-user nobody, its work dir outside /tmp (so a private /tmp
can be given and `nobody` can reach its run directory). Needs root, the `nobody` user and,
for the bubblewrap cases, a bwrap that can build a sandbox; elsewhere the tests are skipped.
"""
import json
import os
import pwd
import shutil
import subprocess
import textwrap
import unittest
import uuid

import harness
from harness import AGENT_BIN, PYTHON

PROBE_SCRIPT = r'''
import json, os, resource, socket, sys

agent_dir, config_file, server_port, host_tmp_marker = sys.argv[1:5]
result = {}
result["uid"] = os.getuid()
result["gid"] = os.getgid()
status = open("/proc/self/status").read()
result["no_new_privs"] = status.split("NoNewPrivs:")[1].split()[0]
result["core_limit"] = resource.getrlimit(resource.RLIMIT_CORE)[0]
result["open_files_limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

def mount_options(point):
    found = None
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == point:
            found = fields[5]
    return found

result["root_mount"] = mount_options("/")

def try_write(path):
    try:
        with open(path, "w") as f:
            f.write("probe")
        os.unlink(path)
        return "written"
    except OSError as error:
        return "errno %d" % error.errno

result["write"] = {
    "working_dir": try_write(os.path.join(os.getcwd(), "probe-write")),
    "outputs": try_write(os.path.join(os.getcwd(), "outputs", "probe-write")),
    "tmp": try_write("/tmp/probe-write"),
    "etc": try_write("/etc/runyard-probe-write"),
    "var_tmp": try_write("/var/tmp/runyard-probe-write"),
    "agent_dir": try_write(os.path.join(agent_dir, "probe-write")),
    "run_dir_parent": try_write(os.path.join(os.getcwd(), "..", "probe-write")),
}
try:
    result["agent_dir_entries"] = sorted(os.listdir(agent_dir))
except OSError as error:
    result["agent_dir_entries"] = "errno %d" % error.errno
try:
    open(config_file).read()
    result["config"] = "read"
except OSError as error:
    result["config"] = "errno %d" % error.errno
result["sees_host_tmp_marker"] = os.path.exists(host_tmp_marker)
try:
    socket.create_connection(("127.0.0.1", int(server_port)), timeout=5).close()
    result["network"] = "connected"
except OSError as error:
    result["network"] = "errno %s" % error.errno
print("PROBE " + json.dumps(result), flush=True)
'''

# Passes the agent's start-up check (a sandbox that runs /bin/true) but fails to build the
# run's sandbox, the way a real bwrap does: a "bwrap: ..." line on stderr, exit code 1.
BROKEN_BWRAP = r'''#!/bin/sh
for arg in "$@"; do
  if [ "$arg" = /bin/true ]; then exit 0; fi
done
echo "bwrap: Can't mount tmpfs on /newroot/var/lib: Permission denied" >&2
exit 1
'''

EACCES, EROFS = "errno 13", "errno 30"


def bubblewrap_works():
    if shutil.which("bwrap") is None:
        return False
    done = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--", "/bin/true"],
                          capture_output=True)
    return done.returncode == 0


@unittest.skipUnless(os.geteuid() == 0, "runs as another user need an agent running as root")
class SandboxTest(harness.RunyardTestCase):

    def setUp(self):
        super().setUp()
        try:
            self.nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user 'nobody' on this machine")
        # Outside /tmp: a private /tmp per run needs that, and `nobody` must be able to pass
        # through every folder above its run directory.
        self.base = os.path.join("/var/tmp", "runyard-e2e-" + uuid.uuid4().hex[:10])
        os.makedirs(self.base, mode=0o755)
        os.chmod(self.base, 0o755)
        self.addCleanup(shutil.rmtree, self.base, True)
        self.server = self.start_server()
        self.source = self.make_dir("src")
        with open(os.path.join(self.source, "probe.py"), "w") as f:
            f.write(PROBE_SCRIPT)
        # A file in the host's /tmp that a run with its own /tmp must not see.
        self.host_tmp_marker = os.path.join("/tmp", "runyard-host-marker-" + uuid.uuid4().hex[:8])
        open(self.host_tmp_marker, "w").close()
        self.addCleanup(os.unlink, self.host_tmp_marker)

    def start_hardened_agent(self, config_lines=(), expect_start=True):
        name = "sb-" + uuid.uuid4().hex[:6]
        pool = "pool-" + name
        root = os.path.join(self.base, name)
        work_dir = os.path.join(root, "work")
        os.makedirs(work_dir, mode=0o755)
        config = os.path.join(root, "agent.yaml")
        with open(config, "w") as f:
            f.write("run_as_user: nobody\n")
            # The config's folder holds what a run must not read (a token, say).
            f.write("sandbox_hide_paths: [%s]\n" % root)
            for line in config_lines:
                f.write(line + "\n")
        os.chmod(root, 0o755)
        argv = [AGENT_BIN, "--config", config, "--server", self.server.address, "--pool", pool,
                "--work-dir", work_dir, "--name", name, "--kill-grace-seconds", "2"]
        argv += self.agent_security_args(self.server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, pool, work_dir)
        agent.config = config
        self.agents.append(agent)
        if expect_start:
            match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)")
            agent.agent_id = match.group(1)
        return agent

    def probe(self, agent):
        port = self.server.address.rsplit(":", 1)[1]
        run_id = self.submit(["--source-directory", self.source, "--script", "probe.py", "--interpreter", PYTHON,
                              "--target", agent.pool, "--", agent.work_dir, agent.config, port,
                              self.host_tmp_marker], server=self.server)["run_id"]
        run = self.wait_for_terminal(run_id, server=self.server, timeout=120)
        logs = self.logs(run_id, server=self.server)
        self.assertEqual(run["status"], "Completed", "%s\n%s" % (run, logs))
        line = next((l for l in logs.splitlines() if l.startswith("PROBE ")), None)
        self.assertIsNotNone(line, logs)
        probe = json.loads(line[len("PROBE "):])
        harness.log("probe of %s: %s" % (run_id, json.dumps(probe, sort_keys=True)))
        return run_id, probe

    def assert_runs_as_nobody(self, probe):
        self.assertEqual(probe["uid"], self.nobody.pw_uid)
        self.assertEqual(probe["gid"], self.nobody.pw_gid)
        self.assertEqual(probe["no_new_privs"], "1")
        self.assertEqual(probe["core_limit"], 0)
        self.assertLessEqual(probe["open_files_limit"], 65536)

    # ------------------------------------------------------------------ tests

    def test_run_as_user(self):
        """Without a sandbox: the configured user, no_new_privs, rlimits, a private /tmp, and the
        file permissions of an unprivileged user (no /etc, no agent files)."""
        agent = self.start_hardened_agent()
        run_id, probe = self.probe(agent)
        self.assert_runs_as_nobody(probe)
        write = probe["write"]
        self.assertEqual(write["working_dir"], "written")
        self.assertEqual(write["outputs"], "written")
        self.assertEqual(write["tmp"], "written")
        self.assertEqual(write["etc"], EACCES)
        self.assertEqual(write["agent_dir"], EACCES)
        self.assertFalse(probe["sees_host_tmp_marker"], "the run's /tmp is the host's")
        self.assertEqual(probe["network"], "connected")

    @unittest.skipUnless(bubblewrap_works(), "bwrap is missing or cannot build a sandbox here")
    def test_bubblewrap_sandbox(self):
        """sandbox: bubblewrap: read-only system, writable run directory and /tmp only, the agent's
        work dir and config hidden, network shared by default."""
        agent = self.start_hardened_agent(["sandbox: bubblewrap"])
        self.assertIn("runs are sandboxed by", agent.process.output())
        run_id, probe = self.probe(agent)
        self.assert_runs_as_nobody(probe)
        self.assertTrue(probe["root_mount"].startswith("ro"), probe["root_mount"])
        write = probe["write"]
        self.assertEqual(write["working_dir"], "written")
        self.assertEqual(write["outputs"], "written")
        self.assertEqual(write["tmp"], "written")
        for where in ("etc", "var_tmp", "agent_dir", "run_dir_parent"):
            self.assertIn(write[where], (EROFS, EACCES), where)
        self.assertFalse(os.path.exists("/var/tmp/runyard-probe-write"))
        # Of the agent's work dir only the way to this run's folder is there: no cache, no
        # other runs, no environments.
        self.assertEqual(probe["agent_dir_entries"], ["runs"])
        self.assertNotEqual(probe["config"], "read")
        self.assertFalse(probe["sees_host_tmp_marker"])
        self.assertEqual(probe["network"], "connected")
        runtime = self.runtime(run_id)
        self.assertIn("sandboxed by bubblewrap", runtime)

    @unittest.skipUnless(bubblewrap_works(), "bwrap is missing or cannot build a sandbox here")
    def test_bubblewrap_without_network(self):
        agent = self.start_hardened_agent(["sandbox: bubblewrap", "sandbox_network: false"])
        run_id, probe = self.probe(agent)
        self.assertNotEqual(probe["network"], "connected")
        self.assertIn("no network", self.runtime(run_id))

    def test_bubblewrap_setup_error_is_not_the_scripts_exit_code(self):
        """A sandbox that cannot be built fails the run with SandboxSetupFailed and bwrap's words,
        not as a script that exited 1."""
        fake = os.path.join(self.base, "broken-bwrap")
        with open(fake, "w") as f:
            f.write(BROKEN_BWRAP)
        os.chmod(fake, 0o755)
        agent = self.start_hardened_agent(["sandbox: bubblewrap", "bwrap_path: " + fake])
        run_id = self.submit(["--source-directory", self.source, "--script", "probe.py", "--interpreter", PYTHON,
                              "--target", agent.pool], server=self.server)["run_id"]
        run = self.wait_for_terminal(run_id, server=self.server, timeout=120)
        self.assertEqual(run["status"], "Failed", run)
        self.assertEqual(run["error"]["code"], "SandboxSetupFailed", run)
        self.assertIn("Can't mount tmpfs", run["error"]["message"])
        self.assertNotIn("PROBE", self.logs(run_id, server=self.server))

    def test_agent_refuses_a_sandbox_it_cannot_give(self):
        agent = self.start_hardened_agent(["sandbox: bubblewrap", "bwrap_path: /nonexistent/bwrap"],
                                          expect_start=False)
        agent.process.wait_for_line(r"/nonexistent/bwrap")
        self.assertNotEqual(agent.process.proc.wait(timeout=60), 0)

    def runtime(self, run_id):
        path = os.path.join(self.tmp, "runtime-%s.txt" % run_id)
        rc, out, err = self.run_cli(["download", run_id, "system_logs/runtime.txt", "-o", path], server=self.server)
        self.assertEqual(rc, 0, out + err)
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()


if __name__ == "__main__":
    unittest.main()
