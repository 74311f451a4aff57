"""A fast path for writing one in-memory array: chunks encoded in parallel threads.

zarr-python's write path costs about twice the CPU of encoding the chunks
(several buffer copies per chunk, one codec call per ``asyncio.to_thread``),
which made saving rate matrices the slowest part of a save.  For the common
case -- a numpy array, a regular chunk grid, the codec chain
``bytes -> zstd -> crc32c`` -- this module encodes chunks itself with the same
libraries zarr uses (numcodecs' Zstd, google-crc32c) in a thread pool and
hands the bytes to the Zarr store.  The bytes are exactly what zarr would
write (``tests/test_chunk_writer.py`` compares them), so any Zarr v3 reader
reads the result.  Everything else goes through zarr.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import google_crc32c
import numpy as np
from numcodecs import Zstd
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="spikestore-encode")
IN_FLIGHT = 16


def supports(meta: dict[str, Any]) -> bool:
    """Whether :func:`write_array` can write an array with this ``zarr.json``."""
    codecs = [c["name"] for c in meta.get("codecs", [])]
    return (
        codecs == ["bytes", "zstd", "crc32c"]
        and meta["chunk_grid"]["name"] == "regular"
        and meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}
        and not meta["codecs"][1].get("configuration", {}).get("checksum", False)
        and len(meta["shape"]) > 0
    )


def _chunk_key(path: str, index: tuple[int, ...]) -> str:
    return f"{path}/c/" + "/".join(str(i) for i in index)


class _Encoder:
    """Encodes the chunk at a grid index of ``data`` to its stored bytes."""

    def __init__(self, meta: dict[str, Any], data: np.ndarray) -> None:
        self.chunks = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        endian = meta["codecs"][0].get("configuration", {}).get("endian", "little")
        self.dtype = data.dtype.newbyteorder("<" if endian == "little" else ">") if data.dtype.itemsize > 1 else data.dtype
        self.fill = np.array(meta["fill_value"]).astype(data.dtype) if not isinstance(meta["fill_value"], list) else 0
        self.zstd = Zstd(level=meta["codecs"][1].get("configuration", {}).get("level", 0))
        self.data = data

    def __call__(self, index: tuple[int, ...]) -> bytes:
        selection = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, self.chunks))
        block = self.data[selection]
        if block.shape != self.chunks:  # edge chunk: stored at full size, padded with the fill value
            full = np.full(self.chunks, self.fill, dtype=self.data.dtype)
            full[tuple(slice(0, s) for s in block.shape)] = block
            block = full
        raw = np.ascontiguousarray(block, dtype=self.dtype)
        compressed = self.zstd.encode(raw)
        return bytes(compressed) + google_crc32c.value(bytes(compressed)).to_bytes(4, "little")


async def write_array(store: Store, path: str, meta: dict[str, Any], data: np.ndarray, first_row: int = 0) -> None:
    """Write every chunk of ``data`` to the array ``meta`` describes.

    ``data`` is the whole array, or the rows from ``first_row`` on (a multiple
    of the chunk length along axis 0) when an array is copied block by block.
    """
    encode = _Encoder(meta, data)
    if first_row % encode.chunks[0]:
        raise ValueError(f"block start {first_row} is not aligned to chunks of {encode.chunks[0]} rows")
    offset = first_row // encode.chunks[0]
    grid = [range(math.ceil(s / c)) for s, c in zip(data.shape, encode.chunks)]
    loop = asyncio.get_running_loop()
    prototype = default_buffer_prototype()
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def one(index: tuple[int, ...]) -> None:
        async with limit:
            payload = await loop.run_in_executor(_POOL, encode, index)
            stored_at = (index[0] + offset, *index[1:])
            await store.set(_chunk_key(path, stored_at), prototype.buffer.from_bytes(payload))

    async with asyncio.TaskGroup() as group:
        for index in itertools.product(*grid):
            group.create_task(one(index))
