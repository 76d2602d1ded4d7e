"""Issue 16: metrics from every rank reach the one run, each value tagged with its rank.

A distributed run (PyTorch launcher, 2 nodes x 2 processes, gloo; the script needs no
torch) where every rank logs rank_value = RANK * 10: `runyard metrics RUN --json` has 4
values, one per rank 0..3, each with its "rank"; `--rank N` keeps that rank's; the table
says which ranks logged a series. Locally (compute_target: local) and on a pool of a real
server and 2 agents, where node 1's records travel as system_logs/node_1/run_records.jsonl.
"""
import json
import re

from distributed_support import PYTORCH_2x2, DistributedTestCase

RANK_VALUE_SCRIPT = r'''
import os
from runyard import Run
run = Run.get_context()
rank = int(os.environ["RANK"])
run.log("rank_value", rank * 10)
run.log_list("rank_list", [rank, rank + 100])
run.flush()
print("rank %d logged" % rank, flush=True)
'''


class DistributedMetricsTest(DistributedTestCase):

    def metrics_json(self, run_id, server=None, extra=()):
        rc, out, err = self.run_cli(["metrics", run_id, "--json"] + list(extra), server=server)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        return {series["name"]: series for series in doc["series"]}, doc

    def check_rank_tagged(self, run_id, server=None):
        series, _ = self.metrics_json(run_id, server=server)
        self.assertEqual(sorted(series), ["rank_list", "rank_value"], series)
        values = series["rank_value"]["values"]
        self.assertEqual(len(values), 4, values)
        self.assertEqual(sorted(value["rank"] for value in values), [0, 1, 2, 3], values)
        for value in values:
            self.assertEqual(value["value"], value["rank"] * 10, value)
        self.assertEqual(series["rank_value"]["count"], 4)
        listed = series["rank_list"]["values"]
        self.assertEqual(len(listed), 8, listed)
        by_rank = {}
        for value in listed:
            by_rank.setdefault(value["rank"], []).append(value["value"])
        self.assertEqual(by_rank, {rank: [rank, rank + 100] for rank in range(4)})

        # --rank N: that rank's values only, summed up over them.
        for rank in range(4):
            mine, doc = self.metrics_json(run_id, server=server, extra=["--rank", str(rank)])
            self.assertEqual(doc["rank"], rank)
            self.assertEqual([v["value"] for v in mine["rank_value"]["values"]], [rank * 10])
            self.assertEqual(mine["rank_value"]["count"], 1)
            self.assertEqual(mine["rank_list"]["min"], rank)
            self.assertEqual(mine["rank_list"]["max"], rank + 100)
        none, _ = self.metrics_json(run_id, server=server, extra=["--rank", "9"])
        self.assertEqual(none, {})

        # The table: a RANKS column saying 0-3 for both series.
        rc, out, err = self.run_cli(["metrics", run_id], server=server)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[:4], ["NAME", "KIND", "COUNT", "RANKS"], out)
        for name, count in (("rank_list", "8"), ("rank_value", "4")):
            row = [line for line in lines if line.startswith(name + " ")]
            self.assertEqual(len(row), 1, out)
            self.assertEqual(row[0].split()[1:4], [row[0].split()[1], count, "0-3"], out)
        rc, out, err = self.run_cli(["metrics", run_id, "--rank", "2"], server=server)
        self.assertEqual(rc, 0, err)
        row = [line for line in out.splitlines() if line.startswith("rank_value ")]
        self.assertEqual(row[0].split()[1:4], ["scalar", "1", "20"], out)
        rc, out, err = self.run_cli(["metrics", run_id, "--name", "rank_value", "--rank", "3"],
                                    server=server)
        self.assertEqual(rc, 0, err)
        self.assertIn("rank_value (scalar, 1 value of rank 3, min 30, max 30)", out)

    def test_local_run_every_rank_tagged(self):
        spec = self.make_run_dir("ranks.py", RANK_VALUE_SCRIPT, PYTORCH_2x2, target="local")
        rc, out, err = self.run_cli(["run", spec], timeout=300)
        self.assertEqual(rc, 0, "runyard run failed\nstdout:\n%s\nstderr:\n%s" % (out, err))
        match = re.search(r"^Run (run-[0-9a-zA-Z]+) ", out, re.M)
        self.assertIsNotNone(match, out)
        run_id = match.group(1)
        self.assertEqual(self.status(run_id)["status"], "Completed")
        self.check_rank_tagged(run_id)

    def test_pool_run_every_node_and_rank_tagged(self):
        server = self.start_server()
        for i in range(2):
            self.start_agent(server, name="node%d" % i)
        run_id = self.submit_spec(self.make_run_dir("ranks.py", RANK_VALUE_SCRIPT, PYTORCH_2x2),
                                  server)
        run = self.wait_for_terminal(run_id, server=server, timeout=300)
        self.assertEqual(run["status"], "Completed", json.dumps(run, indent=1) +
                         "".join(self.rank_log(run_id, r, server) for r in range(4)))
        self.assertEqual([node["node_rank"] for node in self.nodes(run)], [0, 1], run)
        # Ranks 2 and 3 ran on node 1: their records came through node 1's channel.
        rc, out, err = self.run_cli(["files", run_id], server=server)
        self.assertEqual(rc, 0, err)
        self.assertIn("system_logs/node_1/run_records.jsonl", out)
        self.check_rank_tagged(run_id, server=server)
