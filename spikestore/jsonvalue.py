"""JSON for values that may hold numpy arrays and scalars, and fast JSON parsing.

Arrays are written as spikelab's sentinel ``{"__ndarray__": true, "dtype",
"shape", "values"}`` and restored with their dtype and shape; numpy scalars
become Python numbers.

:func:`parse_json` parses what spikestore reads back (index objects, group
documents) with orjson, which parses an index snapshot 2-3x faster than the
standard library; opening a workspace is mostly that parse.  orjson refuses
a few texts ``json`` accepts and ``json.dumps`` may have written (``NaN``,
``Infinity``, lone surrogates, UTF-16): those are parsed again by ``json``.
It reads integers beyond 64 bits as floats, silently, so a text that may
hold one (a run of 19 digits where a number may start) goes to ``json``
directly.  The two agree on every text ``json`` accepts, and ``json``'s
errors stay the errors.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

NDARRAY_SENTINEL = "__ndarray__"


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` hook for numpy values."""
    if isinstance(obj, np.ndarray):
        return {NDARRAY_SENTINEL: True, "dtype": str(obj.dtype), "shape": list(obj.shape), "values": obj.tolist()}
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.str_):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def to_json(obj: Any) -> Any:
    """A JSON-ready copy of ``obj`` (dicts, lists and numpy values converted)."""
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, (np.ndarray, np.generic)):
        return json_default(obj)
    return obj


def from_json(obj: Any) -> Any:
    """Inverse of :func:`to_json`: sentinel dicts become ndarrays again."""
    if isinstance(obj, dict):
        if obj.get(NDARRAY_SENTINEL) is True:
            return np.asarray(obj["values"], dtype=obj["dtype"]).reshape(obj["shape"])
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


# bytes -> 1 for an ASCII digit, 0 otherwise (bytes.translate): runs of digits found at C speed
_DIGIT_MARKS = bytes(1 if 0x30 <= i <= 0x39 else 0 for i in range(256))
# orjson reads an integer beyond 64 bits as a float; any such integer has at least this many digits
_LONG_DIGITS = b"\x01" * 19


def _may_hold_long_integer(raw: bytes) -> bool:
    """Whether ``raw`` may hold an integer literal of 19 digits or more (strings that merely
    contain such digits may also say yes: the slower parser then reads them, correctly)."""
    marks = raw.translate(_DIGIT_MARKS)
    at = marks.find(_LONG_DIGITS)
    while at >= 0:
        before = raw[max(0, at - 64) : at].rstrip(b"-").rstrip()  # (only spaces there: say yes)
        if not before or before[-1:] in (b"[", b":", b","):
            return True
        end = marks.find(b"\x00", at)
        if end < 0:
            return False
        at = marks.find(_LONG_DIGITS, end)
    return False


def parse_json(text: bytes | str) -> Any:
    """``json.loads(text)``, by orjson where it gives the same value (see the module docstring).

    Raises
    ------
    ValueError
        ``json.JSONDecodeError`` (or ``UnicodeDecodeError``) for text that is not JSON.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _may_hold_long_integer(raw):
        return json.loads(text)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(text)
