"""Issue 16: a distributed run's process (RANK, or OMPI_COMM_WORLD_RANK for MPI) tags every
metric record with its rank; tags, properties, children and statuses stay run-wide, and a
single process's records carry no rank."""

import json
import os
import shutil
import tempfile
import unittest

from sdk_support import (LiveRunTestCase, make_run_api, read_records, run_script, sdk_env,
                         without_time)

from runyard._context import process_rank

_RANK_ENVS = ("RANK", "OMPI_COMM_WORLD_RANK")


class _RankEnv(LiveRunTestCase):
    """A live run whose process has the environment `env` (set before get_context)."""

    env = {}

    def setUp(self):
        saved = {name: os.environ.get(name) for name in _RANK_ENVS}
        self.addCleanup(self._restore, saved)
        for name in _RANK_ENVS:
            os.environ.pop(name, None)
        os.environ.update(self.env)
        import runyard
        runyard.Run._context_runs.clear()  # a fresh context reads the rank again
        self.addCleanup(runyard.Run._context_runs.clear)
        super().setUp()

    @staticmethod
    def _restore(saved):
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def log_every_kind(self):
        run = self.run
        run.log("loss", 0.5)
        run.log("loss", 0.25, step=1, description="train")
        run.log_list("acc", [0.1, 0.2])
        run.log_row("row", epoch=1, loss=0.5)
        run.log_table("table", {"a": [1, 2], "b": [3, 4]})
        run.log_confusion_matrix("cm", {"schema_type": "confusion_matrix", "data": [[1]]})
        run.log_accuracy_table("at", '{"data": 1}')
        run.log_predictions("pred", {"data": [1]})
        run.log_residuals("res", {"data": [0]})
        image = os.path.join(self.root, "plot.png")
        with open(image, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\nfake")
        run.log_image("curve", path=image)
        run.tag("stage", "one")
        run.add_properties({"dataset": "v3"})
        child = run.child_run("c")
        child.log("child_loss", 1)
        child.complete()


class TorchRankTest(_RankEnv):
    env = {"RANK": "3"}

    def test_every_metric_record_carries_the_rank(self):
        self.log_every_kind()
        records = self.records()
        metrics = [r for r in records if r["k"] == "metric"]
        self.assertEqual([r["n"] for r in metrics],
                         ["loss", "loss", "acc", "row", "table", "cm", "at", "pred", "res",
                          "curve", "child_loss"])
        for record in metrics:
            self.assertEqual(record["rank"], 3, record)
        for record in records:
            if record["k"] != "metric":
                self.assertNotIn("rank", record, record)
        self.assertEqual(without_time(metrics[:2]), [
            {"k": "metric", "n": "loss", "type": "scalar", "rank": 3, "v": [0.5]},
            {"k": "metric", "n": "loss", "type": "scalar", "rank": 3, "v": [0.25], "s": 1,
             "d": "train"},
        ])
        self.assertEqual(metrics[-1]["r"], "run-1_0")  # the child's values too

    def test_long_lists_and_tables_carry_it_on_every_line(self):
        self.run.log_list("many", list(range(25000)))
        lines = self.records()
        self.assertEqual(len(lines), 3)
        self.assertEqual([r["rank"] for r in lines], [3, 3, 3])
        self.assertEqual(sum(len(r["v"]) for r in lines), 25000)

    def test_get_metrics_is_unchanged(self):
        self.run.log("loss", 1)
        self.run.log("loss", 2)
        self.assertEqual(self.run.get_metrics(), {"loss": [1, 2]})


class MpiRankTest(_RankEnv):
    env = {"OMPI_COMM_WORLD_RANK": "5"}

    def test_an_mpi_rank_tags_its_metrics(self):
        self.run.log("x", 1)
        self.run.log_list("y", [1, 2])
        self.assertEqual([r["rank"] for r in self.records()], [5, 5])


class RankZeroTest(_RankEnv):
    env = {"RANK": "0", "OMPI_COMM_WORLD_RANK": "7"}

    def test_rank_zero_is_a_rank_and_rank_comes_first(self):
        self.run.log("x", 1)
        self.assertEqual(self.records()[0]["rank"], 0)


class NotARankTest(_RankEnv):
    env = {"RANK": "worker-1"}

    def test_a_non_integer_rank_is_ignored(self):
        self.run.log("x", 1)
        self.assertNotIn("rank", self.records()[0])


class SingleProcessTest(_RankEnv):
    env = {}

    def test_a_single_process_run_has_no_rank(self):
        self.log_every_kind()
        for record in self.records():
            self.assertNotIn("rank", record, record)


class ProcessRankTest(unittest.TestCase):

    def test_what_counts_as_a_rank(self):
        self.assertIsNone(process_rank({}))
        self.assertEqual(process_rank({"RANK": "2"}), 2)
        self.assertEqual(process_rank({"RANK": " 2\n"}), 2)
        self.assertEqual(process_rank({"OMPI_COMM_WORLD_RANK": "4"}), 4)
        self.assertEqual(process_rank({"RANK": "1", "OMPI_COMM_WORLD_RANK": "4"}), 1)
        self.assertEqual(process_rank({"RANK": "x", "OMPI_COMM_WORLD_RANK": "4"}), 4)
        self.assertIsNone(process_rank({"RANK": ""}))
        self.assertIsNone(process_rank({"RANK": "-1"}))
        self.assertIsNone(process_rank({"RANK": "1.5"}))
        self.assertIsNone(process_rank({"RANK": str(1 << 31)}))


class RankProcessesTest(unittest.TestCase):
    """Several rank processes of one run append to the one records.jsonl, as the runtime
    starts them: each line whole, each tagged with its own rank."""

    def test_four_ranks_into_one_channel(self):
        root = tempfile.mkdtemp(prefix="runyard-sdk-")
        self.addCleanup(shutil.rmtree, root, True)
        api = make_run_api(root)
        code = ("import os\nfrom runyard import Run\nrun = Run.get_context()\n"
                "for i in range(200):\n"
                "    run.log('rank_value', int(os.environ['RANK']) * 10, step=i)\n")
        for rank in range(4):
            env = sdk_env(RUNYARD_RUN_API_DIR=api, RANK=str(rank))
            env.pop("OMPI_COMM_WORLD_RANK", None)
            done = run_script(code, env)
            self.assertEqual(done.returncode, 0, done.stderr)
        records = read_records(api)
        self.assertEqual(len(records), 800)
        by_rank = {}
        for record in records:
            by_rank.setdefault(record["rank"], []).append(record["v"][0])
        self.assertEqual(sorted(by_rank), [0, 1, 2, 3])
        for rank, values in by_rank.items():
            self.assertEqual(values, [rank * 10] * 200)

    def test_offline_runs_are_unchanged(self):
        env = sdk_env(RANK="2")
        done = run_script("from runyard import Run\nrun = Run.get_context()\n"
                          "run.log('loss', 0.3)\n", env)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Attempted to log scalar metric loss:", done.stdout)
        self.assertNotIn("rank", done.stdout)


if __name__ == "__main__":
    unittest.main()
