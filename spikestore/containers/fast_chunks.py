"""A fast path for whole-array writes and reads: chunks coded in parallel threads.

zarr-python's read and write paths cost about twice the CPU of the codecs
themselves (several buffer copies per chunk, one codec call per
``asyncio.to_thread``), which made saving rate matrices the slowest part of a
save and decompression the slowest part of a load or an HDF5 export.  For the
common case -- a regular chunk grid with one of the codec chains spikestore
writes (:class:`~spikestore.containers.zarr_array.ChunkChain`):

* ``bytes -> zstd|blosc -> crc32c`` (the defaults and the shuffle candidates),
* ``numcodecs.delta -> bytes -> zstd|blosc -> crc32c`` (sorted integers),
* ``numcodecs.pcodec -> crc32c``,

-- this module encodes and decodes chunks itself with the same libraries zarr
uses (numcodecs' Zstd, Blosc, Delta and PCodec configured as zarr configures
them, google-crc32c) in a thread pool and moves the bytes through the Zarr
store.  Written bytes are exactly what zarr would write
(``tests/test_fast_chunks.py`` compares them), so any Zarr v3 reader with
numcodecs reads the result.  Basic selections are read by
:mod:`.region_reads`; sharded arrays by :mod:`.fast_shards`; every other
layout goes through zarr.  :func:`choose_codecs` runs the write-time codec
trial (:mod:`spikestore.containers.codec_choice`) on any source.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from typing import Any

import google_crc32c
import numpy as np
from zarr.abc.store import ByteRequest, Store

from ..errors import CorruptDataError
from ..strict_store import MissingChunkError
from .read_errors import check_whole_read, raise_read_error
from zarr.core.buffer import default_buffer_prototype
from .codec_choice import choose_for_source
from .coding_pool import CodingPool
from .zarr_array import ChunkChain

_POOL = CodingPool(max(2, os.cpu_count() or 2), "spikestore-encode")
IN_FLIGHT = 16
# chunks of at most this many raw bytes are coded in the event loop's own thread:
# handing tens of microseconds of work to the pool cost more (and, in a fresh
# process, starting the pool's threads cost milliseconds before a small item's
# first value)
SMALL_CHUNK_BYTES = 64 << 10
# arrays larger than this fetch their last chunk before allocating (one more round trip)
CHECK_FIRST_BYTES = 256 << 20


def supports(meta: dict[str, Any]) -> bool:
    """Whether :func:`write_array` and :func:`read_array` handle an array with this ``zarr.json``."""
    return (
        meta["chunk_grid"]["name"] == "regular"
        and meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}
        and len(meta["shape"]) > 0
        and ChunkChain.parse(meta.get("codecs", [])) is not None
    )


async def _run_all(jobs: Any) -> None:
    """Run coroutines together; on failure cancel the rest and raise the first error itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The first exception inside a (possibly nested) exception group."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _chunk_key(path: str, index: tuple[int, ...]) -> str:
    return f"{path}/c/" + "/".join(str(i) for i in index)


async def fetch_stored(store: Store, key: str, byte_range: ByteRequest | None = None) -> bytes:
    """The stored bytes of a chunk or shard (or a range of them); every one is written,
    so a missing one is :class:`~spikestore.strict_store.MissingChunkError`."""
    buffer = await store.get(key, default_buffer_prototype(), byte_range)
    if buffer is None:  # (see spikestore.strict_store)
        raise MissingChunkError(key)
    return buffer.to_bytes()


class ChunkEncoder:
    """Encodes the chunk at a grid index of ``data`` to its stored bytes."""

    def __init__(self, meta: dict[str, Any], data: np.ndarray) -> None:
        self.chunks = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        self.fill = np.array(meta["fill_value"]).astype(data.dtype) if not isinstance(meta["fill_value"], list) else 0
        self.chain = ChunkChain(meta["codecs"], data.dtype)
        self.data = data

    def __call__(self, index: tuple[int, ...]) -> bytes:
        selection = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, self.chunks))
        block = self.data[selection]
        if block.shape != self.chunks:  # edge chunk: stored at full size, padded with the fill value
            full = np.full(self.chunks, self.fill, dtype=self.data.dtype)
            full[tuple(slice(0, s) for s in block.shape)] = block
            block = full
        return self.chain.encode(block)


async def choose_codecs(meta: dict[str, Any], source: Any) -> dict[str, Any]:
    """``meta`` with the codec chain the write-time trial picks for ``source``'s data.

    See :func:`spikestore.containers.codec_choice.choose_for_source`; here
    because the container reaches chunk coding through this module.  The
    trial runs in this module's thread pool.
    """
    return await choose_for_source(meta, source, _POOL)


async def write_array(store: Store, path: str, meta: dict[str, Any], data: np.ndarray, origin: tuple[int, ...] | None = None) -> None:
    """Write every chunk of ``data`` to the array ``meta`` describes.

    ``data`` is the whole array, or, when an array is copied block by block,
    the block starting at ``origin`` (on a chunk boundary on every axis).
    """
    encode = ChunkEncoder(meta, data)
    origin = tuple(origin or ()) + (0,) * (data.ndim - len(origin or ()))  # axes not given start at 0
    if any(o % c for o, c in zip(origin, encode.chunks)):
        raise ValueError(f"block origin {origin} is not aligned to chunks of {encode.chunks}")
    offset = [o // c for o, c in zip(origin, encode.chunks)]
    grid = [range(math.ceil(s / c)) for s, c in zip(data.shape, encode.chunks)]
    loop = asyncio.get_running_loop()
    prototype = default_buffer_prototype()
    limit = asyncio.Semaphore(IN_FLIGHT)

    small = math.prod(encode.chunks) * data.dtype.itemsize <= SMALL_CHUNK_BYTES

    async def one(index: tuple[int, ...]) -> None:
        async with limit:
            payload = encode(index) if small else await loop.run_in_executor(_POOL, encode, index)
            stored_at = tuple(i + o for i, o in zip(index, offset))
            await store.set(_chunk_key(path, stored_at), prototype.buffer.from_bytes(payload))

    await _run_all(one(index) for index in itertools.product(*grid))


def decode_stored(meta: dict[str, Any], stored: dict[str, bytes], what: str) -> np.ndarray:
    """All of an array from its stored chunks held in memory (``{"c/0/1": bytes}``), decoded in this thread.

    For arrays kept in the index: no store, no event loop, no thread.

    Raises
    ------
    CorruptDataError
        If a chunk is missing, fails its crc32c check or does not decode.
    """
    chunks, chain = _decoder(meta)
    shape = tuple(meta["shape"])
    out = np.empty(shape, dtype=chain.dtype.newbyteorder("="))
    for index in itertools.product(*(range(math.ceil(s / c)) for s, c in zip(shape, chunks))):
        key = "/".join(["c", *map(str, index)])
        payload = stored.get(key)
        if payload is None:
            raise CorruptDataError(f"{what}: chunk {key} is missing")
        decode_into(out, (0, shape[0]), chain, payload, index, chunks, shape, f"{what} chunk {key}")
    return out


def _decoder(meta: dict[str, Any]) -> tuple[tuple[int, ...], ChunkChain]:
    from zarr.core.dtype import parse_data_type

    chunks = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    dtype = parse_data_type(meta["data_type"], zarr_format=3).to_native_dtype()
    return chunks, ChunkChain(meta["codecs"], dtype)


def decode_chunk(chain: ChunkChain, stored: bytes, chunks: tuple[int, ...], what: str) -> np.ndarray:
    """One stored chunk's values (shape ``chunks``), its crc32c checked; ``what`` names it in errors.

    Raises
    ------
    CorruptDataError
        If the checksum fails or the bytes do not decode to one chunk.
    """
    body, stored_crc = stored[:-4], int.from_bytes(stored[-4:], "little")
    if google_crc32c.value(body) != stored_crc:
        raise CorruptDataError(f"{what} failed its crc32c check")
    try:
        return chain.decode(body, chunks)
    except (RuntimeError, ValueError) as exc:
        raise_read_error(exc, what, codec_failure=True)


def decode_into(
    out: np.ndarray, rows: tuple[int, int], chain: ChunkChain, stored: bytes, index: tuple[int, ...], chunks: tuple[int, ...], shape: tuple[int, ...], what: str
) -> None:
    """Check one stored chunk's crc32c, decode it, and copy what it holds of rows ``rows`` (axis 0) into ``out``.

    ``index`` is the chunk's place in a grid of ``chunks``-shaped chunks over
    an array of ``shape``; ``out`` holds those rows of the whole array;
    ``what`` names the chunk in errors.

    Raises
    ------
    CorruptDataError
        If the checksum fails or the bytes do not decode to one chunk.
    """
    block = decode_chunk(chain, stored, chunks, what)
    start, stop = rows
    target = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape))
    lo, hi = max(target[0].start, start), min(target[0].stop, stop)
    source = (slice(lo - index[0] * chunks[0], hi - index[0] * chunks[0]),) + tuple(slice(0, t.stop - t.start) for t in target[1:])
    out[(slice(lo - start, hi - start),) + target[1:]] = block[source]


async def read_array(store: Store, path: str, meta: dict[str, Any], rows: slice | None = None) -> np.ndarray:
    """Read the whole array (or the rows ``rows`` of axis 0) that ``meta`` describes.

    Raises
    ------
    CorruptDataError
        If a chunk fails its crc32c check or does not decompress to a chunk.
    """
    chunks, chain = _decoder(meta)
    stored_dtype = chain.dtype
    shape = tuple(meta["shape"])
    start, stop = (0, shape[0]) if rows is None else (rows.start or 0, shape[0] if rows.stop is None else min(rows.stop, shape[0]))
    first, last = start // chunks[0], -(-stop // chunks[0])
    grid = [range(first, last)] + [range(math.ceil(s / c)) for s, c in zip(shape[1:], chunks[1:])]
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def fetch(index: tuple[int, ...]) -> bytes:
        return await fetch_stored(store, _chunk_key(path, index))

    # a large array's last chunk first: a shape the chunks do not back (a damaged
    # or hostile index) is a missing chunk before anything of that size is allocated
    final = tuple(r[-1] for r in grid) if all(grid) else None
    large = (stop - start) * math.prod(shape[1:]) * stored_dtype.itemsize > CHECK_FIRST_BYTES
    held = {final: await fetch(final)} if final is not None and large else {}
    check_whole_read((stop - start) * math.prod(shape[1:]) * stored_dtype.itemsize, f"array {path!r}")  # before allocating it
    out = np.empty((max(0, stop - start), *shape[1:]), dtype=stored_dtype.newbyteorder("="))

    def decode(index: tuple[int, ...], payload: bytes) -> None:
        decode_into(out, (start, stop), chain, payload, index, chunks, shape, f"chunk {_chunk_key(path, index)}")

    small = math.prod(chunks) * stored_dtype.itemsize <= SMALL_CHUNK_BYTES

    async def one(index: tuple[int, ...]) -> None:
        async with limit:
            payload = held.pop(index) if index in held else await fetch(index)
            if small:
                decode(index, payload)
            else:
                await loop.run_in_executor(_POOL, decode, index, payload)

    await _run_all(one(index) for index in itertools.product(*grid))
    return out
