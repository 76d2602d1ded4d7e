"""The run of a script that does not run under runyard: it prints what it would have
logged and stores nothing, as Azure ML's offline run does. azureml.core.run._OfflineRun
is this class, so `type(run) == _OfflineRun` checks keep working."""

import uuid

from ._files import split_upload_name
from ._values import check_image_args, tag_map
from .run import Run, RunExperiment
from .errors import ImmutablePropertyError

OFFLINE_EXPERIMENT = "offline"


class _OfflineRun(Run):
    """An offline run: every call prints "Attempted to ..." and records nothing."""

    def __init__(self, parent_logger=None, run_id=None, _parent=None, **kwargs):
        self._id = run_id or "OfflineRun_%s" % uuid.uuid4()
        self._display_name = self._id
        self._parent = _parent
        self._experiment = RunExperiment(OFFLINE_EXPERIMENT)
        self._tags = {}
        self._properties = {}
        self._status = "Running"
        self._children = []

    def _emit(self, kind, name, value):
        print("Attempted to log %s metric %s:\n%s" % (kind, name, value))

    def log(self, name, value, description="", step=None):
        self._emit("scalar", name, value)

    def log_list(self, name, value, description=""):
        self._emit("list", name, value)

    def log_row(self, name, description=None, **kwargs):
        self._emit("row", name, kwargs)

    def log_table(self, name, value, description=""):
        self._emit("table", name, value)

    def log_image(self, name, path=None, plot=None, description=""):
        check_image_args(name, path, plot)
        self._emit("image", name, path if path is not None else plot)

    def log_confusion_matrix(self, name, value, description=""):
        self._emit("confusion_matrix", name, value)

    def log_accuracy_table(self, name, value, description=""):
        self._emit("accuracy_table", name, value)

    def log_predictions(self, name, value, description=""):
        self._emit("predictions", name, value)

    def log_residuals(self, name, value, description=""):
        self._emit("residuals", name, value)

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        return {}

    def set_tags(self, tags):
        tags = tag_map(tags)
        for key, value in tags.items():
            print("Attempted to set tag %s:\n%s" % (key, value))
        self._tags.update(tags)

    def get_tags(self):
        return dict(self._tags)

    def add_properties(self, properties):
        if not isinstance(properties, dict):
            raise TypeError("add_properties takes a dict, not %s" % type(properties).__name__)
        props = {key: "" if value is None else str(value) for key, value in properties.items()}
        for key, value in props.items():
            if key in self._properties and self._properties[key] != value:
                raise ImmutablePropertyError(
                    "property %r is already set to %r and cannot be changed to %r "
                    "(properties are immutable)" % (key, self._properties[key], value))
        for key, value in props.items():
            print("Attempted to add property %s:\n%s" % (key, value))
        self._properties.update(props)

    def get_properties(self):
        return dict(self._properties)

    def upload_file(self, name, path_or_stream, datastore_name=None):
        top, rest = split_upload_name(name)
        run_path = "/".join([top] + rest)
        print("Attempted to upload file %s from %s" % (run_path, path_or_stream))
        return run_path

    def upload_folder(self, name, path, datastore_name=None):
        print("Attempted to upload folder %s from %s" % (name, path))
        return []

    def flush(self, timeout_seconds=300):
        pass

    def _set_status(self, status, error):
        message = "Attempted to mark run %s %s" % (self._id, status)
        if error is not None and error.get("message"):
            message += ": " + error["message"]
        print(message)
        self._status = status

    # fail() bounds the error it reports by these (the contract's limits).
    _max_text = 65536
    _max_name = 255

    def get_status(self):
        return self._status

    def get_details(self):
        details = {"runId": self._id, "displayName": self._display_name,
                   "experiment": OFFLINE_EXPERIMENT, "target": "local",
                   "status": self._status, "properties": self.get_properties(),
                   "tags": self.get_tags()}
        if self._parent is not None:
            details["parentRunId"] = self._parent.id
        return details

    def get_children(self, recursive=False, tags=None, properties=None, type=None,
                     status=None, _rehydrate_runs=True):
        return list(self._children)

    def _create_children(self, count, names, tag_key, tag_values):
        children = []
        for i in range(count):
            child = _OfflineRun(run_id="%s_%d" % (self._id, len(self._children) + i),
                                _parent=self)
            if names[i]:
                child._display_name = names[i]
            if tag_key is not None:
                child._tags[tag_key] = "" if tag_values[i] is None else str(tag_values[i])
            children.append(child)
        print("Attempted to create %d child run(s) of %s" % (count, self._id))
        self._children.extend(children)
        return children
