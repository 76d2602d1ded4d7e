"""What the runtime tells a script about its run: <run_api>/context.json."""

import json
import os

from .errors import RunError

RUN_API_DIR_ENV = "RUNYARD_RUN_API_DIR"

# Defaults for limits context.json leaves out (the contract's values).
DEFAULT_LIMITS = {
    "max_metric_values": 5000000,
    "max_children": 10000,
    "max_tags": 1000,
    "max_name_chars": 255,
    "max_text_value_chars": 65536,
    "max_records_bytes": 1 << 30,
}

# Records are lines of at most this many bytes; longer values are chunked or refused.
MAX_LINE_BYTES = 1 << 20

# Where a process of a distributed run finds its rank: PyTorch and TensorFlow ranks get
# RANK, MPI ranks OMPI_COMM_WORLD_RANK. The first that holds an integer >= 0 counts.
RANK_ENVS = ("RANK", "OMPI_COMM_WORLD_RANK")


def process_rank(environ=None):
    """This process's rank in a distributed run, or None for a single-process run (or a
    variable that is no integer >= 0: it is not a rank runyard set)."""
    environ = os.environ if environ is None else environ
    for name in RANK_ENVS:
        text = environ.get(name)
        if text is None:
            continue
        try:
            rank = int(text.strip())
        except ValueError:
            continue
        if 0 <= rank <= 0x7FFFFFFF:
            return rank
    return None


class RunContext:
    """The parsed context.json of a live run."""

    def __init__(self, run_api_dir, doc):
        self.run_api_dir = run_api_dir
        self.run_id = _text(doc, "run_id", required=True)
        self.experiment = _text(doc, "experiment")
        self.display_name = _text(doc, "display_name") or self.run_id
        self.parent_run_id = _text(doc, "parent_run_id")
        self.compute_target = _text(doc, "compute_target") or "local"
        self.tags = _string_map(doc, "tags")
        self.properties = _string_map(doc, "properties")
        limits = dict(DEFAULT_LIMITS)
        for key, value in (doc.get("limits") or {}).items():
            if key in limits and isinstance(value, int) and value > 0:
                limits[key] = value
        self.limits = limits
        self.records = _text(doc, "records") or os.path.join(run_api_dir, "records.jsonl")
        self.committed = _text(doc, "committed") or os.path.join(run_api_dir, "committed")
        work_dir = os.path.dirname(os.path.abspath(run_api_dir))
        self.logs_dir = _text(doc, "logs_dir") or os.path.join(work_dir, "logs")
        self.outputs_dir = _text(doc, "outputs_dir") or os.path.join(work_dir, "outputs")
        self.images_dir = _text(doc, "images_dir") or os.path.join(self.logs_dir, "images")
        self.children_count = os.path.join(run_api_dir, "children.count")
        # The rank every metric record of this process carries (read once, here).
        self.rank = process_rank()


def load_context(run_api_dir):
    """The RunContext of `run_api_dir`, or None when it has no context.json (the
    script is not running under runyard). A context.json that cannot be read raises
    RunError naming the file: logging into the void would lose data silently."""
    path = os.path.join(run_api_dir, "context.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise RunError("cannot read %s: %s" % (path, e)) from e
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise RunError("%s is not valid JSON: %s" % (path, e)) from e
    if not isinstance(doc, dict):
        raise RunError("%s must hold a JSON object" % path)
    try:
        return RunContext(run_api_dir, doc)
    except ValueError as e:
        raise RunError("%s: %s" % (path, e)) from e


def _text(doc, key, required=False):
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise ValueError('"%s" is missing' % key)
        return ""
    if not isinstance(value, str):
        raise ValueError('"%s" must be a string' % key)
    return value


def _string_map(doc, key):
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError('"%s" must be an object' % key)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}
