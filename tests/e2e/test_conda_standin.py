"""Conda environments end to end (acceptance 4), with a STAND-IN for conda.

There is no conda here. The tests write `fake-conda-standin`, a small /usr/bin/python3
script that is NOT conda: it implements just the commands runyard's environment builder
runs (`env create --prefix P --file F`, micromamba's `create --yes --prefix P --file F`,
and `list --prefix P`), logs its argv (JSON lines) to $FAKE_CONDA_LOG, and makes P/bin/python
a symlink to /usr/bin/python3. What it proves: which commands runyard runs, with which
paths, when (cache), what reaches the run (CONDA_PREFIX, the interpreter, the package list),
and how failures, timeouts and a missing tool are reported.
"""
import json
import os
import re
import signal
import subprocess
import unittest

import harness
import test_environments as envtests
from harness import PYTHON

STANDIN_NAME = "fake-conda-standin"
MICROMAMBA_STANDIN_NAME = "fake-micromamba-standin"

STANDIN_SOURCE = '''#!/usr/bin/python3
"""fake-conda-standin: a TEST STAND-IN for conda / micromamba. It is NOT conda.

Written by runyard's end-to-end tests (tests/e2e/test_conda_standin.py). It understands
only what runyard's environment builder runs:

    <tool> env create --prefix P --file F        (conda, mamba)
    <tool> create --yes --prefix P --file F      (when named like micromamba)
    <tool> list --prefix P

`create` copies F to P/environment.yml and makes P/bin/python a symlink to
/usr/bin/python3. Markers in F change that: 'fail-me' (exit 1 with a message on stderr,
after leaving a partial P behind), 'no-python' (no P/bin/python), 'hang-forever' (blocks
until killed).
Every call appends {"tool", "argv", "pid"} as one JSON line to $FAKE_CONDA_LOG.
"""
import json
import os
import shutil
import signal
import sys


def fail(message, code=2):
    sys.stderr.write("fake-conda-standin: %s\\n" % message)
    sys.exit(code)


def options(words, flags=("--yes",)):
    found = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word in flags:
            found[word] = True
            i += 1
        elif word in ("--prefix", "--file") and i + 1 < len(words):
            found[word] = words[i + 1]
            i += 2
        else:
            fail("unexpected argument %r in %r" % (word, words))
    return found


def create(prefix, definition):
    with open(definition) as f:
        text = f.read()
    if "fail-me" in text:
        os.makedirs(prefix, exist_ok=True)
        with open(os.path.join(prefix, "partial.txt"), "w") as f:
            f.write("half-built\\n")
        fail("ResolvePackageNotFound: 'fail-me' cannot be satisfied (simulated failure)", code=1)
    if "hang-forever" in text:
        print("solving environment: forever", flush=True)
        while True:
            signal.pause()  # until runyard stops it
    print("creating the environment in %s (stand-in)" % prefix, flush=True)
    os.makedirs(os.path.join(prefix, "bin"), exist_ok=True)
    os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
    shutil.copyfile(definition, os.path.join(prefix, "environment.yml"))
    if "no-python" not in text:
        os.symlink("/usr/bin/python3", os.path.join(prefix, "bin", "python"))
    print("done", flush=True)


def main():
    argv = sys.argv[1:]
    tool = os.path.basename(sys.argv[0])
    log = os.environ.get("FAKE_CONDA_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"tool": tool, "argv": argv, "pid": os.getpid()}) + "\\n")
    micromamba = "micromamba" in tool
    if argv[:2] == ["env", "create"] and not micromamba:
        found = options(argv[2:], flags=())
    elif argv[:1] == ["create"] and micromamba:
        found = options(argv[1:])
        if not found.get("--yes"):
            fail("micromamba create needs --yes to run unattended")
    elif argv[:1] == ["list"]:
        found = options(argv[1:], flags=())
        prefix = found.get("--prefix")
        if not prefix or not os.path.isdir(prefix):
            fail("list: no environment at %r" % prefix, code=1)
        print("# packages in environment at %s:" % prefix)
        print("#")
        print("# Name                    Version                   Build  Channel")
        print("python                    3.11.2                    h0_standin  fake-standin")
        print("standin-package           1.0                       0      fake-standin")
        return
    else:
        fail("unsupported command %r" % argv)
    if "--prefix" not in found or "--file" not in found:
        fail("create needs --prefix and --file: %r" % argv)
    create(found["--prefix"], found["--file"])


main()
'''

# What a run in a conda environment sees.
CONDA_SHOW_SCRIPT = """
    import json, os, sys
    print("INFO " + json.dumps({
        "executable": sys.executable,
        "conda_prefix": os.environ.get("CONDA_PREFIX"),
        "virtual_env": os.environ.get("VIRTUAL_ENV"),
        "path_head": os.environ.get("PATH", "").split(":")[0],
    }), flush=True)
"""

ENVIRONMENT_YML = """\
name: standin-test
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      - runyardhello==1.0
"""

STORE_PREFIX = re.compile(r"^(?P<store>.+/envs/store)/(?P<key>[0-9a-f]{64})-[0-9a-zA-Z]+/env$")


class CondaStandinTestCase(envtests.EnvironmentTestCase):

    def setUp(self):
        super().setUp()
        self.tools = self.make_dir("tools")
        self.standin = os.path.join(self.tools, STANDIN_NAME)
        with open(self.standin, "w") as f:
            f.write(STANDIN_SOURCE)
        os.chmod(self.standin, 0o755)
        self.conda_log = os.path.join(self.tmp, "fake-conda.log")

    def agent_env(self, **overrides):
        env = dict(self.env)
        env["FAKE_CONDA_LOG"] = self.conda_log
        env.update(overrides)
        return env

    def start_conda_agent(self, server, tool=None, name="conda", extra_args=(), env=None, work_dir=None, slots=1):
        args = (["--conda-executable", tool] if tool else []) + list(extra_args)
        return self.start_env_agent(server, name=name, extra_args=args, env=env or self.agent_env(), pip=False,
                                    work_dir=work_dir, slots=slots)

    def calls(self):
        if not os.path.exists(self.conda_log):
            return []
        with open(self.conda_log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def conda_project(self, name, yml=ENVIRONMENT_YML):
        return self.project(name, {"show.py": CONDA_SHOW_SCRIPT, "environment.yml": yml})

    def conda_spec(self, source, name="run"):
        return self.write_spec(source, "show.py", {"conda_dependencies_file": "environment.yml"}, name=name)

    def prefix_of(self, call):
        argv = call["argv"]
        return argv[argv.index("--prefix") + 1]


class CondaEnvironmentTest(CondaStandinTestCase):

    def test_conda_env_built_with_tool_then_cached(self):
        server = self.start_server()
        agent = self.start_conda_agent(server, tool=self.standin)
        src = self.conda_project("conda")
        run_id = self.submit_spec(self.conda_spec(src), server=server)
        self.assert_completed(run_id, server=server)

        calls = self.calls()
        self.assertEqual(len(calls), 2, json.dumps(calls, indent=1))
        prefix = self.prefix_of(calls[0])
        definition = os.path.join(agent.run_dir(run_id), "wd", "environment.yml")
        self.assertEqual(calls[0]["argv"], ["env", "create", "--prefix", prefix, "--file", definition], calls)
        self.assertEqual(calls[1]["argv"], ["list", "--prefix", prefix], calls)
        self.assertEqual(calls[0]["tool"], STANDIN_NAME)
        match = STORE_PREFIX.match(prefix)
        self.assertIsNotNone(match, prefix)
        self.assertEqual(match.group("store"), os.path.join(agent.work_dir, "envs", "store"))
        with open(os.path.join(src, "environment.yml")) as f, open(os.path.join(prefix, "environment.yml")) as g:
            self.assertEqual(g.read(), f.read(), "the tool got another file than the snapshot's")

        info, _ = self.info(run_id, server=server)
        self.assertEqual(info["conda_prefix"], prefix, info)
        self.assertEqual(info["executable"], os.path.join(prefix, "bin", "python"), info)
        self.assertEqual(info["path_head"], os.path.join(prefix, "bin"), info)
        self.assertIsNone(info["virtual_env"], info)

        env_text = self.environment_log(run_id, server=server)
        self.assertIn(envtests.BUILDING, env_text)
        key = self.key_prefix(env_text)
        self.assertTrue(match.group("key").startswith(key), (key, prefix))
        self.assertIn("$ %s env create --prefix %s --file %s" % (self.standin, prefix, definition), env_text)
        self.assertIn("creating the environment in %s (stand-in)" % prefix, env_text)
        packages = self.system_log(run_id, "resolved_packages.txt", server=server)
        self.assertIsNotNone(packages)
        self.assertIn("standin-package           1.0", packages)

        entries = self.env_list(agent.work_dir)
        self.assert_keys(entries, [key])
        self.assertEqual(entries[0]["kind"], "conda", entries)
        self.assertEqual(entries[0]["prefix"], os.path.dirname(prefix), entries)

        # The same environment.yml again: cached, the tool is not called.
        again = self.submit_spec(self.conda_spec(src, name="again"), server=server)
        self.assert_completed(again, server=server)
        self.assertEqual(len(self.calls()), 2, json.dumps(self.calls(), indent=1))
        again_text = self.environment_log(again, server=server)
        self.assertIn(envtests.CACHE_HIT, again_text)
        self.assertEqual(self.key_prefix(again_text), key)
        info2, _ = self.info(again, server=server)
        self.assertEqual(info2["conda_prefix"], prefix)
        self.assertEqual(self.system_log(again, "resolved_packages.txt", server=server), packages)

    def test_micromamba_gets_create_yes(self):
        server = self.start_server()
        micromamba = os.path.join(self.tools, MICROMAMBA_STANDIN_NAME)
        os.symlink(self.standin, micromamba)
        agent = self.start_conda_agent(server, tool=micromamba)
        run_id = self.submit_spec(self.conda_spec(self.conda_project("mamba")), server=server)
        self.assert_completed(run_id, server=server)
        calls = self.calls()
        self.assertEqual(len(calls), 2, json.dumps(calls, indent=1))
        prefix = self.prefix_of(calls[0])
        definition = os.path.join(agent.run_dir(run_id), "wd", "environment.yml")
        self.assertEqual(calls[0]["tool"], MICROMAMBA_STANDIN_NAME)
        self.assertEqual(calls[0]["argv"], ["create", "--yes", "--prefix", prefix, "--file", definition])
        self.assertEqual(calls[1]["argv"], ["list", "--prefix", prefix])
        info, _ = self.info(run_id, server=server)
        self.assertEqual(info["executable"], os.path.join(prefix, "bin", "python"), info)

    def test_tool_failure_is_reported_and_cleaned_up(self):
        server = self.start_server()
        agent = self.start_conda_agent(server, tool=self.standin)
        yml = ENVIRONMENT_YML + "  - fail-me\n"
        run_id = self.submit_spec(self.conda_spec(self.conda_project("fail", yml)), server=server)
        run = self.assert_environment_failure(run_id, server=server)
        message = run["error"]["message"]
        self.assertIn("ResolvePackageNotFound: 'fail-me' cannot be satisfied (simulated failure)", message)
        self.assertIn("creating the conda environment failed", message)
        calls = self.calls()
        self.assertEqual(len(calls), 1, calls)  # no `list` after a failed create
        self.assertEqual(self.env_list(agent.work_dir), [])
        self.assertEqual(self.store_entries(agent.work_dir), [], "the stand-in's partial prefix was left behind")
        self.assertFalse(os.path.exists(self.prefix_of(calls[0])))

        # An environment without bin/python is refused, and removed too.
        no_python = self.submit_spec(self.conda_spec(self.conda_project("nopy", ENVIRONMENT_YML + "  - no-python\n")),
                                     server=server)
        run = self.assert_environment_failure(no_python, server=server)
        self.assertIn("bin/python", run["error"]["message"])
        self.assertEqual(self.env_list(agent.work_dir), [])
        self.assertEqual(self.store_entries(agent.work_dir), [])

    def test_setup_timeout_stops_the_tool(self):
        server = self.start_server()
        agent = self.start_conda_agent(server, tool=self.standin,
                                       extra_args=["--environment-setup-timeout-seconds", "3"])
        yml = ENVIRONMENT_YML + "  - hang-forever\n"
        run_id = self.submit_spec(self.conda_spec(self.conda_project("hang", yml)), server=server)
        run = self.assert_environment_failure(run_id, server=server, timeout=120)
        message = run["error"]["message"]
        self.assertIn("did not finish within the environment setup timeout (3 s)", message)
        self.assertIn("solving environment: forever", message)
        calls = self.calls()
        self.assertEqual(len(calls), 1, calls)
        pid = calls[0]["pid"]
        harness.wait_for(lambda: harness.process_state(pid) in (None, "Z"), timeout=30,
                         what="the stand-in (pid %d) to be stopped after the timeout" % pid)
        self.assertEqual(self.store_entries(agent.work_dir), [])
        self.assertEqual(self.env_list(agent.work_dir), [])

    def test_cancel_during_build(self):
        server = self.start_server()
        agent = self.start_conda_agent(server, tool=self.standin)
        yml = ENVIRONMENT_YML + "  - hang-forever\n"
        run_id = self.submit_spec(self.conda_spec(self.conda_project("hang", yml)), server=server)
        harness.wait_for(lambda: self.calls(), timeout=120, what="the stand-in to be called",
                         describe=self.describe_processes)
        pid = self.calls()[0]["pid"]
        rc, out, err = self.run_cli(["cancel", run_id], server=server)
        self.assertEqual(rc, 0, out + err)
        run = self.wait_for_terminal(run_id, server=server, timeout=120)
        self.assertEqual(run["status"], "Canceled", json.dumps(run, indent=1))
        harness.wait_for(lambda: harness.process_state(pid) in (None, "Z"), timeout=30,
                         what="the stand-in (pid %d) to be stopped" % pid)
        self.assertEqual(self.store_entries(agent.work_dir), [], "a canceled build left its folder behind")
        self.assertEqual(self.env_list(agent.work_dir), [])


class WaitingRunTest(CondaStandinTestCase):
    """A run waiting for another run's build can be canceled while it waits."""

    def test_cancel_while_waiting_for_a_build(self):
        server = self.start_server()
        agent = self.start_conda_agent(server, tool=self.standin, slots=2)
        spec = self.conda_spec(self.conda_project("hang", ENVIRONMENT_YML + "  - hang-forever\n"))
        builder = self.submit_spec(spec, server=server)
        harness.wait_for(lambda: self.calls(), timeout=120, what="the stand-in to be called",
                         describe=self.describe_processes)
        waiter = self.submit_spec(spec, server=server)
        harness.wait_for(lambda: envtests.WAITING in (self.system_log(waiter, "environment.txt", server=server) or ""),
                         timeout=120, what="the second run to wait for the build", describe=self.describe_processes)
        rc, out, err = self.run_cli(["cancel", waiter], server=server)
        self.assertEqual(rc, 0, out + err)
        run = self.wait_for_terminal(waiter, server=server, timeout=60)
        self.assertEqual(run["status"], "Canceled", json.dumps(run, indent=1))
        self.assertEqual(len(self.calls()), 1, "the waiting run must not call the tool: %s" % self.calls())
        self.assertEqual(self.status(builder, server=server)["status"], "Preparing")

        rc, out, err = self.run_cli(["cancel", builder], server=server)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.wait_for_terminal(builder, server=server, timeout=120)["status"], "Canceled")
        self.assertEqual(self.store_entries(agent.work_dir), [])


class DeadBuildTest(CondaStandinTestCase):
    """The folder of a build whose agent died is removed by the next eviction."""

    def test_folder_of_killed_agents_build_is_removed(self):
        server = self.start_server()
        work_dir = self.make_dir("agent-shared-workdir")
        agent = self.start_conda_agent(server, tool=self.standin, name="doomed", work_dir=work_dir)
        self.submit_spec(self.conda_spec(self.conda_project("hang", ENVIRONMENT_YML + "  - hang-forever\n")),
                         server=server)
        harness.wait_for(lambda: self.calls(), timeout=120, what="the stand-in to be called",
                         describe=self.describe_processes)
        pid = self.calls()[0]["pid"]
        debris = self.store_entries(work_dir)
        self.assertEqual(len(debris), 1, debris)
        agent.process.kill()                 # SIGKILL: the agent cannot clean up
        self.addCleanup(self.unmount_under, work_dir)  # its run's overlay mounts stay behind
        os.kill(pid, signal.SIGKILL)         # the orphaned build step (its own session)
        harness.wait_for(lambda: harness.process_state(pid) in (None, "Z"), timeout=30,
                         what="the stand-in (pid %d) to be gone" % pid)
        self.assertEqual(self.store_entries(work_dir), debris)

        # A new agent (on a new server, so that the lost run is not in the way) on the same
        # work dir: a run's end evicts, and the dead build's folder goes.
        server2 = self.start_server()
        self.start_conda_agent(server2, tool=self.standin, name="successor", work_dir=work_dir)
        good = self.submit_spec(self.conda_spec(self.conda_project("good"), name="good"), server=server2)
        self.assert_completed(good, server=server2)
        key = self.key_prefix(self.environment_log(good, server=server2))
        store = self.store_entries(work_dir)
        self.assertNotIn(debris[0], store, "the dead build's folder is still there")
        self.assertEqual(len(store), 1, store)
        self.assertTrue(store[0].startswith(key), store)
        self.assert_keys(self.env_list(work_dir), [key])


    @staticmethod
    def unmount_under(root):
        """Unmounts (latest first) what a SIGKILLed agent left mounted below `root`."""
        with open("/proc/mounts") as f:
            points = [line.split()[1].replace("\\040", " ") for line in f]
        for point in reversed([p for p in points if p.startswith(root + "/")]):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)


class NoCondaTest(CondaStandinTestCase):

    def test_no_tool_configured_nor_on_path(self):
        for folder in ("/usr/bin", "/bin"):
            for tool in ("conda", "mamba", "micromamba"):
                if os.access(os.path.join(folder, tool), os.X_OK):
                    self.skipTest("%s/%s exists: cannot test the missing-conda case here" % (folder, tool))
        server = self.start_server()
        agent = self.start_conda_agent(server, env=self.agent_env(PATH="/usr/bin:/bin"))
        run_id = self.submit_spec(self.conda_spec(self.conda_project("none")), server=server)
        run = self.assert_environment_failure(run_id, server=server)
        message = run["error"]["message"]
        self.assertIn("none is configured", message)
        self.assertIn("conda_dependencies_file", message)
        self.assertEqual(self.calls(), [])
        self.assertEqual(self.env_list(agent.work_dir), [])

    def test_pip_and_conda_together_is_refused(self):
        server = self.start_server()
        agent = self.start_conda_agent(server, tool=self.standin)
        src = self.project("both", {"show.py": CONDA_SHOW_SCRIPT, "environment.yml": ENVIRONMENT_YML,
                                    "requirements.txt": "runyardhello==1.0\n"})
        spec = self.write_spec(src, "show.py", {"interpreter_path": PYTHON, "pip_requirements_file": "requirements.txt",
                                                "conda_dependencies_file": "environment.yml"})
        run = self.assert_environment_failure(self.submit_spec(spec, server=server), server=server)
        self.assertIn("not both", run["error"]["message"])
        self.assertEqual(self.calls(), [])
        self.assertEqual(self.env_list(agent.work_dir), [])

    def test_configured_tool_missing(self):
        server = self.start_server()
        agent = self.start_conda_agent(server, tool="/nonexistent/conda")
        run_id = self.submit_spec(self.conda_spec(self.conda_project("missing")), server=server)
        run = self.assert_environment_failure(run_id, server=server)
        self.assertIn("/nonexistent/conda", run["error"]["message"])
        self.assertEqual(self.env_list(agent.work_dir), [])


if __name__ == "__main__":
    unittest.main()
