"""Whole sharded arrays written and read with the chunk coding in parallel threads.

A sharded array (``sharding_indexed``, see :mod:`.layout`) stores many inner
chunks in one object per shard: few objects, and still small reads (a range
of a shard).  zarr-python writes and reads shards at about twice the CPU of
the codecs themselves, which matters for the largest arrays of a workspace
(rate matrices).  For the shards spikestore writes -- inner chunks coded by
one :class:`~spikestore.containers.zarr_array.ChunkChain`, the index at the
start, coded ``bytes`` (little endian) then ``crc32c`` -- this module builds
and parses shards itself, as the Zarr v3 sharding specification lays them
out:

    shard = index (16 bytes per inner chunk: offset, size; uint64 LE) + crc32c
            + the inner chunks' stored bytes, in C order of the shard's grid.

An inner chunk wholly outside the array (the last shard of an axis whose
shards do not divide it) is left out and marked empty (``2**64 - 1`` twice),
as zarr does.  Any Zarr v3 reader reads the result
(``tests/test_fast_shards.py`` reads it with zarr-python, and zarr-written
shards with this module).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import math
from functools import partial
from typing import Any

import google_crc32c
import numpy as np
from zarr.abc.store import ByteRequest, RangeByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.storage import WrapperStore

from ..errors import CorruptDataError
from .zarr_array import ChunkChain
from .fast_chunks import _POOL, CHECK_FIRST_BYTES, ChunkEncoder, _run_all, decode_into, fetch_stored  # one coding pool for chunks and shards
from .read_errors import check_whole_read

EMPTY = 2**64 - 1
INDEX_CODECS = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]
# shards coded at once (their inner chunks in parallel); each holds its
# inner chunks' stored bytes until written
SHARDS_IN_FLIGHT = 2


def _sharding(meta: dict[str, Any]) -> dict[str, Any] | None:
    codecs = meta.get("codecs", [])
    if len(codecs) != 1 or codecs[0].get("name") != "sharding_indexed":
        return None
    return codecs[0].get("configuration", {})


def supports(meta: dict[str, Any]) -> bool:
    """Whether :func:`write_array` and :func:`read_array` handle an array with this ``zarr.json``."""
    config = _sharding(meta)
    return (
        config is not None
        and meta["chunk_grid"]["name"] == "regular"
        and meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}
        and len(meta["shape"]) > 0
        and config.get("index_location", "end") == "start"
        and config.get("index_codecs") == INDEX_CODECS
        and ChunkChain.parse(config.get("codecs", [])) is not None
    )


class ShardGeometry:
    """Shard and inner-chunk shapes of an array, and where each inner chunk lies."""

    def __init__(self, meta: dict[str, Any]) -> None:
        config = _sharding(meta) or {}
        self.shape = tuple(int(s) for s in meta["shape"])
        self.shard = tuple(int(s) for s in meta["chunk_grid"]["configuration"]["chunk_shape"])
        self.inner = tuple(int(c) for c in config["chunk_shape"])
        if any(s % c for s, c in zip(self.shard, self.inner)):
            raise CorruptDataError(f"shard shape {self.shard} is not a multiple of its inner chunks {self.inner}")
        self.per_shard = tuple(s // c for s, c in zip(self.shard, self.inner))
        self.count = math.prod(self.per_shard)
        self.index_bytes = 16 * self.count + 4

    def shards(self) -> list[tuple[int, ...]]:
        """Grid indexes of every shard of the array."""
        return list(itertools.product(*(range(-(-s // c)) for s, c in zip(self.shape, self.shard))))

    def inner_chunks(self, shard: tuple[int, ...]) -> list[tuple[int, ...] | None]:
        """Global inner-chunk index of each slot of ``shard`` (C order), ``None`` where wholly outside the array."""
        out: list[tuple[int, ...] | None] = []
        for local in itertools.product(*(range(n) for n in self.per_shard)):
            index = tuple(s * n + l for s, n, l in zip(shard, self.per_shard, local))
            out.append(index if all(i * c < size for i, c, size in zip(index, self.inner, self.shape)) else None)
        return out

    def chunks_in(self, shard: tuple[int, ...]) -> int:
        """How many of ``shard``'s slots hold an inner chunk inside the array (those
        :meth:`inner_chunks` does not give as ``None``), counted without listing them."""
        count = 1
        for s, n, c, size in zip(shard, self.per_shard, self.inner, self.shape):
            count *= max(0, min(n, -(-size // c) - s * n))
        return count

    def region(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        """The part of the array an inner chunk covers (cut at the array's end)."""
        return tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, self.inner, self.shape))


def _shard_key(path: str, shard: tuple[int, ...]) -> str:
    return "/".join([path, "c", *map(str, shard)]) if path else "/".join(["c", *map(str, shard)])


def _assemble(geometry: ShardGeometry, slots: list[tuple[int, ...] | None], bodies: list[bytes]) -> list[bytes]:
    """A shard from its inner chunks' stored bytes (``None`` slots are empty), as the parts
    whose concatenation it is: its index (crc32c included), then the bodies."""
    index = np.full((geometry.count, 2), EMPTY, dtype="<u8")
    offset = geometry.index_bytes
    stored = iter(bodies)
    for slot, chunk in enumerate(slots):
        if chunk is not None:
            size = len(next(stored))
            index[slot] = (offset, size)
            offset += size
    raw_index = index.tobytes()
    return [raw_index + google_crc32c.value(raw_index).to_bytes(4, "little"), *bodies]


async def set_parts(store: Store, key: str, parts: list[bytes]) -> None:
    """Store the concatenation of ``parts`` at ``key``: by the store's ``set_parts`` when it has
    one (a local folder writes the parts one after another: a shard of tens of MB is not
    copied once more to be joined), else joined."""
    write = getattr(store, "set_parts", None)
    if write is not None:
        await write(key, parts)
    else:
        await store.set(key, default_buffer_prototype().buffer.from_bytes(b"".join(parts)))


async def write_array(store: Store, path: str, meta: dict[str, Any], data: np.ndarray) -> None:
    """Write every shard of ``data`` (the whole array, in memory) to the array ``meta`` describes."""
    geometry = ShardGeometry(meta)
    config = _sharding(meta) or {}
    # the inner chunks are coded as regular chunks of that shape would be
    inner = {"chunk_grid": {"configuration": {"chunk_shape": list(geometry.inner)}}, "fill_value": meta["fill_value"], "codecs": config["codecs"]}
    encode = ChunkEncoder(inner, data)
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(SHARDS_IN_FLIGHT)

    async def one(shard: tuple[int, ...]) -> None:
        async with limit:
            slots = geometry.inner_chunks(shard)
            chunks = [c for c in slots if c is not None]
            bodies = await asyncio.gather(*(loop.run_in_executor(_POOL, encode, c) for c in chunks))
            await set_parts(store, _shard_key(path, shard), _assemble(geometry, slots, list(bodies)))

    await _run_all(one(shard) for shard in geometry.shards())


def parse_index(geometry: ShardGeometry, payload: bytes, key: str) -> np.ndarray:
    """The index (``count x 2``: offset, size) at the start of ``payload`` (a shard, or its first
    ``index_bytes``), its crc32c checked; ``key`` names the shard in errors."""
    if len(payload) < geometry.index_bytes:
        raise CorruptDataError(f"shard {key} is shorter than its index")
    raw_index = payload[: geometry.index_bytes - 4]
    if google_crc32c.value(raw_index) != int.from_bytes(payload[geometry.index_bytes - 4 : geometry.index_bytes], "little"):
        raise CorruptDataError(f"shard {key}: its index failed its crc32c check")
    return np.frombuffer(raw_index, dtype="<u8").reshape(geometry.count, 2)


def _places(geometry: ShardGeometry, payload: bytes, key: str, shard: tuple[int, ...], rows: tuple[int, int]) -> list[tuple[tuple[int, ...], tuple[int, int]]]:
    """``(inner chunk, (offset, size))`` of every inner chunk of a shard that holds rows in ``rows``, its index checked."""
    index = parse_index(geometry, payload, key)
    out = []
    for slot, chunk in enumerate(geometry.inner_chunks(shard)):
        if chunk is None:
            continue
        region = geometry.region(chunk)
        if max(region[0].start, rows[0]) >= min(region[0].stop, rows[1]):
            continue
        offset, size = (int(v) for v in index[slot])
        if offset == EMPTY or size < 4 or offset < geometry.index_bytes or offset + size > len(payload):
            raise CorruptDataError(f"shard {key}: inner chunk {chunk} is missing or out of bounds")
        out.append((chunk, (offset, size)))
    return out


class ShardIndexCheck(WrapperStore[Store]):
    """Reads of one sharded array (through zarr) with every shard index checked for empty slots.

    zarr reads an inner chunk marked empty (``2**64 - 1``) as fill values,
    as the sharding specification allows; spikestore writes every inner chunk
    inside the array, so an empty slot there is damage (or a hostile index),
    raised as :class:`~spikestore.errors.CorruptDataError` instead of zeros.
    """

    def __init__(self, store: Store, path: str, meta: dict[str, Any]) -> None:
        super().__init__(store)
        self._geometry = ShardGeometry(meta)
        self._prefix = _shard_key(path, ())  # "<path>/c"

    def _with_store(self, store: Store) -> "ShardIndexCheck":
        clone = copy.copy(self)
        clone._store = store
        return clone

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        value = await self._store.get(key, prototype, byte_range)
        shard = key[len(self._prefix) + 1 :].split("/") if key.startswith(self._prefix + "/") else None
        if value is None or shard is None or not (byte_range is None or (isinstance(byte_range, RangeByteRequest) and byte_range.start == 0)):
            return value
        geometry = self._geometry
        raw = value.as_numpy_array()[: geometry.index_bytes - 4].tobytes()
        if len(raw) == geometry.index_bytes - 4:
            index = np.frombuffer(raw, dtype="<u8").reshape(geometry.count, 2)
            for slot, chunk in enumerate(geometry.inner_chunks(tuple(int(i) for i in shard))):
                if chunk is not None and index[slot, 0] == EMPTY:
                    raise CorruptDataError(f"shard {key}: inner chunk {chunk} is marked empty in the shard index")
        return value


async def read_array(store: Store, path: str, meta: dict[str, Any], rows: slice | None = None) -> np.ndarray:
    """Read the whole array (or the rows ``rows`` of axis 0) that ``meta`` describes, one request per shard.

    Raises
    ------
    CorruptDataError
        If a shard's index or an inner chunk fails its crc32c check or does not decode.
    """
    from zarr.core.dtype import parse_data_type

    geometry = ShardGeometry(meta)
    config = _sharding(meta) or {}
    chain = ChunkChain(config["codecs"], parse_data_type(meta["data_type"], zarr_format=3).to_native_dtype())
    shape = geometry.shape
    start, stop = (0, shape[0]) if rows is None else (rows.start or 0, shape[0] if rows.stop is None else min(rows.stop, shape[0]))
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(SHARDS_IN_FLIGHT * 2)

    fetch = partial(fetch_stored, store)

    # a large array's last shard first: a shape the shards do not back (a damaged
    # or hostile index) is a missing shard before anything of that size is allocated
    held: dict[str, bytes] = {}
    if stop > start and all(shape) and (stop - start) * math.prod(shape[1:]) * chain.dtype.itemsize > CHECK_FIRST_BYTES:
        final = ((stop - 1) // geometry.shard[0], *(-(-n // c) - 1 for n, c in zip(shape[1:], geometry.shard[1:])))
        held[_shard_key(path, final)] = await fetch(_shard_key(path, final))
    check_whole_read((stop - start) * math.prod(shape[1:]) * chain.dtype.itemsize, f"array {path!r}")  # before allocating it
    out = np.empty((max(0, stop - start), *shape[1:]), dtype=chain.dtype.newbyteorder("="))
    wanted = [s for s in geometry.shards() if s[0] * geometry.shard[0] < stop and (s[0] + 1) * geometry.shard[0] > start]

    async def one(shard: tuple[int, ...]) -> None:
        key = _shard_key(path, shard)
        async with limit:
            payload = held.pop(key) if key in held else await fetch(key)
            places = _places(geometry, payload, key, shard, (start, stop))

            def decode_run(run: list[tuple[tuple[int, ...], tuple[int, int]]]) -> None:
                for chunk, (offset, size) in run:
                    decode_into(out, (start, stop), chain, payload[offset : offset + size], chunk, geometry.inner, shape, f"shard {key}: inner chunk {chunk}")

            # a few runs of inner chunks per shard, not one task each: a task costs the
            # event loop a wake-up, which for thousands of 1 MiB chunks was more than their decoding
            runs = [places[i :: _POOL.workers] for i in range(min(_POOL.workers, len(places)))]
            await asyncio.gather(*(loop.run_in_executor(_POOL, decode_run, run) for run in runs))

    await _run_all(one(shard) for shard in wanted)
    return out
