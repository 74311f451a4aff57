"""Basic selections of a stored array, read as the chunks they touch without zarr's selection machinery.

A lazy view's slice -- one unit's train, a time window, a matrix row, one
event of a stack -- is a small read.  zarr-python spends ~2-3 ms of CPU on
one on a local disk (its codec pipeline, a thread hand-off per chunk) and
makes one request per inner chunk of a shard.  For arrays in the layouts
:mod:`.fast_chunks` and :mod:`.fast_shards` handle, :class:`RegionReader`
reads a basic selection (integers, slices of any step, ``...``) itself:

* :func:`plan` turns the selection into its bounding box and what is left
  to apply to the box (steps, integers);
* a plain chunk the box touches is one request;
* a shard's index is one ranged request, kept by the reader (an item
  version never changes, so later reads of the same array skip it); the
  inner chunks the box touches follow, neighbours in the shard in one ranged
  request of at most ``MAX_RANGE_BYTES``;
* every chunk is checked against its crc32c, decoded (in the coding pool
  when large) and copied into the box.

An index slot marked empty inside the array, or pointing into the index or
past the shard's end, is damage (:class:`~spikestore.errors.CorruptDataError`),
as in :mod:`.fast_shards`.  Anything else (strings, other codecs, fancy
indexing) goes through zarr.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from zarr.abc.store import RangeByteRequest, Store

from ..errors import CorruptDataError
from . import fast_chunks, fast_shards
from .fast_chunks import _POOL, SMALL_CHUNK_BYTES, decode_chunk, fetch_stored
from .fast_shards import _shard_key as _key
from .read_errors import check_whole_read
from .zarr_array import ChunkChain

# neighbouring inner chunks of a shard are fetched in one ranged request up to this size
MAX_RANGE_BYTES = 8 << 20


@dataclass(frozen=True)
class Plan:
    """A basic selection as a box (``[lo, hi)`` per axis) and what to apply to the box."""

    box: tuple[tuple[int, int], ...]
    residual: tuple[Any, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """The box's shape."""
        return tuple(hi - lo for lo, hi in self.box)


def plan(selection: Any, shape: tuple[int, ...]) -> Plan | None:
    """The box a basic selection of an array of ``shape`` reads, or ``None`` when this module does not read it.

    ``None`` for anything but integers, slices and one ``...`` (zarr reads
    those and raises its own errors for bad ones), for an index out of
    bounds, and for an empty selection.
    """
    parts = selection if isinstance(selection, tuple) else (selection,)
    ellipses = [i for i, p in enumerate(parts) if p is Ellipsis]
    if len(ellipses) > 1 or len(parts) - len(ellipses) > len(shape) or not shape:
        return None
    if ellipses:
        at = ellipses[0]
        parts = parts[:at] + (slice(None),) * (len(shape) - len(parts) + 1) + parts[at + 1 :]
    parts = parts + (slice(None),) * (len(shape) - len(parts))
    box: list[tuple[int, int]] = []
    residual: list[int | slice] = []
    for part, n in zip(parts, shape):
        if isinstance(part, (bool, np.bool_)):
            return None
        if isinstance(part, (int, np.integer)):
            i = int(part) + (n if part < 0 else 0)
            if not 0 <= i < n:
                return None
            box.append((i, i + 1))
            residual.append(0)
        elif isinstance(part, slice):
            try:
                picked = range(*part.indices(n))
            except (TypeError, ValueError):
                return None
            if not picked:
                return None
            lo, hi = min(picked[0], picked[-1]), max(picked[0], picked[-1]) + 1
            stop = picked.stop - lo
            box.append((lo, hi))
            residual.append(slice(picked.start - lo, stop if stop >= 0 else None, picked.step))
        else:
            return None
    # numpy gives a 0-d array, not a scalar, when an ellipsis is among integers only
    return Plan(tuple(box), tuple(residual) + ((Ellipsis,) if ellipses else ()))


def supports(meta: dict[str, Any]) -> bool:
    """Whether :class:`RegionReader` reads an array with this ``zarr.json``."""
    return fast_shards.supports(meta) or fast_chunks.supports(meta)


class RegionReader:
    """Reads basic selections of one stored array (see the module docstring).

    Parameters
    ----------
    store
        The store holding the array.
    path
        The array's path in ``store``.
    meta
        Its ``zarr.json`` (one :func:`supports` accepts).
    """

    def __init__(self, store: Store, path: str, meta: dict[str, Any]) -> None:
        from zarr.core.dtype import parse_data_type

        self.store, self.path = store, path
        self.shape = tuple(int(s) for s in meta["shape"])
        self.geometry = fast_shards.ShardGeometry(meta) if fast_shards.supports(meta) else None
        if self.geometry is not None:
            self.chunks, codecs = self.geometry.inner, meta["codecs"][0]["configuration"]["codecs"]
        else:
            self.chunks, codecs = tuple(int(c) for c in meta["chunk_grid"]["configuration"]["chunk_shape"]), meta["codecs"]
        self.chain = ChunkChain(codecs, parse_data_type(meta["data_type"], zarr_format=3).to_native_dtype())
        # shard -> the future of its checked index (so that concurrent reads fetch it once)
        self._indexes: dict[tuple[int, ...], asyncio.Future] = {}

    async def read(self, selection: Plan) -> Any:
        """The values of a planned selection (native byte order), as numpy's basic indexing gives them.

        Raises
        ------
        CorruptDataError
            If a shard index or chunk fails its crc32c check, does not decode,
            or a shard index points where no chunk is.
        MissingChunkError
            If a chunk or shard is missing.
        """
        box = selection.box
        itemsize = self.chain.dtype.itemsize
        check_whole_read(math.prod(selection.shape) * itemsize, f"array {self.path!r}")  # before allocating the box
        out = np.empty(selection.shape, dtype=self.chain.dtype.newbyteorder("="))
        grid = [range(lo // c, (hi - 1) // c + 1) for (lo, hi), c in zip(box, self.chunks)]
        large = math.prod(self.chunks) * itemsize > SMALL_CHUNK_BYTES
        loop = asyncio.get_running_loop()

        async def place(index: tuple[int, ...], stored: bytes, what: str) -> None:
            if large:
                await loop.run_in_executor(_POOL, self._place, out, box, index, stored, what)
            else:
                self._place(out, box, index, stored, what)

        if self.geometry is None:
            async def one(index: tuple[int, ...]) -> None:
                key = _key(self.path, index)
                await place(index, await self._fetch(key, None), f"chunk {key}")

            await fast_chunks._run_all(one(index) for index in itertools.product(*grid))
        else:
            geometry = self.geometry
            per_shard = geometry.per_shard
            wanted: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
            for index in itertools.product(*grid):
                wanted.setdefault(tuple(i // n for i, n in zip(index, per_shard)), []).append(index)

            async def shard(where: tuple[int, ...], chunks: list[tuple[int, ...]]) -> None:
                key = _key(self.path, where)
                whole: bytes | None = None
                if len(chunks) == geometry.chunks_in(where):  # all of it: one request, its index included
                    whole = await self._fetch(key, None)
                    parsed = loop.create_future()
                    parsed.set_result(fast_shards.parse_index(geometry, whole, key))
                    self._indexes[where] = parsed
                spans = self._spans(key, await self._index(key, where), where, chunks)

                async def run(start: int, stop: int, members: list[tuple[tuple[int, ...], int, int]]) -> None:
                    payload, base = (whole, 0) if whole is not None else (await self._fetch(key, (start, stop)), start)
                    if len(payload) < stop - base:
                        raise CorruptDataError(f"shard {key} ends before its inner chunk {members[-1][0]} (its index points past its end)")
                    await asyncio.gather(*(place(chunk, payload[a - base : b - base], f"shard {key}: inner chunk {chunk}") for chunk, a, b in members))

                await asyncio.gather(*(run(*span) for span in spans))

            await fast_chunks._run_all(shard(where, chunks) for where, chunks in wanted.items())
        return out[selection.residual]

    async def warm(self) -> None:
        """Fetch and keep the index of a sharded array's shard, when it has exactly one
        (a 30-minute, 1,000-unit recording's spike arrays do); failures are left to the read."""
        if self.geometry is None or any(-(-n // s) != 1 for n, s in zip(self.shape, self.geometry.shard)):
            return
        where = (0,) * len(self.shape)
        try:
            await self._index(_key(self.path, where), where)
        except Exception:  # the read that needs the index fetches it again and raises
            pass

    def _place(self, out: np.ndarray, box: tuple[tuple[int, int], ...], index: tuple[int, ...], stored: bytes, what: str) -> None:
        block = decode_chunk(self.chain, stored, self.chunks, what)
        target, source = [], []
        for i, c, (lo, hi) in zip(index, self.chunks, box):
            a, b = max(i * c, lo), min((i + 1) * c, hi)
            target.append(slice(a - lo, b - lo))
            source.append(slice(a - i * c, b - i * c))
        out[tuple(target)] = block[tuple(source)]

    async def _fetch(self, key: str, span: tuple[int, int] | None) -> bytes:
        return await fetch_stored(self.store, key, None if span is None else RangeByteRequest(*span))

    async def _index(self, key: str, where: tuple[int, ...]) -> np.ndarray:
        """A shard's index (``count x 2``: offset, size), checked; fetched once per reader, by one read at a time."""
        task = self._indexes.get(where)
        if task is None or task.get_loop() is not asyncio.get_running_loop():  # (a view used after a fork)
            task = self._indexes[where] = asyncio.ensure_future(self._load_index(key))
        try:
            return await asyncio.shield(task)
        except BaseException:
            if task.done() and self._indexes.get(where) is task:  # it failed: a later read tries again
                del self._indexes[where]
            raise

    async def _load_index(self, key: str) -> np.ndarray:
        assert self.geometry is not None
        return fast_shards.parse_index(self.geometry, await self._fetch(key, (0, self.geometry.index_bytes)), key)

    def __getstate__(self) -> dict[str, Any]:
        # the kept indexes are futures of one event loop: a copy (a dask task in another process) starts without them
        return {**self.__dict__, "_indexes": {}}

    def _spans(
        self, key: str, index: np.ndarray, where: tuple[int, ...], chunks: list[tuple[int, ...]]
    ) -> list[tuple[int, int, list[tuple[tuple[int, ...], int, int]]]]:
        """Ranged requests for ``chunks`` of one shard: ``(start, stop, [(chunk, start, stop)])``, neighbours merged."""
        assert self.geometry is not None
        per_shard, index_bytes = self.geometry.per_shard, self.geometry.index_bytes
        places = []
        for chunk in chunks:
            slot = int(np.ravel_multi_index(tuple(i - w * n for i, w, n in zip(chunk, where, per_shard)), per_shard))
            offset, size = (int(v) for v in index[slot])
            if offset == fast_shards.EMPTY:
                raise CorruptDataError(f"shard {key}: inner chunk {chunk} is marked empty in the shard index")
            if size < 4 or offset < index_bytes:
                raise CorruptDataError(f"shard {key}: inner chunk {chunk} lies outside the shard's data (offset {offset}, size {size})")
            places.append((offset, offset + size, chunk))
        places.sort()
        spans: list[tuple[int, int, list[tuple[tuple[int, ...], int, int]]]] = []
        for start, stop, chunk in places:
            if spans and spans[-1][1] == start and stop - spans[-1][0] <= MAX_RANGE_BYTES:
                first, _, members = spans[-1]
                spans[-1] = (first, stop, members + [(chunk, start, stop)])
            else:
                spans.append((start, stop, [(chunk, start, stop)]))
        return spans
