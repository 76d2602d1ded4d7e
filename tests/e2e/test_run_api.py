"""Acceptance (issue 15): a script talks back with Azure ML's v1 Run API, unmodified.

Real binaries throughout: `runyard run` (local), a runyard-server and runyard-agent on
127.0.0.1 (a pool), the Python SDK from the build tree (<build>/sdk/python), which the
runtime puts on the script's PYTHONPATH.

  1. run_api_scripts/azure_v1_script.py, written against the Azure v1 API, runs locally
     and on a pool; `runyard metrics/show/list --parent` show every value with its type,
     in order (EXPECTED below is what the script logs);
  2. the same script under plain python3 (SDK on PYTHONPATH, outside runyard) runs
     through and prints what it would have logged;
  3. what a script logs while the server is down, or the agent-server path is cut, for
     20 s arrives once; an agent SIGKILLed (right after the script logged, or frozen
     first so that it never saw the last records) and restarted keeps what the script
     logged before the kill;
  4. log_list of 1,000,000 values and 100,000 log calls are all recorded; past the
     agent's max_metric_values_per_run the script gets an error naming the limit, and
     past the server's own ceiling the run's system_logs/run_api_errors.txt names it.
The examples (quickstart, pytorch-classifier) log their metrics too.
Scripts that must wait for the test wait on latches (harness.LATCH_WAITER) and mark each
finished phase with a file in a control folder outside the run.
"""
import json
import os
import signal
import subprocess
import textwrap
import time
import unittest
import uuid

import faults
import harness
from harness import PYTHON

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS_DIR = os.path.join(HERE, "run_api_scripts")
AZURE_SCRIPT = "azure_v1_script.py"
SDK_DIR = os.path.join(harness.BIN_DIR, "sdk", "python")


def matplotlib_available():
    return subprocess.run([PYTHON, "-c", "import matplotlib"], capture_output=True).returncode == 0


# What azure_v1_script.py logs: series name -> (kind, [(value, step), ...]), in order.
LOSSES = [0.9, 0.55, 0.31, 0.27, 0.2]
FOLD_ACCURACY = [0.81, 0.79, 0.84, 0.8, 0.83, 0.78, 0.85, 0.82, 0.8, 0.86]
EXPECTED = {
    "learning_rate": ("scalar", [(0.01, None)]),
    "optimizer": ("scalar", [("adam", None)]),
    "epochs": ("scalar", [(5, None)]),
    "early_stopping": ("scalar", [(1, None)]),  # a bool is stored as a number, 0/1
    "loss": ("scalar", [(loss, step) for step, loss in enumerate(LOSSES)]),
    "fold_accuracy": ("list", [(value, None) for value in FOLD_ACCURACY]),
    "per_class": ("row", [({"label": "cat", "precision": 0.9, "recall": 0.75}, None),
                          ({"label": "dog", "precision": 0.8, "recall": 0.85}, None)]),
}
EXPECTED_DESCRIPTIONS = {"learning_rate": "optimizer step size", "fold_accuracy": "accuracy per fold"}
EXPECTED_CHILD = {"fold_score": [0.7, 0.8, 0.9], "fold": [0, 1, 2]}  # child i logs element i
EXPECTED_TAGS = {"stage": "acceptance", "quick": ""}
EXPECTED_PROPERTIES = {"dataset": "synthetic-v1", "seed": "7"}


# ----------------------------------------------------------------------------- fault scripts

# Logs in three phases: 1 before the fault (then flush: committed to the server), 2 while
# the fault lasts (after latch go2), 3 after it (after go3, then flush). Each phase ends with
# a marker file done<N> in the control folder (argv[1]). "hold" as argv[2]: after phase 2
# the script waits on go3 until its run is stopped (the agent-kill test never releases it).
PHASED_SCRIPT = harness.LATCH_WAITER + textwrap.dedent(r'''
    import json, os, sys
    from azureml.core import Run

    control = sys.argv[1]
    hold = len(sys.argv) > 2 and sys.argv[2] == "hold"
    run = Run.get_context()

    def mark(name):
        with open(os.path.join(control, name + ".tmp"), "w") as f:
            f.write(run.id)
        os.rename(os.path.join(control, name + ".tmp"), os.path.join(control, name))

    def phase(number):
        for i in range(200):
            run.log("phase%d" % number, number * 1000 + i, step=i)
        run.log_list("phase%d_list" % number, [number + i / 10000 for i in range(3000)])
        run.log("phase%d_text" % number, "phase %d done" % number)

    phase(1)
    run.flush()
    print("phase 1 logged and flushed", flush=True)
    mark("done1")
    if not wait_for_latch(os.path.join(control, "go2"), 300):
        sys.exit(9)
    phase(2)
    print("phase 2 logged", flush=True)
    mark("done2")
    if not wait_for_latch(os.path.join(control, "go3"), 600):
        sys.exit(9)
    if hold:
        sys.exit(8)
    phase(3)
    run.flush()
    print("phase 3 logged and flushed", flush=True)
    mark("done3")
''')


def phase_expected(number):
    """{series: [values]} that PHASED_SCRIPT's phase `number` logs."""
    return {"phase%d" % number: [number * 1000 + i for i in range(200)],
            "phase%d_list" % number: [number + i / 10000 for i in range(3000)],
            "phase%d_text" % number: ["phase %d done" % number]}


# Acceptance 4: 1,000,000 values in one log_list and 100,000 log calls, then flush.
VOLUME_SCRIPT = r'''
import time
from azureml.core import Run

run = Run.get_context()
started = time.perf_counter()
run.log_list("million", list(range(1000000)))
listed = time.perf_counter()
for i in range(100000):
    run.log("calls", i)
logged = time.perf_counter()
run.flush()
flushed = time.perf_counter()
print("log_list of 1,000,000: %.3f s; 100,000 log calls: %.3f s (%.2f us each); flush: %.3f s" % (
    listed - started, logged - listed, (logged - listed) * 1e6 / 100000, flushed - logged), flush=True)
'''

# Past the run's limit: log `argv[1]` values, then one more must raise RunLimitError.
LIMIT_SCRIPT = r'''
import sys
from azureml.core import Run
import runyard

run = Run.get_context()
limit = int(sys.argv[1])
run.log_list("filler", list(range(limit - 1)))
run.log("last_allowed", 1)
try:
    run.log("one_too_many", 2)
except runyard.RunLimitError as error:
    print("refused:", error, flush=True)
else:
    print("NOT refused", flush=True)
    sys.exit(3)
try:
    run.log_list("many_too_many", [1, 2, 3])
except runyard.RunLimitError as error:
    print("refused list:", error, flush=True)
run.flush()
'''

# More values than the server keeps (the agent lets them through): one log call each.
OVER_SERVER_CEILING_SCRIPT = r'''
import sys
from azureml.core import Run

run = Run.get_context()
for i in range(int(sys.argv[1])):
    run.log("filler", i)
run.flush()
print("logged", sys.argv[1], flush=True)
'''


# ----------------------------------------------------------------------------- the tests


class RunApiTest(faults.FaultTestCase):

    # ------------------------------------------------------------------ reading history

    def metrics(self, run_id, server=None, name=None):
        """{name: series} from `runyard metrics RUN [--name N] --json`: each series' summary
        (kind, description, count, min, max, last) and its "values", in order."""
        doc = self.cli_json(["metrics", run_id] + (["--name", name] if name else []), server=server)
        self.assertEqual(doc["run_id"], run_id)
        return {one["name"]: one for one in doc["series"]}

    def series_values(self, run_id, name, server=None):
        """The values of one series, in order (`runyard metrics RUN --name N --json`)."""
        return self.metrics(run_id, server=server, name=name)[name]["values"]

    def show(self, run_id, server=None):
        return self.cli_json(["show", run_id], server=server)

    def children(self, run_id, server=None):
        return self.cli_json(["list", "--parent", run_id], server=server)

    def assert_same_value(self, got, want, where):
        if isinstance(want, float):
            self.assertIsInstance(got, (int, float), where)
            self.assertAlmostEqual(got, want, places=12, msg=where)
        elif isinstance(want, int):
            self.assertIsInstance(got, (int, float), where)
            self.assertEqual(got, want, where)
        else:
            self.assertEqual(got, want, where)

    def assert_series(self, run_id, name, values, server=None, kind=None, steps=None, got=None):
        """The series holds exactly `values` (each once, in order), of `kind`; `got`: its
        values as already read (else `runyard metrics --name` reads them)."""
        if got is None:
            got = self.series_values(run_id, name, server=server)
        self.assertEqual(len(got), len(values), "%s of %s: %d values, want %d (first: %s)" % (
            name, run_id, len(got), len(values), got[:3]))
        self.assertEqual([v["seq"] for v in got], list(range(len(values))), name)
        for index, (value, want) in enumerate(zip(got, values)):
            self.assert_same_value(value["value"], want, "%s[%d] of %s: %r" % (name, index, run_id, value))
            if kind is not None:
                self.assertEqual(value["kind"], kind, "%s[%d]" % (name, index))
            if steps is not None:
                self.assertEqual(value["step"], steps[index], "%s[%d] step" % (name, index))
        return got

    def check_azure_run(self, run_id, out, server=None):
        """Everything azure_v1_script.py logged is in run history, typed and in order."""
        summaries = self.metrics(run_id, server=server)
        with_image = "loss_curve" in summaries or matplotlib_available()
        wanted = set(EXPECTED) | ({"loss_curve"} if with_image else set())
        self.assertEqual(set(summaries), wanted, json.dumps(summaries, indent=1))
        for name, (kind, values) in EXPECTED.items():
            self.assertEqual(summaries[name]["kind"], kind, summaries[name])
            self.assertEqual(summaries[name]["count"], len(values), summaries[name])
            self.assertEqual(summaries[name]["description"], EXPECTED_DESCRIPTIONS.get(name, ""), name)
            self.assert_series(run_id, name, [v for v, _ in values], kind=kind,
                               steps=[s for _, s in values], got=summaries[name]["values"])
        # Types: a string stays a string, numbers are numbers, a row is an object.
        self.assertEqual(summaries["optimizer"]["last"]["value"], "adam")
        self.assertIsNone(summaries["optimizer"]["min"])
        self.assertEqual((summaries["loss"]["min"], summaries["loss"]["max"]), (min(LOSSES), max(LOSSES)))
        self.assertEqual(summaries["loss"]["last"]["value"], LOSSES[-1])

        files = {f["path"]: f["size"] for f in self.cli_json(["files", run_id], server=server)}
        if with_image:
            image = self.assert_series(run_id, "loss_curve", ["logs/images/loss_curve-0.png"], kind="image",
                                       got=summaries["loss_curve"]["values"])
            self.assertGreater(files.get(image[0]["value"], 0), 0, files)
        else:
            harness.log("matplotlib is not importable: log_image(plot=plt) not checked")
        self.assertIn("outputs/report.txt", files)
        report = self.download(run_id, "outputs/report.txt", os.path.join(self.tmp, run_id + "-report.txt"),
                               server=server)
        with open(report) as f:
            self.assertEqual(f.read(), "best loss 0.2\n")

        details = self.show(run_id, server=server)
        self.assertEqual(details["run_id"], run_id)
        self.assertEqual(details["status"], "Completed", details)
        for key, value in EXPECTED_TAGS.items():
            self.assertEqual(details["tags"].get(key), value, details["tags"])
        for key, value in EXPECTED_PROPERTIES.items():
            self.assertEqual(details["properties"].get(key), value, details["properties"])

        # The children: runs of their own, listed with their parent, each Completed.
        printed = out.split("children:", 1)[1].split()[:3]
        self.assertEqual(printed, ["%s_%d" % (run_id, n) for n in range(3)], out)
        children = sorted(self.children(run_id, server=server), key=lambda run: run["run_id"])
        self.assertEqual([child["run_id"] for child in children], printed)
        self.assertEqual(sorted((c["run_id"], c["status"]) for c in details["children"]),
                         [(child, "Completed") for child in printed], details["children"])
        self.assertEqual(details["definition"]["script"], AZURE_SCRIPT)
        for index, child in enumerate(children):
            self.assertEqual(child["status"], "Completed", child)
            self.assertEqual(self.show(child["run_id"], server=server).get("parent_run_id"), run_id)
            child_metrics = self.metrics(child["run_id"], server=server)
            self.assertEqual(set(child_metrics), set(EXPECTED_CHILD), child_metrics)
            for name, values in EXPECTED_CHILD.items():
                self.assert_series(child["run_id"], name, [values[index]], kind="scalar",
                                   got=child_metrics[name]["values"])
        # A child has no children of its own.
        self.assertEqual(self.children(printed[0], server=server), [])

    def azure_source(self):
        source = self.make_dir("src-azure")
        with open(os.path.join(SCRIPTS_DIR, AZURE_SCRIPT)) as f, open(os.path.join(source, AZURE_SCRIPT), "w") as g:
            g.write(f.read())
        return source

    @staticmethod
    def run_id_of(out):
        line = next((line for line in out.splitlines() if line.startswith("Run run-")), None)
        if line is None:
            raise AssertionError("no run summary in:\n" + out)
        return line.split()[1]

    # ------------------------------------------------------------------ 1. and 2.

    def test_azure_script_runs_locally(self):
        rc, out, err = self.run_cli(["run", "--source-directory", self.azure_source(), "--script", AZURE_SCRIPT,
                                     "--interpreter", PYTHON], timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, err))
        self.assertIn("logged everything", out)
        self.check_azure_run(self.run_id_of(out), out)

    def test_azure_script_runs_on_a_pool(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        rc, out, err = self.run_cli(["run", "--source-directory", self.azure_source(), "--script", AZURE_SCRIPT,
                                     "--interpreter", PYTHON, "--target", "cpu"], server=server, timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s%s" % (out, err, self.describe_processes()))
        self.check_azure_run(self.run_id_of(out), out, server=server)

    def test_azure_script_offline_with_plain_python(self):
        """Outside runyard (no RUNYARD_* in the environment), with the SDK on PYTHONPATH."""
        env = {key: value for key, value in self.env.items() if not key.startswith("RUNYARD_")}
        env["PYTHONPATH"] = SDK_DIR
        work = self.make_dir("offline")
        done = subprocess.run([PYTHON, os.path.join(SCRIPTS_DIR, AZURE_SCRIPT)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, "stdout:\n%s\nstderr:\n%s" % (done.stdout, done.stderr))
        out = done.stdout + done.stderr
        self.assertIn("context: _OfflineRun", out)
        # It printed what it would have logged: each scalar and list, by name.
        for name in ("learning_rate", "optimizer", "loss", "epochs"):
            self.assertIn("Attempted to log scalar metric %s:" % name, out)
        self.assertEqual(out.count("Attempted to log scalar metric loss:"), len(LOSSES), out)
        self.assertIn("adam", out)
        self.assertIn("fold_accuracy", out)
        self.assertIn("per_class", out)
        self.assertIn("logged everything", out)
        # It stored nothing: no run, nothing written but what the script itself wrote.
        self.assertEqual(sorted(os.listdir(work)), ["report.txt"])
        self.assertFalse(os.path.exists(os.path.join(self.home, "runs")))

    # ------------------------------------------------------------------ the examples

    def test_quickstart_logs_loss_and_accuracy_per_epoch(self):
        rc, out, err = self.run_cli(["run", harness.QUICKSTART_SPEC], timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, err))
        summaries = self.metrics(self.run_id_of(out))
        for name in ("loss", "train_accuracy", "val_accuracy"):
            self.assertEqual(summaries[name]["count"], 40, summaries[name]["last"])
            self.assertEqual(summaries[name]["kind"], "scalar")
        self.assertLess(summaries["loss"]["last"]["value"], summaries["loss"]["values"][0]["value"])
        self.assertEqual(summaries["learning_rate"]["last"]["value"], 1.0)

    def test_pytorch_example_logs_metrics_an_image_and_its_model(self):
        missing = subprocess.run([PYTHON, "-c", "import torch, matplotlib"], capture_output=True, text=True)
        if missing.returncode != 0:
            self.skipTest("python3-torch or python3-matplotlib is not installed: %s" % missing.stderr.strip())
        spec = os.path.join(harness.SOURCE_DIR, "examples", "pytorch-classifier", "run.yaml")
        rc, out, err = self.run_cli(["run", spec], timeout=300)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, err))
        run_id = self.run_id_of(out)
        summaries = self.metrics(run_id)
        for name in ("loss", "train_accuracy", "val_accuracy", "epoch_seconds"):
            self.assertEqual(summaries[name]["count"], 6, summaries[name]["last"])
        self.assertGreater(summaries["val_accuracy"]["last"]["value"], 0.5)  # it learned (10 classes)
        self.assertEqual(summaries["loss_curve"]["kind"], "image")
        files = {f["path"]: f["size"] for f in self.cli_json(["files", run_id])}
        self.assertGreater(files.get(summaries["loss_curve"]["last"]["value"], 0), 0, files)
        self.assertGreater(files.get("outputs/model.pt", 0), 0, files)
        self.assertEqual(self.show(run_id)["tags"].get("framework"), "pytorch")

    # ------------------------------------------------------------------ 3. faults

    def submit_phased(self, server, hold=False):
        """Submits PHASED_SCRIPT to pool cpu; returns (run_id, control folder)."""
        source = self.make_dir("src-phased")
        with open(os.path.join(source, "phased.py"), "w") as f:
            f.write(PHASED_SCRIPT)
        control = self.make_dir("control")
        for name in ("go2", "go3"):
            self.latch(os.path.join(control, name))
        self.marker = self.new_marker()
        args = ["--source-directory", source, "--script", "phased.py", "--interpreter", PYTHON,
                "--target", "cpu", "-e", "%s=%s" % (harness.MARKER_VAR, self.marker), "--", control]
        run_id = self.submit(args + (["hold"] if hold else []), server=server)["run_id"]
        return run_id, control

    def wait_marker(self, control, name, timeout=90):
        path = os.path.join(control, name)
        harness.wait_for(lambda: os.path.exists(path), timeout=timeout, interval=0.05,
                         what="the script's marker %s" % name, describe=self.describe_processes)

    def assert_phases_arrived_once(self, run_id, server, phases):
        expected = {}
        for number in phases:
            expected.update(phase_expected(number))
        summaries = self.metrics(run_id, server=server)
        self.assertEqual(set(summaries), set(expected), "series in run history")
        for name, values in expected.items():
            self.assertEqual(summaries[name]["count"], len(values), "%s: %s" % (name, summaries[name]["last"]))
            self.assert_series(run_id, name, values, got=summaries[name]["values"])

    def fault_while_logging(self, fault, restore, seconds=20):
        """Phase 1 committed; `fault()`; phase 2 logged during it; after `seconds`,
        `restore()`; phase 3; every value of every phase in run history once."""
        run_id, control = self.submit_phased(self.server)
        self.wait_for_status(run_id, "Running", server=self.server, timeout=60)
        self.wait_marker(control, "done1")
        # flush() returned: phase 1 is committed to the server, before the fault.
        self.assert_phases_arrived_once(run_id, self.server, [1])
        fault()
        faulted_at = time.monotonic()
        self.release_latch(os.path.join(control, "go2"))
        self.wait_marker(control, "done2", timeout=seconds + 30)
        self.assertLess(time.monotonic() - faulted_at, seconds, "phase 2 logged after the fault should have ended")
        # The fault lasts `seconds` by requirement: a real wait, not a guess about timing.
        time.sleep(max(0.0, seconds - (time.monotonic() - faulted_at)))
        restore()
        harness.log("fault lasted %.1f s" % (time.monotonic() - faulted_at))
        # Phase 2 arrives while the run still runs (it waits for go3), then the rest.
        harness.wait_for(lambda: self.metrics(run_id, server=self.server).get("phase2_text"), timeout=60,
                         what="phase 2's metrics after the fault", describe=self.describe_processes)
        self.release_latch(os.path.join(control, "go3"))
        run = self.wait_for_terminal(run_id, server=self.server, timeout=120)
        self.assertEqual(run["status"], "Completed", run)
        self.assertTrue(os.path.exists(os.path.join(control, "done3")))
        self.assert_phases_arrived_once(run_id, self.server, [1, 2, 3])

    def test_metrics_logged_while_the_server_is_down_arrive_once(self):
        self.server = self.start_server()
        agent = self.start_agent(self.server, pool="cpu")
        self.fault_while_logging(lambda: self.kill_server(self.server), lambda: self.restart_server(self.server))
        self.assertTrue(agent.process.alive(), agent.process.tail())

    def test_metrics_logged_while_the_path_is_cut_arrive_once(self):
        self.server = self.start_server()
        proxy = self.start_proxy(self.server)
        self.start_agent(proxy, pool="cpu")
        self.fault_while_logging(lambda: proxy.cut("reset"), proxy.restore)

    def test_killed_agent_keeps_what_the_script_logged(self):
        """Phase 2 is logged and the agent SIGKILLed as soon as the script says so: the agent
        may have sent some of it, or none (timing decides)."""
        self.check_agent_killed(frozen=False)

    def test_killed_agent_that_never_saw_the_last_records_keeps_them(self):
        """The agent is frozen (SIGSTOP) while the script logs phase 2, then SIGKILLed: it
        certainly never saw those records; the restarted agent must send them."""
        self.check_agent_killed(frozen=True)

    def check_agent_killed(self, frozen):
        """The run ends Failed/AgentLost, and phases 1 and 2 are in run history, each value once."""
        self.server = self.start_server(lease_seconds=3, agent_lost_seconds=3)
        agent = self.start_agent(self.server, pool="cpu")
        run_id, control = self.submit_phased(self.server, hold=True)
        self.wait_for_status(run_id, "Running", server=self.server, timeout=60)
        self.wait_marker(control, "done1")
        if frozen:
            os.kill(agent.pid, signal.SIGSTOP)
            harness.log("agent %s (pid %d) frozen" % (agent.name, agent.pid))
        self.release_latch(os.path.join(control, "go2"))
        self.wait_marker(control, "done2")
        self.kill_agent(agent)
        at_kill = self.metrics(run_id, server=self.server)
        harness.log("at the kill, run history had %s" % {name: s["count"] for name, s in at_kill.items()})
        self.restart_agent(agent)
        run = self.wait_for_terminal(run_id, server=self.server, timeout=60)
        self.assertEqual(run["status"], "Failed", run)
        self.assertEqual(run["error"]["code"], "AgentLost", run)
        harness.wait_for(lambda: self.metrics(run_id, server=self.server).get("phase2_text"), timeout=60,
                         what="phase 2's metrics from the restarted agent", describe=self.describe_processes)
        self.assert_phases_arrived_once(run_id, self.server, [1, 2])
        # The lost run's script outlives the killed agent (it waits for go3): end it.
        harness.kill_processes(self.marker)
        self.assert_no_process(self.marker)

    # ------------------------------------------------------------------ 4. volume and limits

    def test_million_values_and_100k_log_calls(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        run_id, out = self.run_script(server, VOLUME_SCRIPT)
        harness.log(next(line for line in out.splitlines() if line.startswith("log_list")))
        started = time.monotonic()
        summaries = self.metrics(run_id, server=server)
        harness.log("`runyard metrics --json` of 1,100,000 values: %.1f s" % (time.monotonic() - started))
        million, calls = summaries["million"], summaries["calls"]
        self.assertEqual((million["kind"], million["count"], million["min"], million["max"]),
                         ("list", 1000000, 0, 999999), million)
        self.assertEqual(million["last"]["value"], 999999)
        self.assertEqual(million["last"]["seq"], 999999)
        self.assertEqual((calls["kind"], calls["count"], calls["min"], calls["max"]),
                         ("scalar", 100000, 0, 99999), calls)
        # Every value in order, once: value i at seq i.
        for series in (million, calls):
            self.assertEqual(len(series["values"]), series["count"])
            bad = [v for i, v in enumerate(series["values"]) if v["seq"] != i or v["value"] != i]
            self.assertEqual(bad[:5], [], series["name"])

    def test_past_the_limit_the_script_gets_an_error_naming_it(self):
        """The agent's max_metric_values_per_run reaches the script (context.json): the SDK
        refuses the call that would pass it, naming the limit, and records nothing of it."""
        limit = 1000
        server = self.start_server()
        self.start_agent_with(server, ["--max-metric-values-per-run", str(limit)])
        run_id, out = self.run_script(server, LIMIT_SCRIPT, [str(limit)])
        refused = next(line for line in out.splitlines() if line.startswith("refused:"))
        self.assertIn("max_metric_values (%d)" % limit, refused)
        self.assertIn("max_metric_values (%d)" % limit,
                      next(line for line in out.splitlines() if line.startswith("refused list:")))
        summaries = self.metrics(run_id, server=server)
        self.assertEqual(summaries["filler"]["count"], limit - 1)
        self.assertEqual(summaries["last_allowed"]["count"], 1)
        self.assertNotIn("one_too_many", summaries)
        self.assertNotIn("many_too_many", summaries)

    def test_the_server_keeps_its_own_ceiling_and_says_which(self):
        """A server whose max_metric_values_per_run is below the agent's keeps that many
        values and writes why it refused the rest into the run's system_logs/run_api_errors.txt."""
        limit = 1000
        server = self.start_server_with(["--max-metric-values-per-run", str(limit)])
        self.start_agent(server, pool="cpu")
        run_id, out = self.run_script(server, OVER_SERVER_CEILING_SCRIPT, [str(limit + 500)])
        self.assertIn("logged %d" % (limit + 500), out)
        self.assert_series(run_id, "filler", list(range(limit)), server=server)
        self.assertEqual(set(self.metrics(run_id, server=server)), {"filler"})
        errors = self.download(run_id, "system_logs/run_api_errors.txt",
                               os.path.join(self.tmp, "run_api_errors.txt"), server=server)
        with open(errors) as f:
            text = f.read()
        self.assertIn("max_metric_values_per_run %d" % limit, text)

    def run_script(self, server, text, args=()):
        """`runyard run` of a script `text` on pool cpu; it must complete. (run id, stdout)."""
        source = self.make_dir("src-" + uuid.uuid4().hex[:8])
        with open(os.path.join(source, "script.py"), "w") as f:
            f.write(text)
        rc, out, err = self.run_cli(["run", "--source-directory", source, "--script", "script.py",
                                     "--interpreter", PYTHON, "--target", "cpu", "--"] + list(args),
                                    server=server, timeout=600)
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s%s" % (out, err, self.describe_processes()))
        return self.run_id_of(out), out

    # ------------------------------------------------------------------ daemons with flags

    def start_server_with(self, extra_args):
        """harness.start_server with more flags (the limits)."""
        return self.start_server(extra_args=extra_args)

    def start_agent_with(self, server, extra_args, pool="cpu"):
        """harness.start_agent with more flags (the limits)."""
        name = "agent%d" % len(self.agents)
        work_dir = self.make_dir("agent-" + name)
        argv = [harness.AGENT_BIN, "--server", server.address, "--pool", pool, "--work-dir", work_dir,
                "--slots", "1", "--name", name, "--kill-grace-seconds", "2"] + list(extra_args)
        argv += self.agent_security_args(server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, pool, work_dir)
        self.agents.append(agent)
        agent.agent_id = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)",
                                               timeout=60).group(1)
        return agent

if __name__ == "__main__":
    unittest.main()
