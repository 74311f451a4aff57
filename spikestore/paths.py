"""The rules of the object boundary: which root-relative keys spikestore may
touch, and how a user's name becomes one path segment.

Everything here is pure (no I/O).  :class:`spikestore.workspace_root.WorkspaceRoot` and
:class:`spikestore.workspace_root.GuardedStore` apply :func:`check_key` to every key
before any request; the index applies :func:`check_item_path` to every path
it reads, so a snapshot, journal record, skeleton or ``.h5`` file cannot make
spikestore read, write or delete anything outside the workspace root or
outside the item's own folder.

Layout of the keys (see ``docs/format.md``)::

    zarr.json                              root group document
    __spikestore__/...                     internal objects (index, temporaries)
    <ns>/<key>/<version>/...               an item version (a record's group)

``<ns>`` and ``<key>`` are :func:`storage_segment` of the user's names; user
names never start with ``__``, so they cannot reach ``__spikestore__``.
"""

from __future__ import annotations

import re

from .errors import UnsafePathError

INTERNAL_DIR = "__spikestore__"
GROUP_DOCUMENT = "zarr.json"
# one path segment, in UTF-8 bytes: the limit of common local file systems
MAX_SEGMENT_BYTES = 255
VERSION_PATTERN = re.compile(r"v\d{13}-[0-9a-f]{8}")
_FORBIDDEN = ("\\", "\x00")
_ESCAPE = "~"


def storage_segment(name: str) -> str:
    """The path segment that stores a (validated) user name.

    Every name is its own segment, except names that would collide with a
    Zarr group document: ``zarr.json`` (and ``zarr.json~``, ``zarr.json~~``
    …) get one more ``~``.  The mapping is injective, so two names never
    share a segment, and no name maps to ``zarr.json``.
    """
    return name + _ESCAPE if name.rstrip(_ESCAPE) == GROUP_DOCUMENT else name


def segment_problem(segment: object) -> str | None:
    """Why ``segment`` cannot be one path segment, or ``None`` when it can."""
    if not isinstance(segment, str):
        return f"is a {type(segment).__name__}, not a string"
    if not segment:
        return "is empty"
    if "/" in segment:
        return "contains '/'"
    for char in _FORBIDDEN:
        if char in segment:
            return f"contains {char!r}"
    if segment in (".", ".."):
        return f"is {segment!r}"
    if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        return f"is longer than {MAX_SEGMENT_BYTES} bytes in UTF-8"
    return None


def check_segment(segment: object, what: str) -> str:
    """``segment`` if it is a safe single path segment; :class:`UnsafePathError` otherwise."""
    problem = segment_problem(segment)
    if problem is not None:
        raise UnsafePathError(
            f"{what}: path segment {segment!r} {problem}; it would leave its folder. The store or "
            f"file was edited by hand or is hostile; nothing was read or written."
        )
    return segment  # type: ignore[return-value]


def check_key(key: object, what: str = "store key", *, prefix: bool = False) -> str:
    """A root-relative key that stays inside the root; :class:`UnsafePathError` otherwise.

    ``""`` is the root itself.  With ``prefix``, one trailing ``/`` is allowed
    (listing prefixes).  Absolute keys, empty, ``.`` and ``..`` segments,
    backslashes and NUL bytes are refused.
    """
    if not isinstance(key, str):
        raise UnsafePathError(f"{what} {key!r} is a {type(key).__name__}, not a string.")
    body = key[:-1] if prefix and key.endswith("/") else key
    if body == "":
        return key
    if body.startswith("/"):
        raise UnsafePathError(f"{what} {key!r} is absolute; only paths inside the workspace root are allowed.")
    for segment in body.split("/"):
        check_segment(segment, f"{what} {key!r}")
    return key


def item_folder(namespace: str, key: str) -> str:
    """The folder holding every version of ``(namespace, key)``."""
    return f"{storage_segment(namespace)}/{storage_segment(key)}"


def is_version_id(name: str) -> bool:
    """Whether ``name`` is a version folder name (``v<13 digits>-<8 hex>``)."""
    return VERSION_PATTERN.fullmatch(name) is not None


def check_item_path(path: object, namespace: str, key: str, what: str) -> str:
    """The data path of an index entry, if it is a version folder of that very item.

    An entry may only point into its own item's folder: otherwise a hostile
    index could make a delete or an overwrite remove another item's data, or
    data outside the workspace.

    Raises
    ------
    UnsafePathError
        If ``path`` is not ``<ns>/<key>/<version>`` for this item.
    """
    if isinstance(path, str):
        parts = path.split("/")
        if (
            len(parts) == 3
            and is_version_id(parts[2])
            and (parts[:2] == item_folder(namespace, key).split("/") or parts[:2] == [namespace, key])
            and segment_problem(parts[0]) is None
            and segment_problem(parts[1]) is None
            and GROUP_DOCUMENT not in parts[:2]
            and not parts[0].startswith("__")
        ):
            return path
    raise UnsafePathError(
        f"{what}: the index says the data of ({namespace!r}, {key!r}) is at {path!r}, which is not a "
        f"version folder of that item. The index was edited by hand or is hostile; nothing was read, "
        f"written or deleted. Restore the workspace from a copy, or run `spikestore verify`."
    )


def check_version_folder(path: str) -> str:
    """``path`` if it is ``<ns>/<key>/<version>``: the only folders spikestore deletes."""
    parts = path.split("/") if isinstance(path, str) else []
    if len(parts) == 3 and is_version_id(parts[2]) and not parts[0].startswith("__"):
        check_key(path, "version folder")
        if GROUP_DOCUMENT not in parts[:2]:
            return path
    raise UnsafePathError(f"refusing to delete {path!r}: spikestore deletes only item version folders (<ns>/<key>/<version>).")
