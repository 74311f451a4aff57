"""Copy blocks: how an array is cut into pieces of bounded size, made of whole chunks.

Both containers stream arrays they do not hold in memory (an h5py dataset
into Zarr, a Zarr array into HDF5) block by block; the blocks come from here,
so memory is bounded by the block budget whatever the array's shape.
"""

from __future__ import annotations

import itertools
import math
from typing import Iterator


def block_shape(shape: tuple[int, ...], itemsize: int, chunks: tuple[int, ...] | None, budget: int) -> tuple[int, ...]:
    """The shape of copy blocks of at most ``budget`` bytes, made of whole source chunks.

    Blocks span whole trailing axes where that fits (C order: one block is
    contiguous in the output), else cut the first axis that must be cut
    into a multiple of its chunk length, keeping one chunk length on the axes
    before it.  A single row larger than ``budget`` is therefore split along
    further axes; only a single source chunk larger than ``budget`` gives a
    larger block (one chunk: the source cannot be read in smaller pieces
    without decoding it more than once).
    """
    ndim = len(shape)
    chunk = [max(1, min(int(c), int(s))) for c, s in zip(chunks or (1,) * ndim, shape)]
    items = max(1, budget // max(1, itemsize))
    for axis in range(ndim):
        inner = math.prod(chunk[:axis]) * math.prod(shape[axis + 1:])
        if inner * chunk[axis] <= items:
            multiple = max(1, items // (inner * chunk[axis]))
            along = min(int(shape[axis]), multiple * chunk[axis])
            return (*chunk[:axis], along, *shape[axis + 1:])
    return tuple(chunk)


def block_selections(shape: tuple[int, ...], itemsize: int, chunks: tuple[int, ...] | None, budget: int) -> Iterator[tuple[slice, ...]]:
    """Selections covering an array of ``shape`` in C order, each at most :func:`block_shape`.

    Every selection starts on a chunk boundary of ``chunks`` on every axis.
    """
    if not shape:
        yield ()
        return
    if 0 in shape:
        return
    block = block_shape(shape, itemsize, chunks, budget)
    starts = [range(0, int(n), int(b)) for n, b in zip(shape, block)]
    for corner in itertools.product(*starts):
        yield tuple(slice(c, min(int(n), c + b)) for c, n, b in zip(corner, shape, block))
