"""The vocabulary of an item skeleton (the Zarr container's description of a
stored record, kept in the index): the keys the container writes and how a
name maps to its path segment.  Written by :mod:`.zarr_group`, checked by
:mod:`spikestore.entries`."""

from __future__ import annotations

from typing import Any

# a small item is kept wholly in the index (``in_index: true`` on its root
# skeleton): ``inline_chunks`` of each record maps every array name to its
# encoded chunks (chunk key -> base64), at most MAX_INLINE_CHARS characters each
IN_INDEX = "in_index"
INLINE_CHUNKS = "inline_chunks"
MAX_INLINE_CHARS = 16 << 10
# an array kept in the index holds at most this many bytes (so at most this many elements)
INLINE_ARRAY_BYTES = 2048


def skeleton_segment(skeleton: dict[str, Any], name: str) -> str:
    """The path segment of a child or array ``name`` of a record skeleton."""
    return skeleton.get("segments", {}).get(name, name)
