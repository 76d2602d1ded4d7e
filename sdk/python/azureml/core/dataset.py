"""azureml.core.dataset.Dataset: not supported by runyard (runyard has no Azure datasets; pass data as files or arguments)."""

from ._unsupported import unsupported_class

Dataset = unsupported_class("Dataset", "runyard has no Azure datasets; pass data as files or arguments", __name__)
