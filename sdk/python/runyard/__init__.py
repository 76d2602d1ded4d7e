"""runyard's in-run SDK: what a script uses to report metrics, tags, properties, files
and child runs to the run it runs in.

    from runyard import Run
    run = Run.get_context()
    run.log("loss", 0.3)
    run.flush()          # wait until the server has everything logged so far

The names and signatures are Azure ML v1's (azureml.core.Run), so the azureml.core
package shipped next to this one runs unmodified Azure scripts. See runyard.run for the
methods and what is not supported. Standard library only; Python >= 3.9.
"""

from .errors import ImmutablePropertyError, RunError, RunLimitError
from .run import Run, RunExperiment
from .offline import _OfflineRun

__version__ = "0.1.0"

__all__ = ["Run", "RunExperiment", "RunError", "RunLimitError", "ImmutablePropertyError"]
