"""azureml.core.model.Model: not supported by runyard (runyard has no model registry; keep models in outputs/)."""

from ._unsupported import unsupported_class

Model = unsupported_class("Model", "runyard has no model registry; keep models in outputs/", __name__)
