"""Per-dataset physical layouts for partial reads: sharding with small inner chunks.

:func:`~spikestore.containers.zarr_array.array_metadata` gives every array
regular chunks of about 1 MiB.  A few datasets are read in small pieces by
the lazy views (:mod:`spikestore.views`).  Each codec declares how its
datasets are read (``Codec.access``: dataset name → access pattern; the names
are spikelab's, so records imported from HDF5 or copied between stores get
the same layout), and this module turns a pattern into a layout:

``"ranges"`` (1-D: ``spike_times``, ``by_time_times``, ``by_time_units``)
    Shards of up to ``SPIKE_SHARD_BYTES`` (64 MiB: 8 M spikes, so a
    30-minute 1,000-unit recording is one shard and no unit straddles a
    shard edge) holding inner chunks of about ``SPIKE_INNER_BYTES``.  One unit's train (a few thousand spikes) is one
    (rarely two) inner chunk, read by byte range; a full read is one ``GET``
    per shard.
``"rows"`` (n × n ``matrix``)
    Shards of whole rows, inner chunks of a few whole rows: one row is the
    shard index plus one inner chunk.
``"slices"`` (… × S: ``event_stack``, ``stack``)
    Inner chunks of one slice ``[:, :, i]``, shards of several slices: one
    event is the shard index plus one inner chunk.
``"tiles"`` (units × time bins: ``inst_Frate_data``)
    Inner chunks of ``TILE_ROWS`` units × about ``TILE_BYTES`` (1 MiB), shards
    of whole bands of units over the whole time axis, up to
    ``TILE_SHARD_BYTES`` (64 MiB raw).  One unit's rates are one shard's index
    plus the band's inner chunks along time (16 requests for 1,000 units ×
    10 min at 10 ms bins, where regular 1 MiB chunks of 250 × 469 took 128);
    a time window is each shard's index plus one inner chunk per band; and
    a 480 MB matrix is 8 objects instead of 512, which on S3 is 8 ``PUT`` s.

Shard indexes sit at the start of each shard (``index_location: start``) so
reading one is a plain ranged ``GET`` (a suffix range costs s3fs an extra
``HEAD``).  Arrays no bigger than one inner chunk keep the regular layout.
Arrays copied block by block (import, copy) get shards no larger than a copy
block (``max_shard_bytes`` of :func:`apply_layout`), so each block is whole
shards.
The figures behind these sizes are in ``docs/format.md`` ("Lazy reads and
request budget") and ``benchmarks/bench_lazy.py``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

INNER_BYTES = 128 << 10
SPIKE_INNER_BYTES = 512 << 10
SHARD_BYTES = 8 << 20
# spike arrays: one shard up to 8 M spikes, so a unit's range never straddles a shard edge
SPIKE_SHARD_BYTES = 64 << 20
# unit x time matrices: inner tiles of TILE_ROWS units and about TILE_BYTES, shards up to TILE_SHARD_BYTES
TILE_ROWS = 32
TILE_BYTES = 1 << 20
TILE_SHARD_BYTES = 64 << 20

Shape = list[int]


def _rows(shape: list[int], itemsize: int, inner_bytes: int = INNER_BYTES, shard_bytes: int = SHARD_BYTES) -> tuple[Shape, Shape] | None:
    """Inner chunks and shards made of whole leading-axis rows."""
    if not shape:
        return None
    row = itemsize * math.prod(shape[1:])
    inner_rows = max(1, inner_bytes // max(1, row))
    if inner_rows >= shape[0]:
        return None
    inner_chunks = -(-shape[0] // inner_rows)
    per_shard = _largest_divisor(inner_chunks, max(1, shard_bytes // max(1, row * inner_rows)))
    return [inner_rows, *shape[1:]], [inner_rows * per_shard, *shape[1:]]


def _largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` not above ``at_most``.

    Shards then hold equal numbers of inner chunks and the last shard has no
    inner chunk past the end of the array, so reading any whole shard is one
    ``GET`` (zarr reads a shard whole only when every inner chunk is wanted;
    otherwise it reads the index and then each inner chunk, one by one).
    """
    return max(d for d in range(1, max(1, min(n, at_most)) + 1) if n % d == 0)


def _matrix_rows(shape: list[int], itemsize: int, cap: int | None = None) -> tuple[Shape, Shape] | None:
    """n x n matrices: shards of whole rows, up to ``SHARD_BYTES`` (or ``cap``)."""
    return _rows(shape, itemsize, INNER_BYTES, _capped(SHARD_BYTES, cap))


def _capped(shard_bytes: int, cap: int | None) -> int:
    return shard_bytes if cap is None else min(shard_bytes, cap)


def _spikes(shape: list[int], itemsize: int, cap: int | None = None) -> tuple[Shape, Shape] | None:
    """1-D spike arrays: rows with larger inner chunks (a unit rarely spans two)."""
    return _rows(shape, itemsize, SPIKE_INNER_BYTES, _capped(SPIKE_SHARD_BYTES, cap))


def _last_axis(shape: list[int], itemsize: int, cap: int | None = None) -> tuple[Shape, Shape] | None:
    """Inner chunks of one slice along the last axis, shards of several."""
    if len(shape) < 2 or shape[-1] <= 1:
        return None
    one = itemsize * math.prod(shape[:-1])
    per_shard = _largest_divisor(shape[-1], max(1, _capped(SHARD_BYTES, cap) // max(1, one)))
    return [*shape[:-1], 1], [*shape[:-1], per_shard]


def _tiles(shape: list[int], itemsize: int, cap: int | None = None) -> tuple[Shape, Shape] | None:
    """2-D unit x time matrices: tiles of a few units, shards of unit bands over the whole time axis."""
    if len(shape) != 2 or itemsize * math.prod(shape) <= TILE_BYTES:
        return None
    rows = min(shape[0], TILE_ROWS)
    cols = min(shape[1], max(1, TILE_BYTES // (itemsize * rows)))
    row_tiles, col_tiles = -(-shape[0] // rows), -(-shape[1] // cols)
    shard_bytes = _capped(TILE_SHARD_BYTES, cap)
    band = itemsize * rows * cols * col_tiles  # one band of units over the whole time axis
    if band <= shard_bytes:
        return [rows, cols], [rows * _largest_divisor(row_tiles, shard_bytes // band), cols * col_tiles]
    # very long recordings: a shard is one band over part of the time axis
    return [rows, cols], [rows, cols * _largest_divisor(col_tiles, max(1, shard_bytes // (itemsize * rows * cols)))]


RULES: dict[str, Callable[[list[int], int, int | None], tuple[Shape, Shape] | None]] = {
    "ranges": _spikes,
    "rows": _matrix_rows,
    "slices": _last_axis,
    "tiles": _tiles,
}
"""Access pattern → rule giving ``(inner chunk shape, shard shape)`` or ``None``
(the third argument caps the shard's raw bytes, ``None``: the rule's own maximum)."""


def apply_layout(meta: dict[str, Any], access: str | None, max_shard_bytes: int | None = None) -> dict[str, Any]:
    """``meta`` (an array's ``zarr.json``) with the layout :data:`RULES` give ``access``.

    ``max_shard_bytes`` caps a shard's raw bytes below the rule's maximum:
    an array copied block by block (import, copy) is written in blocks of
    whole shards, so its shards must fit a block (a block holding part of a
    shard would make zarr read, decode and rewrite the whole shard each time).

    Returns ``meta`` unchanged without a pattern, for string arrays and for
    arrays too small to gain from sharding.
    """
    rule = RULES.get(access or "")
    if rule is None or meta.get("data_type") == "string" or not meta["shape"] or 0 in meta["shape"]:
        return meta
    itemsize = _itemsize(meta)
    if itemsize is None:
        return meta
    layout = rule([int(s) for s in meta["shape"]], itemsize, max_shard_bytes)
    if layout is None:
        return meta
    inner, shard = layout
    sharded = dict(meta)
    sharded["chunk_grid"] = {"name": "regular", "configuration": {"chunk_shape": shard}}
    sharded["codecs"] = [
        {
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": inner,
                "codecs": meta["codecs"],
                "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                "index_location": "start",
            },
        }
    ]
    return sharded


def _itemsize(meta: dict[str, Any]) -> int | None:
    import numpy as np

    dtype = meta.get("data_type")
    try:
        return int(np.dtype(dtype).itemsize) if isinstance(dtype, str) else None
    except TypeError:
        return None
