"""azureml.core.workspace.Workspace: not supported by runyard (runyard has no Azure workspace; runs are submitted with `runyard submit`)."""

from ._unsupported import unsupported_class

Workspace = unsupported_class("Workspace", "runyard has no Azure workspace; runs are submitted with `runyard submit`", __name__)
