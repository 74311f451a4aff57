"""The HDF5 container: records written to and read from spikelab's ``.h5`` layout.

A record becomes an HDF5 group: its attributes become group attributes (plus
``__type__``), its datasets become HDF5 datasets (with their own attributes),
its children become sub-groups.  Nothing here knows about a particular type:
the codecs choose names so that this generic walk reproduces spikelab's
layout exactly.  Two rules come from spikelab's ``_dump_item``:

* ``__created_at__`` is written on every record whose type is an item type
  (the top-level item, and typed items nested in dicts, nested dicts
  included); ``__note__`` only on the top-level item;
* string arrays are written with ``h5py.string_dtype("utf-8")``.

A record's ``derived`` arrays (accelerators of partial reads) are not written, and
attributes named ``spikestore:*`` (Zarr-container bookkeeping) are dropped.

Reading gives records whose datasets are the ``h5py.Dataset`` objects
themselves, so nothing is read until a codec or another container asks.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import h5py
import numpy as np

from ..errors import InvalidValueError
from ..malloc_trim import release_free_memory
from ..record import Dataset, Record
from .blocks import block_selections

# Rows copied per step when the source is not a numpy array (a zarr or h5py
# array): bounds memory to about this many bytes per array being copied.
STREAM_BLOCK_BYTES = 4 << 20  # measured: 8 MiB doubled the peak (about 80 MB) and was no faster
# Size assumed per element of a variable-length string array when sizing blocks.
STRING_ITEM_BYTES = 64
COMPRESSIONS = (None, "gzip", "lzf")
# Attributes the HDF5 layout keeps out of ``Record.attrs``.
TYPE_ATTR = "__type__"
CREATED_AT_ATTR = "__created_at__"
NOTE_ATTR = "__note__"
_PRIVATE_PREFIX = "spikestore:"


def check_compression(compression: str | None) -> None:
    """Refuse a compression h5py or spikelab could not handle.

    Raises
    ------
    InvalidValueError
        If ``compression`` is not ``None``, ``"gzip"`` or ``"lzf"``.
    """
    if compression not in COMPRESSIONS:
        raise InvalidValueError(
            f"compression={compression!r} is not supported; use None (spikelab's default, "
            f"fastest), 'gzip' (smallest, readable everywhere) or 'lzf' (fast, h5py only)."
        )


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def _is_string(dtype: Any) -> bool:
    return np.dtype(dtype).kind in "USOT"


def _h5_values(arr: np.ndarray) -> np.ndarray:
    """Values h5py can write: strings as an object array of ``str``/``bytes``."""
    if arr.dtype.kind in "UT":
        return arr.astype(object)
    return arr


def _read_ahead(data: Any, blocks: Iterator[Any]) -> Iterator[tuple[Any, np.ndarray]]:
    """``(block, values)`` pairs, reading the next block while the caller writes this one.

    Reading a block of a zarr array means decompressing its chunks; writing it
    to HDF5 is a copy.  Overlapping them keeps both cores busy, at the price
    of one more block in memory.
    """
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = None
        for block in blocks:
            following = reader.submit(lambda b: np.asarray(data[b]), block)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (block, following)
        if pending is not None:
            yield pending[0], pending[1].result()


def _write_attrs(target: Any, attrs: dict[str, Any]) -> None:
    for name, value in attrs.items():
        if name.startswith(_PRIVATE_PREFIX):
            continue
        target.attrs[name] = value


def _write_dataset(group: h5py.Group, name: str, ds: Dataset, compression: str | None) -> None:
    data = ds.data
    shape = tuple(int(s) for s in data.shape)
    string = _is_string(data.dtype)
    dtype = h5py.string_dtype(encoding="utf-8") if string else np.dtype(data.dtype)
    options: dict[str, Any] = {}
    if compression is not None and shape and int(np.prod(shape, dtype=np.int64)) > 0:
        options = {"compression": compression, "chunks": True}
    if isinstance(data, np.ndarray):
        out = group.create_dataset(name, data=_h5_values(data), dtype=dtype, **options)
    else:
        out = group.create_dataset(name, shape=shape, dtype=dtype, **options)
        if math.prod(shape) > 0:
            itemsize = STRING_ITEM_BYTES if string else np.dtype(data.dtype).itemsize
            chunks = getattr(data, "chunks", None)
            for block, values in _read_ahead(data, block_selections(shape, itemsize, tuple(chunks) if chunks else None, STREAM_BLOCK_BYTES)):
                out[block] = _h5_values(values)
                del values
                release_free_memory()
    _write_attrs(out, ds.attrs)


def write_record(
    h5group: h5py.Group,
    record: Record,
    *,
    created_at: float,
    item_types: frozenset[str] = frozenset(),
    note: str | None = None,
    compression: str | None = None,
) -> None:
    """Write ``record`` into the (empty) group ``h5group``, as spikelab lays it out.

    Parameters
    ----------
    h5group
        The item's group, already created.
    record
        The encoded item.  Datasets may hold numpy arrays or any array-like
        with ``shape``/``dtype``/slicing (zarr, h5py): those are copied block
        by block along axis 0, so memory stays bounded.
    created_at
        The item's ``__created_at__``, written on every group whose record type
        is in ``item_types``: the item's own and typed items nested in dicts,
        as spikelab writes them.
    item_types
        The record types of items (the codec table knows them; the caller
        hands them down, so containers never import codecs).
    note
        The item's ``__note__``; not written when ``None``.
    compression
        ``None``, ``"gzip"`` or ``"lzf"`` for every non-scalar, non-empty dataset.

    Raises
    ------
    InvalidValueError
        If ``compression`` is not supported.
    """
    check_compression(compression)
    if note is not None:
        h5group.attrs[NOTE_ATTR] = note
    _write_tree(h5group, record, created_at, item_types, compression)


def _write_tree(group: h5py.Group, record: Record, created_at: float, item_types: frozenset[str], compression: str | None) -> None:
    if record.type in item_types:
        group.attrs[CREATED_AT_ATTR] = created_at
    if record.type is not None:
        group.attrs[TYPE_ATTR] = record.type
    _write_attrs(group, record.attrs)
    for name, ds in record.datasets.items():
        _write_dataset(group, name, ds, compression)
    for name, child in record.children.items():
        _write_tree(group.create_group(name), child, created_at, item_types, compression)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


def attr_value(value: Any) -> Any:
    """An HDF5 attribute as a plain value: bytes decoded, numpy scalars as Python ones.

    Numpy arrays stay arrays (e.g. ``__missing_unit_indices__``).
    """
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item() if not isinstance(value, np.bytes_) else bytes(value).decode("utf-8")
    return value


def read_attrs(obj: Any) -> dict[str, Any]:
    """All attributes of an HDF5 group or dataset, decoded by :func:`attr_value`."""
    return {name: attr_value(value) for name, value in obj.attrs.items()}


def read_record(h5group: h5py.Group) -> Record:
    """The record stored in ``h5group``; datasets hold ``h5py.Dataset`` objects (no data read).

    ``__type__`` becomes ``record.type``; ``__created_at__`` and ``__note__``
    (index information, see :func:`item_info`) are left out of the attributes.
    """
    attrs = read_attrs(h5group)
    record_type = attrs.pop(TYPE_ATTR, None)
    attrs.pop(CREATED_AT_ATTR, None)
    attrs.pop(NOTE_ATTR, None)
    record = Record(type=record_type, attrs=attrs)
    for name in h5group:
        obj = h5group.get(name)
        if isinstance(obj, h5py.Dataset):
            record.datasets[name] = Dataset(obj, read_attrs(obj))
        elif isinstance(obj, h5py.Group):
            record.children[name] = read_record(obj)
    return record


def item_info(h5group: h5py.Group) -> dict[str, Any]:
    """``created_at`` and ``note`` of a top-level item group, as spikelab's loader reads them.

    A missing ``__created_at__`` reads as ``0.0``; an empty note is dropped.
    """
    info: dict[str, Any] = {"created_at": float(h5group.attrs.get(CREATED_AT_ATTR, 0.0))}
    note = h5group.attrs.get(NOTE_ATTR)
    if note is not None:
        note = attr_value(note)
        if note:
            info["note"] = str(note)
    return info
