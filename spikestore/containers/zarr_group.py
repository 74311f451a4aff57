"""The Zarr v3 container: a record becomes a group, its datasets become
chunked, compressed arrays, its children become sub-groups — except that a
child with attributes only lives in its parent's attributes, and a child that
is one array is stored as that array (docs/format.md, "Items").

Writing returns a *skeleton*: the record's tree with every array replaced by
its ``zarr.json`` document, plus where each child is stored (``node``,
``segments``) and each array's chunk digest.  The workspace index keeps the
skeleton, so a reader opens an item's arrays without fetching any metadata
object; only chunks are read, and only those asked for.  Many records are
written (:func:`write_records`) and read (:func:`read_records`) with their
requests in flight together.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import zlib
from functools import lru_cache, partial
from typing import Any, Awaitable, Callable, Coroutine, Iterable, Iterator, Literal

import numpy as np
from zarr.abc.store import Store
from zarr.core.array import Array, AsyncArray
from zarr.core.buffer import default_buffer_prototype
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import MemoryStore, StorePath, WrapperStore

from .skeleton import ARRAY_KINDS, IN_INDEX, INLINE_ARRAY_BYTES, INLINE_CHUNKS, Skeleton, skeleton_segment
from ..errors import CorruptDataError, FormatError
from ..paths import storage_segment
from ..jsonvalue import from_json, parse_json, to_json
from ..record import Dataset, Record
from . import fast_chunks, fast_shards, region_reads
from .coding_pool import ITEM_ORDER
from ..malloc_trim import release_free_memory
from ..strict_store import StrictStore
from .blocks import block_selections
from .zarr_array import array_metadata, as_stored_byte_order, restore_dtype, round_mantissa, without_bitround
from .packing import PackedSlice, pack, packable, unpack
from .layout import apply_layout
from .read_errors import array_nbytes, check_whole_read, raise_read_error, source_errors

# Bytes copied per step when the source is not in memory (h5py, another
# store): blocks of whole destination chunks (spikestore.containers.blocks), so
# memory is about two blocks per array being copied, whatever the item's size
STREAM_BLOCK_BYTES = 8 << 20
# arrays copied block by block at once (each holds up to two blocks in memory)
STREAMING_ARRAYS = 8
# object writes in flight over all records of one write_records call
MAX_REQUESTS_IN_FLIGHT = 64
# objects at least this large are fingerprinted in a thread while they are written
FINGERPRINT_IN_THREAD_BYTES = 1 << 20
# records written at once; of those above SMALL_RECORD_BYTES, LARGE_ITEMS_IN_FLIGHT
# whatever their size, and more while all of them hold at most LARGE_BYTES_IN_FLIGHT:
# a record's bytes bound what writing it may hold in memory (a packed stack is
# read whole, a streamed array two blocks at a time)
ITEMS_IN_FLIGHT = 64
LARGE_ITEMS_IN_FLIGHT = 2
LARGE_BYTES_IN_FLIGHT = 64 << 20
SMALL_RECORD_BYTES = 1 << 20
# A small dict of results is kept wholly in the index (each array's chunk,
# encoded as usual, base64 in the skeleton's ``inline_chunks``) instead of in
# objects of its own: then it costs no object at all (see _make_plan).  The
# caps keep the index small: an array's metadata already costs ~0.7 kB there.
INLINE_ITEM_BYTES = 16 << 10


def _group_attributes(record: Record, inline: dict[str, Record] | None = None) -> dict[str, Any]:
    attrs = to_json(record.attrs)
    if record.type is not None:
        attrs = {"__type__": record.type, **attrs}
    if inline:  # attribute-only children, for plain-zarr readers (spikestore reads the index)
        attrs[INLINE_ATTR] = {name: {"__type__": child.type, **to_json(child.attrs)} for name, child in inline.items()}
    return attrs


def _group_metadata(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"zarr_format": 3, "node_type": "group", "attributes": attributes}


def consolidated_group_document(attributes: dict[str, Any], documents: dict[str, dict[str, Any]]) -> bytes:
    """An item's group document holding the ``zarr.json`` of everything below it.

    zarr-python's consolidated metadata for Zarr v3 (``consolidated_metadata``,
    kind ``inline``): ``zarr.open_group`` and ``xarray.open_zarr`` on the
    item's folder read its arrays and sub-groups from this one document, so
    they need no ``zarr.json`` object of their own (docs/format.md, "Items").
    """
    consolidated = {"kind": "inline", "must_understand": False, "metadata": dict(sorted(documents.items()))}
    return json.dumps({**_group_metadata(attributes), CONSOLIDATED: consolidated}).encode()


def group_document(attributes: dict[str, Any]) -> bytes:
    """A ``zarr.json`` for a plain group with ``attributes``."""
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": to_json(attributes)}).encode()


def _buffer(data: bytes) -> Any:
    return default_buffer_prototype().buffer.from_bytes(data)


async def _write_array(
    store: Store, path: str, ds: Dataset, sem: asyncio.Semaphore, name: str, extra_attrs: dict[str, Any] | None = None, *, document: bool = True
) -> dict[str, Any]:
    """Write one array's chunks (and, if ``document``, its ``zarr.json``); return its ``zarr.json``.

    Without ``document`` the caller keeps the ``zarr.json`` in its group's
    consolidated metadata (see :func:`consolidated_group_document`).
    """
    data = ds.data
    dtype = np.dtype(data.dtype) if not isinstance(data, np.ndarray) else data.dtype
    if isinstance(data, np.ndarray) and data.dtype.kind in "SO":
        data = np.asarray(data, dtype=object)
    attributes = {**to_json(ds.attrs), **(extra_attrs or {})}
    # copied block by block (not in memory): shards no larger than a block, so each block is whole shards
    cap = None if isinstance(data, np.ndarray) else STREAM_BLOCK_BYTES
    with source_errors(data):  # the trial reads a sample of the data
        meta_doc = await fast_chunks.choose_codecs(apply_layout(array_metadata(tuple(data.shape), dtype, attributes, ds.dims, ds.precision), ds.access, cap), data)
    if document:
        await store.set(f"{path}/zarr.json", _buffer(json.dumps(meta_doc).encode()))
    if int(np.prod(data.shape, dtype=np.int64)) == 0:
        return meta_doc
    if isinstance(data, np.ndarray) and fast_shards.supports(meta_doc):
        await fast_shards.write_array(store, path, meta_doc, data)
        return meta_doc
    if isinstance(data, np.ndarray) and fast_chunks.supports(meta_doc):
        await fast_chunks.write_array(store, path, meta_doc, data)
        return meta_doc
    # every chunk is written, even one equal to the fill value: a missing chunk
    # then always means damage (see spikestore.strict_store)
    writer_meta, keepbits = without_bitround(meta_doc)  # zarr's BitRound would hand PCodec integers

    def stored_values(values: np.ndarray) -> np.ndarray:
        return _for_zarr(values) if keepbits is None else round_mantissa(values, keepbits)

    array = AsyncArray(metadata=ArrayV3Metadata.from_dict(writer_meta), store_path=StorePath(store, path), config={"write_empty_chunks": True})
    if isinstance(data, np.ndarray):
        await array.setitem(Ellipsis, stored_values(data))
    else:
        # copied block by block from h5py or another store: ``sem`` bounds how
        # many such copies (each holding a block in memory) run at once
        async with sem:
            chunks = tuple(meta_doc["chunk_grid"]["configuration"]["chunk_shape"])
            for selection in block_selections(tuple(data.shape), dtype.itemsize, chunks, STREAM_BLOCK_BYTES):
                # blocks of whole destination chunks, cut along further axes when one
                # row is larger than the budget; a zarr source is awaited (sync()
                # cannot run inside zarr's own event loop)
                with source_errors(data):
                    part = np.asarray(await data.async_array.getitem(selection) if isinstance(data, Array) else data[selection])
                if data.shape and fast_chunks.supports(meta_doc):
                    await fast_chunks.write_array(store, path, meta_doc, part, origin=tuple(s.start for s in selection))
                else:
                    await array.setitem(selection if data.shape else Ellipsis, stored_values(part))
                del part  # else the next block is read while this one is still alive (2x memory)
                release_free_memory()
    return meta_doc


def _for_zarr(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "SO":
        flat = [v.decode("utf-8") if isinstance(v, (bytes, bytearray)) else str(v) for v in arr.ravel().tolist()]
        return np.array(flat, dtype=str).reshape(arr.shape) if flat else arr.astype(str)
    return arr


INLINE_ATTR = "spikestore:inline"
# the values of a group's arrays kept in the index, for plain-zarr readers (spikestore reads the index)
INLINE_ARRAYS_ATTR = "spikestore:inline_arrays"
CONSOLIDATED = "consolidated_metadata"
RECORD_ATTR = "spikestore:record"
PACKED_ATTR = "spikestore:packed"


def _attrs_only(record: Record) -> bool:
    """A record with attributes only (a scalar, a string, None in a dict): no object of its own."""
    return not record.datasets and not record.children and not record.derived


def _single_array(record: Record) -> bool:
    """A record that is one array (an ndarray, tuple or set in a dict): stored as that array, no group."""
    return len(record.datasets) == 1 and not record.children and not record.derived


class _Plan:
    """Decisions for one item, made before anything is written.

    ``in_index``: the item is kept wholly in the index (see
    :data:`INLINE_ARRAY_BYTES`); ``loaded``: its small datasets of a source
    not in memory, read ahead (by ``id``).
    """

    def __init__(self) -> None:
        self.in_index = False
        self.loaded: dict[int, np.ndarray] = {}
        # datasets kept in the index although the item is stored in objects (small columns, see _make_plan)
        self.inline: set[int] = set()
        # the item's sub-group and array documents by path below the item, for its consolidated metadata
        self.documents: dict[str, dict[str, Any]] = {}
        # objects written together with the item's own group document, once its data is written
        # (the group documents of its key and namespace folders)
        self.beside_document: list[tuple[str, bytes]] = []


def _index_bytes(data: Any) -> int | None:
    """Raw bytes of an in-memory array small enough for the index, else ``None``."""
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biufcUSOT" or data.size > INLINE_ARRAY_BYTES:
        return None
    if data.dtype.kind in "SOT":
        size = sum(len(v) if isinstance(v, (bytes, bytearray)) else len(str(v).encode()) for v in data.ravel().tolist()) + 4 * data.size
    else:
        size = int(data.nbytes)
    return size if size <= INLINE_ARRAY_BYTES else None


def _maybe_small(data: Any) -> bool:
    """An array not in memory that may be small enough for the index (read it to know)."""
    if isinstance(data, (np.ndarray, PackedSlice)):
        return False
    try:
        return np.dtype(data.dtype).kind in "biufcUSOT" and int(np.prod(data.shape, dtype=np.int64)) <= INLINE_ARRAY_BYTES
    except TypeError:
        return False


def _walk(record: Record, *, root: bool = True) -> Iterator[tuple[Record, list[Dataset], bool]]:
    """``(record, its datasets and derived arrays, packed?)`` of every record with arrays."""
    packed = stored_packed(record, root=root)
    yield record, [*record.datasets.values(), *record.derived.values()], packed
    if not packed:
        for child in record.children.values():
            if not _attrs_only(child):
                yield from _walk(child, root=False)


def stored_packed(record: Record, *, root: bool = False) -> bool:
    """Whether ``record`` (not an item's root) is stored packed (:mod:`.packing`).

    Its children then keep no derived arrays of their own; a record with
    derived arrays, or whose children have some, is not packed.
    """
    return not root and not record.derived and packable(record)


async def _make_plan(record: Record) -> _Plan:
    """Decide whether an item is kept wholly in the index: a record holding no
    array of its own (a dict of results), no packed part, every array at most
    ``INLINE_ARRAY_BYTES`` and all of them at most ``INLINE_ITEM_BYTES``.

    Items with arrays of their own (data classes, ndarrays) always stay Zarr
    groups, so plain zarr-python and ``xarray.open_zarr`` read every one; of
    those, only small helper-group columns are kept in the index
    (:func:`_keep_small_columns`).
    """
    plan = _Plan()
    walked = list(_walk(record))
    if record.datasets or record.derived or any(packed for _, _, packed in walked):
        _keep_small_columns(walked, plan)
        return plan
    arrays = [ds for _, datasets, _ in walked for ds in datasets]
    if len(arrays) * 64 > INLINE_ITEM_BYTES:  # too many to fit: read nothing ahead
        return plan
    small = [ds for ds in arrays if _maybe_small(ds.data)]
    for ds, value in zip(small, await asyncio.gather(*(_in_memory(ds.data) for ds in small))):
        wanted = np.dtype(ds.data.dtype)
        # zarr reads in native byte order: keep the order the source has
        plan.loaded[id(ds)] = value.astype(wanted) if wanted.kind in "biufc" and value.dtype != wanted else value
    sizes = [_index_bytes(plan.loaded.get(id(ds), ds.data)) for ds in arrays]
    plan.in_index = all(size is not None for size in sizes) and sum(size or 0 for size in sizes) <= INLINE_ITEM_BYTES
    if not plan.in_index:
        _keep_small_columns(walked, plan)
    return plan


def _keep_small_columns(walked: list[tuple[Record, list[Dataset], bool]], plan: _Plan) -> None:
    """Keep the small in-memory arrays of untyped helper groups (a data class's
    ``neuron_attributes`` columns) in the index, up to ``INLINE_ITEM_BYTES`` in all.

    Seven columns of a 100-unit recording were 14 of an item's 21 objects;
    kept in the index they cost none, and plain-zarr readers find their
    values in the group's attributes (:data:`INLINE_ARRAYS_ATTR`).
    """
    budget = INLINE_ITEM_BYTES
    for rec, _, packed in walked[1:]:
        if packed or rec.type is not None or _single_array(rec):  # a group of one column is stored as that array
            continue
        for ds in rec.datasets.values():
            size = _index_bytes(ds.data)
            if size is not None and size <= budget:
                plan.inline.add(id(ds))
                budget -= size


async def _inline_array(ds: Dataset, sem: asyncio.Semaphore, name: str, extra_attrs: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """An array encoded exactly as it would be stored, its chunks returned (base64) instead of written."""
    memory: dict[str, Any] = {}
    meta = await _write_array(MemoryStore(memory), "a", ds, sem, name, extra_attrs)
    chunks = {key[2:]: base64.b64encode(value.to_bytes()).decode() for key, value in memory.items() if key.startswith("a/c")}
    return meta, chunks


async def _write_dataset(
    store: Store,
    path: str,
    rel: str,
    ds: Dataset,
    sem: asyncio.Semaphore,
    name: str,
    plan: _Plan,
    inline: dict[str, dict[str, str]],
    extra_attrs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one array's chunks, or keep it in the index (its chunks go to ``inline[name]``).

    An array written to objects has its ``zarr.json`` in ``plan.documents``
    (keyed by ``rel``, its path below the item), for the item's consolidated
    metadata, instead of in an object of its own.
    """
    if plan.in_index or id(ds) in plan.inline:
        if id(ds) in plan.loaded:
            ds = Dataset(plan.loaded[id(ds)], ds.attrs, ds.dims, ds.access, ds.precision)
        meta, inline[name] = await _inline_array(ds, sem, name, extra_attrs)
        return meta
    meta = await _write_array(store, path, ds, sem, name, extra_attrs, document=False)
    plan.documents[rel] = meta
    return meta


async def _write_tree(store: Store, path: str, record: Record, sem: asyncio.Semaphore, plan: _Plan, *, root: bool = True, rel: str = "") -> Skeleton:
    """Write a record (see the module docstring for how records map to objects); return its skeleton.

    ``rel`` is the record's path below the item.  Only the item's own group
    document is an object, written last: it holds the documents of every
    sub-group and array below it (consolidated metadata).
    """
    derived = record.derived
    skeleton: Skeleton = {"type": record.type, "attrs": to_json(record.attrs), "datasets": {}, "children": {}}
    inline_chunks: dict[str, dict[str, str]] = {}
    if stored_packed(record, root=root):
        return await _write_packed(store, path, rel, record, sem, skeleton, plan)
    if not root and _single_array(record):
        (name, ds), = record.datasets.items()
        info = {"type": record.type, "attrs": skeleton["attrs"], "dataset": name}
        skeleton["datasets"][name] = await _write_dataset(store, path, rel, ds, sem, name, plan, inline_chunks, {RECORD_ATTR: info})
        skeleton["node"] = "array"
        if inline_chunks:
            skeleton[INLINE_CHUNKS] = inline_chunks
        return skeleton
    segments = {name: storage_segment(name) for name in [*record.datasets, *derived, *record.children]}
    inline = {name: child for name, child in record.children.items() if _attrs_only(child)}
    below = (lambda name: f"{rel}/{segments[name]}") if rel else (lambda name: segments[name])
    jobs: list[Coroutine[Any, Any, Any]] = []
    names: list[tuple[Literal["datasets", "derived", "children"], str]] = []
    kinds: list[tuple[Literal["datasets", "derived", "children"], dict[str, Dataset]]] = [("datasets", record.datasets), ("derived", derived)]
    for kind, members in kinds:
        for name, ds in members.items():
            jobs.append(_write_dataset(store, f"{path}/{segments[name]}", below(name), ds, sem, name, plan, inline_chunks))
            names.append((kind, name))
    for name, child in record.children.items():
        if name in inline:
            skeleton["children"][name] = {"type": child.type, "attrs": to_json(child.attrs), "datasets": {}, "children": {}, "node": "inline"}
            continue
        jobs.append(_write_tree(store, f"{path}/{segments[name]}", child, sem, plan, root=False, rel=below(name)))
        names.append(("children", name))
    # a TaskGroup cancels and awaits the siblings of a failed write, so no
    # write of an abandoned attempt keeps running after the error is raised
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(job) for job in jobs]
    if not plan.in_index:
        attributes = _group_attributes(record, inline)
        kept = {name: plan.loaded.get(id(ds), ds.data) for name, ds in record.datasets.items() if name in inline_chunks}
        shown = {name: _json_values(np.asarray(value)) for name, value in kept.items() if np.asarray(value).dtype.kind in "biufU"}
        if shown:  # values kept in the index, for plain-zarr readers
            attributes[INLINE_ARRAYS_ATTR] = shown
        await _write_group_document(store, path, rel, attributes, plan)
    if derived:
        skeleton["derived"] = {}
    escaped = {name: seg for name, seg in segments.items() if seg != name and name not in inline}
    if escaped:
        skeleton["segments"] = escaped
    for (kind, name), task in zip(names, tasks[len(tasks) - len(names) :]):
        skeleton[kind][name] = task.result()
    if inline_chunks:
        skeleton[INLINE_CHUNKS] = inline_chunks
    if root and plan.in_index:
        skeleton[IN_INDEX] = True
    # keep the record's order of children (inline ones were filled in first)
    skeleton["children"] = {name: skeleton["children"][name] for name in record.children}
    return skeleton


def _json_values(values: np.ndarray) -> dict[str, Any]:
    """``values`` as the ``__ndarray__`` JSON form, with ``null`` for NaN and infinities (strict JSON has neither)."""
    doc = to_json(values)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        listed = values.astype(object)
        listed[~np.isfinite(values)] = None
        doc["values"] = listed.tolist()
    return doc


async def _write_group_document(store: Store, path: str, rel: str, attributes: dict[str, Any], plan: _Plan) -> None:
    """Write a group's document once everything below it is written, with their documents consolidated in it.

    The item's own group (``rel == ""``) holds the documents of everything
    below it; a sub-group (``neuron_attributes``, a packed group) holds those
    below itself, so that ``xarray.open_zarr(item, group=...)`` opens it too.
    """
    prefix = f"{rel}/" if rel else ""
    below = {key[len(prefix):]: doc for key, doc in plan.documents.items() if key.startswith(prefix)}
    beside = [] if rel else plan.beside_document
    await asyncio.gather(
        store.set(f"{path}/zarr.json", _buffer(consolidated_group_document(attributes, below))),
        *(store.set(key, _buffer(doc)) for key, doc in beside),
    )
    if rel:
        plan.documents[rel] = _group_metadata(attributes)


def stores_objects(skeleton: Skeleton) -> bool:
    """Whether an item has objects of its own (is not kept wholly in the index)."""
    return not skeleton.get(IN_INDEX)


async def _in_memory(data: Any) -> np.ndarray:
    """All of an array-like, read without blocking the event loop where the source is zarr."""
    if isinstance(data, np.ndarray):
        return data
    with source_errors(data):
        if isinstance(data, PackedSlice) and isinstance(data.base, Array):
            return np.asarray(await data.base.async_array.getitem(slice(data.start, data.stop)))
        if isinstance(data, Array):
            return np.asarray(await data.async_array.getitem(Ellipsis))
        return np.asarray(data[...])


async def _write_packed(store: Store, path: str, rel: str, record: Record, sem: asyncio.Semaphore, skeleton: Skeleton, plan: _Plan) -> Skeleton:
    """Write alike children as one array per dataset name (see :mod:`.packing`)."""
    names = list(next(iter(record.children.values())).datasets)
    parts = {name: [await _in_memory(child.datasets[name].data) for child in record.children.values()] for name in names}
    arrays, info = pack(record, parts)
    del parts
    segments = {name: storage_segment(name) for name in arrays}
    attrs = {**to_json(record.attrs), PACKED_ATTR: info}
    metas = await asyncio.gather(*(_write_array(store, f"{path}/{segments[name]}", ds, sem, name, document=False) for name, ds in arrays.items()))
    for name, meta in zip(arrays, metas):
        plan.documents[f"{rel}/{segments[name]}"] = meta
    await _write_group_document(store, path, rel, attrs if record.type is None else {"__type__": record.type, **attrs}, plan)
    skeleton["datasets"] = dict(zip(arrays, metas))
    skeleton["node"] = "packed"
    skeleton["packed"] = info
    escaped = {name: seg for name, seg in segments.items() if seg != name}
    if escaped:
        skeleton["segments"] = escaped
    return skeleton


def array_location(skeleton: Skeleton, path: str, name: str) -> str:
    """Where the array ``name`` of the record at ``path`` is stored.

    A record stored as a single array (``node: "array"``) *is* its array.
    """
    return path if skeleton.get("node") == "array" else f"{path}/{skeleton_segment(skeleton, name)}"


class _ChunkLedger(WrapperStore[Store]):
    """Passes writes through, at most ``limit`` at a time, and remembers, per
    key, the size and crc32c of what was written."""

    def __init__(self, store: Store, limit: int) -> None:
        super().__init__(store)
        self.written: dict[str, tuple[int, int]] = {}
        self._limit_size = limit
        self._limit: asyncio.Semaphore | None = None

    async def set(self, key: str, value: Any) -> None:
        data = value.as_buffer_like()  # a view: no copy of the object
        await self._write(key, len(data), partial(chunk_fingerprint, data), lambda: self._store.set(key, value))

    async def set_parts(self, key: str, parts: list[bytes]) -> None:
        """``set`` of the concatenation of ``parts`` (a shard: its index, then its chunks),
        passed on as parts (:func:`.fast_shards.set_parts`)."""
        size = sum(len(part) for part in parts)
        await self._write(key, size, partial(chunk_fingerprint, *parts), lambda: fast_shards.set_parts(self._store, key, parts))

    async def _write(self, key: str, size: int, fingerprint: Callable[[], int], write: Callable[[], Awaitable[None]]) -> None:
        if self._limit is None:  # created in the event loop that uses it
            self._limit = asyncio.Semaphore(self._limit_size)
        if size < FINGERPRINT_IN_THREAD_BYTES:
            self.written[key] = (size, fingerprint())
            async with self._limit:
                await write()
            return
        # zlib releases the GIL on large buffers: a shard is fingerprinted in a thread while it
        # is written, not in the event loop's thread (about 0.5 s of it for a medium workspace)
        pending = asyncio.ensure_future(asyncio.to_thread(fingerprint))
        try:
            async with self._limit:
                await write()
        except BaseException:
            pending.cancel()
            raise
        self.written[key] = (size, await pending)

    async def _set_many(self, values: Iterable[tuple[str, Any]]) -> None:
        for key, value in values:
            await self.set(key, value)


def chunk_fingerprint(*parts: bytes | memoryview) -> int:
    """The fingerprint of one stored chunk (or shard) object in its array's digest: its CRC-32 (zlib),
    of the object given whole or as the parts it is the concatenation of.

    Not its crc32c: every chunk spikestore writes ends with the crc32c of
    what precedes it, and the crc32c of a message followed by its own crc32c
    is one constant (the CRC residue), so it would tell no two valid chunks
    apart.  CRC-32 uses another polynomial and differs between chunks.
    """
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return crc


def chunk_digest(entries: Iterable[tuple[str, int, int]]) -> str:
    """The digest of an array's chunk objects: SHA-256 over ``key size crc32`` lines, sorted by key.

    ``entries`` are ``(key, size, chunk_fingerprint(bytes))``.  The digest
    binds every chunk to its place, so chunks swapped or replaced by another
    valid chunk change it although each passes its crc32c.
    """
    lines = sorted(f"{key} {size} {crc:08x}\n" for key, size, crc in entries)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


_CHUNK_KEY = re.compile(r"^(.*)/c(?:/\d+)*$")


def _add_digests(skeleton: Skeleton, path: str, written: dict[str, tuple[int, int]]) -> None:
    by_array: dict[str, list[tuple[str, int, int]]] = {}
    for key, (size, crc) in written.items():
        match = _CHUNK_KEY.match(key)
        if match is not None:
            by_array.setdefault(match.group(1), []).append((key[len(match.group(1)) + 1 :], size, crc))
    _fill_digests(skeleton, path, by_array)


def _fill_digests(skeleton: Skeleton, path: str, by_array: dict[str, list[tuple[str, int, int]]]) -> None:
    digests = {}
    inline = skeleton.get(INLINE_CHUNKS, {})
    for kind in ARRAY_KINDS:
        for name in skeleton.get(kind, {}):
            if name in inline:
                digests[name] = chunk_digest(_inline_entries(inline[name]))
            else:
                digests[name] = chunk_digest(by_array.get(array_location(skeleton, path, name), []))
    skeleton["digests"] = digests
    for name, child in skeleton.get("children", {}).items():
        if child.get("node") != "inline":
            _fill_digests(child, f"{path}/{skeleton_segment(skeleton, name)}", by_array)


def inline_chunk_bytes(chunks: dict[str, str], where: str) -> dict[str, bytes]:
    """The chunks of an array kept in the index, decoded from base64.

    Raises
    ------
    FormatError
        If a chunk is not valid base64 (the index is damaged or hostile).
    """
    try:
        return {key: base64.b64decode(value, validate=True) for key, value in chunks.items()}
    except (binascii.Error, ValueError, TypeError):
        raise FormatError(f"{where}: a chunk kept in the index is not base64; the index is damaged or hostile.") from None


def _inline_entries(chunks: dict[str, str]) -> list[tuple[str, int, int]]:
    return [(key, len(raw), chunk_fingerprint(raw)) for key, raw in inline_chunk_bytes(chunks, "inline array").items()]


def inline_store(chunks: dict[str, str], where: str) -> Store:
    """A read-only in-memory store holding an index-kept array's chunks under ``where`` (its path in the item)."""
    buffers = {f"{where}/{key}": _buffer(raw) for key, raw in inline_chunk_bytes(chunks, where).items()}
    return StrictStore(MemoryStore(buffers, read_only=True))


def write_record(store: Store, path: str, record: Record) -> Skeleton:
    """Write ``record`` as a group at ``path``; return its skeleton (see :func:`write_records`)."""
    return write_records(store, [(None, path, record, [])])[0][1]


WriteJob = tuple[Any, str, Record, list[tuple[str, bytes]]]


def write_records(
    store: Store,
    jobs: Iterable[WriteJob],
    *,
    max_requests: int = MAX_REQUESTS_IN_FLIGHT,
    prepare: Callable[[Record], Any] | None = None,
) -> list[tuple[Any, Skeleton]]:
    """Write many records, each as a group at its path, with many requests in flight across records.

    Parameters
    ----------
    jobs
        ``(tag, path, record, extra)``: ``extra`` are small objects (``key``,
        bytes) written once the record's data is complete, together with
        its own group document (parent group documents), each key once per call, and not at all for a record
        kept wholly in the index.  May be a generator: records are pulled as the write goes.
        Each record's ``derived`` arrays are stored as they are (the caller
        computes them, in ``prepare`` or before; see :func:`stored_packed`).
    max_requests
        Object writes in flight at once, over all records.
    prepare
        Called with each record (in a worker thread, once the record's
        write has started) before anything of it is planned or written;
        the store uses it to add derived arrays.

    Returns
    -------
    list of (tag, skeleton)
        In the order of ``jobs``.

    Notes
    -----
    Memory stays bounded: up to ``ITEMS_IN_FLIGHT`` records are written at
    once, but of those larger than ``SMALL_RECORD_BYTES`` only
    ``LARGE_ITEMS_IN_FLIGHT``, or more while they hold at most
    ``LARGE_BYTES_IN_FLIGHT`` in all; arrays that are not in memory (h5py, another
    store) are copied block by block, ``STREAMING_ARRAYS`` at a time.  Names
    that would collide with a group document are stored under an escaped
    segment (:func:`spikestore.paths.storage_segment`), listed in the
    skeleton's ``segments``; the skeleton's ``digests`` bind each array's
    chunks to their places (:func:`chunk_digest`).
    """
    ledger = _ChunkLedger(store, max_requests)
    results: list[tuple[Any, str, Skeleton]] = []
    documents_written: set[str] = set()

    async def one(order: int, tag: Any, path: str, record: Record, extra: list[tuple[str, bytes]], sem: asyncio.Semaphore) -> tuple[Any, str, Skeleton]:
        ITEM_ORDER.set(order)  # this item's coding work goes before that of later items
        if prepare is not None:
            # in the coding pool, beside the other items' writes: derived arrays cost a sort
            # of every spike, which in the event loop's thread would stall every write in flight
            await asyncio.get_running_loop().run_in_executor(fast_chunks._POOL, prepare, record)
        plan = await _make_plan(record)
        if not plan.in_index:  # an item kept in the index needs no parent group documents
            plan.beside_document = [(key, doc) for key, doc in extra if key not in documents_written]
            documents_written.update(key for key, _ in plan.beside_document)
        skeleton = await _write_tree(ledger, path, record, sem, plan)
        return tag, path, skeleton

    async def run() -> None:
        sem = asyncio.Semaphore(STREAMING_ARRAYS)
        running: dict[asyncio.Task, int] = {}  # task -> bytes counted against LARGE_BYTES_IN_FLIGHT
        order: list[asyncio.Task] = []
        try:
            for tag, path, record, extra in jobs:
                size = _record_bytes(record)
                large = size if size > SMALL_RECORD_BYTES else 0
                while running and (len(running) >= ITEMS_IN_FLIGHT or (large and not _room_for_large(list(running.values()), large))):
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        del running[task]
                        task.result()  # raise the first failure now
                task = asyncio.ensure_future(one(len(order), tag, path, record, extra, sem))
                running[task] = large
                order.append(task)
            await asyncio.gather(*running)
        except BaseException:
            for task in order:
                task.cancel()
            await asyncio.gather(*order, return_exceptions=True)
            raise
        results.extend(task.result() for task in order)

    try:
        sync(run())
    except BaseExceptionGroup as group:
        raise fast_chunks.first_error(group) from group
    out = []
    for tag, path, skeleton in results:
        _add_digests(skeleton, path, ledger.written)
        out.append((tag, skeleton))
    return out


def _room_for_large(running: list[int], size: int) -> bool:
    """Whether a record of ``size`` bytes (above ``SMALL_RECORD_BYTES``) may start beside
    the records in flight (their bytes, 0 for small ones)."""
    large = [n for n in running if n]
    return len(large) < LARGE_ITEMS_IN_FLIGHT or sum(large) + size <= LARGE_BYTES_IN_FLIGHT


def _record_bytes(record: Record) -> int:
    try:
        return record.nbytes()
    except Exception:  # an array-like without a usable nbytes: treat as large
        return SMALL_RECORD_BYTES + 1


@lru_cache(maxsize=4096)
def _parsed_metadata(document: str) -> ArrayV3Metadata:
    """zarr's parsed form of an array document (canonical JSON): parsing costs ~0.4 ms
    an array, and reopening a workspace meets the same documents again (an
    immutable object, shared by the arrays that have the same document)."""
    return ArrayV3Metadata.from_dict(parse_json(document))


class StoredArray(Array):
    """A ``zarr.Array`` opened from the index's copy of its ``zarr.json``, which keeps that document.

    ``region`` reads basic selections of it without zarr's selection
    machinery (:class:`~.region_reads.RegionReader`, made on first use and
    kept: it keeps the shard indexes it has read), or is ``None`` for a
    layout that module does not read.
    """

    def __init__(self, async_array: AsyncArray, store: Store, metadata: dict[str, Any]) -> None:
        super().__init__(async_array)
        self._source = (store, async_array.store_path.path, metadata)
        self._region: region_reads.RegionReader | None = None
        self._readable: bool | None = None  # by a RegionReader (else zarr reads it); decided on first use

    @property
    def document(self) -> dict[str, Any]:
        """The array's ``zarr.json`` (the index's copy)."""
        return self._source[2]

    @property
    def region(self) -> region_reads.RegionReader | None:
        """The reader of this array's basic selections, or ``None`` (read them through zarr)."""
        if self._readable is None:
            self._readable = region_reads.supports(self._source[2])
        if self._region is None and self._readable:
            try:
                self._region = region_reads.RegionReader(*self._source)
            except (ValueError, TypeError, KeyError, CorruptDataError):
                self._readable = False  # zarr's reads say what is wrong with it
        return self._region


def open_array(store: Store, path: str, metadata: dict[str, Any]) -> StoredArray:
    """A ``zarr.Array`` for the array at ``path`` whose ``zarr.json`` is ``metadata`` (no request)."""
    try:
        parsed = _parsed_metadata(json.dumps(metadata, sort_keys=True))
    except (ValueError, TypeError, KeyError) as exc:
        raise FormatError(f"array {path!r}: its metadata cannot be read ({exc}); the index is damaged.") from None
    checked = fast_shards.ShardIndexCheck(store, path, metadata) if fast_shards.supports(metadata) else store  # zarr would read an inner chunk marked empty as fill values
    return StoredArray(AsyncArray(metadata=parsed, store_path=StorePath(checked, path)), store, metadata)


def lazy_record(store: Store, path: str, skeleton: Skeleton) -> Record:
    """A record whose datasets are ``zarr.Array`` objects: nothing is read yet."""
    def build(p: str, sk: Skeleton) -> Record:
        def arrays(kind: Literal["datasets", "derived"]) -> dict[str, Dataset]:
            inline = sk.get(INLINE_CHUNKS, {})
            return {
                n: Dataset(
                    open_array(inline_store(inline[n], f"{p}/{n}"), f"{p}/{n}", m) if n in inline else open_array(store, array_location(sk, p, n), m),
                    _dataset_attrs(m),
                    _dims(m),
                )
                for n, m in sk.get(kind, {}).items()
            }

        if sk.get("node") == "packed":
            packed = arrays("datasets")
            bases = {n: ds.data for n, ds in packed.items()}
            return unpack(Record(sk.get("type"), from_json(sk.get("attrs", {}))), sk["packed"], bases, {n: ds.dims for n, ds in packed.items()})
        return Record(
            type=sk.get("type"),
            attrs=from_json(sk.get("attrs", {})),
            datasets=arrays("datasets"),
            children={n: build(f"{p}/{skeleton_segment(sk, n)}", c) for n, c in sk.get("children", {}).items()},
            derived=arrays("derived"),
        )

    return build(path, skeleton)


def _dims(metadata: dict[str, Any]) -> tuple[str | None, ...] | None:
    names = metadata.get("dimension_names")
    return tuple(names) if names is not None else None


def _dataset_attrs(metadata: dict[str, Any]) -> dict[str, Any]:
    attrs = metadata.get("attributes", {})
    if RECORD_ATTR in attrs:
        attrs = {k: v for k, v in attrs.items() if k != RECORD_ATTR}
    return from_json(attrs)


class RowBlocks:
    """A read-only array-like over a stored array whose row blocks read fast.

    Slicing rows (``[a:b]``) of an array in the fast layout decodes its
    chunks in parallel threads (:mod:`fast_chunks`); anything else is
    delegated to the ``zarr.Array``.  Meant for streaming copies that read
    an array block by block from a plain thread (the HDF5 export).  Read
    failures become spikestore's errors (:mod:`.read_errors`), naming
    ``where``.
    """

    def __init__(self, array: Array, metadata: dict[str, Any], where: str = "array") -> None:
        self.array, self.metadata, self.where = array, metadata, where
        self.shape, self.chunks = array.shape, array.chunks
        self.dtype = as_stored_byte_order(np.dtype(array.dtype), metadata) if isinstance(array.dtype, np.dtype) else array.dtype
        self.nbytes = array.nbytes

    def __getitem__(self, selection: Any) -> Any:
        if isinstance(selection, tuple) and len(selection) == 1:
            selection = selection[0]
        try:
            return sync(read_stored(self.array, self.metadata, selection))
        except (OSError, ValueError, RuntimeError, MemoryError) as exc:
            raise_read_error(exc, self.where, self.array.path, array_bytes=array_nbytes(self.array))


def block_readable(record: Record, skeleton: Skeleton, where: str = "item") -> Record:
    """``record`` (from :func:`lazy_record`) with its datasets wrapped in :class:`RowBlocks`; ``where`` names it in errors."""
    if skeleton.get("node") == "packed":
        blocks: dict[str, RowBlocks] = {}
        for child in record.children.values():
            for name, ds in child.datasets.items():
                assert isinstance(ds.data, PackedSlice)  # lazy_record unpacks packed arrays into slices
                if name not in blocks:
                    blocks[name] = RowBlocks(ds.data.base, skeleton["datasets"][name], f"{where}.{name}")
                ds.data = PackedSlice(blocks[name], ds.data.start, ds.data.stop)
        return record
    for name, ds in record.datasets.items():
        assert isinstance(ds.data, Array)  # as lazy_record opens it
        ds.data = RowBlocks(ds.data, skeleton["datasets"][name], f"{where}.{name}")
    for name, child in record.children.items():
        block_readable(child, skeleton["children"][name], f"{where}[{name!r}]")
    return record


async def read_stored(array: Array, metadata: dict[str, Any], selection: Any = Ellipsis) -> Any:
    """The one reader of a stored array: all of it (``...``), rows ``[a:b]`` of axis 0, or any basic selection.

    All of an array, and row blocks, of an array in a fast layout are
    decoded by :mod:`.fast_shards` / :mod:`.fast_chunks` (in parallel
    threads, one request per chunk or shard); anything else is read by zarr.
    Values come as zarr reads them (native byte order; see
    :func:`read_whole` for the stored dtype).  Errors are raised as they
    come; callers turn them into spikestore's (:mod:`.read_errors`).
    """
    async_array = array.async_array
    if selection is Ellipsis:
        rows = None
        shape = tuple(metadata["shape"])
        if int(np.prod(shape, dtype=np.int64)) == 0:
            return np.zeros(shape, dtype=async_array.dtype if metadata["data_type"] != "string" else str)
    elif isinstance(selection, slice) and selection.step in (None, 1):
        rows = selection
    else:
        return await async_array.getitem(selection)
    for fast in (fast_shards, fast_chunks):
        if fast.supports(metadata):  # these check the size after probing the last chunk
            return await fast.read_array(async_array.store_path.store, async_array.store_path.path, metadata, rows=rows)
    if selection is Ellipsis:
        check_whole_read(array_nbytes(array), f"array {array.path!r}")  # before zarr allocates it
    return await async_array.getitem(selection)


async def read_whole(array: Array, metadata: dict[str, Any] | None = None) -> np.ndarray:
    """All of a stored array (:func:`read_stored`), in the dtype it was stored with.

    Raises
    ------
    CorruptDataError
        If a chunk fails its checksum or does not decode (:mod:`.read_errors`).
    MissingChunkError
        If a chunk is missing: passed through, so that a whole-item read can
        tell a replaced version (read again) from damage.
    """
    if metadata is None:
        metadata = array.metadata.to_dict()
    try:
        value = await read_stored(array, metadata)
    except (ValueError, RuntimeError, MemoryError) as exc:
        # raised by the codec chain (the whole array is selected): a crc32c mismatch, undecodable bytes,
        # or a chunk declaring more than it holds (the array itself fits: read_stored checked)
        raise_read_error(exc, f"array {array.path!r}", codec_failure=True, array_bytes=array_nbytes(array))
    return restore_dtype(np.asarray(value), metadata)


def read_record(store: Store, path: str, skeleton: Skeleton) -> Record:
    """Read a whole record into memory, all arrays fetched concurrently."""
    return read_records(store, [(path, skeleton)])[0]


def read_records(store: Store, items: list[tuple[str, Skeleton]], *, max_arrays: int = MAX_REQUESTS_IN_FLIGHT) -> list[Record]:
    """Read whole records into memory, the arrays of all of them fetched concurrently
    (at most ``max_arrays`` arrays at a time)."""
    records = [lazy_record(store, path, skeleton) for path, skeleton in items]
    # (array, its zarr.json, where the values go)
    jobs: list[tuple[Array, dict[str, Any], Callable[[np.ndarray], None]]] = []
    # arrays kept in the index: (zarr.json, base64 chunks, name, where the values go), decoded here
    kept: list[tuple[dict[str, Any], dict[str, str], str, Callable[[np.ndarray], None]]] = []

    def collect(rec: Record, sk: Skeleton) -> None:
        rec.derived = {}
        if sk.get("node") == "packed":
            for name, meta in sk["datasets"].items():
                slices = [child.datasets[name] for child in rec.children.values()]
                assert isinstance(slices[0].data, PackedSlice)  # lazy_record unpacks packed arrays into slices
                jobs.append((slices[0].data.base, meta, partial(_fill_packed, slices)))
            return
        inline = sk.get(INLINE_CHUNKS, {})
        for name, ds in rec.datasets.items():
            assert isinstance(ds.data, Array)  # as lazy_record opens it
            meta = sk["datasets"][name]
            if name in inline and fast_chunks.supports(meta):
                kept.append((meta, inline[name], name, partial(setattr, ds, "data")))
            else:
                jobs.append((ds.data, meta, partial(setattr, ds, "data")))
        for name, child in rec.children.items():
            collect(child, sk["children"][name])

    for record, (_, skeleton) in zip(records, items):
        collect(record, skeleton)

    async def run() -> list[np.ndarray]:
        limit = asyncio.Semaphore(max_arrays)

        async def one(array: Array, meta: dict[str, Any]) -> np.ndarray:
            async with limit:
                return await read_whole(array, meta)

        return await asyncio.gather(*(one(array, meta) for array, meta, _ in jobs))

    for meta, chunks, name, put in kept:  # in memory already: no request, no event loop
        put(restore_dtype(fast_chunks.decode_stored(meta, inline_chunk_bytes(chunks, name), f"array {name!r} kept in the index"), meta))
    if jobs:
        for (_, _, put), value in zip(jobs, sync(run())):
            put(value)
    return records


def _fill_packed(slices: list[Dataset], value: np.ndarray) -> None:
    for ds in slices:
        assert isinstance(ds.data, PackedSlice)
        ds.data = value[ds.data.start : ds.data.stop]


def skeleton_arrays(
    skeleton: Skeleton, prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any], str | None, dict[str, str] | None]]:
    """``(relative storage path, zarr.json, chunk digest, inline chunks)`` of every array in a skeleton, derived ones included.

    The digest is ``None`` for arrays written before digests were recorded;
    the inline chunks are ``None`` for an array stored in objects of its own
    (else ``{chunk key: base64}``, see :data:`INLINE_CHUNKS`).
    """
    digests = skeleton.get("digests", {})
    inline = skeleton.get(INLINE_CHUNKS, {})
    for kind in ARRAY_KINDS:
        for name, meta in skeleton.get(kind, {}).items():
            yield array_location(skeleton, prefix, name).lstrip("/"), meta, digests.get(name), inline.get(name)
    for name, child in skeleton.get("children", {}).items():
        segment = skeleton_segment(skeleton, name)
        yield from skeleton_arrays(child, f"{prefix}/{segment}" if prefix else segment)
