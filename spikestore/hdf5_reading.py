"""Reading spikelab's ``.h5`` + ``.json`` saves, which may be damaged or hostile.

The one module that reads spikelab's files: :func:`spikelab_base` decides
whether ``AnalysisWorkspace.load``/``load_item`` read a spikelab save,
:func:`read_save` and :func:`load_hdf5_item` read one into memory for them,
and :func:`checked_pair` and :func:`checked_record` give the import
(:func:`spikestore.transfer.import_hdf5`) the checked items to stream.

Every item touched goes through :func:`check_item` *before* anything is
decoded or written.  The check reads metadata only (plus, for spike trains, the
cumulative index in bounded blocks) and refuses, with a
:class:`~spikestore.errors.FormatError` naming the file and the HDF5 object:

* names that cannot be a single path segment (``..``, ``/``, ``\\``, NUL,
  empty, not UTF-8, longer than 255 bytes);
* links other than plain hard links (soft, external, user-defined), and
  objects reachable by more than one hard link (the only way to build a
  cycle), and nesting deeper than :data:`MAX_DEPTH`;
* datatypes spikelab never writes: compound, opaque, references, enums,
  variable-length sequences of non-strings, array types, exotic sizes;
* datasets whose raw data lives elsewhere (external files, virtual
  datasets), use a filter other than gzip/lzf/shuffle/fletcher32, or whose
  declared size is not backed by the file (unallocated chunks, fill-value
  datasets, a compression ratio no real compressor reaches, chunks too big
  to decompress with bounded memory);
* attributes of types spikelab never writes;
* records that contradict themselves (``N`` against ``spike_times_index``,
  offsets past ``spike_times``, time axes against data shapes …).

Any exception h5py raises on a damaged file while checking becomes a
``FormatError``; while reading data, a ``CorruptDataError``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Optional, overload

import h5py
import numpy as np

from . import codecs
from .workspace_root import WorkspaceRoot
from .codecs.base import metadata_from_json
from .codecs.registry import ITEM_TYPE_NAMES, codec_named
from .containers.hdf5_file import item_info, read_record
from .errors import CorruptDataError, FormatError, ItemNotFoundError, SpikestoreError, WorkspaceNotFoundError
from .locations import H5_SUFFIX, hdf5_base_path, hdf5_paths
from .malloc_trim import release_free_memory
from .names import validate_item_address, validate_name
from .record import Record
from .store import WorkspaceStore

MAX_DEPTH = 64
# deflate cannot compress by more than about 1032:1; lzf compresses less
MAX_FILTER_RATIO = 1100
# a filtered chunk is decompressed whole: bound the memory that takes
MAX_FILTERED_CHUNK_BYTES = 64 << 20
MAX_SEGMENT_BYTES = 255
# elements of an index dataset checked per read
INDEX_BLOCK = 1 << 20
SAFE_FILTERS = {
    h5py.h5z.FILTER_DEFLATE: "gzip",
    h5py.h5z.FILTER_SHUFFLE: "shuffle",
    h5py.h5z.FILTER_FLETCHER32: "fletcher32",
    h5py.h5z.FILTER_LZF: "lzf",
}
NUMERIC_SIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "c": (8, 16)}
H5PY_ERRORS = (
    OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError,
    AttributeError, RecursionError, MemoryError, NotImplementedError,
)
_FIX = "restore an intact copy of the file, or save the workspace again with spikelab"


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


@contextmanager
def guard(h5_path: str, what: str, error: type[SpikestoreError] = FormatError) -> Iterator[None]:
    """Turn what h5py (or a decoder) raises on a damaged file into ``error`` naming ``what``.

    spikestore errors pass through unchanged.
    """
    try:
        yield
    except SpikestoreError:
        raise
    except H5PY_ERRORS as exc:
        raise error(
            f"{h5_path}: {what} cannot be read ({type(exc).__name__}: {exc}); the file is damaged "
            f"or was not written by spikelab. Nothing was written; {_FIX}."
        ) from None


def _refuse(h5_path: str, what: str, problem: str, fix: str = _FIX) -> FormatError:
    return FormatError(f"{h5_path}: {what} {problem}; refusing the file before anything is written. Fix: {fix}.")


# ---------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------


@contextmanager
def open_h5(h5_path: str) -> Iterator[h5py.File]:
    """Open a spikelab ``.h5`` read-only, with clear errors for missing or damaged files.

    Raises
    ------
    WorkspaceNotFoundError
        If the file does not exist.
    FormatError
        If it is not HDF5, or not a spikelab workspace.
    """
    if not os.path.exists(h5_path):
        raise WorkspaceNotFoundError(
            f"{h5_path} does not exist; pass the base path spikelab's save() was given "
            f"(without or with the .h5 extension)."
        )
    try:
        f = h5py.File(h5_path, "r")
    except H5PY_ERRORS as exc:
        raise FormatError(
            f"{h5_path} is not a readable HDF5 file ({exc}); it may be truncated, still being "
            f"written, or not a spikelab save at all."
        ) from None
    try:
        with guard(h5_path, "the root attributes"):
            is_workspace = "__workspace_id__" in f.attrs
        if not is_workspace:
            raise FormatError(
                f"{h5_path} is an HDF5 file but not a spikelab workspace (no __workspace_id__ "
                f"attribute on its root)."
            )
        yield f
    finally:
        try:
            f.close()
        except H5PY_ERRORS:
            pass


def text(value: Any) -> str:
    """An attribute as ``str`` (bytes decoded as UTF-8)."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)


def root_attrs(h5_path: str, f: h5py.File) -> tuple[str, Optional[str], float]:
    """``(workspace_id, name, created_at)`` from the root attributes, as spikelab reads them."""
    with guard(h5_path, "the root attributes (__workspace_id__, __workspace_name__, __created_at__)"):
        workspace_id = text(f.attrs["__workspace_id__"])
        name = text(f.attrs.get("__workspace_name__", "")) or None
        created_at = float(f.attrs.get("__created_at__", 0.0))
    return workspace_id, name, created_at


def check_segment(h5_path: str, where: str, name: str | bytes) -> None:
    """Refuse an HDF5 link name that could not be one path segment of a store key.

    Raises
    ------
    FormatError
        For ``""``, ``.``, ``..``, names with ``/``, ``\\`` or NUL, names that
        are not UTF-8 or longer than 255 bytes.
    """
    problem = None
    if not isinstance(name, str):
        problem = f"has a name that is not valid UTF-8 ({name!r})"
    elif name in ("", ".", ".."):
        problem = f"is named {name!r}, which is not a name but a path step"
    elif any(c in name for c in "/\\\x00"):
        problem = f"has the name {name!r}, which holds '/', '\\' or NUL"
    else:
        try:
            size = len(name.encode("utf-8"))
        except UnicodeEncodeError:
            problem = f"has a name that is not valid UTF-8 ({name!r})"
        else:
            if size > MAX_SEGMENT_BYTES:
                problem = f"has a name of {size} bytes (at most {MAX_SEGMENT_BYTES})"
    if problem is not None:
        raise _refuse(h5_path, f"the object {where!r}", problem, "rename it in the file (h5py: group.move), or " + _FIX)


def link_names(h5_path: str, group: h5py.Group) -> list[str]:
    """The link names of ``group`` (nothing followed)."""
    with guard(h5_path, f"the member list of group {group.name!r}"):
        names = list(group.keys())
    for name in names:
        if not isinstance(name, str):
            check_segment(h5_path, f"{group.name.rstrip('/')}/{name!r}", name)
    return names


def child(h5_path: str, group: h5py.Group, name: str) -> Any:
    """The object ``group[name]``, after checking that the link is a plain, single hard link.

    Raises
    ------
    FormatError
        For a bad name, a soft, external or user-defined link, a dangling
        link, or an object reachable by several hard links.
    """
    where = f"{group.name.rstrip('/')}/{name}"
    check_segment(h5_path, where, name)
    with guard(h5_path, f"the link {where!r}"):
        link = group.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise _refuse(
            h5_path, f"{where!r}", f"is an external link to {link.filename}:{link.path}; links into other "
            f"files are never followed", "copy the linked data into the file itself (spikelab never writes links)",
        )
    if isinstance(link, h5py.SoftLink):
        raise _refuse(
            h5_path, f"{where!r}", f"is a soft link to {link.path!r}; spikelab never writes links and they can "
            f"form cycles", "replace the link by a copy of its target",
        )
    if not isinstance(link, h5py.HardLink):
        raise _refuse(h5_path, f"{where!r}", f"is a link of an unknown kind ({type(link).__name__})")
    with guard(h5_path, f"the object {where!r}"):
        obj = group.get(name)
        links = None if obj is None else h5py.h5o.get_info(obj.id).rc
    if obj is None:
        raise _refuse(h5_path, f"{where!r}", "is a dangling link")
    if links != 1:
        raise _refuse(
            h5_path, f"{where!r}", f"is reachable by {links} hard links (spikelab writes each object once; "
            f"shared or cyclic links are refused)", "replace the extra links by copies",
        )
    return obj


def item_groups(h5_path: str, f: h5py.File) -> list[tuple[str, str, h5py.Group]]:
    """``(namespace, key, group)`` of every item.

    ``__``-prefixed top-level names are skipped (spikelab's rule), as are
    datasets where a namespace or an item is expected.  Links are checked
    (:func:`child`) before they are followed.
    """
    items = []
    for ns in link_names(h5_path, f):
        if ns.startswith("__"):
            continue
        ns_group = child(h5_path, f, ns)
        if not isinstance(ns_group, h5py.Group):
            continue
        for key in link_names(h5_path, ns_group):
            group = child(h5_path, ns_group, key)
            if isinstance(group, h5py.Group):
                items.append((ns, key, group))
    return items


def find_item(h5_path: str, f: h5py.File, namespace: str, key: str) -> h5py.Group | None:
    """The item group, or ``None`` when the namespace or key is missing (links checked)."""
    if namespace not in link_names(h5_path, f):
        return None
    ns_group = child(h5_path, f, namespace)
    if not isinstance(ns_group, h5py.Group) or key not in link_names(h5_path, ns_group):
        return None
    group = child(h5_path, ns_group, key)
    return group if isinstance(group, h5py.Group) else None


# ---------------------------------------------------------------------------
# the tree of one item: names, links, attributes, datatypes, sizes
# ---------------------------------------------------------------------------


def type_tag(h5_path: str, group: h5py.Group) -> str | None:
    """The group's ``__type__`` (``None`` when absent)."""
    with guard(h5_path, f"the __type__ attribute of {group.name!r}"):
        tag = group.attrs.get("__type__")
        return None if tag is None else text(tag)


def _check_attr(h5_path: str, owner: str, name: str, value: Any) -> None:
    what = f"attribute {name!r} of {owner!r}"
    if isinstance(value, (str, bytes, np.bytes_, np.str_)):
        with guard(h5_path, what):
            text(value)
        return
    if isinstance(value, (np.bool_, np.integer, np.floating, int, float, bool)):
        return
    if isinstance(value, np.ndarray) and value.ndim <= 1 and (value.dtype.kind in "biuf" or h5py.check_string_dtype(value.dtype)):
        return
    raise _refuse(h5_path, what, f"has a value of a type spikelab never writes ({type(value).__name__}, "
                  f"dtype {getattr(value, 'dtype', None)})")


def check_attrs(h5_path: str, obj: Any) -> None:
    """Every attribute of ``obj`` is a string, a number or a 1-D numeric/string array."""
    with guard(h5_path, f"the attributes of {obj.name!r}"):
        names = list(obj.attrs.keys())
    for name in names:
        if not isinstance(name, str):
            raise _refuse(h5_path, f"an attribute of {obj.name!r}", f"has a name that is not valid UTF-8 ({name!r})")
        with guard(h5_path, f"attribute {name!r} of {obj.name!r}"):
            value = obj.attrs[name]
        _check_attr(h5_path, obj.name, name, value)


def check_dtype(h5_path: str, ds: h5py.Dataset) -> None:
    """Refuse datatypes spikelab never writes (see the module docstring)."""
    dtype = ds.dtype
    if h5py.check_string_dtype(dtype) is not None:
        return
    problem = None
    if dtype.names is not None:
        problem = "a compound datatype"
    elif dtype.subdtype is not None:
        problem = "an array datatype"
    elif h5py.check_ref_dtype(dtype) is not None:
        problem = "object/region references"
    elif h5py.check_enum_dtype(dtype) is not None:
        problem = "an enum datatype"
    elif h5py.check_vlen_dtype(dtype) is not None:
        problem = f"variable-length sequences of {h5py.check_vlen_dtype(dtype)}"
    elif dtype.kind == "V":
        problem = "an opaque datatype"
    elif dtype.itemsize not in NUMERIC_SIZES.get(dtype.kind, ()):
        problem = f"the datatype {dtype}"
    if problem is not None:
        raise _refuse(h5_path, f"dataset {ds.name!r}", f"holds {problem}, which spikelab never writes",
                      "store numbers, bools or strings")


def _filters(dcpl: Any) -> list[int]:
    return [int(dcpl.get_filter(i)[0]) for i in range(dcpl.get_nfilters())]


def check_storage(h5_path: str, ds: h5py.Dataset, file_size: int) -> None:
    """The declared size of ``ds`` is backed by bytes in this file (see the module docstring)."""
    what = f"dataset {ds.name!r}"
    with guard(h5_path, f"the storage layout of {what}"):
        dcpl = ds.id.get_create_plist()
        layout = dcpl.get_layout()
        external = dcpl.get_external_count()
        filters = _filters(dcpl)
        shape = tuple(int(s) for s in ds.shape) if ds.shape is not None else ()
        file_itemsize = int(ds.id.get_type().get_size())
        storage = int(ds.id.get_storage_size())
        chunks = ds.chunks
        n_chunks = int(ds.id.get_num_chunks()) if layout == h5py.h5d.CHUNKED else 0
    if ds.shape is None:
        raise _refuse(h5_path, what, "has no dataspace (an empty HDF5 dataset)")
    if layout == h5py.h5d.VIRTUAL or external:
        raise _refuse(h5_path, what, "keeps its data outside this file (virtual dataset or external raw "
                      "files); such data is never read", "copy the data into the file")
    unknown = [code for code in filters if code not in SAFE_FILTERS]
    if unknown:
        raise _refuse(h5_path, what, f"uses HDF5 filter(s) {unknown}; only gzip, lzf, shuffle and fletcher32 "
                      f"are read", "rewrite it uncompressed or with gzip")
    elements = math.prod(shape)
    logical = elements * file_itemsize
    if elements == 0:
        return
    if storage > file_size:
        raise _refuse(h5_path, what, f"declares {storage} bytes of storage in a file of {file_size} bytes")
    if layout == h5py.h5d.CHUNKED:
        expected = math.prod(-(-s // c) for s, c in zip(shape, chunks))
        if n_chunks != expected:
            raise _refuse(h5_path, what, f"declares shape {shape} but only {n_chunks} of its {expected} chunks "
                          f"hold data (the rest would read as fill values)")
        if filters and math.prod(chunks) * file_itemsize > MAX_FILTERED_CHUNK_BYTES:
            raise _refuse(h5_path, what, f"has compressed chunks of {math.prod(chunks) * file_itemsize} bytes "
                          f"(at most {MAX_FILTERED_CHUNK_BYTES} are decompressed)", "rewrite it with smaller chunks")
    compressed = any(code in (h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_LZF) for code in filters)
    if compressed and logical > storage * MAX_FILTER_RATIO:
        raise _refuse(h5_path, what, f"declares {logical} bytes stored in {storage} compressed bytes, a ratio "
                      f"no real compressor reaches")
    if not compressed and storage < logical:
        raise _refuse(h5_path, what, f"declares shape {shape} ({logical} bytes) but the file holds only "
                      f"{storage} bytes of it (the rest would read as fill values)")


def check_dataset(h5_path: str, ds: h5py.Dataset, file_size: int) -> None:
    """Datatype, storage and attributes of one dataset."""
    with guard(h5_path, f"the datatype of dataset {ds.name!r}"):
        ds.dtype  # noqa: B018
    check_dtype(h5_path, ds)
    check_storage(h5_path, ds, file_size)
    check_attrs(h5_path, ds)


def check_tree(h5_path: str, group: h5py.Group, file_size: int) -> None:
    """Names, links, attributes, ``__type__`` tags, datatypes and sizes of an item's whole tree.

    Iterative (no recursion), depth-limited to :data:`MAX_DEPTH`.
    """
    stack: list[tuple[h5py.Group, int]] = [(group, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _refuse(h5_path, f"group {node.name!r}", f"is nested more than {MAX_DEPTH} levels deep")
        check_attrs(h5_path, node)
        tag = type_tag(h5_path, node)
        if tag is not None:
            try:
                codec_named(tag)
            except FormatError as exc:
                raise FormatError(f"{h5_path}, group {node.name}: {exc}") from None
        for name in link_names(h5_path, node):
            obj = child(h5_path, node, name)
            if tag == "dict":
                validate_name(name, f"{h5_path}, dict key in {node.name}")
            if isinstance(obj, h5py.Group):
                stack.append((obj, depth + 1))
            elif isinstance(obj, h5py.Dataset):
                check_dataset(h5_path, obj, file_size)
            else:
                raise _refuse(h5_path, f"{obj.name!r}", f"is a {type(obj).__name__}, not a group or dataset")


# ---------------------------------------------------------------------------
# what the objects say about themselves: spikelab's layouts
# ---------------------------------------------------------------------------


@overload
def _dataset(h5_path: str, group: h5py.Group, name: str, ndim: tuple[int, ...] | None = None,
             numeric: bool = True, required: Literal[True] = True) -> h5py.Dataset: ...
@overload
def _dataset(h5_path: str, group: h5py.Group, name: str, ndim: tuple[int, ...] | None = None,
             numeric: bool = True, *, required: bool) -> h5py.Dataset | None: ...
def _dataset(h5_path: str, group: h5py.Group, name: str, ndim: tuple[int, ...] | None = None,
             numeric: bool = True, required: bool = True) -> h5py.Dataset | None:
    if name not in link_names(h5_path, group):
        if required:
            raise _refuse(h5_path, f"group {group.name!r} ({type_tag(h5_path, group) or 'untyped'})",
                          f"lacks its {name!r} dataset")
        return None
    ds = child(h5_path, group, name)
    if not isinstance(ds, h5py.Dataset):
        raise _refuse(h5_path, f"{ds.name!r}", "should be a dataset but is a group")
    if ndim is not None and ds.ndim not in ndim:
        raise _refuse(h5_path, f"dataset {ds.name!r}", f"has {ds.ndim} dimensions (shape {ds.shape}); expected {ndim}")
    if numeric and h5py.check_string_dtype(ds.dtype) is not None:
        raise _refuse(h5_path, f"dataset {ds.name!r}", "holds strings where numbers are expected")
    return ds


@overload
def _number(h5_path: str, group: h5py.Group, name: str, required: Literal[True] = True, *, integer: Literal[True]) -> int: ...
@overload
def _number(h5_path: str, group: h5py.Group, name: str, required: Literal[True] = True, integer: Literal[False] = False) -> float: ...
@overload
def _number(h5_path: str, group: h5py.Group, name: str, required: bool = True, integer: bool = False) -> float | int | None: ...
def _number(h5_path: str, group: h5py.Group, name: str, required: bool = True, integer: bool = False) -> float | int | None:
    with guard(h5_path, f"attribute {name!r} of {group.name!r}"):
        value = group.attrs.get(name)
    if value is None:
        if required:
            raise _refuse(h5_path, f"group {group.name!r}", f"lacks its {name!r} attribute")
        return None
    if isinstance(value, np.ndarray) and value.shape in ((), (1,)):
        value = value.reshape(())[()]
    kinds = "iub" if integer else "iubf"
    if not isinstance(value, (np.generic, int, float)) or np.asarray(value).dtype.kind not in kinds:
        raise _refuse(h5_path, f"attribute {name!r} of {group.name!r}",
                      f"is {value!r}, not {'an integer' if integer else 'a number'}")
    return int(value) if integer else float(value)


def _check_metadata(h5_path: str, group: h5py.Group) -> None:
    with guard(h5_path, f"attribute '__metadata__' of {group.name!r}"):
        raw = group.attrs.get("__metadata__")
        if raw is not None and not isinstance(metadata_from_json(raw), dict):
            raise ValueError("not a JSON object")


def _check_times(h5_path: str, group: h5py.Group, slices: int | None) -> None:
    ds = _dataset(h5_path, group, "times", (1, 2), required=False)
    if ds is None:
        return
    rows = ds.shape[0]
    good = (ds.ndim == 2 and ds.shape[1] == 2) or (ds.ndim == 1 and rows == 0)
    if not good or (slices is not None and rows != slices):
        raise _refuse(h5_path, f"dataset {ds.name!r}", f"has shape {ds.shape}; expected ({slices}, 2) "
                      f"(start, end) pairs, one per slice")


def _check_units(h5_path: str, group: h5py.Group, units: int | None) -> None:
    if "neuron_attributes" not in link_names(h5_path, group):
        return
    columns = child(h5_path, group, "neuron_attributes")
    if not isinstance(columns, h5py.Group):
        raise _refuse(h5_path, f"{columns.name!r}", "should be a group of columns")
    lengths = set()
    for name in link_names(h5_path, columns):
        ds = _dataset(h5_path, columns, name, numeric=False)
        if ds.ndim == 0:
            raise _refuse(h5_path, f"dataset {ds.name!r}", "is 0-d; a column needs one row per unit")
        lengths.add(ds.shape[0])
    if len(lengths) > 1 or (units is not None and lengths and lengths != {units}):
        raise _refuse(h5_path, f"group {columns.name!r}", f"has columns of {sorted(lengths)} rows for {units} units")


def _check_index(h5_path: str, index: h5py.Dataset, spikes: int) -> None:
    """Offsets non-decreasing, within ``spikes``, the last one equal to it (read in blocks)."""
    if index.dtype.kind not in "iu":
        raise _refuse(h5_path, f"dataset {index.name!r}", f"holds {index.dtype}, not integer offsets")
    previous = 0
    n = index.shape[0]
    for start in range(0, n, INDEX_BLOCK):
        with guard(h5_path, f"dataset {index.name!r}", CorruptDataError):
            block = np.asarray(index[start:start + INDEX_BLOCK]).astype(np.int64)
        if len(block) and (block[0] < previous or np.any(np.diff(block) < 0) or block[-1] > spikes):
            raise _refuse(h5_path, f"dataset {index.name!r}", f"holds offsets that decrease or pass the "
                          f"{spikes} spikes of spike_times")
        previous = int(block[-1]) if len(block) else previous
    if previous != spikes:
        raise _refuse(h5_path, f"dataset {index.name!r}", f"ends at {previous} but spike_times holds {spikes} spikes")


def _check_spike_times(h5_path: str, times: h5py.Dataset, start: float, end: float) -> None:
    """Every spike time finite and inside ``[start, end]`` (read in blocks), as SpikeData requires."""
    if times.dtype.kind not in "iuf":
        raise _refuse(h5_path, f"dataset {times.name!r}", f"holds {times.dtype}, not spike times")
    for first in range(0, times.shape[0], INDEX_BLOCK):
        with guard(h5_path, f"dataset {times.name!r}", CorruptDataError):
            block = np.asarray(times[first:first + INDEX_BLOCK], dtype=np.float64)
        if len(block) and not (np.isfinite(block).all() and block.min() >= start and block.max() <= end):
            raise _refuse(h5_path, f"dataset {times.name!r}", f"holds spike times that are not finite or "
                          f"fall outside the recording [{start}, {end}] ms")


def check_spike_fields(h5_path: str, group: h5py.Group) -> int:
    """A ``SpikeData`` layout (an item or one slice of a stack); returns ``N``."""
    times = _dataset(h5_path, group, "spike_times", (1,))
    index = _dataset(h5_path, group, "spike_times_index", (1,))
    n_units = _number(h5_path, group, "N", integer=True)
    length = _number(h5_path, group, "length_ms")
    start = _number(h5_path, group, "start_time", required=False) or 0.0
    if not (math.isfinite(length) and length >= 0 and math.isfinite(start)):
        raise _refuse(h5_path, f"group {group.name!r}", f"has length_ms={length}, start_time={start}; both "
                      f"must be finite and the length not negative")
    if n_units != index.shape[0]:
        raise _refuse(h5_path, f"group {group.name!r}", f"says N={n_units} but spike_times_index has "
                      f"{index.shape[0]} entries (one per unit)")
    _check_index(h5_path, index, times.shape[0])
    _check_spike_times(h5_path, times, start, start + length)
    _dataset(h5_path, group, "raw_data", required=False)
    _dataset(h5_path, group, "raw_time", required=False)
    _check_metadata(h5_path, group)
    _check_units(h5_path, group, n_units)
    return n_units


def _spike_slice_stack(h5_path: str, group: h5py.Group) -> None:
    if "spike_stack" not in link_names(h5_path, group):
        raise _refuse(h5_path, f"group {group.name!r} (SpikeSliceStack)", "lacks its 'spike_stack' group")
    slices = child(h5_path, group, "spike_stack")
    if not isinstance(slices, h5py.Group):
        raise _refuse(h5_path, f"{slices.name!r}", "should be a group of slices")
    names = link_names(h5_path, slices)
    if sorted(names) != sorted(str(i) for i in range(len(names))):
        raise _refuse(h5_path, f"group {slices.name!r}", f"holds {sorted(names)[:5]}…; expected slices named 0..{len(names) - 1}")
    for name in names:
        check_spike_fields(h5_path, child(h5_path, slices, name))
    _number(h5_path, group, "N", required=False, integer=True)
    _check_times(h5_path, group, len(names))
    _check_units(h5_path, group, None)


def _rate_data(h5_path: str, group: h5py.Group) -> None:
    rates = _dataset(h5_path, group, "inst_Frate_data", (2,))
    times = _dataset(h5_path, group, "times", (1,))
    if times.shape[0] != rates.shape[1]:
        raise _refuse(h5_path, f"group {group.name!r}", f"has rates of shape {rates.shape} but {times.shape[0]} times")
    _check_units(h5_path, group, rates.shape[0])


def _rate_slice_stack(h5_path: str, group: h5py.Group) -> None:
    stack = _dataset(h5_path, group, "event_stack", (3,))
    _number(h5_path, group, "step_size")
    if 0 in stack.shape[1:]:
        raise _refuse(h5_path, f"dataset {stack.name!r}", f"has shape {stack.shape}; a RateSliceStack has at "
                      f"least one time bin and one slice")
    _check_times(h5_path, group, stack.shape[2])
    _check_units(h5_path, group, stack.shape[0])


def _labels(h5_path: str, group: h5py.Group, units: int) -> None:
    labels = _dataset(h5_path, group, "labels", (1,), numeric=False, required=False)
    if labels is not None and labels.shape[0] != units:
        raise _refuse(h5_path, f"dataset {labels.name!r}", f"has {labels.shape[0]} labels for {units} units")


def _square(h5_path: str, ds: h5py.Dataset) -> None:
    if ds.shape[0] != ds.shape[1]:
        raise _refuse(h5_path, f"dataset {ds.name!r}", f"has shape {ds.shape}; a pairwise matrix is n x n")


def _pairwise(h5_path: str, group: h5py.Group) -> None:
    matrix = _dataset(h5_path, group, "matrix", (2,))
    _square(h5_path, matrix)
    _labels(h5_path, group, matrix.shape[0])
    _check_metadata(h5_path, group)


def _pairwise_stack(h5_path: str, group: h5py.Group) -> None:
    stack = _dataset(h5_path, group, "stack", (3,))
    _square(h5_path, stack)
    _labels(h5_path, group, stack.shape[0])
    _check_times(h5_path, group, stack.shape[2])
    _check_metadata(h5_path, group)


def _array(h5_path: str, group: h5py.Group) -> None:
    _dataset(h5_path, group, "data", numeric=False)


def _scalar(h5_path: str, group: h5py.Group) -> None:
    _number(h5_path, group, "__scalar_value__")


def _scalar_str(h5_path: str, group: h5py.Group) -> None:
    with guard(h5_path, f"attribute '__scalar_value__' of {group.name!r}"):
        value = group.attrs["__scalar_value__"]
    if not isinstance(value, (str, bytes, np.bytes_)):
        raise _refuse(h5_path, f"attribute '__scalar_value__' of {group.name!r}", f"is {value!r}, not a string")


def _nothing(h5_path: str, group: h5py.Group) -> None:
    return None


_LAYOUTS = {
    "ndarray": _array, "tuple": _array, "set": _array, "frozenset": _array,
    "SpikeData": check_spike_fields, "SpikeSliceStack": _spike_slice_stack,
    "RateData": _rate_data, "RateSliceStack": _rate_slice_stack,
    "PairwiseCompMatrix": _pairwise, "PairwiseCompMatrixStack": _pairwise_stack,
    "scalar": _scalar, "scalar_str": _scalar_str, "none": _nothing, "dict": _nothing,
}


def check_layouts(h5_path: str, group: h5py.Group) -> None:
    """Every typed group of an item's tree has the datasets and attributes its type needs, consistently."""
    stack = [group]
    while stack:
        node = stack.pop()
        tag = type_tag(h5_path, node)
        check = _LAYOUTS.get(tag or "")
        if check is None:
            raise _refuse(h5_path, f"group {node.name!r}", f"has __type__ {tag!r}, which is not a value type here")
        check(h5_path, node)
        if tag == "dict":
            stack.extend(obj for name in link_names(h5_path, node) if isinstance(obj := child(h5_path, node, name), h5py.Group))


def check_item(h5_path: str, ns: str, key: str, group: h5py.Group, file_size: int) -> str:
    """Everything above for one top-level item; returns its ``__type__``.

    Raises
    ------
    FormatError
        Naming the file and the HDF5 object, for anything the module docstring lists.
    CorruptDataError
        If an index dataset cannot be read.
    """
    tag = type_tag(h5_path, group)
    if tag not in ITEM_TYPE_NAMES:
        raise FormatError(
            f"{h5_path}, item ({ns!r}, {key!r}): unknown __type__ {tag!r}; known item types: "
            f"{sorted(ITEM_TYPE_NAMES)}. The file may come from a newer spikelab."
        )
    check_tree(h5_path, group, file_size)
    check_layouts(h5_path, group)
    return tag


# ---------------------------------------------------------------------------
# the .json sidecar against the .h5
# ---------------------------------------------------------------------------


def _shape_of(h5_path: str, group: h5py.Group, name: str) -> list[int]:
    ds = child(h5_path, group, name)
    return [int(s) for s in ds.shape]


def _slice_lengths(h5_path: str, group: h5py.Group) -> Any:
    if "times" not in link_names(h5_path, group):
        return None
    with guard(h5_path, f"dataset {group.name}/times", CorruptDataError):
        times = np.asarray(child(h5_path, group, "times")[()], dtype=np.float64).reshape(-1, 2)
    if not len(times):
        return None
    durations = [float(t1 - t0) for t0, t1 in times]
    return durations[0] if min(durations) == max(durations) else [min(durations), max(durations)]


def file_summary(h5_path: str, group: h5py.Group, tag: str) -> dict[str, Any]:
    """The summary fields spikelab's ``_make_summary`` would give, read from the file's metadata."""
    main = {"RateData": "inst_Frate_data", "RateSliceStack": "event_stack", "PairwiseCompMatrix": "matrix",
            "PairwiseCompMatrixStack": "stack", "ndarray": "data"}
    summary: dict[str, Any] = {"type": tag}
    if tag in main:
        summary["shape"] = _shape_of(h5_path, group, main[tag])
    if tag == "SpikeData":
        summary["N"] = _number(h5_path, group, "N", integer=True)
        summary["length_ms"] = _number(h5_path, group, "length_ms")
        summary["start_time"] = _number(h5_path, group, "start_time", required=False) or 0.0
    if tag == "SpikeSliceStack":
        slices = child(h5_path, group, "spike_stack")
        n = len(link_names(h5_path, slices))
        summary["N_slices"] = n
        summary["N_units"] = _number(h5_path, child(h5_path, slices, "0"), "N", integer=True) if n else 0
        summary["length_ms"] = _slice_lengths(h5_path, group)
    return summary


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check_summary(json_path: str, h5_path: str, ns: str, key: str, entry: Any, group: h5py.Group, tag: str) -> None:
    """The ``.json`` entry of an item agrees with what the ``.h5`` holds.

    Raises
    ------
    FormatError
        If the entry is not a mapping, or its ``type``, ``shape``, ``N``,
        ``length_ms``, ``start_time``, ``N_slices`` or ``N_units`` differ from the file.
    """
    if not isinstance(entry, dict):
        raise FormatError(f"{json_path}: the entry of ({ns!r}, {key!r}) is a {type(entry).__name__}, not a "
                          f"mapping; the .json was edited or damaged. Restore it, or load {h5_path} with "
                          f"AnalysisWorkspace.load(base) and save() that workspace.")
    actual = file_summary(h5_path, group, tag)
    for field, value in actual.items():
        if field in entry and not _same(entry[field], value):
            raise FormatError(
                f"{json_path} says ({ns!r}, {key!r}) has {field}={entry[field]!r} but {h5_path} holds "
                f"{field}={value!r} (group {group.name}); the pair is from different saves or one was edited. "
                f"Keep the .h5 and .json of one save together, or load the .h5 with AnalysisWorkspace.load(base) "
                f"and save() that workspace."
            )
    if "type" not in entry:
        raise FormatError(f"{json_path}: the entry of ({ns!r}, {key!r}) has no 'type'; the .json was edited or damaged.")


def read_index(json_path: str, h5_path: str) -> dict[str, Any]:
    """The ``.json`` sidecar, checked to be ``{"index": {namespace: {key: entry}}}``.

    Raises
    ------
    FormatError
        If it is missing, not JSON, or not shaped as spikelab writes it.
    """
    if not os.path.isfile(json_path):
        raise FormatError(
            f"{json_path} is missing; spikelab always writes it next to {h5_path}. Restore it, or "
            f"load the .h5 with AnalysisWorkspace.load(base_path) and save() that workspace."
        )
    try:
        with open(json_path, encoding="utf-8") as fh:
            content = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        raise FormatError(f"{json_path} is not a readable JSON index ({exc}).") from None
    if not isinstance(content, dict) or not isinstance(content.get("index"), dict):
        raise FormatError(f"{json_path} is not a spikelab workspace index (no 'index' mapping).")
    for ns, keys in content["index"].items():
        if keys is not None and not isinstance(keys, dict):
            raise FormatError(
                f"{json_path}: namespace {ns!r} of the index is a {type(keys).__name__}, not a mapping of "
                f"keys to summaries; the .json was edited or damaged. Restore it, or load {h5_path} with "
                f"AnalysisWorkspace.load(base) and save() that workspace."
            )
    return content


def decoded(h5_path: str, group: h5py.Group, decode: Any) -> Any:
    """``decode()`` with what a damaged or inconsistent file makes it raise turned into ``FormatError``."""
    with guard(h5_path, f"item {group.name!r}"):
        return decode()


# ---------------------------------------------------------------------------
# which path names a spikelab save
# ---------------------------------------------------------------------------

_WARNED_STALE_H5: set[str] = set()


def spikelab_base(url: Any) -> str | None:
    """The base path if ``url`` names a spikelab ``.h5`` save on local disk to read.

    A path holding a spikestore workspace is read as the workspace even when
    ``<path>.h5`` exists too (the user saved there last with spikestore, e.g.
    after migrating); a warning, once per path, says the ``.h5`` is ignored.
    The warning points at the caller of the function that calls this one
    (``AnalysisWorkspace.load`` and its kin).
    """
    if not isinstance(url, (str, os.PathLike)):
        return None
    text = os.fspath(url)
    if "://" in text:
        return None
    if text.endswith(H5_SUFFIX):
        return hdf5_base_path(text) if os.path.isfile(text) else None
    if not os.path.isfile(text + H5_SUFFIX):
        return None
    if WorkspaceStore.read_attrs(WorkspaceRoot(text, read_only=True)) is None:
        return text
    key = os.path.abspath(text)
    if key not in _WARNED_STALE_H5:
        _WARNED_STALE_H5.add(key)
        warnings.warn(
            f"{text} holds a spikestore workspace and {text}.h5 an (older) spikelab save; reading the "
            f"workspace. Pass '{text}.h5' to read the spikelab file, or remove it.",
            UserWarning,
            stacklevel=3,
        )
    return None


# ---------------------------------------------------------------------------
# reading checked items
# ---------------------------------------------------------------------------


class CheckedDataset:
    """An h5py dataset whose read errors name the file and dataset (a damaged ``.h5``).

    Raises :class:`~spikestore.errors.CorruptDataError` from ``[]`` and
    ``numpy.asarray`` when h5py cannot read the data.
    """

    def __init__(self, ds: h5py.Dataset, h5_path: str) -> None:
        self.ds, self.h5_path = ds, h5_path
        self.shape, self.dtype, self.chunks = ds.shape, ds.dtype, ds.chunks
        self.ndim = len(ds.shape)

    @property
    def nbytes(self) -> int:
        return int(self.ds.nbytes)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, selection: Any) -> Any:
        release_free_memory()  # the previous block's buffers, freed in other threads' arenas
        try:
            return self.ds[selection]
        except H5PY_ERRORS as exc:
            raise CorruptDataError(
                f"{self.h5_path}: dataset {self.ds.name} cannot be read ({type(exc).__name__}: {exc}); the file is "
                f"damaged. Nothing was published: the destination still holds what it held before. Restore an "
                f"intact copy of the file."
            ) from None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = np.asarray(self[()] if not self.shape else self[...])
        return arr if dtype is None else arr.astype(dtype)


def checked_record(record: Record, h5_path: str) -> Record:
    """``record`` (read from ``h5_path``) with every dataset wrapped in a :class:`CheckedDataset` (no data read)."""
    for _, rec in record.walk():
        for ds in rec.datasets.values():
            ds.data = CheckedDataset(ds.data, h5_path)
    return record


def checked_items(h5_path: str, f: h5py.File) -> list[tuple[str, str, h5py.Group, str]]:
    """Every item with its ``__type__``, each checked by :func:`check_item`.

    Raises
    ------
    InvalidNameError
        If a namespace or key cannot be a storage name.
    FormatError, CorruptDataError
        As :func:`check_item`.
    """
    file_size = os.path.getsize(h5_path)
    checked = []
    for ns, key, group in item_groups(h5_path, f):
        validate_item_address(ns, key)
        checked.append((ns, key, group, check_item(h5_path, ns, key, group, file_size)))
    return checked


def decode_item(h5_path: str, group: h5py.Group) -> Any:
    """Decode a checked item; reading failures are ``CorruptDataError``, inconsistencies ``FormatError``."""
    record = checked_record(read_record(group), h5_path)
    try:
        return decoded(h5_path, group, lambda: codecs.decode(record))
    except FormatError as exc:
        if str(exc).startswith(h5_path):
            raise
        raise FormatError(f"{h5_path}, group {group.name}: {exc}") from None


# ---------------------------------------------------------------------------
# a whole save or one item, into memory
# ---------------------------------------------------------------------------


@dataclass
class SpikelabSave:
    """A spikelab save read into memory: the root attributes and every item, decoded.

    ``items`` holds ``(namespace, key, object, index entry)`` in file order;
    the entry is the object's summary with the item's ``created_at`` and
    ``note``, as spikelab's loader rebuilds its index.
    """

    workspace_id: str
    name: Optional[str]
    created_at: float
    items: list[tuple[str, str, Any, dict[str, Any]]]


def read_save(base_path: str | os.PathLike[str]) -> SpikelabSave:
    """Read a whole spikelab save, as spikelab's ``AnalysisWorkspace.load`` does.

    The index is rebuilt from the objects (summary) and the items'
    ``__created_at__``/``__note__`` attributes, exactly as spikelab's loader
    does; the ``.json`` sidecar is not needed.  Every item is checked before
    any is decoded.

    Raises
    ------
    WorkspaceNotFoundError
        If the ``.h5`` file does not exist.
    FormatError
        If the file is not a spikelab workspace, holds an unknown ``__type__``,
        or is damaged or hostile (names, links, datatypes, sizes; the message
        names the HDF5 object).
    CorruptDataError
        If a dataset cannot be read.
    """
    h5_path, _ = hdf5_paths(base_path)
    with open_h5(h5_path) as f:
        workspace_id, name, created_at = root_attrs(h5_path, f)
        items = []
        for ns, key, group, _ in checked_items(h5_path, f):
            obj = decode_item(h5_path, group)
            entry = codecs.make_summary(obj)
            entry.update(item_info(group))
            items.append((ns, key, obj, entry))
    return SpikelabSave(workspace_id, name, created_at, items)


def load_hdf5_item(base_path: str | os.PathLike[str], namespace: str, key: str) -> Any:
    """Load one item of a spikelab save (only that item is checked and read).

    Raises
    ------
    ItemNotFoundError
        (a ``KeyError``) with spikelab's message if the namespace or key is missing.
    FormatError, CorruptDataError
        As :func:`read_save`, for this item.
    """
    h5_path, _ = hdf5_paths(base_path)
    with open_h5(h5_path) as f:
        if namespace not in link_names(h5_path, f):
            raise ItemNotFoundError(f"Namespace '{namespace}' not found in workspace file.")
        group = find_item(h5_path, f, namespace, key)
        if group is None:
            raise ItemNotFoundError(f"Key '{key}' not found in namespace '{namespace}'.")
        check_item(h5_path, namespace, key, group, os.path.getsize(h5_path))
        return decode_item(h5_path, group)


# ---------------------------------------------------------------------------
# the pair, checked for an import
# ---------------------------------------------------------------------------


def checked_pair(
    h5_path: str, json_path: str, f: h5py.File, content: dict[str, Any]
) -> list[tuple[str, str, h5py.Group, dict[str, Any]]]:
    """Check the whole ``.h5`` + ``.json`` pair before anything is written; ``(ns, key, group, info)`` per item.

    ``info`` is the item's ``.json`` summary with the ``created_at`` and
    ``note`` of the ``.h5`` (as spikelab's loader reads them).

    Raises
    ------
    FormatError
        If the two files belong to different saves, list different items, or
        disagree on an item's summary; or as :func:`check_item`.
    """
    workspace_id, _, _ = root_attrs(h5_path, f)
    if str(content.get("workspace_id")) != workspace_id:
        raise FormatError(
            f"{json_path} (workspace_id {content.get('workspace_id')!r}) does not belong to {h5_path} "
            f"(workspace_id {workspace_id!r}); keep the .h5 and .json of one save together."
        )
    items = checked_items(h5_path, f)
    index = content["index"]
    in_h5 = {(ns, key) for ns, key, _, _ in items}
    in_json = {(ns, key) for ns, keys in index.items() for key in (keys or {})}
    if in_h5 != in_json:
        only_h5 = sorted(in_h5 - in_json)[:5]
        only_json = sorted(in_json - in_h5)[:5]
        raise FormatError(
            f"{json_path} and {h5_path} list different items (only in .h5: {only_h5}, only in "
            f".json: {only_json}); the pair is from different saves or one was edited."
        )
    checked = []
    for ns, key, group, tag in items:
        entry = index[ns][key]
        check_summary(json_path, h5_path, ns, key, entry, group, tag)
        info = {k: v for k, v in entry.items() if k not in ("created_at", "note")}
        with guard(h5_path, f"the __created_at__/__note__ attributes of {group.name!r}"):
            info.update(item_info(group))
        checked.append((ns, key, group, info))
    return checked


__all__ = [
    "open_h5", "root_attrs", "item_groups", "find_item", "check_item", "check_summary", "read_index",
    "check_segment", "guard", "decoded", "text",
    "spikelab_base", "CheckedDataset", "checked_record", "checked_items", "decode_item",
    "SpikelabSave", "read_save", "load_hdf5_item", "checked_pair",
]
