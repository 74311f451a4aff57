"""Codecs chosen from the data at write time: a small, deterministic trial per array.

How compressible an array is depends on the lab's choices (rate smoothing,
bin width, firing rates), so a codec fixed per array kind cannot suit every
workspace: ISI rates smoothed with sigma 10 ms compress 5.6x with zstd,
with sigma 50 ms only 2.1x, where byte-shuffle + zstd gives 2.4x and PCodec
2.5x.  Before an array is written, :func:`choose` encodes a sample of it
with each candidate chain and keeps one by a fixed rule.

**Which arrays.**  Numeric arrays (integers, floats, complex) of at least
``MIN_TRIAL_BYTES`` (1 MiB, one default chunk).  Smaller arrays, bools and
strings keep the defaults of :mod:`~spikestore.containers.zarr_array`.

**The sample.**  The chunk at the start of the array and the chunk in the
middle of the chunk grid (the middle index on every axis), each cut to at
most ``SAMPLE_CHUNK_BYTES`` (512 KiB) of whole leading-axis rows: at most
1 MiB, taken from the chunks as they will be encoded (the inner chunks of a
sharded array).  The same data therefore always gives the same sample, the
same encoded sizes and the same choice (no clock is read).

**The candidates** (each followed by ``crc32c``).  *Cost* is the
single-thread encode time relative to zstd level 1, measured once on the
``medium`` workload's chunks (rates at sigma 10 and 50 ms, rate slices,
spike times, time-ordered times, a correlation matrix; 2026-11-26, a shared
2-core machine):

==============  ========================================================  ==============
name            chain                                                     cost
==============  ========================================================  ==============
``default``     the default of :mod:`~spikestore.containers.zarr_array`     0.4-2.6
                (1-D: Blosc zstd1 bit-shuffle; n-D: zstd 1)
``zstd``        ``bytes`` → zstd 1 (the n-D default, tried on 1-D)         1
``bitshuffle``  ``bytes`` → Blosc zstd1 bit-shuffle (the 1-D default)      0.4-2.6
``shuffle``     ``bytes`` → Blosc zstd1 byte-shuffle in 1 MiB blocks       0.4-1.2
``delta``       ``numcodecs.delta`` → ``bytes`` → Blosc bit-shuffle        ~ bitshuffle
                (1-D little-endian integers: lossless, wraps on overflow)
``pcodec``      ``numcodecs.pcodec`` level 8, auto mode and delta          1.3-7
                (little-endian integers and floats of 2, 4 or 8 bytes)    (2-3 on rates)
``pcodec-6``    the same at level 6, tried only when ``pcodec`` is picked  ~0.7 of pcodec
==============  ========================================================  ==============

**The rule.**  The first five are *fast*: the smallest of them is kept, but
a fast candidate other than the default only when it is at least
``FAST_GAIN_PERCENT`` (2 %) smaller than the default.  ``pcodec`` is
*slow*: it replaces the fast choice only when its sample is both at least
``SLOW_GAIN_PERCENT`` (15 %) smaller than the fast choice's *and* smaller
by at least ``SLOW_RAW_PERCENT`` (5 %) of the sample's raw (uncompressed)
bytes.  Ties go to the earlier candidate.

When ``pcodec`` is picked, ``pcodec-6`` (a *cheaper setting* of it, see
:func:`cheapen`) encodes the sample too and is kept unless level 8 is at
least ``CHEAPER_LOSS_PERCENT`` (5 %) smaller: on spike trains stored unit
after unit level 8 encodes at 93 MB/s and level 6 at 129 MB/s for 2 % more
bytes, while on spikes in time order level 8 is 15-45 % smaller.

Both thresholds are the encode-speed budget.  PCodec costs about 3-4 times
a fast chain's encode time per raw byte whatever it saves, so what it buys
is measured against the raw bytes it encodes: it must shrink an array by a
twentieth of its raw size to be worth that.  On the ``medium`` workload:

* exact rate matrices: PCodec saves 6 % (sigma 50 ms, against
  byte-shuffle) to 10 % (sigma 10 ms, against zstd) of the fast chain's
  bytes, 1.6-2.0 % of raw, and raised the save's CPU time from 9.5-10.3 s
  to 18.7 s (sigma 50) and from 8.3-8.8 s to 14.7 s (sigma 10): kept fast;
* rates and rate slices stored with a stated precision (rounded by
  ``numcodecs.bitround``): PCodec is 10-33 % smaller than byte-shuffle,
  but that is only 0.7-4.1 % of raw (the rounded values are already 6-22 %
  of raw with byte-shuffle); it made a 1e-6 save 1.4x (sigma 10) and 2.0x CPU / 2.6x wall time
  (sigma 50) slower for 6 % / 16 % fewer bytes of the store: kept fast;
* spike times: PCodec is 32-53 % smaller, 10-11 % of raw: PCodec.

No float delta is tried: ``numcodecs.delta`` on floats is not lossless;
PCodec finds the deltas of sorted float times itself.  ``pcodec`` and
``delta`` are tried only on arrays stored in little-endian order (PCodec
stores numbers, not bytes, and reads back native order; a big-endian array
keeps a ``bytes`` codec that records its order).

An array stored with a stated precision (opt-in, see
:func:`~spikestore.containers.zarr_array.bitround_codec`) keeps its
``numcodecs.bitround`` at the head of every candidate: the trial compares
codecs on the rounded values that will be stored.

Every chain is registered in zarr-python 3.1 (the two ``numcodecs.*`` names
when numcodecs, and for PCodec the ``pcodec`` package, are installed), so
plain ``zarr.open_array`` reads the result;
:data:`~spikestore.containers.zarr_array.WRITTEN_CODECS` lists the names a
store may hold.
"""

from __future__ import annotations

import asyncio
import math
import sys
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from zarr.core.dtype import parse_data_type

from .zarr_array import (
    PCODEC_LEVEL, STRING_KINDS, ChunkChain, as_stored_byte_order, blosc_codec, bytes_codec, chain_holder, default_codecs, with_chain, zstd_codec,
)

MIN_TRIAL_BYTES = 1 << 20
SAMPLE_CHUNK_BYTES = 512 << 10
SHUFFLE_BLOCK_BYTES = 1 << 20
FAST_GAIN_PERCENT = 2
SLOW_GAIN_PERCENT = 15
SLOW_RAW_PERCENT = 5
PCODEC_CHEAPER_LEVEL = 6
CHEAPER_LOSS_PERCENT = 5

Chain = list[dict[str, Any]]


@dataclass(frozen=True)
class Candidate:
    """A codec chain the trial may pick.

    Attributes
    ----------
    name : str
        Short name (the table in the module docstring).
    slow : bool
        Whether the chain is in the slow cost class (kept only for ``SLOW_GAIN_PERCENT``).
    chain : callable
        ``(dtype, ndim) -> codecs`` (without the checksum), or ``None`` when
        the candidate does not apply to such an array.
    cheapens : str or None
        The candidate this one is a cheaper setting of: tried only when
        that one is picked, and kept instead unless that one is
        ``CHEAPER_LOSS_PERCENT`` smaller.
    """

    name: str
    slow: bool
    chain: Callable[[np.dtype, int], Chain | None]
    cheapens: str | None = None


def _little_endian(dtype: np.dtype) -> bool:
    """Stored in little-endian order (what PCodec and the integer delta are tried on)."""
    return dtype.byteorder == "<" or (dtype.byteorder in "=|" and sys.byteorder == "little")


def _zstd(dtype: np.dtype, ndim: int) -> Chain | None:
    return [bytes_codec(dtype), zstd_codec()]


def _bitshuffle(dtype: np.dtype, ndim: int) -> Chain | None:
    return [bytes_codec(dtype), blosc_codec(dtype)] if dtype.itemsize > 1 else None


def _shuffle(dtype: np.dtype, ndim: int) -> Chain | None:
    return [bytes_codec(dtype), blosc_codec(dtype, "shuffle", SHUFFLE_BLOCK_BYTES)] if dtype.itemsize > 1 else None


def _delta(dtype: np.dtype, ndim: int) -> Chain | None:
    if ndim != 1 or dtype.kind not in "iu" or not _little_endian(dtype):
        return None
    return [{"name": "numcodecs.delta", "configuration": {"dtype": dtype.newbyteorder("<").str}}, bytes_codec(dtype), blosc_codec(dtype)]


def _pcodec_at(level: int) -> Callable[[np.dtype, int], Chain | None]:
    def chain(dtype: np.dtype, ndim: int) -> Chain | None:
        if dtype.kind not in "iuf" or dtype.itemsize not in (2, 4, 8) or not _little_endian(dtype):
            return None
        return [{"name": "numcodecs.pcodec", "configuration": {"level": level, "mode_spec": "auto", "delta_spec": "auto"}}]

    return chain


def _default(dtype: np.dtype, ndim: int) -> Chain | None:
    return default_codecs(dtype, ndim)[:-1]


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("default", False, _default),
    Candidate("zstd", False, _zstd),
    Candidate("bitshuffle", False, _bitshuffle),
    Candidate("shuffle", False, _shuffle),
    Candidate("delta", False, _delta),
    Candidate("pcodec", True, _pcodec_at(PCODEC_LEVEL)),
    Candidate("pcodec-6", True, _pcodec_at(PCODEC_CHEAPER_LEVEL), cheapens="pcodec"),
)
"""Every candidate, in the order that breaks ties."""


# -- where the chain and the chunk shape live in an array's zarr.json -----------


def _encoded_chunk_shape(meta: dict[str, Any]) -> tuple[int, ...]:
    """The shape of the chunks the chain encodes (inner chunks of a sharded array)."""
    holder = chain_holder(meta)
    if holder is meta:
        return tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    return tuple(holder["chunk_shape"])


def stored_dtype(meta: dict[str, Any]) -> np.dtype | None:
    """The numpy dtype (in stored byte order) of a numeric array, or ``None`` for strings."""
    if meta.get("data_type") == "string":
        return None
    dtype = parse_data_type(meta["data_type"], zarr_format=3).to_native_dtype()
    return as_stored_byte_order(dtype, meta)


def wants_trial(meta: dict[str, Any]) -> bool:
    """Whether an array with this ``zarr.json`` gets a trial (numeric, not bool, at least ``MIN_TRIAL_BYTES``)."""
    dtype = stored_dtype(meta)
    if dtype is None or dtype.kind in STRING_KINDS or dtype.kind not in "iufc":
        return False
    return math.prod(meta["shape"]) * dtype.itemsize >= MIN_TRIAL_BYTES


# -- the sample -------------------------------------------------------------------


def sample_selections(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int) -> list[tuple[slice, ...]]:
    """The sampled regions: the first chunk and the middle chunk of the grid, each capped in bytes.

    Each region is a chunk (clipped at the array's edge) cut to at most
    ``SAMPLE_CHUNK_BYTES`` of whole leading-axis rows (at least one row).
    """
    grid = [math.ceil(s / c) for s, c in zip(shape, chunks)]
    picks = [tuple(0 for _ in grid), tuple(g // 2 for g in grid)]
    selections = []
    for index in dict.fromkeys(picks):  # one region when the grid has one chunk
        bounds = [(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape)]
        row_bytes = itemsize * math.prod(hi - lo for lo, hi in bounds[1:])
        rows = max(1, SAMPLE_CHUNK_BYTES // max(1, row_bytes))
        lo, hi = bounds[0]
        bounds[0] = (lo, min(hi, lo + rows))
        selections.append(tuple(slice(lo, hi) for lo, hi in bounds))
    return selections


async def read_sample(source: Any, meta: dict[str, Any]) -> list[np.ndarray]:
    """The sample of ``source`` (numpy array, h5py dataset or zarr Array) for the array ``meta`` describes."""
    dtype = stored_dtype(meta)
    assert dtype is not None
    blocks = []
    for selection in sample_selections(tuple(meta["shape"]), _encoded_chunk_shape(meta), dtype.itemsize):
        blocks.append(np.asarray(await _read(source, selection)))
    return blocks


async def _read(source: Any, selection: tuple[slice, ...]) -> Any:
    """``source[selection]``; a zarr source is awaited (``sync()`` cannot run inside zarr's own loop)."""
    if isinstance(source, np.ndarray):
        return source[selection]
    if hasattr(source, "async_array"):  # zarr Array
        return await source.async_array.getitem(selection)
    base: Any = getattr(source, "base", None)
    if hasattr(base, "async_array") and hasattr(source, "start"):  # rows of a packed zarr array (PackedSlice)
        first = selection[0]
        return await base.async_array.getitem((slice(source.start + first.start, source.start + first.stop), *selection[1:]))
    return source[selection]  # h5py dataset, numpy-like


# -- the choice -----------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One candidate's result on a sample: its chain (checksum included), encoded bytes and the sample's raw bytes."""

    candidate: Candidate
    codecs: Chain
    size: int
    raw: int


def run_trials(blocks: list[np.ndarray], dtype: np.dtype, default: Chain) -> list[Trial]:
    """Encode ``blocks`` with every candidate that applies (but the cheaper settings of another,
    see :func:`cheapen`); ``default`` is the array's current chain
    (a leading ``numcodecs.bitround`` is kept ahead of every candidate)."""
    trials: list[Trial] = []
    for candidate in CANDIDATES:
        if candidate.cheapens is not None:
            continue  # tried by cheapen(), after the pick
        trial = _trial(candidate, blocks, dtype, default)
        if trial is None or any(t.codecs == trial.codecs for t in trials):
            continue  # e.g. "zstd" on an n-D array is the default
        trials.append(trial)
    return trials


def _trial(candidate: Candidate, blocks: list[np.ndarray], dtype: np.dtype, default: Chain) -> Trial | None:
    """``candidate`` encoding ``blocks``, or ``None`` when it does not apply to them."""
    chain = default if candidate.name == "default" else candidate.chain(dtype, blocks[0].ndim)
    if chain is None:
        return None
    filters = [c for c in default[:1] if c["name"] == "numcodecs.bitround"]  # kept ahead of every candidate
    codecs = chain if candidate.name == "default" else [*filters, *chain, {"name": "crc32c"}]
    coder = ChunkChain(codecs, dtype)
    size = sum(len(coder.encode(np.ascontiguousarray(block))) for block in blocks)
    return Trial(candidate, codecs, size, sum(block.nbytes for block in blocks))


def cheapen(best: Trial, blocks: list[np.ndarray], dtype: np.dtype, default: Chain) -> Trial:
    """``best``, or a cheaper setting of it (a candidate that ``cheapens`` it) unless ``best``
    is ``CHEAPER_LOSS_PERCENT`` smaller than that on ``blocks``."""
    for candidate in CANDIDATES:
        if candidate.cheapens == best.candidate.name:
            trial = _trial(candidate, blocks, dtype, default)
            if trial is not None and not _smaller_by(best.size, trial.size, CHEAPER_LOSS_PERCENT):
                return trial
    return best


def _smaller_by(size: int, than: int, percent: int) -> bool:
    """``size`` is at least ``percent`` % below ``than`` (integer arithmetic: no rounding surprises)."""
    return size * 100 <= than * (100 - percent)


def pick(trials: list[Trial]) -> Trial:
    """The rule: the smallest fast chain (the default unless another is ``FAST_GAIN_PERCENT`` smaller),
    replaced by the smallest slow chain when that is ``SLOW_GAIN_PERCENT`` smaller still and the bytes
    it saves are at least ``SLOW_RAW_PERCENT`` of the sample's raw bytes."""
    default = trials[0]
    fast = [t for t in trials if not t.candidate.slow]
    best = min(fast, key=lambda t: t.size)  # min keeps the first of equal sizes
    if best is not default and not _smaller_by(best.size, default.size, FAST_GAIN_PERCENT):
        best = default
    slow = [t for t in trials if t.candidate.slow]
    if slow:
        smallest = min(slow, key=lambda t: t.size)
        if _smaller_by(smallest.size, best.size, SLOW_GAIN_PERCENT) and (best.size - smallest.size) * 100 >= smallest.raw * SLOW_RAW_PERCENT:
            best = smallest
    return best


def choose(meta: dict[str, Any], blocks: list[np.ndarray]) -> dict[str, Any]:
    """``meta`` (an array's ``zarr.json``) with the codec chain the trial on ``blocks`` picks.

    Parameters
    ----------
    meta : dict
        The array's document as :func:`~spikestore.containers.zarr_array.array_metadata`
        (and the layout) made it, holding the default chain.
    blocks : list of numpy.ndarray
        The sample (:func:`read_sample`).

    Returns
    -------
    dict
        ``meta`` itself when the default is kept, else a copy with the
        chosen chain (inside the sharding codec for a sharded array).
    """
    dtype = stored_dtype(meta)
    assert dtype is not None
    holder = chain_holder(meta)
    blocks = [np.asarray(b, dtype=dtype) for b in blocks if b.size]
    if not blocks:
        return meta
    best = cheapen(pick(run_trials(blocks, dtype, holder["codecs"])), blocks, dtype, holder["codecs"])
    if best.candidate.name == "default":
        return meta
    return with_chain(meta, best.codecs)


async def choose_for_source(meta: dict[str, Any], source: Any, executor: Executor | None = None) -> dict[str, Any]:
    """``meta`` with the chain picked by a trial on a sample of ``source`` (the array's data).

    Arrays that get no trial (:func:`wants_trial`) keep ``meta``.  The
    sample is read from ``source`` (a numpy array, an h5py dataset or a zarr
    Array being copied), and the trial runs in ``executor`` (the chunk
    encoders' thread pool; ``None``: asyncio's default), so the event loop
    keeps moving other arrays' bytes meanwhile.
    """
    if not wants_trial(meta):
        return meta
    blocks = await read_sample(source, meta)
    return await asyncio.get_running_loop().run_in_executor(executor, choose, meta, blocks)
