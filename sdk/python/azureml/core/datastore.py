"""azureml.core.datastore.Datastore: not supported by runyard (runyard has no Azure datastores)."""

from ._unsupported import unsupported_class

Datastore = unsupported_class("Datastore", "runyard has no Azure datastores", __name__)
