"""Per-unit attribute dicts (``neuron_attributes``) as a group of column arrays.

The layout is spikelab's: one dataset per attribute key, one row per unit.
Numbers become float64 with NaN for a missing unit (``__scalar_kind__``
remembers ints and bools), strings become a string column with ``""`` for a
missing unit, and array values become a stacked ``(N, …)`` array whose
missing rows are listed in ``__missing_unit_indices__``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import InvalidValueError
from ..record import Dataset, Record
from .base import UNIT, Dims, as_str_array, dataset, leading, read

GROUP = "neuron_attributes"
_SCALARS = (str, bool, int, float, np.integer, np.floating, np.bool_)
_ARRAYS = (np.ndarray, list, tuple)


def column_dims(ndim: int) -> Dims:
    """A column's axis names: ``unit`` (one row per unit), then ``None`` for an array value's axes."""
    return leading(UNIT, ndim)


def _column(key: str, values: list[Any], where: str) -> Dataset:
    column = _column_values(key, values, where)
    column.dims = column_dims(len(column.data.shape))
    return column


def _column_values(key: str, values: list[Any], where: str) -> Dataset:
    n = len(values)
    present = [v for v in values if v is not None]
    for v in present:
        if not isinstance(v, _SCALARS + _ARRAYS):
            raise InvalidValueError(
                f"{where}: neuron attribute {key!r} holds a {type(v).__name__}; "
                f"supported are numbers, strings and arrays (ndarray/list/tuple)."
            )
    if not present:
        return Dataset(np.full(n, np.nan))
    if any(isinstance(v, _ARRAYS) for v in present):
        return _array_column(key, values, where)
    if any(isinstance(v, str) for v in present):
        return Dataset(np.array([str(v) if v is not None else "" for v in values], dtype=str))
    if any(isinstance(v, (float, np.floating)) and np.isnan(v) for v in present):
        warnings.warn(
            f"{where}: neuron attribute {key!r} contains NaN, which reads back as "
            f"'missing' (NaN marks missing units in this format).",
            UserWarning,
            stacklevel=4,
        )
    first = present[0]
    kind = "bool" if isinstance(first, (bool, np.bool_)) else "int" if isinstance(first, (int, np.integer)) else "float"
    column = np.array([float(v) if v is not None else np.nan for v in values], dtype=np.float64)
    return Dataset(column, {"__scalar_kind__": kind} if kind != "float" else {})


def _array_column(key: str, values: list[Any], where: str) -> Dataset:
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, _ARRAYS):
            raise InvalidValueError(
                f"{where}: neuron attribute {key!r} mixes arrays and scalars (unit {i} "
                f"has {type(v).__name__} {v!r}); wrap the scalar in a length-1 array or "
                f"use a separate key."
            )
    sample = np.asarray(next(v for v in values if v is not None))
    for i, v in enumerate(values):
        if v is not None and np.shape(v) != sample.shape:
            raise InvalidValueError(
                f"{where}: neuron attribute {key!r} has shape {np.shape(v)} for unit {i} "
                f"but {sample.shape} elsewhere; all units need the same shape."
            )
    fill: Any = np.nan if np.issubdtype(sample.dtype, np.floating) else False if sample.dtype == bool else 0
    stacked = np.full((len(values), *sample.shape), fill, dtype=sample.dtype)
    missing = []
    for i, v in enumerate(values):
        if v is None:
            missing.append(i)
        else:
            stacked[i] = np.asarray(v, dtype=sample.dtype)
    attrs = {"__missing_unit_indices__": np.asarray(missing, dtype=np.int64)} if missing else {}
    return dataset(stacked, attrs)


def encode_neuron_attributes(record: Record, neuron_attributes: list[dict] | None, where: str) -> None:
    """Add a ``neuron_attributes`` child to ``record`` (nothing for None or [])."""
    if not neuron_attributes:
        return
    keys: dict[str, None] = {}
    for unit in neuron_attributes:
        keys.update(dict.fromkeys(unit))
    group = Record()
    for key in keys:
        if not isinstance(key, str) or not key or "/" in key or "\\" in key or key in (".", ".."):
            raise InvalidValueError(
                f"{where}: neuron attribute key {key!r} cannot be a dataset name; use a "
                f"non-empty string without '/' or '\\'."
            )
        group.datasets[key] = _column(key, [unit.get(key) for unit in neuron_attributes], where)
    record.children[GROUP] = group


def decode_neuron_attributes(record: Record) -> list[dict] | None:
    """Rebuild the per-unit dicts from a record's ``neuron_attributes`` child."""
    group = record.children.get(GROUP)
    if group is None or not group.datasets:
        return None
    n = next(iter(group.datasets.values())).data.shape[0]
    units: list[dict] = [{} for _ in range(n)]
    for key, ds in group.datasets.items():
        raw = read(ds)
        if raw.dtype.kind in "SOUT":
            for i, v in enumerate(as_str_array(raw).tolist()):
                if v:
                    units[i][key] = v
        elif raw.ndim > 1:
            missing = ds.attrs.get("__missing_unit_indices__")
            skip = {int(i) for i in np.asarray(missing).ravel()} if missing is not None else set()
            if missing is None and np.issubdtype(raw.dtype, np.floating):
                # legacy files: an all-NaN row marked a missing unit
                skip = set(np.flatnonzero(np.isnan(raw).all(axis=tuple(range(1, raw.ndim)))).tolist())
            for i, row in enumerate(raw):
                if i not in skip:
                    units[i][key] = row.copy()
        else:
            kind = ds.attrs.get("__scalar_kind__")
            if isinstance(kind, bytes):
                kind = kind.decode("utf-8")
            cast = {"int": int, "bool": bool}.get(kind or "", float)
            for i, v in enumerate(raw.tolist()):
                if v == v:  # NaN (a missing unit) is the only value unequal to itself
                    units[i][key] = cast(v)
    if all(not u for u in units):
        return None
    return units
