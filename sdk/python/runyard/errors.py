"""Errors the runyard SDK raises inside a script."""


class RunError(Exception):
    """Base class of the errors the runyard SDK raises."""


class RunLimitError(RunError):
    """A per-run limit would be passed; the message names the limit and its value,
    e.g. ``max_metric_values (5000000) reached: ...``. Nothing of the refused call was
    recorded."""


class ImmutablePropertyError(RunError, ValueError):
    """add_properties tried to change a property that is already set (properties are
    immutable; tags are the mutable kind)."""
