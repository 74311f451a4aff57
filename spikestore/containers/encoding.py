"""How the Zarr container lays out one array: chunk shape and codec chain.

Choices (measured by ``benchmarks/`` on the ``medium`` workload, table and
reasons in ``docs/benchmarks.md``):

* chunks of about ``TARGET_CHUNK_BYTES`` raw bytes, split over all axes so
  that one unit (a row) and one time window (a column block) both touch few
  chunks;
* 1-D numbers (spike times, unit ids, offsets, time axes, attribute
  columns): Blosc zstd level 1 with *bit*-shuffle.  Sorted float64 times and
  small integers compress 2.9-5x this way (plain zstd: 1.5-3.7x) at
  0.8-1.4 GB/s;
* 2-D and higher numbers (rate matrices, slice stacks, pairwise matrices,
  templates): plain zstd level 1.  On ISI-rate matrices it compresses as well
  as Blosc+shuffle (5.5x vs 5.4x) at twice to three times the speed, and on
  rate slice stacks far better (3.9x vs 2.4x);
* every codec is in the Zarr v3 specification (plain zarr-python reads the
  store); PCodec was measured (spike times 3.9x vs 2.9x) but is left out:
  spike times are a few percent of the bytes, and it is a non-spec codec
  needing an extra package;
* a crc32c checksum after compression on every chunk, so a flipped byte is
  detected instead of silently decoded.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from zarr.core.dtype import VariableLengthUTF8, parse_dtype

TARGET_CHUNK_BYTES = 1 << 20
# 1-D numeric arrays
BLOSC_CNAME = "zstd"
BLOSC_CLEVEL = 1
BLOSC_SHUFFLE = "bitshuffle"
# numeric arrays of two or more dimensions
ZSTD_LEVEL = 1
NUMPY_DTYPE_ATTR = "spikestore:dtype"

STRING_KINDS = "USOT"

# every codec name this module writes: the only ones an array read from a store
# may name (spikestore.entries refuses others, so zarr never resolves a codec
# such as ``numcodecs.pickle`` that a hostile store names)
WRITTEN_CODECS = frozenset({"bytes", "blosc", "zstd", "crc32c", "vlen-utf8", "sharding_indexed"})


def chunk_shape(shape: tuple[int, ...], itemsize: int, target: int = TARGET_CHUNK_BYTES) -> list[int]:
    """Chunk shape of about ``target`` bytes, halving the longest axis until it fits."""
    chunks = [max(1, int(s)) for s in shape]
    budget = max(1, target // max(1, itemsize))
    while math.prod(chunks) > budget:
        axis = int(np.argmax(chunks))
        if chunks[axis] == 1:
            break
        chunks[axis] = (chunks[axis] + 1) // 2
    return chunks


def _compressor(dtype: np.dtype, ndim: int) -> dict[str, Any]:
    """The bytes-to-bytes compressor of a numeric array (see the module docstring)."""
    if ndim <= 1:
        return {
            "name": "blosc",
            "configuration": {
                "typesize": int(dtype.itemsize),
                "cname": BLOSC_CNAME,
                "clevel": BLOSC_CLEVEL,
                "shuffle": BLOSC_SHUFFLE if dtype.itemsize > 1 else "noshuffle",
                "blocksize": 0,
            },
        }
    return {"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}}


def _numeric_codecs(dtype: np.dtype, ndim: int = 1) -> list[dict[str, Any]]:
    endian = "big" if dtype.byteorder == ">" else "little"
    return [
        {"name": "bytes", "configuration": {"endian": endian}} if dtype.itemsize > 1 else {"name": "bytes"},
        _compressor(dtype, ndim),
        {"name": "crc32c"},
    ]


def array_metadata(
    shape: tuple[int, ...], dtype: np.dtype, attributes: dict[str, Any], dims: tuple[str | None, ...] | None = None
) -> dict[str, Any]:
    """The ``zarr.json`` document of an array holding data of ``shape`` and ``dtype``.

    ``dims`` (one name or ``None`` per axis) become ``dimension_names``;
    names that do not match the array's rank are left out.
    """
    attributes = dict(attributes)
    if dtype.kind in STRING_KINDS:
        zdtype: Any = VariableLengthUTF8()
        itemsize = max(8, dtype.itemsize if dtype.kind == "U" else 16)
        codecs = [{"name": "vlen-utf8"}, {"name": "zstd", "configuration": {"level": 3, "checksum": False}}, {"name": "crc32c"}]
        if dtype.kind == "U":
            attributes[NUMPY_DTYPE_ATTR] = dtype.str
    else:
        zdtype = parse_dtype(dtype, zarr_format=3)
        itemsize = dtype.itemsize
        codecs = _numeric_codecs(dtype, len(shape))
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [int(s) for s in shape],
        "data_type": zdtype.to_json(zarr_format=3),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk_shape(shape, itemsize)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": zdtype.to_json_scalar(zdtype.default_scalar(), zarr_format=3),
        "codecs": codecs,
        "attributes": attributes,
        **({"dimension_names": list(dims)} if dims is not None and len(dims) == len(shape) else {}),
    }


def stored_endian(metadata: dict[str, Any]) -> str | None:
    """The byte order the ``bytes`` codec of an array stores (``"big"``/``"little"``), sharded or not."""
    for codec in metadata.get("codecs", []):
        if codec.get("name") == "bytes":
            return codec.get("configuration", {}).get("endian")
        if codec.get("name") == "sharding_indexed":
            return stored_endian(codec.get("configuration", {}))
    return None


def as_stored_byte_order(dtype: np.dtype, metadata: dict[str, Any]) -> np.dtype:
    """``dtype`` in the byte order the array was stored in (zarr reads in native order)."""
    if stored_endian(metadata) == "big" and dtype.itemsize > 1 and dtype.kind in "biufc" and dtype.str[0] != ">":
        return dtype.newbyteorder(">")
    return dtype


def restore_dtype(arr: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
    """Give an array read back from Zarr its original numpy dtype (strings, byte order)."""
    big = as_stored_byte_order(arr.dtype, metadata)
    if big != arr.dtype:
        return arr.astype(big)
    wanted = metadata.get("attributes", {}).get(NUMPY_DTYPE_ATTR)
    if wanted is not None:
        return np.asarray(arr).astype(wanted)
    if arr.dtype.kind == "T":
        return np.asarray(arr).astype(object).astype(str)  # StringDType cannot cast to str directly
    return arr
