"""The azureml.core compatibility package: Azure's names, clear errors for what runyard
does not support, and stepping aside for a real azureml-core."""

import os
import shutil
import tempfile
import unittest

import sdk_support
from sdk_support import make_run_api, read_records, run_script, sdk_env, without_time

AZURE_SCRIPT = r'''
from azureml.core import Run
run = Run.get_context()
run.log("loss", 0.5)
run.log(name="loss", value=0.4)
run.log("phase", "done")
run.tag("k", "v")
children = run.create_children(count=2)
for child in children:
    child.log("acc", 0.9)
    child.complete()
run.add_properties({"seed": "1"})
run.complete()
print("ok", run.id, run.experiment.name)
'''


class AzuremlNamesTest(unittest.TestCase):

    def test_an_unmodified_azure_script_logs_to_the_live_run(self):
        root = tempfile.mkdtemp(prefix="runyard-azureml-")
        self.addCleanup(shutil.rmtree, root, True)
        api = make_run_api(root, run_id="r7")
        result = run_script(AZURE_SCRIPT, sdk_env(RUNYARD_RUN_API_DIR=api))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "ok r7 exp-1\n")
        self.assertEqual(without_time(read_records(api)), [
            {"k": "metric", "n": "loss", "type": "scalar", "v": [0.5]},
            {"k": "metric", "n": "loss", "type": "scalar", "v": [0.4]},
            {"k": "metric", "n": "phase", "type": "scalar", "v": ["done"]},
            {"k": "tag", "tags": {"k": "v"}},
            {"k": "child", "r": "r7_0", "name": "r7_0", "tags": {}},
            {"k": "child", "r": "r7_1", "name": "r7_1", "tags": {}},
            {"k": "metric", "r": "r7_0", "n": "acc", "type": "scalar", "v": [0.9]},
            {"k": "status", "r": "r7_0", "s": "Completed"},
            {"k": "metric", "r": "r7_1", "n": "acc", "type": "scalar", "v": [0.9]},
            {"k": "status", "r": "r7_1", "s": "Completed"},
            {"k": "props", "props": {"seed": "1"}},
            {"k": "status", "s": "Completed"},
        ])

    def test_run_is_runyards_run(self):
        import azureml.core
        import azureml.core.run
        import runyard
        self.assertIs(azureml.core.Run, runyard.Run)
        self.assertIs(azureml.core.run.Run, runyard.Run)
        self.assertIs(azureml.core.run._OfflineRun, runyard._OfflineRun)

    def test_unsupported_names_raise_naming_the_call(self):
        from azureml.core import (Dataset, Environment, Experiment, Model, Run,
                                  ScriptRunConfig, Workspace)
        from runyard.offline import _OfflineRun
        run = _OfflineRun()
        calls = {
            "Workspace.from_config": lambda: Workspace.from_config(),
            "Workspace(...)": lambda: Workspace("sub", "rg", "ws"),
            "Dataset.get_by_name": lambda: Dataset.get_by_name(None, "d"),
            "Dataset.File.from_files": lambda: Dataset.File.from_files("x"),
            "Model.register": lambda: Model.register(None, "m", "m"),
            "Experiment(...)": lambda: Experiment(None, "e"),
            "Environment.get": lambda: Environment.get(None, "e"),
            "ScriptRunConfig(...)": lambda: ScriptRunConfig("."),
            "Run.input_datasets": lambda: run.input_datasets,
            "Run.register_model": lambda: run.register_model("m", "outputs/m"),
            "Run(experiment, run_id)": lambda: Run(None, "id"),
        }
        for call, action in calls.items():
            with self.subTest(call=call):
                with self.assertRaises(NotImplementedError) as caught:
                    action()
                self.assertTrue(str(caught.exception).startswith(
                    "not supported by runyard: " + call), str(caught.exception))


class StepAsideTest(unittest.TestCase):
    """With a real azureml-core later on sys.path, `import azureml.core` gets it."""

    def setUp(self):
        self.site = tempfile.mkdtemp(prefix="runyard-site-")
        self.addCleanup(shutil.rmtree, self.site, True)
        core = os.path.join(self.site, "azureml", "core")
        os.makedirs(core)
        with open(os.path.join(self.site, "azureml", "__init__.py"), "w") as f:
            f.write('__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n')
        with open(os.path.join(core, "__init__.py"), "w") as f:
            f.write("REAL = True\nfrom .run import Run\n")
        with open(os.path.join(core, "run.py"), "w") as f:
            f.write("class Run:\n    KIND = 'real azure'\n")
        # Another azureml.* package of the same installation, as azureml-core brings.
        os.makedirs(os.path.join(self.site, "azureml", "widgets"))
        with open(os.path.join(self.site, "azureml", "widgets", "__init__.py"), "w") as f:
            f.write("WIDGETS = 'here'\n")

    def env(self, **extra):
        env = sdk_env(**extra)
        env["PYTHONPATH"] = sdk_support.SDK_DIR + os.pathsep + self.site
        return env

    def test_the_real_package_is_loaded_instead(self):
        script = ("import azureml.core, sys\n"
                  "from azureml.core import Run\n"
                  "from azureml.core.run import Run as Run2\n"
                  "print(azureml.core.REAL, Run.KIND, Run is Run2)\n"
                  "print(sys.modules['azureml.core'] is azureml.core)\n"
                  "print(azureml.core.__file__)\n")
        result = run_script(script, self.env())
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[:2], ["True real azure True", "True"])
        self.assertTrue(lines[2].startswith(self.site), lines[2])

    def test_force_keeps_runyards(self):
        result = run_script("from azureml.core import Run\nprint(Run.__module__)\n"
                            "from azureml.widgets import WIDGETS\nprint(WIDGETS)",
                            self.env(RUNYARD_AZUREML_COMPAT="force"))
        self.assertEqual(result.stdout, "runyard.run\nhere\n", result.stderr)

    def test_without_a_real_package_runyards_is_used(self):
        result = run_script("from azureml.core import Run\nprint(Run.__module__)", sdk_env())
        self.assertEqual(result.stdout, "runyard.run\n", result.stderr)


if __name__ == "__main__":
    unittest.main()
