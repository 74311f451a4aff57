"""A Zarr store wrapper that turns a missing chunk into an error.

Zarr reads a missing chunk as fill values, which is right for sparse arrays
but would hide damage here: spikestore writes every chunk of every array, so
a chunk that is absent means the data was removed (a superseded version) or
lost.  Decoding failures (a failed crc32c check) become
:class:`~spikestore.errors.CorruptDataError` as well.
"""

from __future__ import annotations

from typing import Any

from zarr.abc.store import ByteRequest, RangeByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from .errors import CorruptDataError


class MissingChunkError(FileNotFoundError):
    """A chunk that must exist was not found."""


# a ranged read longer than this (a shard's inner chunk, as its index says) is
# first checked against the object's size: a damaged or hostile shard index
# could otherwise ask a local file for 2**62 bytes, which Python allocates first
LARGE_RANGE_BYTES = 256 << 20


class StrictStore(WrapperStore[Store]):
    """Raise :class:`MissingChunkError` instead of returning ``None`` for absent chunks,
    and :class:`~spikestore.errors.CorruptDataError` for a byte range past an object's end."""

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        if isinstance(byte_range, RangeByteRequest) and byte_range.end - byte_range.start > LARGE_RANGE_BYTES:
            size = await self._store.getsize(key)
            if byte_range.end > size:
                raise CorruptDataError(f"{key}: bytes {byte_range.start}-{byte_range.end} asked for (by its shard index) lie past its end ({size} bytes)")
        value = await self._store.get(key, prototype, byte_range)
        if value is None and not key.endswith("zarr.json"):
            raise MissingChunkError(key)
        return value

    async def get_partial_values(self, prototype: BufferPrototype, key_ranges: Any) -> list[Buffer | None]:
        values = await self._store.get_partial_values(prototype, key_ranges)
        for (key, _), value in zip(key_ranges, values):
            if value is None:
                raise MissingChunkError(key)
        return values


_DECODE_WORDS = ("checksum", "crc", "decod", "decompress", "corrupt", "buffer size", "shard index")


def is_decode_failure(exc: BaseException) -> bool:
    """Whether an error raised while reading chunks means the stored bytes are damaged.

    Codec failures surface from zarr and numcodecs as plain ``ValueError`` or
    ``RuntimeError`` ("Stored and computed checksum do not match", a failed
    decompression); selection errors from the caller are ``IndexError`` or
    ``TypeError`` and are not matched.
    """
    return isinstance(exc, (ValueError, RuntimeError)) and any(w in str(exc).lower() for w in _DECODE_WORDS)
