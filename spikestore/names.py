"""Validation of namespace, key and dict-key names: the one place that decides
which names may become paths in a store.

A name becomes one path segment of a Zarr key or an HDF5 group name, so it
must not be able to address anything outside its parent: no separators, no
``.``/``..``, no NUL, and no ``__`` prefix (reserved for spikestore's and
spikelab's own attributes and groups).
"""

from __future__ import annotations

from .errors import InvalidNameError

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
        is ``.`` or ``..``, or starts with ``__``.
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
    return name


def validate_item_address(namespace: object, key: object | None = None) -> None:
    """Validate a ``(namespace, key)`` pair (``key`` may be omitted)."""
    validate_name(namespace, "namespace")
    if key is not None:
        validate_name(key, "key")
