"""numpy arrays (``ndarray``) and lists stored inside dicts (which become arrays)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import UnsupportedTypeError
from ..record import Record
from .base import Dims, as_str_array, dataset, homogeneous_array, positional, read, unnamed


def array_record(arr: np.ndarray, type_name: str | None, where: str) -> Record:
    """A record holding ``arr`` as spikelab's ``data`` dataset (in the byte order given)."""
    if arr.dtype.kind in "OVMm" or arr.dtype.hasobject:
        raise UnsupportedTypeError(
            f"{where}: arrays of dtype {arr.dtype} cannot be stored (object, structured "
            f"and datetime arrays would need pickling); convert to a numeric, bool or "
            f"string array."
        )
    attrs = {"__string_array__": True} if arr.dtype.kind in "US" else {}
    # no axis name fits a user's array: ``dimension_names`` is all nulls
    return Record(type_name, datasets={"data": dataset(arr, attrs, positional(arr.ndim) if type_name == "ndarray" else unnamed(arr.ndim))})


def array_from_record(record: Record) -> np.ndarray:
    """The ``data`` dataset as a numpy array (strings as a unicode array)."""
    ds = record.datasets["data"]
    arr = read(ds)
    if ds.attrs.get("__string_array__", False) or arr.dtype.kind in "OT":
        arr = as_str_array(arr)
    return arr


class NdarrayCodec:
    """``np.ndarray`` of any numeric, bool or string dtype, any shape (0-d too)."""

    type_name: ClassVar[str] = "ndarray"
    values: ClassVar[tuple[str, ...]] = ("data",)
    python_types: ClassVar[tuple[type, ...]] = (np.ndarray,)

    def encode(self, obj: np.ndarray, where: str) -> Record:
        return array_record(obj, self.type_name, where)

    def dims_for(self, name: str, ndim: int) -> Dims:
        """``data``: ``dim_0``, ``dim_1`` … (no name fits an arbitrary array)."""
        return positional(ndim)

    def decode(self, record: Record) -> np.ndarray:
        return array_from_record(record)

    def summary(self, obj: np.ndarray) -> dict[str, Any]:
        return {"type": "ndarray", "shape": list(obj.shape), "dtype": str(obj.dtype)}


class ListCodec(NdarrayCodec):
    """A list inside a dict: stored (and read back) as an ndarray, as spikelab does."""

    python_types: ClassVar[tuple[type, ...]] = (list,)

    def encode(self, obj: list[Any] | np.ndarray, where: str) -> Record:
        return array_record(homogeneous_array(obj, where, "list"), self.type_name, where)

    def summary(self, obj: list[Any] | np.ndarray) -> dict[str, Any]:
        return super().summary(np.asarray(obj))
