"""runyard's stand-in for azureml.core (Azure ML SDK v1): Run, backed by runyard.Run, so
training scripts written for Azure ML run unmodified under runyard. Workspace, Dataset,
Model, Experiment, Environment and ScriptRunConfig exist so imports work; using them
raises NotImplementedError "not supported by runyard: ...".

If the real azureml-core is installed further along sys.path, this package steps aside
and loads the real one in its place, so an environment with azureml-core keeps it
(RUNYARD_AZUREML_COMPAT=force keeps this one instead).
"""

import importlib.util as _importlib_util
import os as _os
import sys as _sys


def _real_azureml_core():
    """The __init__.py of another azureml/core package on sys.path, or None."""
    ours = _os.path.realpath(_os.path.dirname(__file__))
    for entry in _sys.path:
        candidate = _os.path.join(entry or _os.getcwd(), "azureml", "core", "__init__.py")
        if (_os.path.isfile(candidate) and
                _os.path.realpath(_os.path.dirname(candidate)) != ours):
            return candidate
    return None


def _step_aside(init_path):
    """Loads the real azureml.core from `init_path` and puts it in sys.modules in our
    place (the import machinery hands out whatever sys.modules holds once this module
    finishes executing)."""
    spec = _importlib_util.spec_from_file_location(
        __name__, init_path, submodule_search_locations=[_os.path.dirname(init_path)])
    module = _importlib_util.module_from_spec(spec)
    _sys.modules[__name__] = module
    spec.loader.exec_module(module)
    parent = _sys.modules.get("azureml")
    if parent is not None:
        parent.core = module


_REAL = None if _os.environ.get("RUNYARD_AZUREML_COMPAT") == "force" else _real_azureml_core()
if _REAL is not None:
    _step_aside(_REAL)
else:
    import runyard as _runyard

    from .dataset import Dataset
    from .datastore import Datastore
    from .environment import Environment
    from .experiment import Experiment
    from .model import Model
    from .run import Run, _OfflineRun
    from .script_run_config import ScriptRunConfig
    from .workspace import Workspace

    VERSION = _runyard.__version__ + "+runyard"
    __version__ = VERSION

    __all__ = ["Dataset", "Datastore", "Environment", "Experiment", "Model", "Run",
               "ScriptRunConfig", "Workspace"]
