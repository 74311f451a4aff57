"""The Zarr v3 container: a record becomes a group, its datasets become
chunked, compressed arrays, its children become sub-groups.

Writing returns a *skeleton*: the record's tree with every array replaced by
its ``zarr.json`` document.  The workspace index keeps the skeleton, so a
reader opens an item's arrays without fetching any metadata object; only
chunks are read, and only those asked for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Callable, Coroutine, Iterable, Iterator

import google_crc32c

import numpy as np
from zarr.abc.store import Store
from zarr.core.array import Array, AsyncArray
from zarr.core.buffer import default_buffer_prototype
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import StorePath, WrapperStore

from ..codecs.registry import access_pattern
from ..entries import skeleton_segment
from ..errors import CorruptDataError, FormatError
from ..paths import storage_segment
from ..jsonvalue import from_json, to_json
from ..record import Dataset, Record
from . import fast_chunks
from .encoding import array_metadata, restore_dtype
from .layout import apply_layout

# Rows copied per step when the source is not in memory (h5py, another store):
# bounds memory to about this many bytes per array being copied.
STREAM_BLOCK_BYTES = 32 << 20
MAX_CONCURRENT_WRITES = 8


def _group_document(record: Record) -> bytes:
    attrs = to_json(record.attrs)
    if record.type is not None:
        attrs = {"__type__": record.type, **attrs}
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs}).encode()


def group_document(attributes: dict[str, Any]) -> bytes:
    """A ``zarr.json`` for a plain group with ``attributes``."""
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": to_json(attributes)}).encode()


def _buffer(data: bytes) -> Any:
    return default_buffer_prototype().buffer.from_bytes(data)


def _blocks(shape: tuple[int, ...], chunk0: int, itemsize: int) -> Iterator[slice]:
    if not shape or shape[0] == 0:
        yield slice(None)
        return
    row_bytes = max(1, itemsize * int(np.prod(shape[1:], dtype=np.int64)))
    rows = max(chunk0, (STREAM_BLOCK_BYTES // row_bytes) // chunk0 * chunk0)
    for start in range(0, shape[0], rows):
        yield slice(start, min(shape[0], start + rows))


async def _write_array(store: Store, path: str, ds: Dataset, sem: asyncio.Semaphore) -> dict[str, Any]:
    data = ds.data
    dtype = np.dtype(data.dtype) if not isinstance(data, np.ndarray) else data.dtype
    if isinstance(data, np.ndarray) and data.dtype.kind in "SO":
        data = np.asarray(data, dtype=object)
    meta_doc = apply_layout(array_metadata(tuple(data.shape), dtype, to_json(ds.attrs)), access_pattern(path.rsplit("/", 1)[-1]))
    metadata = ArrayV3Metadata.from_dict(meta_doc)
    # every chunk is written, even one equal to the fill value: a missing chunk
    # then always means damage (see spikestore.strict_store)
    array = AsyncArray(metadata=metadata, store_path=StorePath(store, path), config={"write_empty_chunks": True})
    async with sem:
        await store.set(f"{path}/zarr.json", _buffer(json.dumps(meta_doc).encode()))
        if int(np.prod(data.shape, dtype=np.int64)) == 0:
            return meta_doc
        if isinstance(data, np.ndarray) and fast_chunks.supports(meta_doc):
            await fast_chunks.write_array(store, path, meta_doc, data)
        elif isinstance(data, np.ndarray):
            await array.setitem(Ellipsis, _for_zarr(data))
        else:
            chunk0 = meta_doc["chunk_grid"]["configuration"]["chunk_shape"][0] if data.shape else 1
            for block in _blocks(tuple(data.shape), chunk0, dtype.itemsize):
                # a zarr source is awaited: sync() cannot run inside zarr's own event loop
                selection = block if data.shape else ()
                part = np.asarray(await data._async_array.getitem(selection) if isinstance(data, Array) else data[selection])
                if data.shape and fast_chunks.supports(meta_doc):
                    await fast_chunks.write_array(store, path, meta_doc, part, first_row=block.start or 0)
                else:
                    await array.setitem(block if data.shape else Ellipsis, _for_zarr(part))
                del part  # else the next block is read while this one is still alive (2x memory)
    return meta_doc


def _for_zarr(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "SO":
        flat = [v.decode("utf-8") if isinstance(v, (bytes, bytearray)) else str(v) for v in arr.ravel().tolist()]
        return np.array(flat, dtype=str).reshape(arr.shape) if flat else arr.astype(str)
    return arr


Deriver = Callable[[Record], dict[str, Dataset]]


async def _write_tree(store: Store, path: str, record: Record, sem: asyncio.Semaphore, derive: Deriver | None) -> dict[str, Any]:
    jobs: list[Coroutine[Any, Any, Any]] = [store.set(f"{path}/zarr.json", _buffer(_group_document(record)))]
    names: list[tuple[str, str]] = []
    arrays = list(record.datasets.items())
    if derive is None:
        derived: list[tuple[str, Dataset]] = []
    else:
        derived = list((record.derived or derive(record)).items())
    segments = {name: storage_segment(name) for name in [*record.datasets, *(n for n, _ in derived), *record.children]}
    for name, ds in arrays:
        jobs.append(_write_array(store, f"{path}/{segments[name]}", ds, sem))
        names.append(("datasets", name))
    for name, ds in derived:
        jobs.append(_write_array(store, f"{path}/{segments[name]}", ds, sem))
        names.append(("derived", name))
    for name, child in record.children.items():
        jobs.append(_write_tree(store, f"{path}/{segments[name]}", child, sem, derive))
        names.append(("children", name))
    # a TaskGroup cancels and awaits the siblings of a failed write, so no
    # write of an abandoned attempt keeps running after the error is raised
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(job) for job in jobs]
    results = [task.result() for task in tasks]
    skeleton: dict[str, Any] = {"type": record.type, "attrs": to_json(record.attrs), "datasets": {}, "children": {}}
    if derived:
        skeleton["derived"] = {}
    escaped = {name: seg for name, seg in segments.items() if seg != name}
    if escaped:
        skeleton["segments"] = escaped
    for (kind, name), result in zip(names, results[1:]):
        skeleton[kind][name] = result
    return skeleton


class _ChunkLedger(WrapperStore[Store]):
    """Passes writes through and remembers, per key, the size and crc32c of what was written."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.written: dict[str, tuple[int, int]] = {}

    async def set(self, key: str, value: Any) -> None:
        data = value.to_bytes()
        self.written[key] = (len(data), google_crc32c.value(data))
        await self._store.set(key, value)

    async def _set_many(self, values: Iterable[tuple[str, Any]]) -> None:
        for key, value in values:
            await self.set(key, value)


def chunk_digest(entries: Iterable[tuple[str, int, int]]) -> str:
    """The digest of an array's chunk objects: SHA-256 over ``key size crc32c`` lines, sorted by key.

    It binds every chunk to its place, so chunks swapped or replaced by
    another valid chunk change the digest although each passes its crc32c.
    """
    lines = sorted(f"{key} {size} {crc:08x}\n" for key, size, crc in entries)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _add_digests(skeleton: dict[str, Any], path: str, written: dict[str, tuple[int, int]]) -> None:
    digests = {}
    for kind in ("datasets", "derived"):
        for name in skeleton.get(kind, {}):
            prefix = f"{path}/{skeleton_segment(skeleton, name)}/"
            digests[name] = chunk_digest(
                (key[len(prefix):], size, crc) for key, (size, crc) in written.items() if key.startswith(prefix) and not key.endswith("zarr.json")
            )
    skeleton["digests"] = digests
    for name, child in skeleton.get("children", {}).items():
        _add_digests(child, f"{path}/{skeleton_segment(skeleton, name)}", written)


def write_record(store: Store, path: str, record: Record, *, derive: Deriver | None = None) -> dict[str, Any]:
    """Write ``record`` as a group at ``path``; return its skeleton.

    ``derive`` computes a record's derived arrays when it carries none (the
    store passes :func:`spikestore.codecs.derive`); ``None`` stores only the
    derived arrays a record already has.

    Arrays are written concurrently; data that is not a numpy array (h5py or
    zarr arrays) is copied block by block, so memory stays bounded.  Names
    that would collide with a group document are stored under an escaped
    segment (:func:`spikestore.paths.storage_segment`), listed in the
    skeleton's ``segments``; the skeleton's ``digests`` bind each array's
    chunks to their places (:func:`chunk_digest`).
    """
    ledger = _ChunkLedger(store)

    async def run() -> dict[str, Any]:
        return await _write_tree(ledger, path, record, asyncio.Semaphore(MAX_CONCURRENT_WRITES), derive or _existing)

    try:
        skeleton = sync(run())
    except BaseExceptionGroup as group:
        raise fast_chunks.first_error(group) from group
    _add_digests(skeleton, path, ledger.written)
    return skeleton


def _existing(record: Record) -> dict[str, Dataset]:
    return record.derived


def open_array(store: Store, path: str, metadata: dict[str, Any]) -> Array:
    """A ``zarr.Array`` for the array at ``path`` whose ``zarr.json`` is ``metadata`` (no request)."""
    try:
        parsed = ArrayV3Metadata.from_dict(metadata)
    except (ValueError, TypeError, KeyError) as exc:
        raise FormatError(f"array {path!r}: its metadata cannot be read ({exc}); the index is damaged.") from None
    return Array(AsyncArray(metadata=parsed, store_path=StorePath(store, path)))


def lazy_record(store: Store, path: str, skeleton: dict[str, Any]) -> Record:
    """A record whose datasets are ``zarr.Array`` objects: nothing is read yet."""
    def build(p: str, sk: dict[str, Any]) -> Record:
        def arrays(kind: str) -> dict[str, Dataset]:
            return {
                n: Dataset(open_array(store, f"{p}/{skeleton_segment(sk, n)}", m), from_json(m.get("attributes", {})))
                for n, m in sk.get(kind, {}).items()
            }

        return Record(
            type=sk.get("type"),
            attrs=from_json(sk.get("attrs", {})),
            datasets=arrays("datasets"),
            children={n: build(f"{p}/{skeleton_segment(sk, n)}", c) for n, c in sk.get("children", {}).items()},
            derived=arrays("derived"),
        )

    return build(path, skeleton)


class RowBlocks:
    """A read-only array-like over a stored array whose row blocks read fast.

    Slicing rows (``[a:b]``) of an array in the fast layout decodes its
    chunks in parallel threads (:mod:`fast_chunks`); anything else is
    delegated to the ``zarr.Array``.  Meant for streaming copies that read
    an array block by block from a plain thread (the HDF5 export).
    """

    def __init__(self, array: Array, metadata: dict[str, Any]) -> None:
        self.array, self.metadata = array, metadata
        self.shape, self.dtype, self.chunks = array.shape, array.dtype, array.chunks
        self.nbytes = array.nbytes

    def __getitem__(self, selection: Any) -> Any:
        if isinstance(selection, tuple) and len(selection) == 1:
            selection = selection[0]
        if isinstance(selection, slice) and selection.step in (None, 1) and fast_chunks.supports(self.metadata):
            store_path = self.array._async_array.store_path
            return sync(fast_chunks.read_array(store_path.store, store_path.path, self.metadata, rows=selection))
        return self.array[selection]


def block_readable(record: Record, skeleton: dict[str, Any]) -> Record:
    """``record`` (from :func:`lazy_record`) with its datasets wrapped in :class:`RowBlocks`."""
    for name, ds in record.datasets.items():
        ds.data = RowBlocks(ds.data, skeleton["datasets"][name])
    for name, child in record.children.items():
        block_readable(child, skeleton["children"][name])
    return record


async def _read_array(array: Array, metadata: dict[str, Any]) -> np.ndarray:
    async_array = array._async_array
    shape = tuple(metadata["shape"])
    if int(np.prod(shape, dtype=np.int64)) == 0:
        empty = np.zeros(shape, dtype=async_array.dtype if metadata["data_type"] != "string" else str)
        return restore_dtype(empty, metadata)
    try:
        if fast_chunks.supports(metadata):
            value = await fast_chunks.read_array(async_array.store_path.store, async_array.store_path.path, metadata)
        else:
            value = await async_array.getitem(Ellipsis)
    except (ValueError, RuntimeError) as exc:
        # raised by the codec chain: a crc32c mismatch or undecodable bytes
        raise CorruptDataError(f"a chunk of array {array.path!r} failed to decode: {exc}") from exc
    return restore_dtype(np.asarray(value), metadata)


def read_record(store: Store, path: str, skeleton: dict[str, Any]) -> Record:
    """Read a whole record into memory, all arrays fetched concurrently."""
    record = lazy_record(store, path, skeleton)
    jobs: list[tuple[Dataset, dict[str, Any]]] = []

    def collect(rec: Record, sk: dict[str, Any]) -> None:
        for name, ds in rec.datasets.items():
            jobs.append((ds, sk["datasets"][name]))
        for name, child in rec.children.items():
            collect(child, sk["children"][name])
        rec.derived = {}

    collect(record, skeleton)

    async def run() -> list[np.ndarray]:
        return await asyncio.gather(*(_read_array(ds.data, meta) for ds, meta in jobs))

    for (ds, _), value in zip(jobs, sync(run())):
        ds.data = value
    return record


def skeleton_arrays(skeleton: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """``(relative storage path, zarr.json, chunk digest)`` of every array in a skeleton, derived ones included.

    The digest is ``None`` for arrays written before digests were recorded.
    """
    digests = skeleton.get("digests", {})
    for kind in ("datasets", "derived"):
        for name, meta in skeleton.get(kind, {}).items():
            segment = skeleton_segment(skeleton, name)
            yield (f"{prefix}/{segment}" if prefix else segment), meta, digests.get(name)
    for name, child in skeleton.get("children", {}).items():
        segment = skeleton_segment(skeleton, name)
        yield from skeleton_arrays(child, f"{prefix}/{segment}" if prefix else segment)
