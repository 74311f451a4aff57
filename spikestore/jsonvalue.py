"""JSON for values that may hold numpy arrays and scalars.

Arrays are written as spikelab's sentinel ``{"__ndarray__": true, "dtype",
"shape", "values"}`` and restored with their dtype and shape; numpy scalars
become Python numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
