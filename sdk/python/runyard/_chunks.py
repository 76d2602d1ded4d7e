"""Splitting long metric values into record lines of at most 1 MiB."""

import json

from . import _encode
from ._context import MAX_LINE_BYTES
from .errors import RunLimitError

# Values per log_list line (the contract's chunk size).
LIST_CHUNK_VALUES = 10000

_PLAIN_SCALARS = frozenset((float, int, str, bool))


def list_lines(head, tail, values, max_text, where):
    """The lines of a log_list: `head` + up to LIST_CHUNK_VALUES values + `tail` each,
    a chunk halved until its line fits in MAX_LINE_BYTES. `where` names the call in
    errors."""
    lines = []
    for start in range(0, len(values), LIST_CHUNK_VALUES):
        _add_list_lines(head, tail, values[start:start + LIST_CHUNK_VALUES], max_text,
                        where, start, lines)
    return lines


def _add_list_lines(head, tail, chunk, max_text, where, start, lines):
    line = head + _list_json(chunk, max_text, where, start) + "]" + tail
    if len(line) <= MAX_LINE_BYTES:
        lines.append(line)
        return
    half = len(chunk) // 2  # >= 1: one value always fits (text values are bounded)
    _add_list_lines(head, tail, chunk[:half], max_text, where, start, lines)
    _add_list_lines(head, tail, chunk[half:], max_text, where, start + half, lines)


def _list_json(chunk, max_text, where, start):
    """The JSON of log_list values (without brackets)."""
    if all(type(v) in _PLAIN_SCALARS for v in chunk):
        strings = [v for v in chunk if type(v) is str]
        if not strings or max(map(len, strings)) <= max_text:
            try:
                return json.dumps(chunk, separators=(",", ":"), allow_nan=False)[1:-1]
            except ValueError:
                pass  # NaN or infinities: the slow path spells them as strings
    return ",".join(_encode.scalar_json(v, max_text, "%s value [%d]" % (where, start + i))
                    for i, v in enumerate(chunk))


def table_lines(head, tail, columns, name):
    """The lines of a log_table: the whole table in one line when it fits, else
    tables of consecutive rows (halved until each fits)."""
    rows = max((len(column) for column in columns.values()), default=0)
    lines = []
    _add_table_lines(head, tail, columns, 0, rows, name, lines)
    return lines


def _add_table_lines(head, tail, columns, begin, end, name, lines):
    part = {key: column[begin:end] for key, column in columns.items()}
    line = head + _encode.document_json(part) + tail
    if len(line) <= MAX_LINE_BYTES:
        lines.append(line)
        return
    if end - begin <= 1:
        raise RunLimitError("record line limit (%d bytes) exceeded: one row of table %r "
                            "is %d bytes" % (MAX_LINE_BYTES, name, len(line)))
    middle = (begin + end) // 2
    _add_table_lines(head, tail, columns, begin, middle, name, lines)
    _add_table_lines(head, tail, columns, middle, end, name, lines)
