"""Opt-in lossy storage: which values a user's ``precision`` may round, and checking it.

``save(url, precision={"RateData": 1e-6})`` asks that the measured values
of every ``RateData`` (its ``inst_Frate_data``) be kept to a relative error
of 1e-6 instead of exactly; the container then rounds them (the Zarr
container with ``numcodecs.bitround``, see
:func:`spikestore.containers.zarr_array.keep_bits`), which makes smoothed
rates compress several times better.  Nothing is rounded unless asked.

Which datasets hold such values is the codec's to say (its ``values``):
rates and rate slices, pairwise matrices and stacks, and ndarray items.
Spike times, time axes, labels and neuron attributes are never rounded: a
relative error on a time is an absolute error that grows with the
recording.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..errors import InvalidValueError
from ..record import Record
from .registry import ITEM_TYPE_NAMES, codec_named

ROUNDED_TYPES = tuple(sorted(name for name in ITEM_TYPE_NAMES if getattr(codec_named(name), "values", ())))
"""The types whose codecs declare ``values``."""
FINEST = 2.0**-52
COARSEST = 0.25


def check_precision(precision: Mapping[str, Any] | None) -> dict[str, float]:
    """``precision`` checked: type name -> relative error in ``[2**-52, 0.25]``.

    Raises
    ------
    InvalidValueError
        If ``precision`` is not a mapping, names a type whose values cannot
        be rounded, or gives an error that is not a number in range.  Raised
        before anything is written.
    """
    if precision is None:
        return {}
    if not isinstance(precision, Mapping):
        raise InvalidValueError(f"precision must be a dict of type name -> relative error, e.g. {{'RateData': 1e-6}}, not {type(precision).__name__}.")
    checked: dict[str, float] = {}
    for type_name, error in precision.items():
        if type_name not in ROUNDED_TYPES:
            raise InvalidValueError(f"precision names {type_name!r}; the values that can be rounded are those of {', '.join(ROUNDED_TYPES)}.")
        if isinstance(error, bool) or not isinstance(error, (int, float, np.floating, np.integer)) or not math.isfinite(error) or not FINEST <= error <= COARSEST:
            raise InvalidValueError(
                f"precision[{type_name!r}] is {error!r}; give a relative error between {FINEST:.3g} and {COARSEST} (e.g. 1e-6), or leave the type out to store it exactly."
            )
        checked[type_name] = float(error)
    return checked


def apply_precision(record: Record, precision: Mapping[str, float]) -> Record:
    """Mark the value datasets of every record of a type in ``precision`` (checked) with its error.

    Walks the whole tree, so a ``RateData`` inside a dict is rounded as one
    stored alone is.  Only float datasets are marked.  Returns ``record``
    (changed in place).
    """
    if not precision:
        return record
    for _, rec in record.walk():
        error = precision.get(rec.type or "")
        if error is None:
            continue
        for name in getattr(codec_named(rec.type), "values", ()):
            ds = rec.datasets.get(name)
            if ds is not None and np.dtype(ds.data.dtype).kind == "f":
                ds.precision = error
    return record
