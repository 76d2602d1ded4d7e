"""CLI of the in-run API's history, with the real binaries: `runyard metrics` (table,
--name, --json, -f), `show`, `tag`, `list --tag/--property/--status/--parent/--archived`,
`experiments` and `experiment archive|unarchive`, for a local run and a run on a pool.

The scripts write record lines (docs: the contract's record format) straight into
$RUNYARD_RUN_API_DIR/records.jsonl, as the SDK does, so these tests need no SDK."""
import json
import os
import textwrap
import unittest
import uuid

import harness
from harness import PYTHON

RECORDER = '''
import json, os, sys, time
API_DIR = os.environ.get("RUNYARD_RUN_API_DIR")
if not API_DIR or not os.path.exists(os.path.join(API_DIR, "records.jsonl")):
    print("NO_RUN_API", flush=True)
    sys.exit(0)
CONTEXT = json.load(open(os.path.join(API_DIR, "context.json")))
RUN_ID = CONTEXT["run_id"]
_fd = os.open(os.path.join(API_DIR, "records.jsonl"), os.O_WRONLY | os.O_APPEND)
def record(**fields):
    fields.setdefault("t", time.time())
    os.write(_fd, (json.dumps(fields) + "\\n").encode())
def metric(name, kind, values, **extra):
    record(k="metric", n=name, type=kind, v=values, **extra)
'''

SCRIPTS = {
    # What acceptance 1 logs: a series with steps, a string, a list of 10, a row, a table,
    # an image, tags, properties and three children that log and complete.
    "log_everything.py": RECORDER + textwrap.dedent("""
        for epoch in range(5):
            metric("loss", "scalar", [round(1.0 / (epoch + 1), 4)], s=epoch, d="training loss")
        metric("phase", "scalar", ["warmup"])
        metric("phase", "scalar", ["train"])
        metric("values", "list", list(range(10)))
        metric("scores", "row", [{"epoch": 1, "f1": 0.5}])
        metric("summary", "table", [{"col": [1, 2, 3]}])
        metric("curve", "image", ["logs/images/curve-0.png"])
        record(k="tag", tags={"team": "vision", "reviewed": ""})
        record(k="props", props={"dataset": "mnist-v2"})
        for n in range(1, 4):
            child = "%s_%d" % (RUN_ID, n)
            record(k="child", r=child, name="child-%d" % n, tags={"index": str(n)})
            record(k="metric", r=child, n="child_loss", type="scalar", v=[n / 10])
            record(k="status", r=child, s="Completed")
        print("logged", RUN_ID, flush=True)
    """),
    # Logs 3 values, waits for the test's latch (argv[1]), logs 3 more.
    "log_in_two_halves.py": harness.LATCH_WAITER + RECORDER + textwrap.dedent("""
        for i in range(3):
            metric("loss", "scalar", [10 - i], s=i)
        print("first half logged", flush=True)
        if not wait_for_latch(sys.argv[1], 300):
            sys.exit(9)
        for i in range(3, 6):
            metric("loss", "scalar", [10 - i], s=i)
        print("second half logged", flush=True)
    """),
}


class CliRunApiTest(harness.RunyardTestCase):

    def scripts_dir(self, *names):
        path = self.make_dir("src-" + uuid.uuid4().hex[:8])
        for name in names:
            with open(os.path.join(path, name), "w") as f:
                f.write(SCRIPTS[name].lstrip())
        return path

    def run_script(self, script, experiment, *arguments, server=None, target="local"):
        """Runs `script` to its end; returns its run id (skips without the in-run API)."""
        source = self.scripts_dir(script)
        args = ["run", "--source-directory", source, "--script", script, "--interpreter", PYTHON,
                "--target", target, "--experiment", experiment]
        if arguments:
            args += ["--"] + list(arguments)
        rc, out, err = self.run_cli(args, server=server, timeout=300)
        if "NO_RUN_API" in out:
            self.skipTest("the runtime does not give the script $RUNYARD_RUN_API_DIR/records.jsonl yet")
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s%s" % (out, err, self.describe_processes()))
        return next(line.split()[1] for line in out.splitlines() if line.startswith("logged "))

    def cli_ok(self, args, server=None):
        rc, out, err = self.run_cli(args, server=server)
        self.assertEqual(rc, 0, "runyard %s: rc %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(args), rc, out, err))
        return out

    def metrics_json(self, run_id, server=None, name=None):
        return self.cli_json(["metrics", run_id] + (["--name", name] if name else []), server=server)

    # ------------------------------------------------------------------ checks shared by local and pool

    def check_everything_logged(self, run_id, server=None):
        document = self.metrics_json(run_id, server=server)
        self.assertEqual(document["run_id"], run_id)
        series = {s["name"]: s for s in document["series"]}
        self.assertEqual(set(series), {"loss", "phase", "values", "scores", "summary", "curve"})

        loss = series["loss"]
        self.assertEqual([v["value"] for v in loss["values"]], [1.0, 0.5, 0.3333, 0.25, 0.2])
        self.assertEqual([v["step"] for v in loss["values"]], [0, 1, 2, 3, 4])
        self.assertEqual([v["seq"] for v in loss["values"]], [0, 1, 2, 3, 4])
        self.assertEqual((loss["count"], loss["min"], loss["max"]), (5, 0.2, 1.0))
        self.assertEqual(loss["description"], "training loss")
        self.assertEqual(loss["last"]["value"], 0.2)
        self.assertEqual([v["value"] for v in series["phase"]["values"]], ["warmup", "train"])
        self.assertIsNone(series["phase"]["min"])
        self.assertEqual([v["value"] for v in series["values"]["values"]], list(range(10)))
        self.assertEqual(series["values"]["kind"], "list")
        self.assertEqual(series["scores"]["values"][0]["value"], {"epoch": 1, "f1": 0.5})
        self.assertEqual(series["summary"]["values"][0]["value"], {"col": [1, 2, 3]})
        self.assertEqual(series["curve"]["values"][0]["value"], "logs/images/curve-0.png")
        self.assertEqual(series["curve"]["kind"], "image")

        table = self.cli_ok(["metrics", run_id], server=server)
        lines = {line.split()[0]: line for line in table.splitlines()[1:]}
        self.assertRegex(lines["loss"], r"^loss\s+scalar\s+5\s+0\.2\s+0\.2\s+1\s+█[▁-█]{3}▁$")
        self.assertRegex(lines["values"], r"^values\s+list\s+10\s+9\s+0\s+9\s+▁[▁-█]{8}█$")
        self.assertRegex(lines["phase"], r"^phase\s+scalar\s+2\s+train\s+-\s+-$")
        self.assertIn('{"epoch":1,"f1":0.5}', lines["scores"])

        values = self.cli_ok(["metrics", run_id, "--name", "loss"], server=server).splitlines()
        self.assertEqual(values[0], "loss (scalar, 5 values, min 0.2, max 1): training loss")
        self.assertEqual([row.split()[1] for row in values[2:]], ["0", "1", "2", "3", "4"])
        self.assertEqual([row.split()[3] for row in values[2:]], ["1", "0.5", "0.3333", "0.25", "0.2"])

        rc, _, err = self.run_cli(["metrics", run_id, "--name", "los"], server=server)
        self.assertEqual(rc, 2, err)
        self.assertIn("has no metric named 'los' (it has: curve, loss, phase, scores, summary, values)", err)

        # The children: runs of their own, with their parent, tags and metrics.
        children = self.cli_json(["list", "--parent", run_id], server=server)
        self.assertEqual(sorted(c["run_id"] for c in children), ["%s_%d" % (run_id, n) for n in (1, 2, 3)])
        for child in children:
            self.assertEqual(child["parent_run_id"], run_id)
            self.assertEqual(child["status"], "Completed")
            n = int(child["run_id"].rsplit("_", 1)[1])
            self.assertEqual(child["tags"], {"index": str(n)})
            self.assertEqual(child["display_name"], "child-%d" % n)
            child_metrics = self.metrics_json(child["run_id"], server=server)
            self.assertEqual([v["value"] for v in child_metrics["series"][0]["values"]], [n / 10])

        top_level = [line.split()[0] for line in self.cli_ok(["list"], server=server).splitlines()[1:]]
        self.assertIn(run_id, top_level)
        self.assertFalse([i for i in top_level if i.startswith(run_id + "_")],
                         "a plain list shows top-level runs only")
        listing = self.cli_ok(["list", "--children"], server=server).splitlines()
        ids = [line.split()[0] for line in listing[1:]]
        parent_row = ids.index(run_id)
        self.assertEqual(ids[parent_row + 1:parent_row + 4], ["%s_%d" % (run_id, n) for n in (1, 2, 3)])
        for row in listing[parent_row + 2:parent_row + 5]:
            self.assertTrue(row.startswith("  %s_" % run_id), row)

        details = self.cli_json(["show", run_id], server=server)
        self.assertEqual(details["run_id"], run_id)
        self.assertEqual(details["status"], "Completed")
        self.assertEqual([c["run_id"] for c in details["children"]], ["%s_%d" % (run_id, n) for n in (1, 2, 3)])
        self.assertEqual(details["tags"], {"team": "vision", "reviewed": ""})
        self.assertEqual(details["properties"]["dataset"], "mnist-v2")
        self.assertEqual(details["definition"]["script"], "log_everything.py")
        self.assertIsNotNone(details["start_time"])
        self.assertIsNotNone(details["end_time"])
        log_files = [f["path"] for f in details["log_files"]]
        self.assertIn("user_logs/std_log.txt", log_files)
        self.assertIn("system_logs/run_records.jsonl", log_files)
        self.assertEqual(details["outputs"], {"files": 0, "bytes": 0})
        text = self.cli_ok(["show", run_id], server=server)
        for expected in ("Run:           %s\n" % run_id, "Status:        Completed (exit code 0)\n",
                         "Children:      3\n", "child-2", "  team = vision\n", "  dataset = mnist-v2\n",
                         "system_logs/run_records.jsonl"):
            self.assertIn(expected, text)

        # Tags: set, removed, filtered on.
        self.assertEqual(self.cli_ok(["tag", run_id, "stage=tuned", "--remove", "reviewed"], server=server),
                         "stage=tuned\nteam=vision\n")
        rc, _, err = self.run_cli(["tag", run_id, "=x"], server=server)
        self.assertEqual(rc, 2)
        self.assertIn("tag wants KEY=VALUE or KEY: got '=x'", err)
        self.assertEqual([r["run_id"] for r in self.cli_json(["list", "--tag", "stage=tuned"], server=server)],
                         [run_id])
        self.assertEqual([r["run_id"] for r in self.cli_json(["list", "--tag", "stage"], server=server)], [run_id])
        self.assertEqual(self.cli_json(["list", "--tag", "stage=other"], server=server), [])
        # Children are listed only when asked for (--children, or --parent).
        self.assertEqual(self.cli_json(["list", "--tag", "index=2"], server=server), [])
        self.assertEqual([r["run_id"] for r in self.cli_json(["list", "--children", "--tag", "index=2",
                                                               "--status", "completed"],
                                                              server=server)], ["%s_2" % run_id])
        self.assertEqual([r["run_id"] for r in self.cli_json(["list", "--property", "dataset=mnist-v2"],
                                                              server=server)], [run_id])
        self.assertEqual(self.cli_json(["list", "--status", "Running"], server=server), [])
        rc, _, err = self.run_cli(["list", "--status", "runing"], server=server)
        self.assertEqual(rc, 2)
        self.assertIn("--status 'runing' is not a run status: use one of NotStarted, Queued", err)

    def check_archive(self, experiment, run_id, server=None):
        experiments = {e["name"]: e for e in self.cli_json(["experiments"], server=server)}
        self.assertEqual(experiments[experiment]["runs"], 4)  # the run and its three children
        self.assertFalse(experiments[experiment]["archived"])
        self.assertIn(experiment, self.cli_ok(["experiments"], server=server))

        self.assertIn("experiment %s archived" % experiment,
                      self.cli_ok(["experiment", "archive", experiment], server=server))
        self.assertNotIn(experiment, [e["name"] for e in self.cli_json(["experiments"], server=server)])
        archived = {e["name"]: e for e in self.cli_json(["experiments", "--archived"], server=server)}
        self.assertTrue(archived[experiment]["archived"])
        self.assertNotIn(run_id, [r["run_id"] for r in self.cli_json(["list"], server=server)])
        self.assertIn(run_id, [r["run_id"] for r in self.cli_json(["list", "--archived"], server=server)])
        self.assertIn(run_id, [r["run_id"] for r in self.cli_json(["list", "--experiment", experiment],
                                                                   server=server)])
        # Never deleted: its metrics are all there.
        self.assertEqual(self.metrics_json(run_id, server=server, name="loss")["series"][0]["count"], 5)

        self.cli_ok(["experiment", "unarchive", experiment], server=server)
        self.assertIn(run_id, [r["run_id"] for r in self.cli_json(["list"], server=server)])
        rc, _, err = self.run_cli(["experiment", "archive", "no-such-experiment"], server=server)
        self.assertEqual(rc, 2)
        self.assertIn("no-such-experiment", err)

    # ------------------------------------------------------------------ tests

    def test_local_run_metrics_show_tag_list_and_experiments(self):
        run_id = self.run_script("log_everything.py", "cli-api-local")
        self.check_everything_logged(run_id)
        self.check_archive("cli-api-local", run_id)

    def test_pool_run_metrics_show_tag_list_and_experiments(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        run_id = self.run_script("log_everything.py", "cli-api-pool", server=server, target="cpu")
        self.check_everything_logged(run_id, server=server)
        self.check_archive("cli-api-pool", run_id, server=server)

    def test_metrics_follow_prints_values_as_the_run_logs_them(self):
        source = self.scripts_dir("log_in_two_halves.py")
        release = self.latch()
        submitted = self.submit(["--source-directory", source, "--script", "log_in_two_halves.py",
                                 "--interpreter", PYTHON, "--experiment", "cli-api-follow", "--", release])
        run_id = submitted["run_id"]
        log = harness.wait_for(lambda: next((text for text in [self.logs(run_id)]
                                             if "first half logged" in text or "NO_RUN_API" in text), None),
                               timeout=120, what="the script's first half")
        if "NO_RUN_API" in log:
            self.skipTest("the runtime does not give the script $RUNYARD_RUN_API_DIR/records.jsonl yet")
        follow = self.popen_cli(["metrics", run_id, "-f", "--name", "loss"])
        follow.wait_for_line(r"^2\s+2\s+\S+\s+8$", timeout=60)  # the first half, while it runs
        self.assertTrue(follow.alive(), follow.output())
        self.release_latch(release)
        follow.wait_for_line(r"runyard: %s Completed" % run_id, timeout=120)
        follow.proc.wait(timeout=30)
        self.assertEqual(follow.proc.returncode, 0, follow.output())
        rows = [line.split() for line in follow.stdout().splitlines()[2:]]
        self.assertEqual([(row[0], row[1], row[3]) for row in rows],
                         [(str(i), str(i), str(10 - i)) for i in range(6)])


if __name__ == "__main__":
    unittest.main()
