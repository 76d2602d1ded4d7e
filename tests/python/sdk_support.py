"""Shared set-up of the SDK tests: the SDK on sys.path, and run_api folders as the
runtime would create them (context.json, an empty records.jsonl, committed = 0)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get("RUNYARD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SDK_DIR = os.environ.get("RUNYARD_SDK_DIR") or os.path.join(SOURCE_DIR, "sdk", "python")
if SDK_DIR not in sys.path:
    sys.path.insert(0, SDK_DIR)
sys.dont_write_bytecode = True  # no __pycache__ left in the SDK folder by the tests


def make_run_api(root, run_id="run-1", limits=None, tags=None, properties=None):
    """A run folder <root>/runs/<run_id> with run_api/ (the runtime's files) and the
    work dir's logs/ and outputs/; returns the run_api folder."""
    run_dir = os.path.join(root, "runs", run_id)
    api = os.path.join(run_dir, "run_api")
    wd = os.path.join(run_dir, "wd")
    for folder in (api, os.path.join(wd, "logs"), os.path.join(wd, "outputs")):
        os.makedirs(folder)
    open(os.path.join(api, "records.jsonl"), "wb").close()
    write_committed(api, 0)
    context = {
        "run_id": run_id, "experiment": "exp-1", "display_name": "first run",
        "parent_run_id": "", "tags": tags or {}, "properties": properties or {},
        "compute_target": "local", "limits": limits or {},
        "records": os.path.join(api, "records.jsonl"),
        "committed": os.path.join(api, "committed"),
        "images_dir": os.path.join(wd, "logs", "images"),
        "logs_dir": os.path.join(wd, "logs"), "outputs_dir": os.path.join(wd, "outputs"),
    }
    with open(os.path.join(api, "context.json"), "w") as f:
        json.dump(context, f)
    return api


def write_committed(api, offset):
    """What the runtime does: 20 digits and a newline, rewritten in place."""
    fd = os.open(os.path.join(api, "committed"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"%020d\n" % offset, 0)
    finally:
        os.close(fd)


def _refuse_constant(name):
    raise ValueError("record has the non-JSON constant " + name)


def read_records(api):
    """The records in records.jsonl, parsed strictly (no NaN/Infinity tokens); every
    line must be complete and at most 1 MiB."""
    with open(os.path.join(api, "records.jsonl"), "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        raise AssertionError("records.jsonl ends inside a line")
    records = []
    for line in data.splitlines():
        if len(line) + 1 > (1 << 20):
            raise AssertionError("a record line of %d bytes" % (len(line) + 1))
        records.append(json.loads(line.decode("utf-8"), parse_constant=_refuse_constant))
    return records


def without_time(records):
    """The records without their wall time "t" (checked separately)."""
    return [{k: v for k, v in record.items() if k != "t"} for record in records]


def sdk_env(**extra):
    """An environment for a script process: the SDK on PYTHONPATH, no runyard run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_RUN_API")}
    env["PYTHONPATH"] = SDK_DIR
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_script(code, env, cwd=None):
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


class LiveRunTestCase(unittest.TestCase):
    """A test with a live run: RUNYARD_RUN_API_DIR names a fresh run_api folder."""

    limits = None
    tags = None
    properties = None

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="runyard-sdk-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.api = make_run_api(self.root, limits=self.limits, tags=self.tags,
                                properties=self.properties)
        self.wd = os.path.join(os.path.dirname(self.api), "wd")
        previous = os.environ.get("RUNYARD_RUN_API_DIR")
        os.environ["RUNYARD_RUN_API_DIR"] = self.api
        self.addCleanup(self._restore_env, previous)
        import runyard
        self.run = runyard.Run.get_context()

    @staticmethod
    def _restore_env(previous):
        if previous is None:
            os.environ.pop("RUNYARD_RUN_API_DIR", None)
        else:
            os.environ["RUNYARD_RUN_API_DIR"] = previous

    def records(self):
        return read_records(self.api)
