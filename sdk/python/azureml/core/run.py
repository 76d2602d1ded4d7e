"""azureml.core.run: Run is runyard.Run; _OfflineRun is the class of the offline run
Run.get_context() returns outside runyard (so `type(run) == _OfflineRun` works)."""

from runyard.offline import _OfflineRun
from runyard.run import Run

__all__ = ["Run", "_OfflineRun"]
