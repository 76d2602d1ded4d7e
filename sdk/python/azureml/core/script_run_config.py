"""azureml.core.script_run_config.ScriptRunConfig: not supported by runyard (submit runs with `runyard submit`)."""

from ._unsupported import unsupported_class

ScriptRunConfig = unsupported_class("ScriptRunConfig", "submit runs with `runyard submit`", __name__)
