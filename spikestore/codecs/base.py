"""What a codec is, and the small encoders several codecs share.

A codec maps one stored type to a :class:`~spikestore.record.Record` and
back.  It knows spikelab's layout (dataset and attribute names, dtypes) and
nothing about Zarr, HDF5, files or URLs.
"""

from __future__ import annotations

import json
from typing import Any, Callable, ClassVar, Protocol

import numpy as np

from ..errors import FormatError, InvalidValueError, InvalidValueTypeError
from ..jsonvalue import from_json, json_default
from ..record import Dataset, Record

# Dataset attribute recording a non-native byte order ("<" or ">") of a
# numeric array.  Zarr hands arrays back in native order whatever order their
# bytes were stored in; :func:`read` restores the order given.  HDF5 stores
# byte order itself, so its container drops this (as every ``spikestore:*``
# attribute).
BYTEORDER_ATTR = "spikestore:byteorder"
# Python ints a dataset or attribute can hold: int64 and uint64.
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1


class Codec(Protocol):
    """Maps objects of one family of Python types to records and back.

    Attributes
    ----------
    type_name
        The ``__type__`` tag written for records of this codec.
    python_types
        The classes this codec encodes (subclasses included), as class
        objects or dotted paths (``"spikelab.spikedata.spikedata.SpikeData"``)
        so that their package is imported only when needed.
    """

    type_name: ClassVar[str]
    # optional: ``access`` (dataset name -> "ranges" | "rows" | "slices"),
    # ``dims_for(name, ndim)`` (one name or None per axis of a dataset;
    # the Zarr container writes them as ``dimension_names``, see registry.dims_for),
    # ``derive(record)`` (arrays that speed up partial reads),
    # ``values`` (the datasets holding measured float values that a user's
    # opt-in ``precision`` may round, see spikestore.codecs.precision) and
    # ``restore_summary(info)`` (a summary read back from JSON, e.g. tuples again)

    def encode(self, obj: Any, where: str) -> Record:
        """Map ``obj`` to a record; ``where`` names it in error messages."""
        ...

    @property
    def python_types(self) -> tuple[type | str, ...]:
        """Read only (codecs declare it as a class variable)."""
        ...

    def decode(self, record: Record) -> Any:
        """Rebuild the object from a record whose datasets hold arrays."""
        ...

    def summary(self, obj: Any) -> dict[str, Any]:
        """The index summary of ``obj`` (spikelab's ``_make_summary`` keys)."""
        ...


SPIKELAB_CLASSES = {
    "SpikeData": "spikelab.spikedata.spikedata.SpikeData",
    "RateData": "spikelab.spikedata.ratedata.RateData",
    "RateSliceStack": "spikelab.spikedata.rateslicestack.RateSliceStack",
    "SpikeSliceStack": "spikelab.spikedata.spikeslicestack.SpikeSliceStack",
    "PairwiseCompMatrix": "spikelab.spikedata.pairwise.PairwiseCompMatrix",
    "PairwiseCompMatrixStack": "spikelab.spikedata.pairwise.PairwiseCompMatrixStack",
}


def spikelab_class(name: str) -> Any:  # a class of spikelab, which has no type information
    """A spikelab data class, imported on first use.

    spikelab (with scipy) takes about a second to import; codecs name its
    classes by dotted path so that ``import spikestore`` and commands that
    never build a spikelab object do not pay for it.
    """
    import importlib

    module, _, attr = SPIKELAB_CLASSES[name].rpartition(".")
    return getattr(importlib.import_module(module), attr)


# ---------------------------------------------------------------------------
# Dimension names
# ---------------------------------------------------------------------------

Dims = tuple[str | None, ...]

UNIT = "unit"
TIME = "time"
SLICE = "slice"
SPIKE = "spike"
SAMPLE = "sample"
CHANNEL = "channel"
UNIT_I, UNIT_J = "unit_i", "unit_j"
SLICE_TIMES_DIMS: Dims = (SLICE, None)
"""``times`` of the slice stacks: one ``(start, end)`` row per slice (the
second axis has no name that fits: it is the pair itself)."""


def unnamed(ndim: int) -> Dims:
    """``None`` for every axis: no name fits (tuples, sets)."""
    return (None,) * ndim


def positional(ndim: int) -> Dims:
    """``dim_0``, ``dim_1`` … (xarray's names for unnamed axes): an arbitrary array's axes.

    Distinct names, so ``xarray.open_zarr`` can open an ``ndarray`` item's
    folder (it refuses two axes of different sizes that share the name ``None``).
    """
    return tuple(f"dim_{i}" for i in range(ndim))


def leading(name: str, ndim: int) -> Dims:
    """``name`` for the first axis, ``None`` for the others (one row per ``name``)."""
    return (name, *unnamed(ndim - 1)) if ndim else ()


def trailing(names: Dims, ndim: int) -> Dims:
    """The last ``ndim`` of ``names``, padded with ``None`` in front.

    ``raw_data`` is ``(channel, sample)`` in spikelab, but a 1-D trace is
    just ``(sample,)``.
    """
    names = tuple(names)[-ndim:] if ndim else ()
    return (*unnamed(ndim - len(names)), *names)


def fitted(names: Dims | None, ndim: int) -> Dims | None:
    """``names`` if they have one entry per axis, else ``None`` (no names)."""
    return tuple(names) if names is not None and len(names) == ndim else None


def dataset(arr: np.ndarray, attrs: dict[str, Any] | None = None, dims: Dims | None = None) -> Dataset:
    """A dataset holding ``arr``, marked with its byte order when that is not native.

    ``long long`` dtypes (``np.asarray([2**63])`` gives one) are viewed as the
    equal fixed-width dtype (``uint64``), which every container knows.
    """
    attrs = dict(attrs or {})
    canonical = np.dtype(arr.dtype.str) if arr.dtype.kind in "iu" else arr.dtype
    if type(canonical) is not type(arr.dtype):
        arr = arr.view(canonical)
    if arr.dtype.byteorder in "<>" and arr.dtype.kind in "biufc":
        attrs[BYTEORDER_ATTR] = arr.dtype.byteorder
    return Dataset(arr, attrs, fitted(dims, arr.ndim))


def read(ds: Dataset) -> np.ndarray:
    """Materialise a dataset's data as a numpy array, in the byte order it was given."""
    data = ds.data
    arr = data if isinstance(data, np.ndarray) else np.asarray(data[()] if len(data.shape) == 0 else data[...])
    given = getattr(data, "dtype", None)
    if isinstance(given, np.dtype) and arr.shape == () and _same_but_byte_order(given, arr.dtype):
        arr = arr.astype(given)  # a 0-d read gives a numpy scalar, always in native order
    order = ds.attrs.get(BYTEORDER_ATTR)
    if order in ("<", ">") and arr.dtype.kind in "biufc" and arr.dtype.str[0] != order:
        arr = arr.astype(arr.dtype.newbyteorder(order))
    return arr


def _same_but_byte_order(given: np.dtype, got: np.dtype) -> bool:
    """Whether ``got`` is ``given`` in the other byte order (numbers only)."""
    return given.kind in "biufc" and given.str != got.str and given.newbyteorder("=") == got.newbyteorder("=")


def check_int_range(value: int, where: str) -> int:
    """``value`` if int64 or uint64 can hold it (what HDF5 and spikelab can store).

    Raises
    ------
    InvalidValueTypeError
        If the integer is below -2**63 or above 2**64 - 1.
    """
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidValueTypeError(
            f"{where}: the integer {value} is outside the range int64/uint64 can hold "
            f"(-2**63 to 2**64-1), so spikelab's HDF5 format cannot store it; store it as a "
            f"float, a string, or split it into smaller integers."
        )
    return value


# ---------------------------------------------------------------------------
# JSON metadata (spikelab's ``__metadata__`` attribute)
# ---------------------------------------------------------------------------


def metadata_to_json(metadata: dict, where: str) -> str:
    """Encode a metadata dict the way spikelab does (ndarrays as sentinels).

    Raises
    ------
    InvalidValueError
        If the metadata holds a value JSON cannot represent.
    """
    try:
        return json.dumps(metadata, default=json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"{where}: metadata is not JSON-serialisable ({exc}). Keep metadata to "
            f"str, numbers, bools, None, lists, dicts and numpy arrays, or store the "
            f"offending value as its own workspace item."
        ) from None


def metadata_from_json(text: Any) -> dict:
    """Decode a ``__metadata__`` attribute (missing means ``{}``)."""
    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return from_json(json.loads(text))


# ---------------------------------------------------------------------------
# Homogeneous arrays from Python sequences
# ---------------------------------------------------------------------------


def _leaf_kinds(value: Any, kinds: set[str]) -> None:
    if isinstance(value, (list, tuple)):
        for v in value:
            _leaf_kinds(v, kinds)
    elif isinstance(value, np.ndarray):
        kinds.add("str" if value.dtype.kind in "US" else "num")
    elif isinstance(value, str):
        kinds.add("str")
    else:
        kinds.add("num")


def _object_leaves(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _object_leaves(v)]
    return [value]


def homogeneous_array(values: Any, where: str, what: str = "list") -> np.ndarray:
    """Convert a list/tuple/sorted set to an array, refusing ragged or mixed input.

    Raises
    ------
    InvalidValueError
        If the elements differ in shape, or mix strings with other values
        (numpy would silently turn the numbers into strings).
    InvalidValueTypeError
        If numpy can only hold the elements in an object array: they mix
        types (numbers and ``None``) or hold an integer beyond int64/uint64
        (spikelab raises ``TypeError`` for these).
    """
    try:
        arr = np.asarray(values)
    except ValueError as exc:
        raise InvalidValueError(
            f"{where}: ragged {what} ({exc}); every element must have the same "
            f"shape. Pad the rows, or store them as separate keys."
        ) from None
    if arr.dtype == object:
        for leaf in _object_leaves(values):
            if isinstance(leaf, int) and not isinstance(leaf, bool):
                check_int_range(leaf, where)
        raise InvalidValueTypeError(
            f"{where}: mixed-type {what} (numpy made it an object array); every element "
            f"must have the same shape and type, and None cannot stand among numbers. "
            f"Convert it to a numpy array of one dtype first."
        )
    if arr.dtype.kind in "US":
        kinds: set[str] = set()
        _leaf_kinds(values, kinds)
        if kinds != {"str"} and arr.size:
            raise InvalidValueError(
                f"{where}: {what} mixes strings with other values, which would turn "
                f"every element into a string; keep one type per {what}."
            )
    return arr


# ---------------------------------------------------------------------------
# Pieces several spikelab types share
# ---------------------------------------------------------------------------


def encode_times(record: Record, times: Any, name: str = "times") -> None:
    """Store a list of ``(start, end)`` tuples as a ``(S, 2)`` float64 dataset.

    No tuples give shape ``(0,)``, as spikelab writes (``np.asarray([])``).
    """
    if times is None:
        return
    values = np.asarray(times, dtype=np.float64)
    if values.size:
        record.datasets[name] = Dataset(values.reshape(-1, 2), dims=SLICE_TIMES_DIMS)
    else:
        record.datasets[name] = Dataset(values.reshape(0), dims=SLICE_TIMES_DIMS[:1])


def decode_times(record: Record, name: str = "times") -> list[tuple[float, float]] | None:
    """Rebuild a list of ``(start, end)`` tuples (``None`` when absent)."""
    if name not in record.datasets:
        return None
    arr = read(record.datasets[name])
    return [(float(a), float(b)) for a, b in arr.reshape(-1, 2)]


LABELS_DIMS: Dims = (UNIT_I,)
"""Pairwise ``labels``: one per row (and column) of the matrix."""


def encode_labels(record: Record, labels: list | None, where: str = "labels") -> None:
    """Store unit labels as spikelab does: strings if any is a string.

    Raises
    ------
    InvalidValueTypeError
        If the labels are not all strings and numpy cannot make one numeric
        array of them (numbers mixed with ``None``, other objects): spikelab's
        save fails with ``TypeError`` there.
    """
    if labels is None:
        return
    present = [lbl for lbl in labels if lbl is not None]
    if not present:
        return
    if any(isinstance(lbl, str) for lbl in present):
        record.datasets["labels"] = Dataset(np.array([str(lbl) for lbl in labels]), dims=LABELS_DIMS)
        return
    arr = np.array(labels)
    if arr.dtype.kind in "OVMm":
        raise InvalidValueTypeError(
            f"{where}: labels {_short(labels)} cannot be stored: they must all be strings, or all "
            f"numbers (no None among numbers). Replace missing labels with a number such as -1, "
            f"or turn every label into a string."
        )
    record.datasets["labels"] = Dataset(arr, dims=fitted(LABELS_DIMS, arr.ndim))


def _short(values: list) -> str:
    text = repr(list(values[:6]))
    return text[:-1] + ", …]" if len(values) > 6 else text


def decode_labels(record: Record) -> list | None:
    """Rebuild a labels list (``None`` when absent)."""
    if "labels" not in record.datasets:
        return None
    arr = read(record.datasets["labels"])
    if arr.dtype.kind in "SOUT":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.tolist()]
    return arr.tolist()


def as_str_array(arr: np.ndarray) -> np.ndarray:
    """Turn an object/bytes array (as h5py returns strings) into a unicode array."""
    if arr.dtype.kind == "U":
        return arr
    flat = [v.decode("utf-8") if isinstance(v, (bytes, bytearray)) else str(v) for v in arr.ravel().tolist()]
    return np.array(flat, dtype=str).reshape(arr.shape) if flat else np.zeros(arr.shape, dtype="<U1")


def attr_float(record: Record, name: str, default: float | None = None) -> float:
    """Read a float attribute, with a clear error when it is missing."""
    if name in record.attrs:
        return float(record.attrs[name])
    if default is not None:
        return default
    raise FormatError(f"a {record.type} record lacks its {name!r} attribute")


# ---------------------------------------------------------------------------
# Values nested inside a record (the items of a dict)
# ---------------------------------------------------------------------------
# A codec of a container type is given these when it is built: the registry
# passes its own ``encode_value`` and ``decode``, so no codec module imports
# the registry (which imports every codec module).

Encoder = Callable[[Any, str], Record]
"""Encodes a value nested in a container: ``encoder(value, where)``, where
``where`` names the value in error messages."""

Decoder = Callable[[Record], Any]
"""Rebuilds a nested value of any type from its record."""
