"""Child runs: ids <parent>_<n> that never collide, records carrying "r"."""

import os
import subprocess
import sys
import unittest

from sdk_support import LiveRunTestCase, sdk_env, without_time

import runyard


class ChildRunsTest(LiveRunTestCase):

    def test_children_are_created_then_log_through_the_same_channel(self):
        children = self.run.create_children(count=3)
        self.assertEqual([c.id for c in children], ["run-1_0", "run-1_1", "run-1_2"])
        for i, child in enumerate(children):
            child.log("score", i)
            child.complete()
        self.assertIs(children[0].parent, self.run)
        self.assertEqual(children[0].experiment.name, "exp-1")
        self.assertEqual(without_time(self.records()), [
            {"k": "child", "r": "run-1_0", "name": "run-1_0", "tags": {}},
            {"k": "child", "r": "run-1_1", "name": "run-1_1", "tags": {}},
            {"k": "child", "r": "run-1_2", "name": "run-1_2", "tags": {}},
            {"k": "metric", "r": "run-1_0", "n": "score", "type": "scalar", "v": [0]},
            {"k": "status", "r": "run-1_0", "s": "Completed"},
            {"k": "metric", "r": "run-1_1", "n": "score", "type": "scalar", "v": [1]},
            {"k": "status", "r": "run-1_1", "s": "Completed"},
            {"k": "metric", "r": "run-1_2", "n": "score", "type": "scalar", "v": [2]},
            {"k": "status", "r": "run-1_2", "s": "Completed"},
        ])
        self.assertEqual(children[0].get_status(), "Completed")
        self.assertEqual(self.run.get_status(), "Running")
        self.assertEqual(self.run.get_children(), children)

    def test_one_child_per_tag_value(self):
        children = self.run.create_children(tag_key="lr", tag_values=[0.1, 0.01])
        self.assertEqual([c.get_tags() for c in children], [{"lr": "0.1"}, {"lr": "0.01"}])
        self.assertEqual([r["tags"] for r in self.records()], [{"lr": "0.1"}, {"lr": "0.01"}])

    def test_child_run_with_a_name_and_its_own_tags_and_failure(self):
        child = self.run.child_run(name="fold 1")
        child.tag("fold", "1")
        child.add_properties({"k": "v"})
        child.fail(error_details="diverged", error_code="NaNLoss")
        self.assertEqual(child.display_name, "fold 1")
        self.assertEqual(child.get_details()["parentRunId"], "run-1")
        self.assertEqual(without_time(self.records()), [
            {"k": "child", "r": "run-1_0", "name": "fold 1", "tags": {}},
            {"k": "tag", "r": "run-1_0", "tags": {"fold": "1"}},
            {"k": "props", "r": "run-1_0", "props": {"k": "v"}},
            {"k": "status", "r": "run-1_0", "s": "Failed",
             "error": {"code": "NaNLoss", "message": "diverged"}},
        ])

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "tag_key and tag_values together"):
            self.run.create_children(tag_key="x")
        with self.assertRaisesRegex(ValueError, "count 3 differs"):
            self.run.create_children(count=3, tag_key="x", tag_values=[1])
        with self.assertRaisesRegex(ValueError, "count must be an int"):
            self.run.create_children()
        with self.assertRaisesRegex(TypeError, "child run name must be a str"):
            self.run.child_run(name=3)
        with self.assertRaisesRegex(NotImplementedError, r"child_run\(run_id=...\)"):
            self.run.child_run(run_id="mine")
        child = self.run.child_run()
        self.assertEqual(child.id, "run-1_0")  # the refused calls used up no number
        with self.assertRaisesRegex(NotImplementedError, "child runs of a child run"):
            child.child_run()

    def test_ids_never_collide_across_processes(self):
        script = ("from runyard import Run\n"
                  "run = Run.get_context()\n"
                  "for _ in range(50):\n"
                  "    run.create_children(count=2)\n")
        env = sdk_env(RUNYARD_RUN_API_DIR=self.api)
        procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(2)]
        self.assertEqual([p.wait(timeout=120) for p in procs], [0, 0])
        ids = [r["r"] for r in self.records() if r["k"] == "child"]
        self.assertEqual(len(ids), 200)
        self.assertEqual(sorted(ids), sorted("run-1_%d" % n for n in range(200)))
        with open(os.path.join(self.api, "children.count")) as f:
            self.assertEqual(int(f.read()), 200)


class ChildLimitTest(LiveRunTestCase):
    limits = {"max_children": 2}

    def test_past_max_children_raises_naming_it(self):
        self.run.create_children(count=2)
        with self.assertRaisesRegex(runyard.RunLimitError, r"max_children \(2\)"):
            self.run.child_run()
        self.assertEqual(len(self.records()), 2)


if __name__ == "__main__":
    unittest.main()
