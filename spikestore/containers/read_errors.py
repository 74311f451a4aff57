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
* a ``MemoryError`` while reading an array that fits in memory many times
  over can only come from a chunk whose header declares more data than a
  chunk holds (the decoder allocates what the header says):
  :class:`~spikestore.errors.CorruptDataError` (:func:`fits_in_memory`);
* anything else (a bad selection) is the caller's error and passes through.

A whole array larger than the machine's memory is refused before anything
is allocated (:func:`check_whole_read`): an honest array that large is read
in parts, and a hostile index declaring a huge shape gets a spikestore
error instead of a ``MemoryError``.
"""

from __future__ import annotations

import asyncio

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NoReturn

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from ..errors import ArrayTooLargeError, CorruptDataError, ItemNotFoundError
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

    async def _missing(self, exc: MissingChunkError) -> MissingChunkError:
        # is_committed makes blocking requests, possibly through this event loop's own
        # filesystem (WorkspaceRoot shares zarr's loop): it runs in a thread
        if isinstance(exc, ReplacedVersionError) or await asyncio.to_thread(self.is_committed):
            return exc
        return ReplacedVersionError(*exc.args)

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        try:
            return await self._store.get(key, prototype, byte_range)
        except MissingChunkError as exc:
            raise await self._missing(exc) from None

    async def get_partial_values(self, prototype: BufferPrototype, key_ranges: Any) -> list[Buffer | None]:
        try:
            return await self._store.get_partial_values(prototype, key_ranges)
        except MissingChunkError as exc:
            raise await self._missing(exc) from None


def physical_memory() -> int:
    """Bytes of physical memory of this machine (a large default where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def fits_in_memory(nbytes: int | None) -> bool:
    """Whether an array of ``nbytes`` fits in a quarter of physical memory (``None``: unknown, no)."""
    return nbytes is not None and 0 <= nbytes <= physical_memory() // 4


def array_nbytes(array: Any) -> int | None:
    """The in-memory size of a whole zarr array (``None`` where it has none, e.g. strings)."""
    try:
        return int(array.nbytes)
    except (AttributeError, TypeError, ValueError):
        return None


def check_whole_read(nbytes: int | None, where: str) -> None:
    """Refuse to read all of an array larger than physical memory.

    Raises
    ------
    ArrayTooLargeError
        Saying how large the array is and how to read it in parts.
    """
    memory = physical_memory()
    if nbytes is not None and nbytes > memory:
        raise ArrayTooLargeError(
            f"{where} holds {nbytes / 1e9:,.1f} GB, more than this machine's {memory / 1e9:,.1f} GB of memory; "
            f"read it in parts (get_lazy() and slices, or to_dask()). If the array cannot be that large, the "
            f"index is damaged or hostile: run `spikestore verify`."
        )


def read_error(exc: BaseException, where: str, array: str = "", *, codec_failure: bool = False, array_bytes: int | None = None) -> BaseException | None:
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
    array_bytes
        The whole array's size in memory, which tells a ``MemoryError`` from
        a chunk bomb (``None``: unknown, the ``MemoryError`` passes through).
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
    if isinstance(exc, MemoryError) and not isinstance(exc, ArrayTooLargeError) and fits_in_memory(array_bytes):
        of = f" of {array!r}" if array else ""
        return CorruptDataError(
            f"{where}: a chunk{of} declares more data than a chunk of the array holds (its decoder could not "
            f"allocate it); the stored bytes are damaged or hostile. Run `spikestore verify` for a full report."
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


def raise_read_error(exc: BaseException, where: str, array: str = "", *, codec_failure: bool = False, array_bytes: int | None = None) -> NoReturn:
    """Raise :func:`read_error`'s error for ``exc`` (from ``exc``), or ``exc`` itself if it has none."""
    error = read_error(exc, where, array, codec_failure=codec_failure, array_bytes=array_bytes)
    if error is None:
        raise exc
    if isinstance(error, ItemNotFoundError):
        raise error from None
    raise error from exc


@contextmanager
def source_errors(source: Any) -> Iterator[None]:
    """Reads of a stored array copied elsewhere (copy, export, the codec trial's sample): the same
    rule as every read (:func:`read_error`), naming the array.

    ``source`` is whatever is read; only a zarr array (or rows of one, a
    packed slice) is a stored array, and other sources' errors pass through
    unchanged.
    """
    try:
        yield
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        array = next((c for c in (source, getattr(source, "base", None)) if c is not None and hasattr(c, "async_array")), None)
        if array is None:
            raise
        raise_read_error(exc, f"array {str(array.path)!r}", str(array.path), array_bytes=array_nbytes(array))
