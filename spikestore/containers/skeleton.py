"""The vocabulary of an item skeleton (the Zarr container's description of a
stored record, kept in the index): the keys the container writes and how a
name maps to its path segment.  Written by :mod:`.zarr_group`, checked by
:mod:`spikestore.entries`."""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

# a small item is kept wholly in the index (``in_index: true`` on its root
# skeleton): ``inline_chunks`` of each record maps every array name to its
# encoded chunks (chunk key -> base64), at most MAX_INLINE_CHARS characters each
IN_INDEX: Final = "in_index"
INLINE_CHUNKS: Final = "inline_chunks"
MAX_INLINE_CHARS = 16 << 10
# the members of a skeleton that hold arrays (name -> the array's zarr.json)
ARRAY_KINDS: Final[tuple[Literal["datasets"], Literal["derived"]]] = ("datasets", "derived")
# an array kept in the index holds at most this many bytes (so at most this many elements)
INLINE_ARRAY_BYTES = 2048


class Skeleton(TypedDict, total=False):
    """One record of an item as the index keeps it (docs/format.md, "The index").

    Every key may be absent in what a store holds (``node`` then means
    ``"group"``); :func:`spikestore.entries.check_skeleton` checks a skeleton
    read from a store before it is used as one.
    """

    type: str | None
    attrs: dict[str, Any]
    node: Literal["group", "array", "inline", "packed"]
    datasets: dict[str, dict[str, Any]]  # name -> the array's zarr.json document
    derived: dict[str, dict[str, Any]]
    children: dict[str, Skeleton]
    segments: dict[str, str]  # name -> its escaped path segment, where they differ
    digests: dict[str, str]  # array name -> SHA-256 over its chunk objects' lines
    inline_chunks: dict[str, dict[str, str]]  # array name -> {chunk key: base64}
    in_index: bool  # root only: the item has no object of its own
    packed: dict[str, Any]  # node "packed": names, types, attrs, dataset_attrs, offsets


def skeleton_segment(skeleton: Skeleton, name: str) -> str:
    """The path segment of a child or array ``name`` of a record skeleton."""
    return skeleton.get("segments", {}).get(name, name)
