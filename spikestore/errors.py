"""The spikestore exception tree: every error the library raises on purpose.

Each exception also derives from the built-in exception a Python user would
catch for the same situation (``ValueError``, ``TypeError``, ``KeyError`` …),
so code written against spikelab keeps working.  Every message says what was
wrong and what to do next.
"""

from __future__ import annotations


class SpikestoreError(Exception):
    """Base class of every error raised by spikestore on purpose."""


class InvalidNameError(SpikestoreError, ValueError):
    """A namespace, key or dict key cannot be used as a storage name."""


class UnsupportedTypeError(SpikestoreError, TypeError):
    """No codec can store this object (or a value nested inside it)."""


class InvalidValueError(SpikestoreError, ValueError):
    """The object has a supported type but content that cannot be stored.

    Examples: ragged or mixed-type lists, metadata that is not JSON, neuron
    attributes whose shapes differ between units.
    """


class WorkspaceNotFoundError(SpikestoreError, FileNotFoundError):
    """The URL holds no spikestore workspace."""


class ItemNotFoundError(SpikestoreError, KeyError):
    """The namespace or key is not in the workspace."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class InvalidURLError(SpikestoreError, ValueError):
    """The URL or its storage options cannot be turned into a store."""


class ReadOnlyError(SpikestoreError, PermissionError):
    """A write was attempted on a workspace opened read-only."""


class InvalidModeError(SpikestoreError, ValueError):
    """An open mode other than ``r``, ``r+``, ``a`` or ``w`` was given."""


class CorruptDataError(SpikestoreError, OSError):
    """Stored bytes failed their checksum or could not be decoded."""


class ArrayTooLargeError(SpikestoreError, MemoryError):
    """A whole array was asked for that is larger than this machine's memory; read it in parts."""


class StoreWriteError(SpikestoreError, OSError):
    """Writing to the store failed; the workspace is left as it was before the call."""


class FormatError(SpikestoreError, ValueError):
    """A stored object does not follow the spikestore or spikelab format.

    Raised for unknown ``__type__`` tags, missing attributes, a ``.json``
    index that does not match its ``.h5`` file, a file that is not HDF5, or a
    newer spikestore format version than this library understands.
    """


class UnsafePathError(FormatError):
    """A path read from a store or a file would leave the workspace root,
    or address one of spikestore's own objects.

    Raised before any I/O: the store may have been edited by hand or by a
    hostile party.  Nothing was read, written or deleted.
    """


class StoreAccessError(SpikestoreError, PermissionError):
    """The storage backend refused access: missing credentials, a missing
    bucket, or permissions.  The message says what to set."""


class InvalidValueTypeError(InvalidValueError, TypeError):
    """A value's elements have types that cannot be stored together.

    Examples: a set whose elements cannot be ordered (``{1, "a"}``), a list
    or tuple mixing numbers with ``None``, pairwise labels mixing numbers with
    ``None``, an integer outside the int64/uint64 range.  spikelab raises
    ``TypeError`` for these, so this is both an :class:`InvalidValueError`
    (a ``ValueError``) and a ``TypeError``.
    """


class MissingDependencyError(SpikestoreError, ImportError):
    """An optional dependency (xarray, dask) is not installed; the message says what to install."""
