"""Packed children: many small records of one shape stored as a few ragged arrays.

A ``SpikeSliceStack`` has one child record per slice (``spike_stack/0`` …
``spike_stack/<S-1>``), each with the same datasets.  Stored one group per
slice, a stack of S slices costs about 5·S objects — on S3 that is 5·S
requests.  The Zarr container instead stores such a group *packed*: for each
dataset name, the children's arrays concatenated along their first axis into
one array, with the offsets, the children's names, types and attributes in
the skeleton (and, for plain-zarr readers, in the group's attributes).  A
stack of any S is then O(1) objects, and one slice is still read alone (a
range of each packed array).

Nothing here knows a type: any record whose children are flat and alike is
packed (:func:`packable`); the HDF5 container never packs, so spikelab's
layout is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..jsonvalue import from_json, to_json
from ..record import Dataset, Record

# the fewest children worth packing, and the most bytes packed (packing reads them all)
PACK_MIN_CHILDREN = 2
PACK_MAX_BYTES = 256 << 20


def packable(record: Record) -> bool:
    """Whether ``record``'s children are flat, alike records worth storing packed.

    Alike: no children of their own, no derived arrays, the same dataset
    names, and per name the same dtype and the same shape past the first
    axis (which must exist).
    """
    children = list(record.children.values())
    if len(children) < PACK_MIN_CHILDREN or record.datasets or record.derived:
        return False
    first = children[0]
    names = list(first.datasets)
    total = 0
    for child in children:
        if child.children or child.derived or list(child.datasets) != names:
            return False
        for name in names:
            data, ref = child.datasets[name].data, first.datasets[name].data
            if len(data.shape) < 1 or np.dtype(data.dtype) != np.dtype(ref.dtype) or tuple(data.shape[1:]) != tuple(ref.shape[1:]):
                return False
            if np.dtype(data.dtype).kind in "OSUTV":
                return False
            total += int(np.prod(data.shape, dtype=np.int64)) * np.dtype(data.dtype).itemsize
    return bool(names) and total <= PACK_MAX_BYTES


def pack(record: Record, parts: dict[str, list[np.ndarray]]) -> tuple[dict[str, Dataset], dict[str, Any]]:
    """The packed arrays of a :func:`packable` record, and the description readers need.

    ``parts[name]`` are the children's arrays of dataset ``name``, in memory,
    in the order of ``record.children``.
    """
    children = list(record.children.items())
    arrays: dict[str, Dataset] = {}
    offsets: dict[str, list[int]] = {}
    for name, arrays_of_children in parts.items():
        first = children[0][1].datasets[name]
        same_precision = all(child.datasets[name].precision == first.precision for _, child in children)
        arrays[name] = Dataset(np.concatenate(arrays_of_children), dims=first.dims, precision=first.precision if same_precision else None)
        offsets[name] = [0, *np.cumsum([len(p) for p in arrays_of_children]).astype(int).tolist()]
    info = {
        "names": [name for name, _ in children],
        "types": [child.type for _, child in children],
        "attrs": [to_json(child.attrs) for _, child in children],
        "dataset_attrs": {name: [to_json(child.datasets[name].attrs) for _, child in children] for name in parts},
        "offsets": offsets,
    }
    return arrays, info


class PackedSlice:
    """One child's rows ``[start, stop)`` of a packed array: an array-like read lazily.

    Selections are relative to the child's own array; only the rows asked
    for are read from ``base`` (a ``zarr.Array``, a block reader or numpy).
    """

    def __init__(self, base: Any, start: int, stop: int) -> None:
        self.base, self.start, self.stop = base, int(start), int(stop)
        self.shape = (self.stop - self.start, *tuple(base.shape[1:]))
        self.dtype = base.dtype
        self.chunks = getattr(base, "chunks", None)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * np.dtype(base.dtype).itemsize if isinstance(base.dtype, np.dtype) else 0

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, selection: Any) -> Any:
        if selection is Ellipsis or selection == ():
            return self.base[self.start : self.stop]
        rest: tuple[Any, ...] = ()
        if isinstance(selection, tuple):
            selection, rest = (selection[0] if selection else slice(None)), selection[1:]
        if isinstance(selection, slice):
            begin, end, step = selection.indices(self.shape[0])
            if step != 1:
                return np.asarray(self.base[self.start : self.stop])[(selection, *rest)]
            return self.base[(slice(self.start + begin, self.start + max(begin, end)), *rest)]
        if isinstance(selection, (int, np.integer)):
            index = int(selection) + (self.shape[0] if selection < 0 else 0)
            if not 0 <= index < self.shape[0]:
                raise IndexError(f"index {selection} is out of bounds for a slice of {self.shape[0]} rows")
            return self.base[(self.start + index, *rest)]
        return np.asarray(self.base[self.start : self.stop])[(selection, *rest)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self[...])
        return out.astype(dtype) if dtype is not None else out


def unpack(record: Record, info: dict[str, Any], arrays: dict[str, Any], dims: dict[str, Any]) -> Record:
    """``record`` with its children rebuilt from packed ``arrays`` (numpy, or array-likes read lazily)."""
    offsets = info["offsets"]
    for i, name in enumerate(info["names"]):
        child = Record(type=info["types"][i], attrs=from_json(info["attrs"][i]))
        for dataset, base in arrays.items():
            start, stop = offsets[dataset][i], offsets[dataset][i + 1]
            data = base[start:stop] if isinstance(base, np.ndarray) else PackedSlice(base, start, stop)
            child.datasets[dataset] = Dataset(data, from_json(info["dataset_attrs"][dataset][i]), dims.get(dataset))
        record.children[name] = child
    return record


def check_packed(info: object, shapes: dict[str, list[int]], where: str) -> None:
    """A packed description read from an index is consistent with its arrays' shapes.

    Raises
    ------
    ValueError
        Saying what is inconsistent (the caller turns it into a FormatError).
    """
    if not isinstance(info, dict):
        raise ValueError(f"{where}: 'packed' is not a mapping")
    names = info.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where}: packed names are not a list of strings")
    count = len(names)
    if len(set(names)) != count:
        raise ValueError(f"{where}: packed names repeat a child")
    for key, kinds in (("types", (str, type(None))), ("attrs", dict)):
        if not isinstance(info.get(key), list) or len(info[key]) != count or not all(isinstance(v, kinds) for v in info[key]):
            raise ValueError(f"{where}: packed {key} do not match the {count} children")
    offsets, dataset_attrs = info.get("offsets"), info.get("dataset_attrs")
    if not isinstance(offsets, dict) or not isinstance(dataset_attrs, dict) or set(offsets) != set(shapes) or set(dataset_attrs) != set(shapes):
        raise ValueError(f"{where}: packed offsets do not name the packed arrays")
    for name, shape in shapes.items():
        bounds = offsets[name]
        if (
            not isinstance(bounds, list)
            or len(bounds) != count + 1
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
            or bounds[0] != 0
            or bounds[-1] != (shape[0] if shape else -1)
            or any(a > b for a, b in zip(bounds, bounds[1:]))
        ):
            raise ValueError(f"{where}: packed offsets of {name!r} do not cover its {shape[:1]} rows in order")
        if not isinstance(dataset_attrs[name], list) or len(dataset_attrs[name]) != count or not all(isinstance(a, dict) for a in dataset_attrs[name]):
            raise ValueError(f"{where}: packed attributes of {name!r} do not match the {count} children")
