"""Stand-ins for Azure ML classes runyard does not provide. Using one (constructing it,
calling a class method, reaching a nested name) raises NotImplementedError naming the
call, e.g. "not supported by runyard: Workspace.from_config (...)". Each lives in the
module Azure has it in, so a real implementation can replace one name at a time."""

from runyard._unsupported import not_supported


class UnsupportedName:
    """A name under an unsupported class (Dataset.File, Dataset.File.from_files...)."""

    def __init__(self, path, why):
        self._path = path
        self._why = why

    def __call__(self, *args, **kwargs):
        not_supported(self._path, self._why)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return UnsupportedName(self._path + "." + name, self._why)

    def __repr__(self):
        return "<%s: not supported by runyard>" % self._path


class _UnsupportedMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return UnsupportedName(cls.__name__ + "." + name, cls._why)


def unsupported_class(name, why, module):
    """A class `name` whose every use raises NotImplementedError naming the call."""

    def __init__(self, *args, **kwargs):
        not_supported(name + "(...)", why)

    return _UnsupportedMeta(name, (), {"__init__": __init__, "_why": why,
                                       "__module__": module,
                                       "__doc__": "Not supported by runyard: " + why})
