"""What an index entry may contain: the checks applied to every entry read
from a snapshot or a journal record before anything acts on it.

An entry is ``{"info": {...}, "path": "<ns>/<key>/<version>", "tree":
skeleton}``.  Read from a store, it is hostile input: its path must be a
version folder of that very item (:func:`spikestore.paths.check_item_path`),
every name in its skeleton must be one safe path segment, and every array's
metadata may only name the codecs spikestore writes, so zarr never resolves
a codec (``numcodecs.pickle``, ``vlen-bytes`` …) that a hostile store names.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypedDict, cast

from .containers.zarr_array import WRITTEN_CODECS, check_codec_configuration
from .containers.packing import check_packed
from .containers.skeleton import ARRAY_KINDS, IN_INDEX, INLINE_ARRAY_BYTES, INLINE_CHUNKS, MAX_INLINE_CHARS, Skeleton, skeleton_segment
from .errors import FormatError
from .paths import GROUP_DOCUMENT, check_item_path, check_segment

MAX_TREE_DEPTH = 64
MAX_DIMENSION = 1 << 48
CHUNK_KEY_ENCODING = {"name": "default", "configuration": {"separator": "/"}}
_CHUNK_KEY = re.compile(r"^c(?:/(\d{1,15}))*$")


class IndexEntry(TypedDict):
    """An item's entry in the index: what :func:`check_entry` lets through."""

    info: dict[str, Any]  # spikelab's index entry (summary, created_at, note)
    path: str  # the item's live version folder, "<ns>/<key>/<version>"
    tree: Skeleton


def check_name(name: object, what: str) -> str:
    """A namespace or key read from an index: a safe segment not reserved for spikestore."""
    check_segment(name, what)
    if str(name).startswith("__"):
        raise FormatError(f"{what} {name!r} starts with '__', which no stored name may; the index is damaged or hostile.")
    return str(name)


def check_entry(namespace: object, key: object, entry: object, where: str) -> IndexEntry:
    """``entry`` if it is a well-formed index entry for ``(namespace, key)``.

    Raises
    ------
    FormatError
        (or its subclass :class:`~spikestore.errors.UnsafePathError`) naming
        what is wrong; nothing has been read or written.
    """
    ns = check_name(namespace, f"{where}: namespace")
    k = check_name(key, f"{where}: key")
    if not isinstance(entry, dict) or not isinstance(entry.get("info"), dict) or not isinstance(entry.get("tree"), dict):
        raise FormatError(f"{where}: the entry of ({ns!r}, {k!r}) is not an index entry (info, path, tree).")
    check_item_path(entry.get("path"), ns, k, where)
    check_skeleton(entry["tree"], f"{where}: ({ns!r}, {k!r})")
    in_index = entry["tree"].get(IN_INDEX, False)
    if in_index not in (True, False) or (in_index and not _inline_states(entry["tree"]) <= {True}):
        raise FormatError(
            f"{where}: ({ns!r}, {k!r}) is kept in the index ({IN_INDEX!r}) but not all its arrays are; "
            f"the index is damaged or hostile."
        )
    return cast(IndexEntry, entry)


def _inline_states(skeleton: Skeleton) -> set[bool]:
    """For every array of the tree, whether its chunks are in the index (as a set)."""
    inline = skeleton.get(INLINE_CHUNKS, {})
    states = {name in inline for kind in ARRAY_KINDS for name in skeleton.get(kind, {})}
    for child in skeleton.get("children", {}).values():
        if child.get("node") != "inline":
            states |= _inline_states(child)
    return states


def check_skeleton(skeleton: object, where: str, depth: int = 0) -> None:
    """Check a record skeleton's names, array metadata and nesting depth."""
    if depth > MAX_TREE_DEPTH:
        raise FormatError(f"{where}: the record nests deeper than {MAX_TREE_DEPTH} levels.")
    if not isinstance(skeleton, dict):
        raise FormatError(f"{where}: a record skeleton is not a mapping.")
    segments = skeleton.get("segments", {})
    if not isinstance(segments, dict):
        raise FormatError(f"{where}: 'segments' is not a mapping.")
    seen: set[str] = set()
    for kind in ("datasets", "derived", "children"):
        members = skeleton.get(kind, {})
        if not isinstance(members, dict):
            raise FormatError(f"{where}: {kind!r} is not a mapping.")
        for name, value in members.items():
            if not isinstance(name, str):
                raise FormatError(f"{where}: a {kind[:-1]} name is not a string.")
            if skeleton.get("node") == "array":  # its one array is stored at the record's own path
                check_array_metadata(value, f"{where}/{name}")
                continue
            segment = check_segment(segments.get(name, name), f"{where}/{name}")
            if kind == "children" and isinstance(value, dict) and value.get("node") == "inline":
                check_skeleton(value, f"{where}/{name}", depth + 1)
                continue
            if segment == GROUP_DOCUMENT or segment in seen:
                raise FormatError(f"{where}/{name}: path segment {segment!r} collides with another object of the record.")
            seen.add(segment)
            if kind == "children":
                check_skeleton(value, f"{where}/{name}", depth + 1)
            else:
                check_array_metadata(value, f"{where}/{name}")
    digests = skeleton.get("digests", {})
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise FormatError(f"{where}: 'digests' is not a mapping of strings.")
    _check_inline_chunks(skeleton, where)
    node = skeleton.get("node", "group")
    if node == "array" and (len(skeleton.get("datasets", {})) != 1 or skeleton.get("children") or skeleton.get("derived")):
        raise FormatError(f"{where}: a record stored as one array must hold exactly one dataset.")
    if node == "inline" and (skeleton.get("datasets") or skeleton.get("children") or skeleton.get("derived")):
        raise FormatError(f"{where}: a record stored in its parent's attributes cannot hold arrays.")
    if node not in ("group", "array", "inline", "packed") or (node != "group" and depth == 0):
        raise FormatError(f"{where}: unknown record node {node!r}.")
    if node == "packed":
        if skeleton.get("children") or not skeleton.get("datasets"):
            raise FormatError(f"{where}: a packed record holds its children in its arrays only.")
        try:
            check_packed(skeleton.get("packed"), {n: m["shape"] for n, m in skeleton["datasets"].items()}, where)
        except ValueError as exc:
            raise FormatError(f"{exc}; the index is damaged or hostile.") from None


def _check_inline_chunks(skeleton: dict[str, Any], where: str) -> None:
    """Chunks kept in the index belong to an array of this record, sit on its grid and are small."""
    inline = skeleton.get(INLINE_CHUNKS, {})
    if not isinstance(inline, dict):
        raise FormatError(f"{where}: {INLINE_CHUNKS!r} is not a mapping.")
    arrays = {**skeleton.get("datasets", {}), **skeleton.get("derived", {})}
    for name, chunks in inline.items():
        meta = arrays.get(name)
        if meta is None or skeleton.get("node") == "packed" or not isinstance(chunks, dict):
            raise FormatError(f"{where}/{name}: chunks kept in the index for no array of the record.")
        shape, grid = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]
        # every chunk of an array is written, and only small arrays are kept in the index
        count = math.prod(-(-s // c) for s, c in zip(shape, grid)) if math.prod(shape) else 0
        if math.prod(shape) > INLINE_ARRAY_BYTES or math.prod(grid) > max(INLINE_ARRAY_BYTES, 1) or len(chunks) != count:
            raise FormatError(
                f"{where}/{name}: an array of shape {shape} in chunks of {grid} with {len(chunks)} chunk(s) kept in the index; "
                f"spikestore keeps only arrays of at most {INLINE_ARRAY_BYTES} elements there, every chunk of them."
            )
        for key, value in chunks.items():
            match = _CHUNK_KEY.match(key) if isinstance(key, str) else None
            index = [int(i) for i in key.split("/")[1:]] if match else []
            if not match or len(index) != len(shape) or any(i * c >= max(s, 1) for i, c, s in zip(index, grid, shape)):
                raise FormatError(f"{where}/{name}: {key!r} is not a chunk of its array.")
            if not isinstance(value, str) or len(value) > MAX_INLINE_CHARS:
                raise FormatError(f"{where}/{name}: chunk {key} kept in the index is not a string of at most {MAX_INLINE_CHARS} characters.")


def check_array_metadata(meta: object, where: str) -> None:
    """An array's ``zarr.json`` document names only spikestore's codecs and sane sizes."""
    if not isinstance(meta, dict) or meta.get("node_type") != "array" or meta.get("zarr_format") != 3:
        raise FormatError(f"{where}: not a Zarr v3 array document.")
    shape = meta.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) and 0 <= s < MAX_DIMENSION for s in shape):
        raise FormatError(f"{where}: shape {shape!r} is not a list of sizes.")
    grid = meta.get("chunk_grid", {})
    chunks = grid.get("configuration", {}).get("chunk_shape") if isinstance(grid, dict) else None
    if grid.get("name") != "regular" or not _positive_sizes(chunks, len(shape)):
        raise FormatError(f"{where}: chunk grid {grid!r} is not a regular grid of positive sizes.")
    if meta.get("chunk_key_encoding", CHUNK_KEY_ENCODING) != CHUNK_KEY_ENCODING:
        raise FormatError(f"{where}: chunk key encoding {meta.get('chunk_key_encoding')!r} is not the one spikestore writes ({CHUNK_KEY_ENCODING}).")
    names = meta.get("dimension_names")
    if names is not None and (not isinstance(names, list) or len(names) != len(shape) or not all(n is None or isinstance(n, str) for n in names)):
        raise FormatError(f"{where}: dimension_names {names!r} is not one name (or null) per axis.")
    if meta.get("storage_transformers"):
        raise FormatError(f"{where}: storage transformers are not part of the spikestore format.")
    _check_codecs(meta.get("codecs"), where, cast(list[int], chunks))


def _positive_sizes(sizes: object, ndim: int) -> bool:
    return isinstance(sizes, list) and len(sizes) == ndim and all(isinstance(c, int) and 0 < c < MAX_DIMENSION for c in sizes)


def _check_codecs(codecs: object, where: str, chunks: list[int], sharded: bool = False) -> None:
    """``codecs`` (of chunks shaped ``chunks``; ``sharded``: inside a shard) name only what spikestore writes."""
    if not isinstance(codecs, list) or not codecs:
        raise FormatError(f"{where}: codecs {codecs!r} is not a list of codecs.")
    for codec in codecs:
        name = codec.get("name") if isinstance(codec, dict) else codec
        if name not in WRITTEN_CODECS:
            raise FormatError(
                f"{where}: codec {name!r} is not one spikestore writes ({', '.join(sorted(WRITTEN_CODECS))}); "
                f"the store was written by another program or is hostile, so it is not decoded."
            )
        if isinstance(codec, dict):
            check_codec_configuration(codec, where)
        if name == "sharding_indexed":
            config = codec.get("configuration", {})
            inner = config.get("chunk_shape") if isinstance(config, dict) else None
            if sharded or len(codecs) != 1 or not _positive_sizes(inner, len(chunks)):
                raise FormatError(f"{where}: sharding configuration {config!r} is not one spikestore writes (inner chunks dividing the shard {chunks}).")
            inner_shape = cast(list[int], inner)
            if any(c % i for c, i in zip(chunks, inner_shape)):
                raise FormatError(f"{where}: sharding configuration {config!r} is not one spikestore writes (inner chunks dividing the shard {chunks}).")
            _check_codecs(config.get("codecs"), where, inner_shape, sharded=True)
            _check_codecs(config.get("index_codecs"), where, inner_shape, sharded=True)
