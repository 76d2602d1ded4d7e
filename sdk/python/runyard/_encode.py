"""JSON text for record lines: compact, ASCII only, and valid for strict parsers.

JSON has no NaN or infinities; they travel as the strings "NaN", "Infinity" and
"-Infinity" (the spelling protobuf's JSON mapping uses), so a strict parser on the
runtime's side never sees an invalid line.
"""

import json
import math
import numbers

from .errors import RunLimitError

# The C implementation of JSON string quoting: the fastest way to quote a str.
quote = json.encoder.encode_basestring_ascii

_NON_FINITE = {math.inf: '"Infinity"', -math.inf: '"-Infinity"'}


def float_json(value):
    """JSON for a float, non-finite values as strings."""
    if math.isfinite(value):
        return repr(value)
    if value != value:
        return '"NaN"'
    return _NON_FINITE[value]


def scalar_json(value, max_text_chars, what):
    """JSON for one metric value (number, string or bool); `what` names it in errors.

    Numbers of other libraries (numpy, torch scalars) are accepted through the numbers
    ABCs or their item() method."""
    kind = type(value)
    if kind is float:
        return float_json(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return repr(value)
    if isinstance(value, str):
        if len(value) > max_text_chars:
            raise RunLimitError(
                "max_text_value_chars (%d) exceeded: %s is a string of %d characters"
                % (max_text_chars, what, len(value)))
        return quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        return float_json(float(value))
    item = getattr(value, "item", None)
    if item is not None:
        try:
            plain = item()
        except (TypeError, ValueError):
            plain = None
        if isinstance(plain, (int, float, str)):
            return scalar_json(plain, max_text_chars, what)
    raise TypeError("%s must be a number, a string or a bool, not %s" %
                    (what, type(value).__name__))


def _plain(obj):
    """A copy of `obj` that json.dumps accepts with allow_nan=False."""
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)
        return "NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity")
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, dict):
        return {str(key): _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(value) for value in obj]
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return _plain(float(obj))
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if tolist is not None:
        return _plain(tolist())
    item = getattr(obj, "item", None)
    if item is not None:
        return _plain(item())
    raise TypeError("a value of type %s cannot be stored as JSON" % type(obj).__name__)


def document_json(obj):
    """Compact JSON for a document (rows, tables, confusion matrices...)."""
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(_plain(obj), separators=(",", ":"), allow_nan=False)
