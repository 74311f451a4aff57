"""What a codec is, and the small encoders several codecs share.

A codec maps one stored type to a :class:`~spikestore.record.Record` and
back.  It knows spikelab's layout (dataset and attribute names, dtypes) and
nothing about Zarr, HDF5, files or URLs.
"""

from __future__ import annotations

import json
from typing import Any, Callable, ClassVar, Protocol

import numpy as np

from ..errors import InvalidValueError
from ..jsonvalue import from_json, json_default
from ..record import Dataset, Record



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
    python_types: ClassVar[tuple[type | str, ...]]
    # optional: ``access`` (dataset name -> "ranges" | "rows" | "slices") and
    # ``derive(record)`` (arrays that speed up partial reads)

    def encode(self, obj: Any, where: str) -> Record:
        """Map ``obj`` to a record; ``where`` names it in error messages."""
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


def spikelab_class(name: str) -> type:
    """A spikelab data class, imported on first use.

    spikelab (with scipy) takes about a second to import; codecs name its
    classes by dotted path so that ``import spikestore`` and commands that
    never build a spikelab object do not pay for it.
    """
    import importlib

    module, _, attr = SPIKELAB_CLASSES[name].rpartition(".")
    return getattr(importlib.import_module(module), attr)


def read(ds: Dataset) -> np.ndarray:
    """Materialise a dataset's data as a numpy array."""
    data = ds.data
    if isinstance(data, np.ndarray):
        return data
    return np.asarray(data[()] if len(data.shape) == 0 else data[...])


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


def homogeneous_array(values: Any, where: str, what: str = "list") -> np.ndarray:
    """Convert a list/tuple/sorted set to an array, refusing ragged or mixed input.

    Raises
    ------
    InvalidValueError
        If the elements differ in shape, or mix strings with other values
        (numpy would silently turn the numbers into strings).
    """
    try:
        arr = np.asarray(values)
    except ValueError as exc:
        raise InvalidValueError(
            f"{where}: ragged {what} ({exc}); every element must have the same "
            f"shape. Pad the rows, or store them as separate keys."
        ) from None
    if arr.dtype == object:
        raise InvalidValueError(
            f"{where}: ragged or mixed-type {what}; every element must have the "
            f"same shape and type. Convert it to a numpy array first."
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
    """Store a list of ``(start, end)`` tuples as a ``(S, 2)`` float64 dataset."""
    if times is None:
        return
    record.datasets[name] = Dataset(np.asarray(times, dtype=np.float64).reshape(-1, 2))


def decode_times(record: Record, name: str = "times") -> list[tuple[float, float]] | None:
    """Rebuild a list of ``(start, end)`` tuples (``None`` when absent)."""
    if name not in record.datasets:
        return None
    arr = read(record.datasets[name])
    return [(float(a), float(b)) for a, b in arr.reshape(-1, 2)]


def encode_labels(record: Record, labels: list | None) -> None:
    """Store unit labels as spikelab does: strings if any is a string."""
    if labels is None:
        return
    present = [lbl for lbl in labels if lbl is not None]
    if not present:
        return
    if any(isinstance(lbl, str) for lbl in present):
        record.datasets["labels"] = Dataset(np.array([str(lbl) for lbl in labels]))
    else:
        record.datasets["labels"] = Dataset(np.array(labels))


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
    from ..errors import FormatError

    raise FormatError(f"a {record.type} record lacks its {name!r} attribute")


Encoder = Callable[[Any, str], Record]
