"""azureml.core.experiment.Experiment: not supported by runyard (experiments are created by `runyard submit`; use Run.get_context().experiment)."""

from ._unsupported import unsupported_class

Experiment = unsupported_class("Experiment", "experiments are created by `runyard submit`; use Run.get_context().experiment", __name__)
