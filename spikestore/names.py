"""Validation of namespace, key and dict-key names: the one place that decides
which names may become paths in a store.

A name becomes one path segment of a Zarr key or an HDF5 group name, so it
must not be able to address anything outside its parent: no separators, no
``.``/``..``, no NUL, and no ``__`` prefix (reserved for spikestore's and
spikelab's own attributes and groups).
"""

from __future__ import annotations

from .errors import InvalidNameError
from .paths import MAX_SEGMENT_BYTES, storage_segment

_FORBIDDEN_CHARS = {"/": "a slash '/'", "\\": "a backslash '\\'", "\x00": "a NUL byte"}


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a safe single path segment, else raise.

    Parameters
    ----------
    name
        The candidate name.
    what
        What the name is used for ("namespace", "key", "dict key" …), used in
        the error message.

    Returns
    -------
    str
        The same name.

    Raises
    ------
    InvalidNameError
        If the name is not a non-empty string, contains ``/``, ``\\`` or NUL,
        is ``.`` or ``..``, starts with ``__``, or is longer than a path
        segment may be (255 bytes in UTF-8).

    Notes
    -----
    ``zarr.json`` and names containing ``.tmp-`` are ordinary names: the
    Zarr container stores ``zarr.json`` under an escaped segment
    (:func:`spikestore.paths.storage_segment`), and spikestore keeps its
    temporary files under ``__spikestore__/``.
    """
    if not isinstance(name, str):
        raise InvalidNameError(
            f"{what} {name!r} is a {type(name).__name__}, not a string; "
            f"use a non-empty string such as 'rec1'."
        )
    if not name:
        raise InvalidNameError(f"{what} is empty; use a non-empty string such as 'rec1'.")
    for char, label in _FORBIDDEN_CHARS.items():
        if char in name:
            raise InvalidNameError(
                f"{what} {name!r} contains {label}, which would split it into "
                f"several path segments; use '_' or '.' instead."
            )
    if name in (".", ".."):
        raise InvalidNameError(
            f"{what} {name!r} would address a parent or the same folder; choose another name."
        )
    if name.startswith("__"):
        raise InvalidNameError(
            f"{what} {name!r} starts with '__', which is reserved for spikestore's "
            f"internal groups and attributes; drop the leading underscores."
        )
    try:
        size = len(storage_segment(name).encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidNameError(
            f"{what} {name!r} is not valid Unicode (it holds a lone surrogate); use a name that encodes as UTF-8."
        ) from None
    if size > MAX_SEGMENT_BYTES:
        raise InvalidNameError(
            f"{what} {name[:40]!r}… is {size} bytes long in UTF-8; file systems and object stores "
            f"allow at most {MAX_SEGMENT_BYTES} bytes per name. Choose a shorter name."
        )
    return name


def validate_item_address(namespace: object, key: object) -> None:
    """Validate a ``(namespace, key)`` pair; ``None`` is not a key."""
    validate_name(namespace, "namespace")
    validate_name(key, "key")
