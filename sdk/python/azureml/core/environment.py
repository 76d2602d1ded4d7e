"""azureml.core.environment.Environment: not supported by runyard (environments are part of the run spec)."""

from ._unsupported import unsupported_class

Environment = unsupported_class("Environment", "environments are part of the run spec", __name__)
