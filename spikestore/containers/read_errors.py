"""How a failed read of a stored Zarr array becomes spikestore's error: one rule for every read.

Every read of stored chunks -- a lazy view's slice, a whole item read by
``get``, the row blocks of an HDF5 export, the fast decoders of
:mod:`.fast_chunks` and :mod:`.fast_shards` -- hands what it caught to
:func:`read_error`, which applies one rule:

* a chunk of a committed item version that is missing is damage:
  :class:`~spikestore.errors.CorruptDataError` naming the item and the chunk
  (spikestore writes every chunk, see :mod:`spikestore.strict_store`);
* a chunk missing because the version was replaced or deleted since it was
  opened (:class:`ReplacedVersionError`, raised by :class:`ItemVersionStore`)
  is :class:`~spikestore.errors.ItemNotFoundError`: open the item again;
* a chunk that fails its checksum or does not decode is
  :class:`~spikestore.errors.CorruptDataError` naming the item and the array;
* anything else (a bad selection) is the caller's error and passes through.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from ..errors import CorruptDataError, ItemNotFoundError
from ..strict_store import MissingChunkError, is_decode_failure


class ReplacedVersionError(MissingChunkError):
    """A chunk is missing because its item version is no longer the committed one."""


class ItemVersionStore(WrapperStore[Store]):
    """The read store of one item version: tells a replaced version from damage.

    When the wrapped store (a :class:`~spikestore.strict_store.StrictStore`)
    raises :class:`MissingChunkError`, ``is_committed()`` is asked whether the
    version read is still the one the index names (it may refresh the index:
    a request, on this error only); if not, :class:`ReplacedVersionError` is
    raised instead.

    Parameters
    ----------
    store
        The store to read from; missing chunks must raise.
    is_committed
        ``() -> bool``; picklable where the store is sent to other processes.
    """

    def __init__(self, store: Store, is_committed: Callable[[], bool]) -> None:
        super().__init__(store)
        self.is_committed = is_committed

    def _with_store(self, store: Store) -> "ItemVersionStore":
        return type(self)(store, self.is_committed)

    def _missing(self, exc: MissingChunkError) -> MissingChunkError:
        if isinstance(exc, ReplacedVersionError) or self.is_committed():
            return exc
        return ReplacedVersionError(*exc.args)

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        try:
            return await self._store.get(key, prototype, byte_range)
        except MissingChunkError as exc:
            raise self._missing(exc) from None

    async def get_partial_values(self, prototype: BufferPrototype, key_ranges: Any) -> list[Buffer | None]:
        try:
            return await self._store.get_partial_values(prototype, key_ranges)
        except MissingChunkError as exc:
            raise self._missing(exc) from None


def read_error(exc: BaseException, where: str, array: str = "", *, codec_failure: bool = False) -> BaseException | None:
    """spikestore's error for ``exc``, raised while reading chunks, or ``None`` to let ``exc`` through.

    Parameters
    ----------
    exc
        What the read raised.
    where
        The item (and the array in it) being read, for the message.
    array
        The array's storage path, named in decode failures.
    codec_failure
        The read selected whole chunks that exist (no user selection), so any
        ``ValueError``/``RuntimeError`` came from the codecs.
    """
    if isinstance(exc, ReplacedVersionError):
        return ItemNotFoundError(
            f"{where}: chunk data is gone; the item was replaced or deleted after this view was "
            f"created. Call get_lazy() again."
        )
    if isinstance(exc, MissingChunkError):
        return CorruptDataError(
            f"{where}: chunk {exc.args[0] if exc.args else exc} is missing; the stored data is damaged. "
            f"Run `spikestore verify` for a full report."
        )
    if isinstance(exc, CorruptDataError):  # found by a fast decoder or a lower read: give it the item's name
        return CorruptDataError(f"{where}: {exc}")
    if isinstance(exc, (ValueError, RuntimeError)) and (codec_failure or is_decode_failure(exc)):
        of = f" of {array!r}" if array else ""
        return CorruptDataError(
            f"{where}: a chunk{of} failed to decode ({exc}); the stored bytes are damaged. "
            f"Run `spikestore verify` for a full report."
        )
    return None


def raise_read_error(exc: BaseException, where: str, array: str = "", *, codec_failure: bool = False) -> NoReturn:
    """Raise :func:`read_error`'s error for ``exc`` (from ``exc``), or ``exc`` itself if it has none."""
    error = read_error(exc, where, array, codec_failure=codec_failure)
    if error is None:
        raise exc
    if isinstance(error, ItemNotFoundError):
        raise error from None
    raise error from exc
