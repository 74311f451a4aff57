"""How the Zarr container lays out one array: chunk shape and codec chain.

Choices (measured by ``benchmarks/``, reasons in ``docs/format.md``):

* chunks of about ``TARGET_CHUNK_BYTES`` raw bytes, split over all axes so
  that one unit (a row) and one time window (a column block) both touch few
  chunks;
* Blosc (zstd, level 1, byte-shuffle) for numbers: the measured sweet spot
  between size and write speed on spike times and rate matrices;
* a crc32c checksum after compression on every chunk, so a flipped byte is
  detected instead of silently decoded.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from zarr.core.dtype import VariableLengthUTF8, parse_dtype

TARGET_CHUNK_BYTES = 1 << 20
BLOSC_CNAME = "zstd"
BLOSC_CLEVEL = 1
BLOSC_SHUFFLE = "shuffle"
NUMPY_DTYPE_ATTR = "spikestore:dtype"

STRING_KINDS = "USOT"


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


def _numeric_codecs(dtype: np.dtype) -> list[dict[str, Any]]:
    endian = "big" if dtype.byteorder == ">" else "little"
    return [
        {"name": "bytes", "configuration": {"endian": endian}} if dtype.itemsize > 1 else {"name": "bytes"},
        {
            "name": "blosc",
            "configuration": {
                "typesize": int(dtype.itemsize),
                "cname": BLOSC_CNAME,
                "clevel": BLOSC_CLEVEL,
                "shuffle": BLOSC_SHUFFLE if dtype.itemsize > 1 else "noshuffle",
                "blocksize": 0,
            },
        },
        {"name": "crc32c"},
    ]


def array_metadata(shape: tuple[int, ...], dtype: np.dtype, attributes: dict[str, Any]) -> dict[str, Any]:
    """The ``zarr.json`` document of an array holding data of ``shape`` and ``dtype``."""
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
        codecs = _numeric_codecs(dtype)
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
    }


def restore_dtype(arr: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
    """Give a string array read back from Zarr its original numpy dtype."""
    wanted = metadata.get("attributes", {}).get(NUMPY_DTYPE_ATTR)
    if wanted is not None:
        return np.asarray(arr).astype(wanted)
    if arr.dtype.kind == "T":
        return np.asarray(arr).astype(object).astype(str)  # StringDType cannot cast to str directly
    return arr
