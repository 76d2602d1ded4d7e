"""Managed Python environments end to end: pip venvs built once per definition, cached,
shared between concurrent runs, evicted by LRU (never while in use), failures that leave
nothing behind, user-managed interpreters, and the same on local runs.

There is no PyPI here: the tests build their own pure-Python wheels (runyardhello 1.0 and
2.0, runyardextra 1.0) into a wheelhouse the agent is pointed at with --pip-find-links and
--pip-no-index (local runs: PIP_FIND_LINKS / PIP_NO_INDEX, pip's own configuration).

Conda environments are in test_conda_standin.py.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import textwrap
import unittest
import zipfile

import harness
from harness import PYTHON, log

# How long an environment build may take here (venv creation alone is ~5-8 s on a loaded
# 2-core machine; pip install from a local wheelhouse a few more).
BUILD_TIMEOUT = 360

# The first line the builder writes to system_logs/environment.txt for a managed environment.
KEY_LINE = re.compile(r"environment ([0-9a-f]{12}) defined by")
BUILDING = "building it in "
CACHE_HIT = "found in the node's environment cache: reusing it"
WAITING = "another run is building this environment: waiting for it"
BUILT_MEANWHILE = "built meanwhile by another run: reusing it"

# Imports the test package and reports what it saw, as one JSON line.
SHOW_SCRIPT = """
    import json, os, sys
    import runyardhello
    try:
        import runyardextra
        extra = runyardextra.__version__
    except ImportError:
        extra = None
    print("GREETING " + runyardhello.greet(), flush=True)
    print("INFO " + json.dumps({
        "version": runyardhello.__version__,
        "extra": extra,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "virtual_env": os.environ.get("VIRTUAL_ENV"),
        "module": runyardhello.__file__,
    }), flush=True)
"""

# Imports the package, says 'ready', waits until its latch (argv[1]) is released, then proves
# its environment is still whole: a fresh interpreter of the same environment imports it again.
HOLD_SCRIPT = harness.LATCH_WAITER + textwrap.dedent("""
    import json, os, subprocess, sys
    import runyardhello
    print("ready", os.environ.get("RUNYARD_RUN_ID", "?"), runyardhello.__version__, flush=True)
    if not wait_for_latch(sys.argv[1], 600):
        sys.exit("never released")
    again = subprocess.run([sys.executable, "-c", "import runyardhello; print(runyardhello.greet())"],
                           capture_output=True, text=True)
    print("AGAIN rc=%d out=%s err=%s" % (again.returncode, again.stdout.strip(), again.stderr.strip()[-300:]),
          flush=True)
    sys.exit(again.returncode)
""")

TORCH_SCRIPT = """
    import sys
    import torch
    print("TORCH", torch.__version__, torch.tensor([1.0, 2.0]).sum().item(), flush=True)
    print("EXECUTABLE", sys.executable, flush=True)
"""


# ----------------------------------------------------------------------------- wheels


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_wheel(folder, name, version, files):
    """A pure-Python wheel NAME-VERSION-py3-none-any.whl in `folder`; files: {path: text}."""
    dist_info = "%s-%s.dist-info" % (name, version)
    entries = [(path, text.encode()) for path, text in sorted(files.items())]
    entries.append((dist_info + "/METADATA", (
        "Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
        "Summary: runyard end-to-end test package (built by the test)\n" % (name, version)).encode()))
    entries.append((dist_info + "/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: runyard-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n").encode()))
    record = "".join("%s,%s,%d\n" % (path, _record_hash(data), len(data)) for path, data in entries)
    record += dist_info + "/RECORD,,\n"
    entries.append((dist_info + "/RECORD", record.encode()))
    path = os.path.join(folder, "%s-%s-py3-none-any.whl" % (name, version))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name_in_zip, data in entries:
            wheel.writestr(name_in_zip, data)
    return path


def build_wheelhouse(folder, hello=True, extra=True):
    """runyardhello 1.0 and 2.0 (hello), runyardextra 1.0 (extra)."""
    os.makedirs(folder, exist_ok=True)
    for version in ("1.0", "2.0") if hello else ():
        build_wheel(folder, "runyardhello", version, {
            "runyardhello/__init__.py": (
                '__version__ = "%s"\n\n\ndef greet():\n    return "hello from runyardhello %s"\n'
                % (version, version)),
        })
    if extra:
        build_wheel(folder, "runyardextra", "1.0", {"runyardextra/__init__.py": '__version__ = "1.0"\n'})
    return folder


# ----------------------------------------------------------------------------- helpers


def write_file(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def yaml_value(value):
    """A YAML scalar or flow list (JSON is YAML)."""
    return json.dumps(value)


class EnvironmentTestCase(harness.RunyardTestCase):
    """Helpers shared by the environment tests (and test_conda_standin.py)."""

    def setUp(self):
        super().setUp()
        # pip settings of this machine's environment (e.g. PIP_FIND_LINKS) would reach the
        # builds through the agent's environment: the tests say what pip may use.
        for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
            self.env.pop(name, None)
        self.wheelhouse = build_wheelhouse(self.make_dir("wheelhouse"))

    # ------------------------------------------------------------------ agents

    def start_env_agent(self, server, name="envs", slots=1, extra_args=(), env=None, pip=True, timeout=60,
                        work_dir=None):
        """harness.start_agent plus environment flags (the harness has none)."""
        work_dir = work_dir or self.make_dir("agent-" + name)
        argv = [harness.AGENT_BIN, "--server", server.address, "--pool", "cpu", "--work-dir", work_dir,
                "--slots", str(slots), "--name", name, "--kill-grace-seconds", "2"]
        if pip:
            argv += ["--pip-find-links", self.wheelhouse, "--pip-no-index"]
        argv += list(extra_args) + self.agent_security_args(server)
        process = harness.ManagedProcess("agent " + name, argv, env or self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, "cpu", work_dir)
        self.agents.append(agent)
        match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)", timeout=timeout)
        agent.agent_id = match.group(1)
        return agent

    def env_list(self, work_dir):
        """`runyard-agent env list --work-dir DIR --json`."""
        done = subprocess.run([harness.AGENT_BIN, "env", "list", "--work-dir", work_dir, "--json"],
                              env=self.env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(done.returncode, 0, "env list failed: %s%s" % (
            done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")))
        return json.loads(done.stdout.decode())

    def env_prune(self, work_dir, *args):
        """`runyard-agent env prune --work-dir DIR ARGS`: returns its output."""
        done = subprocess.run([harness.AGENT_BIN, "env", "prune", "--work-dir", work_dir] + list(args),
                              env=self.env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        self.assertEqual(done.returncode, 0, "env prune %s failed: %s" % (" ".join(args), out))
        self.assertIn("freed", out)
        return out

    @staticmethod
    def store_entries(work_dir):
        store = os.path.join(work_dir, "envs", "store")
        return sorted(os.listdir(store)) if os.path.isdir(store) else []

    # ------------------------------------------------------------------ specs and runs

    def project(self, name, files):
        """A source folder holding `files` ({relative path: text}; text is dedented)."""
        folder = self.make_dir("src-" + name)
        for path, text in files.items():
            write_file(os.path.join(folder, path), textwrap.dedent(text).lstrip("\n"))
        return folder

    def write_spec(self, source, script, python, target="cpu", arguments=(), name="run"):
        """A run spec YAML next to the source folder; python: the environment.python fields."""
        lines = ["experiment: environments", "source_directory: " + yaml_value(source),
                 "script: " + yaml_value(script), "compute_target: " + yaml_value(target),
                 "max_run_duration_seconds: 900"]
        if arguments:
            lines.append("arguments: " + yaml_value(list(arguments)))
        lines += ["environment:", "  python:"]
        for key, value in python.items():
            lines.append("    %s: %s" % (key, yaml_value(value)))
        path = os.path.join(source + "-" + name + ".yaml")
        write_file(path, "\n".join(lines) + "\n")
        return path

    def submit_spec(self, spec, server=None, env=None):
        rc, out, err = self.run_cli(["submit", "--json", spec], server=server, env=env)
        if rc != 0:
            self.fail("submit %s failed (rc %d)\nstdout:\n%s\nstderr:\n%s" % (spec, rc, out, err))
        return json.loads(out)["run_id"]

    def assert_completed(self, run_id, server=None, timeout=BUILD_TIMEOUT):
        run = self.wait_for_terminal(run_id, server=server, timeout=timeout)
        if run["status"] != "Completed":
            self.fail("run %s is %s, not Completed\n%s\nenvironment.txt:\n%s\nstd_log:\n%s%s" % (
                run_id, run["status"], json.dumps(run, indent=1), self.system_log(run_id, "environment.txt", server),
                self._safe_logs(run_id, server), self.describe_processes()))
        return run

    def assert_environment_failure(self, run_id, server=None, timeout=BUILD_TIMEOUT):
        run = self.wait_for_terminal(run_id, server=server, timeout=timeout)
        self.assertEqual(run["status"], "Failed", json.dumps(run, indent=1))
        self.assertIsNotNone(run["error"], json.dumps(run, indent=1))
        self.assertEqual(run["error"]["code"], "EnvironmentBuildFailed", json.dumps(run, indent=1))
        statuses = self.history_statuses(run)
        self.assertNotIn("Running", statuses, "the script must never start: %s" % statuses)
        return run

    def _safe_logs(self, run_id, server):
        rc, out, err = self.run_cli(["logs", run_id], server=server)
        return out if rc == 0 else "(no logs: %s)" % err.strip()

    def system_log(self, run_id, name, server=None, env=None):
        """system_logs/<name> of a run, downloaded with the CLI; None if it has none."""
        target = os.path.join(self.tmp, "%s-%s" % (run_id, name))
        rc, out, err = self.run_cli(["download", run_id, "system_logs/" + name, "-o", target],
                                    server=server, env=env)
        if rc != 0:
            return None
        with open(target, encoding="utf-8", errors="replace") as f:
            return f.read()

    def environment_log(self, run_id, server=None, env=None):
        text = self.system_log(run_id, "environment.txt", server=server, env=env)
        self.assertIsNotNone(text, "run %s has no system_logs/environment.txt" % run_id)
        return text

    def key_prefix(self, environment_text):
        match = KEY_LINE.search(environment_text)
        self.assertIsNotNone(match, "no 'environment <key> defined by' line in:\n" + environment_text)
        return match.group(1)

    def info(self, run_id, server=None, env=None):
        rc, out, err = self.run_cli(["logs", run_id], server=server, env=env)
        self.assertEqual(rc, 0, err)
        match = re.search(r"^INFO (.*)$", out, re.M)
        self.assertIsNotNone(match, "no INFO line in the output of %s:\n%s" % (run_id, out))
        return json.loads(match.group(1)), out

    def preparing_ms(self, run):
        return self.history_time(run, "Starting") - self.history_time(run, "Preparing")

    def show_project(self, name, requirements, extra_files=None):
        files = {"show.py": SHOW_SCRIPT, "requirements.txt": requirements}
        files.update(extra_files or {})
        return self.project(name, files)

    @staticmethod
    def pip_python(requirements_file="requirements.txt"):
        return {"interpreter_path": PYTHON, "pip_requirements_file": requirements_file}

    def assert_keys(self, entries, expected_prefixes, context=""):
        keys = sorted(entry["key"] for entry in entries)
        self.assertEqual(len(keys), len(expected_prefixes), "%s\nenv list: %s" % (context, json.dumps(entries, indent=1)))
        for prefix in expected_prefixes:
            self.assertTrue(any(key.startswith(prefix) for key in keys),
                            "no environment %s in %s %s" % (prefix, keys, context))


# ----------------------------------------------------------------------------- tests


class PipEnvironmentCacheTest(EnvironmentTestCase):
    """Acceptance 1: built once, reused by the same definition, rebuilt for a new one."""

    def test_build_reuse_and_new_definition(self):
        server = self.start_server()
        agent = self.start_env_agent(server)
        envs_root = os.path.join(agent.work_dir, "envs")

        # 1. First run: the environment is built.
        first_src = self.show_project("first", "runyardhello==1.0\nrunyardextra==1.0\n")
        first = self.submit_spec(self.write_spec(first_src, "show.py", self.pip_python()), server=server)
        run1 = self.assert_completed(first, server=server)
        info1, out1 = self.info(first, server=server)
        self.assertIn("GREETING hello from runyardhello 1.0\n", out1)
        self.assertEqual(info1["version"], "1.0", info1)
        self.assertEqual(info1["extra"], "1.0", info1)
        env_text1 = self.environment_log(first, server=server)
        self.assertIn(BUILDING, env_text1)
        self.assertNotIn(CACHE_HIT, env_text1)
        key1 = self.key_prefix(env_text1)
        # The script ran in the venv, in the node's store.
        store = os.path.join(envs_root, "store")
        self.assertTrue(info1["executable"].startswith(store + os.sep + key1), info1)
        self.assertTrue(info1["executable"].endswith("/env/bin/python"), info1)
        self.assertEqual(info1["virtual_env"], os.path.dirname(os.path.dirname(info1["executable"])), info1)
        self.assertTrue(info1["module"].startswith(info1["virtual_env"] + "/"), info1)
        packages1 = self.system_log(first, "resolved_packages.txt", server=server)
        self.assertIsNotNone(packages1, "no system_logs/resolved_packages.txt")
        self.assertIn("runyardhello==1.0", packages1.splitlines(), packages1)
        self.assertIn("runyardextra==1.0", packages1.splitlines(), packages1)
        # The published link: envs/<key> -> store/<key>-<random>/, holding the venv.
        links = [n for n in os.listdir(envs_root) if n.startswith(key1) and os.path.islink(os.path.join(envs_root, n))]
        self.assertEqual(len(links), 1, os.listdir(envs_root))
        target = os.path.realpath(os.path.join(envs_root, links[0]))
        self.assertEqual(os.path.join(target, "env"), info1["virtual_env"])

        # 2. Same definition, but comments, blank lines, whitespace and order changed: a hit.
        second_src = self.show_project("second", (
            "# the same two packages, reordered and commented, with Windows line endings\r\n"
            "\r\n"
            "runyardextra==1.0   # an extra\r\n"
            "   runyardhello==1.0\r\n"
            "\r\n"))
        second = self.submit_spec(self.write_spec(second_src, "show.py", self.pip_python()), server=server)
        run2 = self.assert_completed(second, server=server)
        env_text2 = self.environment_log(second, server=server)
        self.assertIn(CACHE_HIT, env_text2)
        self.assertNotIn(BUILDING, env_text2)
        self.assertEqual(self.key_prefix(env_text2), key1, env_text2)
        info2, _ = self.info(second, server=server)
        self.assertEqual(info2["virtual_env"], info1["virtual_env"])
        self.assertEqual(info2["version"], "1.0")
        packages2 = self.system_log(second, "resolved_packages.txt", server=server)
        self.assertEqual(packages2, packages1)

        prep1, prep2 = self.preparing_ms(run1), self.preparing_ms(run2)
        log("Preparing (Preparing -> Starting): first build %d ms, cache hit %d ms" % (prep1, prep2))
        print("\nPreparing duration: first build %d ms, cache hit %d ms" % (prep1, prep2))
        self.assertLess(prep2 * 3, prep1, "a cache hit must take < 1/3 of the first build's preparation "
                                          "(first %d ms, hit %d ms)" % (prep1, prep2))

        # 3. Same packages through a `-r` include: still the same definition.
        third_src = self.show_project("third", "runyardhello==1.0\n-r more/extra.txt\n",
                                      {"more/extra.txt": "runyardextra==1.0\n"})
        third = self.submit_spec(self.write_spec(third_src, "show.py", self.pip_python()), server=server)
        self.assert_completed(third, server=server)
        env_text3 = self.environment_log(third, server=server)
        self.assertIn(CACHE_HIT, env_text3)
        self.assertEqual(self.key_prefix(env_text3), key1, env_text3)

        # 4. A changed requirement: a new environment, and the script sees 2.0.
        new_src = self.show_project("new", "runyardhello==2.0\nrunyardextra==1.0\n")
        new = self.submit_spec(self.write_spec(new_src, "show.py", self.pip_python()), server=server)
        self.assert_completed(new, server=server)
        env_text4 = self.environment_log(new, server=server)
        self.assertIn(BUILDING, env_text4)
        key4 = self.key_prefix(env_text4)
        self.assertNotEqual(key4, key1)
        info4, out4 = self.info(new, server=server)
        self.assertIn("GREETING hello from runyardhello 2.0\n", out4)
        self.assertEqual(info4["version"], "2.0", info4)
        self.assertNotEqual(info4["virtual_env"], info1["virtual_env"])
        self.assertIn("runyardhello==2.0", self.system_log(new, "resolved_packages.txt", server=server).splitlines())

        entries = self.env_list(agent.work_dir)
        self.assert_keys(entries, [key1, key4])
        for entry in entries:
            self.assertEqual(entry["kind"], "pip", entry)
            self.assertFalse(entry["in_use"], entry)
            self.assertGreater(entry["size"], 1_000_000, entry)
            self.assertTrue(entry["prefix"].startswith(store + os.sep + entry["key"] + "-"), entry)
        self.assertEqual(len(self.store_entries(agent.work_dir)), 2, self.store_entries(agent.work_dir))

        # The text form lists both too.
        done = subprocess.run([harness.AGENT_BIN, "env", "list", "--work-dir", agent.work_dir],
                              env=self.env, capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 0)
        text = done.stdout.decode()
        self.assertIn(key1, text)
        self.assertIn(key4, text)

        # env prune down to a quota that holds one: the least recently used (key1) goes.
        sizes = {e["key"][:12]: e["size"] for e in entries}
        self.env_prune(agent.work_dir, "--env-cache-max-bytes", str(max(sizes.values()) + 1000))
        self.assert_keys(self.env_list(agent.work_dir), [key4], "(after env prune to one environment's size)")
        self.assertEqual(len(self.store_entries(agent.work_dir)), 1)
        # env prune --all: every unused environment goes.
        self.env_prune(agent.work_dir, "--all")
        self.assertEqual(self.env_list(agent.work_dir), [])
        self.assertEqual(self.store_entries(agent.work_dir), [])
        # A pruned environment is built again when wanted.
        rebuilt = self.submit_spec(self.write_spec(new_src, "show.py", self.pip_python(), name="rebuilt"),
                                   server=server)
        self.assert_completed(rebuilt, server=server)
        self.assertIn(BUILDING, self.environment_log(rebuilt, server=server))
        self.assertEqual(self.info(rebuilt, server=server)[0]["version"], "2.0")


class RequirementCommentTest(EnvironmentTestCase):
    """pip reads '<whitespace>#' as the start of a comment, a tab included: such a comment
    does not change the definition either."""

    def test_tab_before_comment_hits_the_cache(self):
        server = self.start_server()
        agent = self.start_env_agent(server)
        plain = self.show_project("plain", "runyardhello==1.0\n")
        first = self.submit_spec(self.write_spec(plain, "show.py", self.pip_python()), server=server)
        self.assert_completed(first, server=server)
        key = self.key_prefix(self.environment_log(first, server=server))

        tabbed = self.show_project("tabbed", "runyardhello==1.0\t# pinned for the test\n")
        second = self.submit_spec(self.write_spec(tabbed, "show.py", self.pip_python()), server=server)
        self.assert_completed(second, server=server)  # pip itself reads the line as 'runyardhello==1.0'
        text = self.environment_log(second, server=server)
        self.assertEqual(self.key_prefix(text), key,
                         "a comment after a tab changed the environment's definition:\n" + text)
        self.assertIn(CACHE_HIT, text)
        self.assertEqual(len(self.env_list(agent.work_dir)), 1)


class ConcurrentBuildTest(EnvironmentTestCase):
    """Acceptance 2: two runs wanting the same new environment: one builds, the other waits."""

    def test_one_builds_the_other_waits(self):
        # Also: --base-python (the spec names no interpreter), --pip-find-links given twice
        # (one folder per package), and pip_packages instead of a requirements file.
        hello_only = build_wheelhouse(self.make_dir("wheels-hello"), extra=False)
        extra_only = build_wheelhouse(self.make_dir("wheels-extra"), hello=False)
        server = self.start_server()
        agent = self.start_env_agent(server, slots=2, pip=False, extra_args=[
            "--base-python", PYTHON, "--pip-find-links", hello_only, "--pip-find-links", extra_only,
            "--pip-no-index"])
        src = self.project("shared", {"show.py": SHOW_SCRIPT})
        spec = self.write_spec(src, "show.py", {"pip_packages": ["runyardhello==1.0", "runyardextra==1.0"]})
        runs = [self.submit_spec(spec, server=server), self.submit_spec(spec, server=server)]
        for run_id in runs:
            self.assert_completed(run_id, server=server)

        texts = [self.environment_log(run_id, server=server) for run_id in runs]
        builders = [i for i, text in enumerate(texts) if BUILDING in text]
        self.assertEqual(len(builders), 1, "exactly one run must build:\n%s" % "\n-----\n".join(texts))
        other = texts[1 - builders[0]]
        waited = WAITING in other and BUILT_MEANWHILE in other
        hit = CACHE_HIT in other
        self.assertTrue(waited or hit, "the other run neither waited for the build nor reused it:\n" + other)
        self.assertNotIn(BUILDING, other)
        log("concurrent build: run %d built; the other %s" % (
            builders[0], "waited for it" if waited else "found it built (started after the build)"))
        self.assertEqual(self.key_prefix(texts[0]), self.key_prefix(texts[1]))

        infos = [self.info(run_id, server=server)[0] for run_id in runs]
        self.assertEqual(infos[0]["virtual_env"], infos[1]["virtual_env"])
        self.assertEqual([i["version"] for i in infos], ["1.0", "1.0"])
        self.assertEqual([i["extra"] for i in infos], ["1.0", "1.0"])
        builder_text = texts[builders[0]]
        self.assertIn("base: " + os.path.realpath(PYTHON) + "\n", builder_text)
        self.assertIn("find_links: %s %s\n" % (hello_only, extra_only), builder_text)
        self.assertEqual(len(self.env_list(agent.work_dir)), 1, self.env_list(agent.work_dir))
        self.assertEqual(len(self.store_entries(agent.work_dir)), 1, self.store_entries(agent.work_dir))


class FailedBuildTest(EnvironmentTestCase):
    """Acceptance 3: a requirement pip cannot satisfy fails the run and leaves nothing behind."""

    def test_unsatisfiable_requirement(self):
        server = self.start_server()
        agent = self.start_env_agent(server)
        src = self.show_project("broken", "doesnotexist==9.9\n")
        run_id = self.submit_spec(self.write_spec(src, "show.py", self.pip_python()), server=server)
        run = self.assert_environment_failure(run_id, server=server)
        message = run["error"]["message"]
        self.assertTrue("No matching distribution" in message or "Could not find a version" in message,
                        "pip's error is not in the message:\n" + message)
        self.assertIn("doesnotexist", message)
        self.assertIn("pip install", message)
        env_text = self.environment_log(run_id, server=server)
        self.assertIn(BUILDING, env_text)
        self.assertIn("doesnotexist", env_text)

        self.assertEqual(self.env_list(agent.work_dir), [])
        self.assertEqual(self.store_entries(agent.work_dir), [], "a half-built environment was left behind")
        envs_root = os.path.join(agent.work_dir, "envs")
        self.assertFalse([n for n in os.listdir(envs_root) if os.path.islink(os.path.join(envs_root, n))],
                         os.listdir(envs_root))

        # The failure did not leave the build lock held: the same definition fails again
        # (it does not wait forever), and a good definition still builds on this agent.
        again = self.submit_spec(self.write_spec(src, "show.py", self.pip_python(), name="again"), server=server)
        self.assert_environment_failure(again, server=server)
        self.assertNotIn(WAITING, self.environment_log(again, server=server))
        good_src = self.show_project("good", "runyardhello==1.0\n")
        good = self.submit_spec(self.write_spec(good_src, "show.py", self.pip_python()), server=server)
        self.assert_completed(good, server=server)
        self.assertEqual(len(self.env_list(agent.work_dir)), 1)


class SpecProblemsTest(EnvironmentTestCase):
    """Requirement files that are missing, outside the snapshot or include themselves fail
    the run (EnvironmentBuildFailed, naming the problem) before anything is built."""

    CASES = [
        # (name, pip_requirements_file, files, text expected in the message)
        ("missing", "nothere.txt", {}, "'nothere.txt' is not in the snapshot"),
        ("outside", "../outside.txt", {}, "must be a relative path inside the source directory"),
        ("absolute", "/etc/hostname", {}, "must be a relative path inside the source directory"),
        ("include-missing", "requirements.txt", {"requirements.txt": "-r missing.txt\n"},
         "'missing.txt' is not in the snapshot"),
        ("include-outside", "requirements.txt", {"requirements.txt": "-r ../../../../etc/hostname\n"},
         "must be a relative path inside the source directory"),
        ("include-absolute", "requirements.txt", {"requirements.txt": "--requirement /etc/hostname\n"},
         "must be a relative path inside the source directory"),
        ("include-cycle", "a.txt", {"a.txt": "-r b.txt\n", "b.txt": "runyardhello==1.0\n-r a.txt\n"},
         "nest too deep"),
    ]

    def test_bad_requirement_files(self):
        server = self.start_server()
        agent = self.start_env_agent(server, slots=2)
        submitted = []
        for name, requirements, files, expected in self.CASES:
            files = dict(files)
            files["show.py"] = SHOW_SCRIPT
            src = self.project(name, files)
            spec = self.write_spec(src, "show.py", self.pip_python(requirements))
            submitted.append((name, expected, self.submit_spec(spec, server=server)))
        for name, expected, run_id in submitted:
            with self.subTest(case=name):
                run = self.assert_environment_failure(run_id, server=server, timeout=120)
                self.assertIn(expected, run["error"]["message"])
                self.assertNotIn(BUILDING, self.system_log(run_id, "environment.txt", server=server) or "")
        self.assertEqual(self.env_list(agent.work_dir), [])
        self.assertEqual(self.store_entries(agent.work_dir), [])


class EvictionTest(EnvironmentTestCase):
    """Acceptance 5: least recently used environments go when over quota, never one in use."""

    QUOTA = 30_000_000  # a venv is ~22 MB here: two do not fit

    def test_lru_eviction_spares_environment_in_use(self):
        server = self.start_server()
        agent = self.start_env_agent(server, slots=2, extra_args=["--env-cache-max-bytes", str(self.QUOTA)])
        release = self.latch()

        # A: built, used, done.
        src_a = self.show_project("a", "runyardhello==1.0\n")
        run_a = self.submit_spec(self.write_spec(src_a, "show.py", self.pip_python()), server=server)
        self.assert_completed(run_a, server=server)
        key_a = self.key_prefix(self.environment_log(run_a, server=server))
        entries = self.env_list(agent.work_dir)
        self.assert_keys(entries, [key_a], "(one environment fits the quota)")
        self.assertGreater(entries[0]["size"] * 2, self.QUOTA,
                           "a venv is smaller here than this test assumes (two would fit the quota): %s" % entries)

        # B: a run that holds its environment until released.
        src_b = self.project("b", {"hold.py": HOLD_SCRIPT, "requirements.txt": "runyardhello==2.0\n"})
        run_b = self.submit_spec(self.write_spec(src_b, "hold.py", self.pip_python(), arguments=[release]),
                                 server=server)
        self.wait_for_log(run_b, "ready " + run_b + " 2.0", server=server, timeout=BUILD_TIMEOUT)
        key_b = self.key_prefix(self.environment_log(run_b, server=server))
        during = {e["key"][:12]: e for e in self.env_list(agent.work_dir)}
        self.assertTrue(during[key_b]["in_use"], during)
        self.assertFalse(during[key_a]["in_use"], during)

        # C: runs to completion while B is running; its end triggers the eviction.
        src_c = self.show_project("c", "runyardextra==1.0\nrunyardhello==1.0\n")
        run_c = self.submit_spec(self.write_spec(src_c, "show.py", self.pip_python()), server=server)
        self.assert_completed(run_c, server=server)
        key_c = self.key_prefix(self.environment_log(run_c, server=server))
        self.assertEqual(len({key_a, key_b, key_c}), 3)
        self.assertEqual(self.status(run_b, server=server)["status"], "Running")
        runtime_c = self.system_log(run_c, "runtime.txt", server=server)
        self.assertIn("environment cache over quota: evicted", runtime_c)

        after = self.env_list(agent.work_dir)
        keys_after = {e["key"][:12]: e for e in after}
        log("after C: %s" % {k: (e["size"], e["in_use"]) for k, e in keys_after.items()})
        self.assertNotIn(key_a, keys_after, "A (least recently used, unused) must be evicted: %s" % after)
        self.assertIn(key_b, keys_after, "B is in use by a running run: it must survive: %s" % after)
        self.assertTrue(keys_after[key_b]["in_use"], after)
        # What is left fits the quota, unless only environments in use keep it over.
        unpinned = [e for e in after if not e["in_use"]]
        total = sum(e["size"] for e in after)
        self.assertTrue(total <= self.QUOTA or not unpinned,
                        "over quota (%d > %d) with unused environments left: %s" % (total, self.QUOTA, after))
        store = self.store_entries(agent.work_dir)
        self.assertFalse([n for n in store if n.startswith(key_a)], "A's folder is still in the store: %s" % store)
        self.assertEqual(len(store), len(after), "store folders %s vs environments %s" % (store, after))

        # env prune --all beside the running agent: B is in use, it stays.
        self.env_prune(agent.work_dir, "--all")
        self.assert_keys(self.env_list(agent.work_dir), [key_b], "(env prune --all while B runs)")
        self.assertEqual(len(self.store_entries(agent.work_dir)), 1)

        # B, released, still has an intact environment and completes.
        self.release_latch(release)
        self.assert_completed(run_b, server=server)
        self.assertIn("AGAIN rc=0 out=hello from runyardhello 2.0", self.logs(run_b, server=server))
        final = self.env_list(agent.work_dir)
        self.assertIn(key_b, {e["key"][:12] for e in final}, "B fits the quota alone: it stays cached: %s" % final)
        self.assertFalse(any(e["in_use"] for e in final), final)
        self.assertLessEqual(sum(e["size"] for e in final), self.QUOTA, final)

        # An evicted environment is simply built again.
        again = self.submit_spec(self.write_spec(src_a, "show.py", self.pip_python(), name="again"), server=server)
        self.assert_completed(again, server=server)
        env_text = self.environment_log(again, server=server)
        self.assertEqual(self.key_prefix(env_text), key_a)
        self.assertIn(BUILDING, env_text)


class LeastRecentlyUsedTest(EnvironmentTestCase):
    """Eviction goes by last use, not by build order: a reused environment outlives a newer one."""

    def test_reused_environment_outlives_newer_one(self):
        server = self.start_server()
        work_dir = self.make_dir("agent-lru")
        first_agent = self.start_env_agent(server, name="lru-measure", work_dir=work_dir)
        src_a = self.show_project("a", "runyardhello==1.0\n")
        run_a = self.submit_spec(self.write_spec(src_a, "show.py", self.pip_python()), server=server)
        self.assert_completed(run_a, server=server)
        key_a = self.key_prefix(self.environment_log(run_a, server=server))
        size = self.env_list(work_dir)[0]["size"]
        # Two environments fit, three do not.
        quota = int(size * 2.5)
        log("one venv: %d bytes; quota %d" % (size, quota))
        first_agent.process.stop()
        self.start_env_agent(server, name="lru", work_dir=work_dir, extra_args=["--env-cache-max-bytes", str(quota)])

        src_b = self.show_project("b", "runyardhello==2.0\n")
        run_b = self.submit_spec(self.write_spec(src_b, "show.py", self.pip_python()), server=server)
        self.assert_completed(run_b, server=server)
        key_b = self.key_prefix(self.environment_log(run_b, server=server))
        self.assert_keys(self.env_list(work_dir), [key_a, key_b], "(two fit the quota)")

        # A is used again: now B is the least recently used.
        reuse_a = self.submit_spec(self.write_spec(src_a, "show.py", self.pip_python(), name="reuse"), server=server)
        self.assert_completed(reuse_a, server=server)
        self.assertIn(CACHE_HIT, self.environment_log(reuse_a, server=server))

        src_c = self.show_project("c", "runyardextra==1.0\nrunyardhello==1.0\n")
        run_c = self.submit_spec(self.write_spec(src_c, "show.py", self.pip_python()), server=server)
        self.assert_completed(run_c, server=server)
        key_c = self.key_prefix(self.environment_log(run_c, server=server))
        self.assertIn("environment cache over quota: evicted", self.system_log(run_c, "runtime.txt", server=server))
        self.assert_keys(self.env_list(work_dir), [key_a, key_c],
                         "(B, least recently used, must go; A was used after B was built)")


class UserManagedInterpreterTest(EnvironmentTestCase):
    """Acceptance 6: a user-managed interpreter is used as is; a missing one fails clearly."""

    def torch_or_skip(self):
        done = subprocess.run([PYTHON, "-c", "import torch"], capture_output=True, timeout=300)
        if done.returncode != 0:
            self.skipTest("torch is not importable with %s: %s" % (
                PYTHON, done.stderr.decode(errors="replace").strip()[-300:]))

    def local_env(self):
        env = dict(self.env)
        env["PIP_FIND_LINKS"] = self.wheelhouse
        env["PIP_NO_INDEX"] = "1"
        return env

    def test_remote(self):
        self.torch_or_skip()
        server = self.start_server()
        agent = self.start_env_agent(server)
        src = self.project("torch", {"torch_check.py": TORCH_SCRIPT})
        run_id = self.submit_spec(self.write_spec(src, "torch_check.py", {"interpreter_path": PYTHON}), server=server)
        self.assert_completed(run_id, server=server)
        out = self.logs(run_id, server=server)
        self.assertRegex(out, r"(?m)^TORCH \S+ 3\.0$")
        self.assertIn("EXECUTABLE %s\n" % PYTHON, out)
        env_text = self.environment_log(run_id, server=server)
        self.assertIn("user-managed interpreter: " + PYTHON, env_text)
        self.assertIsNone(KEY_LINE.search(env_text), env_text)
        self.assertEqual(self.env_list(agent.work_dir), [], "a user-managed run must build nothing")

        # user_managed_dependencies: true with a requirements file: still nothing is built.
        src2 = self.project("torch-um", {"torch_check.py": TORCH_SCRIPT, "requirements.txt": "doesnotexist==9.9\n"})
        spec2 = self.write_spec(src2, "torch_check.py", {"user_managed_dependencies": True,
                                                         "interpreter_path": PYTHON,
                                                         "pip_requirements_file": "requirements.txt"})
        run2 = self.submit_spec(spec2, server=server)
        self.assert_completed(run2, server=server)
        self.assertEqual(self.env_list(agent.work_dir), [])

        # A missing user-managed interpreter.
        missing = self.submit_spec(self.write_spec(src, "torch_check.py", {"interpreter_path": "/nonexistent/python"},
                                                   name="missing"), server=server)
        run = self.assert_environment_failure(missing, server=server)
        self.assertIn("/nonexistent/python", run["error"]["message"])

        # A missing base interpreter for a managed venv.
        pip_src = self.show_project("badbase", "runyardhello==1.0\n")
        bad_base = self.submit_spec(self.write_spec(pip_src, "show.py", {"interpreter_path": "/nonexistent/python",
                                                                         "pip_requirements_file": "requirements.txt"}),
                                    server=server)
        run = self.assert_environment_failure(bad_base, server=server)
        self.assertIn("/nonexistent/python", run["error"]["message"])
        self.assertEqual(self.env_list(agent.work_dir), [])
        self.assertEqual(self.store_entries(agent.work_dir), [])

    def test_local(self):
        self.torch_or_skip()
        env = self.local_env()
        src = self.project("torch", {"torch_check.py": TORCH_SCRIPT})
        run_id = self.submit_spec(self.write_spec(src, "torch_check.py", {"interpreter_path": PYTHON},
                                                  target="local"), env=env)
        self.assert_completed(run_id)
        out = self.logs(run_id)
        self.assertRegex(out, r"(?m)^TORCH \S+ 3\.0$")
        self.assertIn("user-managed interpreter: " + PYTHON, self.environment_log(run_id))

        missing = self.submit_spec(self.write_spec(src, "torch_check.py", {"interpreter_path": "/nonexistent/python"},
                                                   target="local", name="missing"), env=env)
        run = self.assert_environment_failure(missing)
        self.assertIn("/nonexistent/python", run["error"]["message"])

        pip_src = self.show_project("badbase", "runyardhello==1.0\n")
        bad_base = self.submit_spec(self.write_spec(pip_src, "show.py", {"interpreter_path": "/nonexistent/python",
                                                                         "pip_requirements_file": "requirements.txt"},
                                                    target="local"), env=env)
        run = self.assert_environment_failure(bad_base)
        self.assertIn("/nonexistent/python", run["error"]["message"])


class LocalEnvironmentTest(EnvironmentTestCase):
    """Local runs build into $RUNYARD_HOME/work/envs with pip's own configuration, and reuse."""

    def test_local_pip_packages_built_then_reused(self):
        env = dict(self.env)
        env["PIP_FIND_LINKS"] = self.wheelhouse
        env["PIP_NO_INDEX"] = "1"
        work_dir = os.path.join(self.home, "work")
        src = self.project("local", {"show.py": SHOW_SCRIPT})
        python = {"interpreter_path": PYTHON, "pip_packages": ["runyardhello==1.0"]}

        first = self.submit_spec(self.write_spec(src, "show.py", python, target="local"), env=env)
        run1 = self.assert_completed(first)
        info1, out1 = self.info(first)
        self.assertIn("GREETING hello from runyardhello 1.0\n", out1)
        self.assertTrue(info1["virtual_env"].startswith(os.path.join(work_dir, "envs", "store") + os.sep), info1)
        text1 = self.environment_log(first)
        self.assertIn(BUILDING, text1)
        key = self.key_prefix(text1)
        self.assertIn("runyardhello==1.0", (self.system_log(first, "resolved_packages.txt") or "").splitlines())

        second = self.submit_spec(self.write_spec(src, "show.py", python, target="local", name="again"), env=env)
        run2 = self.assert_completed(second)
        text2 = self.environment_log(second)
        self.assertIn(CACHE_HIT, text2)
        self.assertEqual(self.key_prefix(text2), key)
        info2, _ = self.info(second)
        self.assertEqual(info2["virtual_env"], info1["virtual_env"])
        log("local Preparing: first build %d ms, cache hit %d ms" % (self.preparing_ms(run1), self.preparing_ms(run2)))

        entries = self.env_list(work_dir)
        self.assert_keys(entries, [key])
        self.assertFalse(entries[0]["in_use"], entries)


if __name__ == "__main__":
    unittest.main()
