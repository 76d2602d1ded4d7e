"""The one place that says a call is outside what runyard supports."""


def not_supported(call, why=""):
    """Raises NotImplementedError naming `call` (e.g. "Workspace.from_config")."""
    message = "not supported by runyard: " + call
    if why:
        message += " (" + why + ")"
    raise NotImplementedError(message)
