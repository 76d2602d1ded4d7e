"""Outside runyard, Run.get_context() is an offline run: it prints, it stores nothing."""

import os
import shutil
import tempfile
import unittest

from sdk_support import make_run_api, run_script, sdk_env

SCRIPT = r'''
from azureml.core import Run
from azureml.core.run import _OfflineRun
run = Run.get_context()
assert type(run) == _OfflineRun and isinstance(run, _OfflineRun) and isinstance(run, Run)
assert type(run).__name__ == "_OfflineRun"
assert "OfflineRun" in run.id
run.log("loss", 0.3)
run.log(name="note", value="hello", description="d", step=1)
run.log_list("accs", [1, 2, 3])
run.log_row("row", a=1)
run.tag("k", "v")
run.add_properties({"p": "1"})
run.upload_file("model.pt", "does-not-matter.pt")
for child in run.create_children(count=2):
    child.log("x", 1)
    child.complete()
run.flush()
try:
    run.log_image("img")
except ValueError as e:
    print("error:", e)
assert run.get_metrics() == {}
assert run.get_tags() == {"k": "v"}
run.complete()
print("done")
'''


class OfflineRunTest(unittest.TestCase):

    def test_prints_what_it_would_log_and_stores_nothing(self):
        cwd = tempfile.mkdtemp(prefix="runyard-offline-")
        self.addCleanup(shutil.rmtree, cwd, True)
        result = run_script(SCRIPT, sdk_env(), cwd=cwd)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout
        self.assertIn("Attempted to log scalar metric loss:\n0.3\n", out)
        self.assertIn("Attempted to log scalar metric note:\nhello\n", out)
        self.assertIn("Attempted to log list metric accs:\n[1, 2, 3]\n", out)
        self.assertIn("Attempted to log row metric row:\n{'a': 1}\n", out)
        self.assertIn("Attempted to set tag k:\nv\n", out)
        self.assertIn("Attempted to upload file outputs/model.pt", out)
        self.assertIn("error: log_image 'img': give exactly one of path=", out)
        self.assertTrue(out.endswith("done\n"), out)
        self.assertEqual(os.listdir(cwd), [])

    def test_a_run_api_dir_without_context_is_offline(self):
        empty = tempfile.mkdtemp(prefix="runyard-noctx-")
        self.addCleanup(shutil.rmtree, empty, True)
        result = run_script("from runyard import Run\nprint(type(Run.get_context()).__name__)",
                            sdk_env(RUNYARD_RUN_API_DIR=empty))
        self.assertEqual(result.stdout, "_OfflineRun\n", result.stderr)
        self.assertEqual(os.listdir(empty), [])

    def test_a_context_without_its_records_file_is_a_clear_error(self):
        root = tempfile.mkdtemp(prefix="runyard-norecords-")
        self.addCleanup(shutil.rmtree, root, True)
        api = make_run_api(root)
        os.remove(os.path.join(api, "records.jsonl"))
        result = run_script("from runyard import Run\nRun.get_context()",
                            sdk_env(RUNYARD_RUN_API_DIR=api))
        self.assertIn("cannot open the run's records file", result.stderr)
        self.assertIn("records.jsonl", result.stderr)

    def test_allow_offline_false_raises(self):
        result = run_script("from runyard import Run\nRun.get_context(allow_offline=False)",
                            sdk_env())
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("does not run under runyard", result.stderr)


if __name__ == "__main__":
    unittest.main()
