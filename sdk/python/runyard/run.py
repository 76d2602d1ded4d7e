"""runyard.Run: the run a script reports to, with Azure ML v1's names and signatures.

    from runyard import Run          # or: from azureml.core import Run
    run = Run.get_context()
    run.log("loss", 0.3)

Under runyard (RUNYARD_RUN_API_DIR names a folder with context.json) every call appends
one record to the run's records.jsonl, which the runtime sends to the server through
the same spool as the run's logs: nothing is lost when the network or the agent fails.
Outside runyard, get_context() returns an offline run (runyard.offline._OfflineRun, also
azureml.core.run._OfflineRun) that prints what it would have logged and stores nothing.

Not supported (each raises NotImplementedError "not supported by runyard: ..."):
Run(experiment, run_id), Run.get, Run.list, register_model, input_datasets, child runs
of a child run, custom child run ids.
"""

import json
import math
import os
import time

from . import _encode
from ._channel import RecordChannel
from ._context import MAX_LINE_BYTES, RUN_API_DIR_ENV, load_context
from ._chunks import list_lines, table_lines
from ._files import ImageNamer, resolve_upload, run_path_of, split_upload_name, write_file
from ._unsupported import not_supported
from ._values import as_list, check_image_args, metric_shape, tag_map, text_value
from .errors import ImmutablePropertyError, RunError, RunLimitError

# log_list writes its lines in batches of at most this many bytes per os.write.
_WRITE_BATCH_BYTES = 4 << 20


# Module-level aliases keep attribute lookups off the hot path of Run.log.
_time = time.time
_write = os.write
_isfinite = math.isfinite
_quote = _encode.quote


class RunExperiment:
    """The experiment a run belongs to (run.experiment): its name."""

    def __init__(self, name):
        self.name = name

    @property
    def workspace(self):
        not_supported("Experiment.workspace", "runyard has no Azure workspace")

    def __repr__(self):
        return "Experiment(name=%r)" % self.name


class _RunState:
    """What this process knows about one run; every handle on the run shares it."""

    __slots__ = ("values", "scalar_prefixes", "series", "tags", "properties", "status",
                 "children")

    def __init__(self, tags, properties):
        self.values = 0  # metric values logged by this process (the limit's count)
        self.scalar_prefixes = {}  # metric name -> start of its scalar record line
        self.series = {}  # metric name -> [kind of its first record, values...]
        self.tags = dict(tags)
        self.properties = dict(properties)
        self.status = "Running"
        self.children = []


class Run:
    """A run as a script sees it. Get one with Run.get_context()."""

    _context_runs = {}  # RUNYARD_RUN_API_DIR (None offline) -> the run of that context

    def __init__(self, experiment=None, run_id=None, outputs=None, **kwargs):
        not_supported("Run(experiment, run_id)",
                      "runyard has no Azure service to fetch runs from; use Run.get_context()")

    # ----- getting a run -----

    @classmethod
    def get_context(cls, allow_offline=True, used_for_context_manager=False, **kwargs):
        """The run this script runs in: the live run under runyard, else (when
        allow_offline) an offline run that prints what it would log. Every call in a
        process returns the same object."""
        api_dir = os.environ.get(RUN_API_DIR_ENV) or None
        run = Run._context_runs.get(api_dir)
        if run is not None:
            return run
        context = load_context(api_dir) if api_dir else None
        if context is None:
            if not allow_offline:
                raise RunError("Run.get_context(allow_offline=False): this script does not "
                               "run under runyard (%s is %s)" %
                               (RUN_API_DIR_ENV, "not set" if not api_dir else
                                "a folder without context.json: " + api_dir))
            from .offline import _OfflineRun
            run = _OfflineRun()
        else:
            run = Run._live(RecordChannel(context), context.run_id, context.display_name,
                            None, _RunState(context.tags, context.properties))
        Run._context_runs[api_dir] = run
        return run

    @classmethod
    def get(cls, workspace, run_id):
        not_supported("Run.get", "runyard has no Azure workspace; use Run.get_context()")

    @classmethod
    def list(cls, experiment, *args, **kwargs):
        not_supported("Run.list", "list runs with `runyard list`")

    @classmethod
    def _live(cls, channel, run_id, display_name, parent, state):
        run = object.__new__(Run)
        run._channel = channel
        run._context = channel.context
        run._fd = channel.fd
        run._id = run_id
        run._display_name = display_name
        run._parent = parent
        run._state = state
        run._experiment = RunExperiment(channel.context.experiment)
        # Records about a child carry "r"; records about the run itself do not.
        run._r = "" if parent is None else ',"r":' + _quote(run_id)
        # A distributed run's process tags each metric value with its rank (RANK, or
        # OMPI_COMM_WORLD_RANK); tags, properties and the rest are run-wide.
        rank = channel.context.rank
        run._rank = "" if rank is None else ',"rank":%d' % rank
        limits = channel.context.limits
        run._max_values = limits["max_metric_values"]
        run._max_text = limits["max_text_value_chars"]
        run._max_name = limits["max_name_chars"]
        run._max_tags = limits["max_tags"]
        run._images = ImageNamer(channel.context.images_dir)
        return run

    # ----- identity -----

    @property
    def id(self):
        """The run's id (a child's is <parent id>_<n>)."""
        return self._id

    @property
    def display_name(self):
        return self._display_name

    @property
    def name(self):
        return self._display_name

    @property
    def experiment(self):
        """The run's experiment; experiment.name is its name."""
        return self._experiment

    @property
    def parent(self):
        """The run that created this child run with child_run/create_children; None
        for the script's own run."""
        return self._parent

    @property
    def tags(self):
        return self.get_tags()

    @property
    def properties(self):
        return self.get_properties()

    @property
    def status(self):
        return self.get_status()

    @property
    def input_datasets(self):
        not_supported("Run.input_datasets", "pass data to the script as arguments or files")

    def __repr__(self):
        return "Run(experiment=%r, id=%r, status=%r)" % (self._experiment.name, self._id,
                                                        self.get_status())

    # ----- metrics -----

    def log(self, name, value, description="", step=None):
        """Logs a number, string or bool under `name`; logging a name again extends
        its series. `step` (an int) places the value on the series' x axis."""
        state = self._state
        prefix = state.scalar_prefixes.get(name)
        if prefix is None:
            prefix = self._new_scalar_name(name)
        kind = type(value)
        if kind is float and _isfinite(value):
            text = repr(value)
        elif kind is int:
            text = repr(value)
        else:
            text = _encode.scalar_json(value, self._max_text, "metric %r" % (name,))
        if state.values >= self._max_values:
            self._raise_values_limit(name, 1)
        if step is None and not description:
            line = f'{prefix}{text}],"t":{_time():.6f}}}\n'
        else:
            line = f'{prefix}{text}]{self._extras(step, description)},"t":{_time():.6f}}}\n'
        data = line.encode()
        channel = self._channel
        if channel.size + len(data) > channel.max_bytes:
            channel.check_room(len(data))
        channel.size += len(data)
        written = _write(self._fd, data)
        if written != len(data):
            channel.finish(data, written)
        state.values += 1
        state.series[name].append(value)

    def log_list(self, name, value, description=""):
        """Logs a list of numbers, strings or bools as one series. Long lists are split
        into records of at most 10,000 values (and 1 MiB); the values keep their order."""
        self._check_name(name, "metric name")
        values = as_list(value, "log_list value")
        self._reserve_values(name, len(values))
        where = "log_list %r" % (name,)
        head = self._metric_head(name, "list")
        tail = self._extras(None, description) + ',"t":%r}\n' % _time()
        self._write_lines(list_lines(head, tail, values, self._max_text, where))
        self._state.values += len(values)
        self._series(name, "list").extend(values)

    def log_row(self, name, description=None, **kwargs):
        """Logs one row of table `name`: its columns are the keyword arguments."""
        self._log_documents(name, "row", [kwargs], description)

    def log_table(self, name, value, description=""):
        """Logs a table: a dict of column name -> list of values. A table too large
        for one record is sent as several tables of consecutive rows."""
        self._check_name(name, "metric name")
        if not isinstance(value, dict):
            raise TypeError("log_table %r: value must be a dict of column -> list, not %s"
                            % (name, type(value).__name__))
        columns = {str(key): as_list(column, "log_table %r column %r" % (name, key))
                   for key, column in value.items()}
        self._reserve_values(name, 1)
        head = self._metric_head(name, "table")
        tail = "]" + self._extras(None, description) + ',"t":%r}\n' % _time()
        self._write_lines(table_lines(head, tail, columns, name))
        self._state.values += 1
        self._series(name, "table").append(columns)

    def log_image(self, name, path=None, plot=None, description=""):
        """Logs an image: either `path`, an image file, or `plot`, a matplotlib figure
        (or the pyplot module), saved as PNG. The file goes to the run's logs/images/
        as <name>-<n>.png; the metric's value is its run file path."""
        self._check_name(name, "metric name")
        check_image_args(name, path, plot)
        self._reserve_values(name, 1)
        if plot is not None:
            out, absolute = self._images.create(name, ".png")
            try:
                with out:
                    plot.savefig(out, format="png")
            except BaseException:
                os.unlink(absolute)  # no half-written image left behind for the runtime
                raise
        else:
            ext = os.path.splitext(os.fspath(path))[1] or ".png"
            if not os.path.isfile(path):
                raise FileNotFoundError("log_image %r: no such file: %s" % (name, path))
            out, absolute = self._images.create(name, ext)
            with out, open(path, "rb") as source:
                while True:
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
        run_path = run_path_of(self._context, absolute)
        self._write_metric(name, "image", _quote(run_path), description)
        self._series(name, "image").append(run_path)
        return run_path

    def log_confusion_matrix(self, name, value, description=""):
        """Logs a confusion matrix: a dict, or its JSON text."""
        self._log_json_kind(name, "confusion_matrix", value, description)

    def log_accuracy_table(self, name, value, description=""):
        """Logs an accuracy table: a dict, or its JSON text."""
        self._log_json_kind(name, "accuracy_table", value, description)

    def log_predictions(self, name, value, description=""):
        """Logs predictions: a dict, or its JSON text."""
        self._log_json_kind(name, "predictions", value, description)

    def log_residuals(self, name, value, description=""):
        """Logs residuals: a dict, or its JSON text."""
        self._log_json_kind(name, "residuals", value, description)

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """The metrics THIS process logged, in Azure's shape: a name logged once with
        log() maps to its value, a series or a log_list to a list, rows and tables to a
        dict of column -> list. With `name`, only that metric."""
        series = self._state.series
        names = [name] if name is not None else list(series)
        return {key: metric_shape(series[key]) for key in names
                if len(series.get(key, ())) > 1}  # [kind] alone: every value was refused

    # ----- tags and properties -----

    def tag(self, key, value=None):
        """Sets tag `key` (tags are mutable); value None sets an empty value."""
        self.set_tags({key: value})

    def set_tags(self, tags):
        """Sets several tags: a dict key -> value, or an iterable of keys (empty values)."""
        tags = tag_map(tags)
        if not tags:
            return
        self._check_map(tags, "tag", self._state.tags)
        self._write_line('{"k":"tag"%s,"tags":%s,"t":%r}\n' %
                         (self._r, _encode.document_json(tags), _time()))
        self._state.tags.update(tags)

    def get_tags(self):
        return dict(self._state.tags)

    def add_properties(self, properties):
        """Adds properties (a dict). Properties are immutable: giving a key that is
        already set a different value raises ImmutablePropertyError naming the key,
        and nothing of the call is recorded."""
        if not isinstance(properties, dict):
            raise TypeError("add_properties takes a dict, not %s" % type(properties).__name__)
        props = {key: text_value(value) for key, value in properties.items()}
        current = self._state.properties
        for key, value in props.items():
            if key in current and current[key] != value:
                raise ImmutablePropertyError(
                    "property %r is already set to %r and cannot be changed to %r "
                    "(properties are immutable; use a tag for a value that changes)" %
                    (key, current[key], value))
        new = {key: value for key, value in props.items() if key not in current}
        if not new:
            return
        self._check_map(new, "property", current)
        self._write_line('{"k":"props"%s,"props":%s,"t":%r}\n' %
                         (self._r, _encode.document_json(new), _time()))
        current.update(new)

    def add_property(self, key, value):
        self.add_properties({key: value})

    def get_properties(self):
        return dict(self._state.properties)

    # ----- files -----

    def upload_file(self, name, path_or_stream, datastore_name=None):
        """Puts a file into the run: `path_or_stream` is a path or a readable stream.
        A name under "outputs/" or "logs/" lands there, any other name under outputs/.
        The runtime sends the file to the server like any output. Returns the run file
        path. A child run's files go under outputs/<child id>/ (or logs/<child id>/)."""
        destination, run_path = resolve_upload(self._context, name, self._child_prefix())
        write_file(destination, path_or_stream)
        return run_path

    def upload_files(self, names, paths, return_artifacts=False, timeout_seconds=None,
                     datastore_name=None):
        """upload_file for each (name, path) pair; returns the run file paths."""
        names, paths = list(names), list(paths)
        if len(names) != len(paths):
            raise ValueError("upload_files: %d names but %d paths" % (len(names), len(paths)))
        for name in names:
            split_upload_name(name)  # refuse a bad name before copying anything
        return [self.upload_file(name, path) for name, path in zip(names, paths)]

    def upload_folder(self, name, path, datastore_name=None):
        """Uploads every file under folder `path` as <name>/<relative path>."""
        if not os.path.isdir(path):
            raise NotADirectoryError("upload_folder %r: not a folder: %s" % (name, path))
        names, paths = [], []
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for file_name in sorted(files):
                full = os.path.join(folder, file_name)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                names.append(name.rstrip("/") + "/" + rel)
                paths.append(full)
        return self.upload_files(names, paths)

    def register_model(self, model_name, model_path=None, *args, **kwargs):
        not_supported("Run.register_model",
                      "keep the model in outputs/ (upload_file) and fetch it with "
                      "`runyard download`")

    # ----- status -----

    def flush(self, timeout_seconds=300):
        """Returns once everything logged so far (by any process of the run) has been
        committed to the server; TimeoutError after `timeout_seconds`."""
        self._channel.flush(timeout_seconds)

    def complete(self, _set_status=True):
        """Marks the run Completed. For the script's own run the process's exit still
        decides; for a child run this ends it."""
        self._set_status("Completed", None)

    def fail(self, error_details=None, error_code=None, _set_status=True):
        """Marks the run Failed (applied to the script's own run when it ends)."""
        if isinstance(error_details, BaseException):
            message = "%s: %s" % (type(error_details).__name__, error_details)
        else:
            message = "" if error_details is None else str(error_details)
        error = {"code": str(error_code)[:self._max_name] if error_code else "UserError",
                 "message": message[:self._max_text]}
        self._set_status("Failed", error)

    def cancel(self):
        """Cancels the run (the script's own run is canceled now, as `runyard cancel`)."""
        self._set_status("Canceled", None)

    def get_status(self):
        """The status this process knows: Running until it set a terminal one."""
        return self._state.status

    def get_details(self):
        """The run's details from its context: runId, experiment, status, tags,
        properties, target..."""
        context = self._context
        details = {
            "runId": self._id,
            "displayName": self._display_name,
            "experiment": context.experiment,
            "target": context.compute_target,
            "status": self._state.status,
            "properties": self.get_properties(),
            "tags": self.get_tags(),
        }
        parent_id = self._parent.id if self._parent is not None else context.parent_run_id
        if parent_id:
            details["parentRunId"] = parent_id
        return details

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            self.complete()
        else:
            self.fail(error_details=error)
        return False

    # ----- child runs -----

    def child_run(self, name=None, run_id=None, outputs=None):
        """Creates one child run: a run of its own, listed with this one, ended by its
        complete() (or with this run). Its id is <this run's id>_<n>."""
        if run_id is not None:
            not_supported("child_run(run_id=...)", "child run ids are <parent id>_<n>")
        return self._create_children(1, [name], None, None)[0]

    def create_children(self, count=None, tag_key=None, tag_values=None):
        """Creates `count` child runs, or one per value of `tag_values`, each tagged
        {tag_key: value}. Returns them in order."""
        if (tag_key is None) != (tag_values is None):
            raise ValueError("create_children: give tag_key and tag_values together")
        if tag_values is not None:
            tag_values = list(tag_values)
            if count is not None and count != len(tag_values):
                raise ValueError("create_children: count %r differs from the %d tag_values"
                                 % (count, len(tag_values)))
            count = len(tag_values)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError("create_children: count must be an int >= 0, got %r" % (count,))
        return self._create_children(count, [None] * count, tag_key, tag_values)

    def get_children(self, recursive=False, tags=None, properties=None, type=None,
                     status=None, _rehydrate_runs=True):
        """The child runs this process created."""
        return list(self._state.children)

    # ----- internals -----

    def _create_children(self, count, names, tag_key, tag_values):
        if self._parent is not None:
            not_supported("child runs of a child run", "create children from the run itself")
        if count == 0:
            return []
        tags = [{} if tag_key is None else tag_map({tag_key: value}) for value in
                (tag_values or [None] * count)]
        for i in range(count):  # refuse bad names before any child number is used up
            if names[i] is not None:
                self._check_name(names[i], "child run name")
            self._check_map(tags[i], "tag", {})
        first = self._channel.reserve_child_numbers(count)
        now = _time()
        children, lines = [], []
        for i in range(count):
            child_id = "%s_%d" % (self._id, first + i)
            name = names[i] if names[i] is not None else child_id
            lines.append('{"k":"child","r":%s,"name":%s,"tags":%s,"t":%r}\n' %
                         (_quote(child_id), _quote(name), _encode.document_json(tags[i]), now))
            children.append(Run._live(self._channel, child_id, name, self,
                                      _RunState(tags[i], {})))
        self._write_lines(lines)
        self._state.children.extend(children)
        return children

    def _set_status(self, status, error):
        line = '{"k":"status"%s,"s":"%s"' % (self._r, status)
        if error is not None:
            line += ',"error":' + _encode.document_json(error)
        self._write_line(line + ',"t":%r}\n' % _time())
        self._state.status = status

    def _child_prefix(self):
        return self._id if self._parent is not None else None

    def _new_scalar_name(self, name):
        self._check_name(name, "metric name")
        prefix = self._metric_head(name, "scalar")
        self._state.scalar_prefixes[name] = prefix
        self._series(name, "scalar")
        return prefix

    def _metric_head(self, name, kind):
        return '{"k":"metric"%s,"n":%s,"type":"%s"%s,"v":[' % (self._r, _quote(name), kind,
                                                                self._rank)

    def _series(self, name, kind):
        """The local values of series `name` (for get_metrics), created as `kind`."""
        values = self._state.series.get(name)
        if values is None:
            values = self._state.series[name] = [kind]
        return values

    def _extras(self, step, description):
        text = ""
        if step is not None:
            if isinstance(step, bool) or not hasattr(step, "__index__"):
                raise TypeError("step must be an int, not %s" % type(step).__name__)
            text += ',"s":%d' % step.__index__()
        if description:
            text += ',"d":' + _quote(str(description)[:self._max_text])
        return text

    def _check_name(self, name, what):
        if not isinstance(name, str):
            raise TypeError("%s must be a str, not %s" % (what, type(name).__name__))
        if not name:
            raise ValueError("%s must not be empty" % what)
        if len(name) > self._max_name:
            raise RunLimitError("max_name_chars (%d) exceeded: %s %r... has %d characters"
                                % (self._max_name, what, name[:40], len(name)))

    def _check_map(self, new, what, current):
        """Checks keys and values of tags or properties; the count limit covers keys
        not set yet."""
        for key, value in new.items():
            self._check_name(key, what + " key")
            if len(value) > self._max_text:
                raise RunLimitError("max_text_value_chars (%d) exceeded: %s %r has a value "
                                    "of %d characters" % (self._max_text, what, key, len(value)))
        added = sum(1 for key in new if key not in current)
        if added and len(current) + added > self._max_tags:
            raise RunLimitError("max_tags (%d) reached: run %s has %d %s keys, %d more asked"
                                % (self._max_tags, self._id, len(current), what, added))

    def _reserve_values(self, name, count):
        if self._state.values + count > self._max_values:
            self._raise_values_limit(name, count)

    def _raise_values_limit(self, name, count):
        raise RunLimitError("max_metric_values (%d) reached: run %s already logged %d metric "
                            "values in this process; %d more for %r refused" %
                            (self._max_values, self._id, self._state.values, count, name))

    def _write_line(self, line):
        if len(line) > MAX_LINE_BYTES:
            raise RunLimitError("record line limit (%d bytes) exceeded: a record of %d bytes"
                                % (MAX_LINE_BYTES, len(line)))
        self._channel.write(line.encode())

    def _write_lines(self, lines):
        batch, size = [], 0
        for line in lines:
            if batch and size + len(line) > _WRITE_BATCH_BYTES:
                self._channel.write("".join(batch).encode())
                batch, size = [], 0
            batch.append(line)
            size += len(line)
        if batch:
            self._channel.write("".join(batch).encode())

    def _write_metric(self, name, kind, value_json, description, step=None):
        self._write_line(self._metric_head(name, kind) + value_json + "]" +
                         self._extras(step, description) + ',"t":%r}\n' % _time())
        self._state.values += 1

    def _log_documents(self, name, kind, documents, description):
        self._check_name(name, "metric name")
        self._reserve_values(name, len(documents))
        texts = [_encode.document_json(doc) for doc in documents]
        self._write_line(self._metric_head(name, kind) + ",".join(texts) + "]" +
                         self._extras(None, description) + ',"t":%r}\n' % _time())
        self._state.values += len(documents)
        self._series(name, kind).extend(documents)

    def _log_json_kind(self, name, kind, value, description):
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except ValueError as e:
                raise ValueError("%s %r: value is not valid JSON: %s" % (kind, name, e)) from e
        if not isinstance(value, (dict, list)):
            raise TypeError("%s %r: value must be a dict (or its JSON text), not %s" %
                            (kind, name, type(value).__name__))
        self._log_documents(name, kind, [value], description)
