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
* these are the *defaults*: an array of at least one chunk's worth of
  numbers gets the chain a small trial on a sample of its data picks
  (:mod:`spikestore.containers.codec_choice`: Blosc byte- or bit-shuffle,
  delta for integers, or PCodec when it saves enough), so a lab's own
  smoothing, bin width and firing rates get the codec that suits them;
  strings, small arrays and arrays written without a sample keep the
  defaults;
* a crc32c checksum after compression on every chunk, so a flipped byte is
  detected instead of silently decoded;
* only when a user asks for it (``save(..., precision=...)``, see
  :func:`bitround_codec`): float values rounded to a stated relative error
  by ``numcodecs.bitround`` before compression.  Never by default.

Everything this module and the trial write is registered in zarr-python 3.1
(``numcodecs.pcodec`` and ``numcodecs.delta`` through numcodecs, which zarr
uses when it is installed), so plain ``zarr.open_array`` reads every chain.
:data:`WRITTEN_CODECS` lists the names, :func:`check_codec_configuration`
the configurations a store read back may hold, and :class:`ChunkChain`
runs one chunk through any of these chains byte for byte as zarr-python
does (the fast write/read path and the codec trial both use it).
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from typing import Any

import google_crc32c
import numpy as np
from numcodecs import Blosc, Delta, Zstd
from zarr.core.dtype import VariableLengthUTF8, parse_dtype
from zarr.errors import ZarrUserWarning

from ..errors import FormatError

TARGET_CHUNK_BYTES = 1 << 20
# 1-D numeric arrays
BLOSC_CNAME = "zstd"
BLOSC_CLEVEL = 1
BLOSC_SHUFFLE = "bitshuffle"
# numeric arrays of two or more dimensions
ZSTD_LEVEL = 1
NUMPY_DTYPE_ATTR = "spikestore:dtype"

STRING_KINDS = "USOT"

# every codec name this module and the codec trial write: the only ones an array
# read from a store may name (spikestore.entries refuses others, so zarr never
# resolves a codec such as ``numcodecs.pickle`` that a hostile store names)
WRITTEN_CODECS = frozenset(
    {"bytes", "blosc", "zstd", "crc32c", "vlen-utf8", "sharding_indexed", "numcodecs.pcodec", "numcodecs.delta", "numcodecs.bitround"}
)
# mantissa bits of the floats numcodecs.bitround rounds (keepbits must be below these)
MANTISSA_BITS = {2: 10, 4: 23, 8: 52}
# PCodec settings the trial writes (codec_choice) and a store may hold
PCODEC_LEVEL = 8
PCODEC_LEVELS = range(0, 13)
PCODEC_MODES = frozenset({"auto", "classic"})
PCODEC_DELTAS = frozenset({"auto", "none", "try_consecutive", "try_lookback"})
PCODEC_MAX_PAGE = 1 << 18
# integer dtypes numcodecs.delta may name (never object or structured dtypes)
DELTA_DTYPES = frozenset(np.dtype(f"{o}{k}{n}").str for o in "<>" for k in "iu" for n in (1, 2, 4, 8))
BLOSC_MAX_BLOCKSIZE = 1 << 26

# zarr warns on every array whose chain names a numcodecs codec ("not in the
# Zarr version 3 specification"); spikestore writes two on purpose (see
# codec_choice) and reads them on every open, so that one message is silenced
warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3 specification", category=ZarrUserWarning)


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


def blosc_codec(dtype: np.dtype, shuffle: str = BLOSC_SHUFFLE, blocksize: int = 0) -> dict[str, Any]:
    """Blosc zstd level 1 with ``shuffle`` (none for one-byte items) over blocks of ``blocksize`` bytes (0: Blosc's own)."""
    return {
        "name": "blosc",
        "configuration": {
            "typesize": int(dtype.itemsize),
            "cname": BLOSC_CNAME,
            "clevel": BLOSC_CLEVEL,
            "shuffle": shuffle if dtype.itemsize > 1 else "noshuffle",
            "blocksize": int(blocksize),
        },
    }


def zstd_codec() -> dict[str, Any]:
    """Plain zstd at ``ZSTD_LEVEL``, no zstd checksum (crc32c follows)."""
    return {"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}}


def bytes_codec(dtype: np.dtype) -> dict[str, Any]:
    """The ``bytes`` serializer keeping ``dtype``'s byte order."""
    endian = "big" if dtype.byteorder == ">" else "little"
    return {"name": "bytes", "configuration": {"endian": endian}} if dtype.itemsize > 1 else {"name": "bytes"}


def _compressor(dtype: np.dtype, ndim: int) -> dict[str, Any]:
    """The bytes-to-bytes compressor of a numeric array (see the module docstring)."""
    return blosc_codec(dtype) if ndim <= 1 else zstd_codec()


def default_codecs(dtype: np.dtype, ndim: int = 1) -> list[dict[str, Any]]:
    """The default chain of a numeric array: ``bytes``, the compressor of its rank, ``crc32c``."""
    return [bytes_codec(dtype), _compressor(dtype, ndim), {"name": "crc32c"}]



def keep_bits(dtype: np.dtype, precision: float) -> int | None:
    """Mantissa bits that keep floats of ``dtype`` within relative error ``precision``.

    Rounding to nearest with ``k`` mantissa bits errs by at most
    ``2**-(k + 1)`` of the value, so ``k`` is the least integer with
    ``2**-(k + 1) <= precision`` (at least 1, so that NaN stays NaN).
    ``None`` when nothing would be rounded (not a float, or ``precision``
    finer than the dtype itself).
    """
    bits = MANTISSA_BITS.get(dtype.itemsize) if dtype.kind == "f" else None
    if bits is None:
        return None
    keep = max(1, math.ceil(-math.log2(precision)) - 1)
    return keep if keep < bits else None


def bitround_codec(keepbits: int) -> dict[str, Any]:
    """``numcodecs.bitround``: floats rounded to ``keepbits`` mantissa bits (decoding is the identity)."""
    return {"name": "numcodecs.bitround", "configuration": {"keepbits": int(keepbits)}}


@functools.lru_cache(maxsize=256)
def _zarr_data_type(dtype: str) -> tuple[Any, Any]:
    """``(data_type, fill_value)`` JSON of a numpy dtype string (``"string"``: variable-length UTF-8).

    Cached: zarr's dtype registry matches a dtype against every registered
    data type (~0.5 ms), which was a third of saving 200 small results.
    """
    zdtype: Any = VariableLengthUTF8() if dtype == "string" else parse_dtype(np.dtype(dtype), zarr_format=3)
    return zdtype.to_json(zarr_format=3), zdtype.to_json_scalar(zdtype.default_scalar(), zarr_format=3)


def array_metadata(
    shape: tuple[int, ...],
    dtype: np.dtype,
    attributes: dict[str, Any],
    dims: tuple[str | None, ...] | None = None,
    precision: float | None = None,
) -> dict[str, Any]:
    """The ``zarr.json`` document of an array holding data of ``shape`` and ``dtype``.

    ``dims`` (one name or ``None`` per axis) become ``dimension_names``;
    names that do not match the array's rank are left out.  ``precision``
    (a relative error, opt-in lossy storage): a float array's chain starts
    with :func:`bitround_codec` keeping just enough mantissa bits.
    """
    attributes = dict(attributes)
    if dtype.kind in STRING_KINDS:
        itemsize = max(8, dtype.itemsize if dtype.kind == "U" else 16)
        codecs: list[dict[str, Any]] = [{"name": "vlen-utf8"}, {"name": "zstd", "configuration": {"level": 3, "checksum": False}}, {"name": "crc32c"}]
        if dtype.kind == "U":
            attributes[NUMPY_DTYPE_ATTR] = dtype.str
    else:
        itemsize = dtype.itemsize
        codecs = default_codecs(dtype, len(shape))
        keep = keep_bits(dtype, precision) if precision is not None else None
        if keep is not None:
            codecs = [bitround_codec(keep), *codecs]
    data_type, fill_value = copy.deepcopy(_zarr_data_type("string" if dtype.kind in STRING_KINDS else dtype.str))
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [int(s) for s in shape],
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk_shape(shape, itemsize)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_value,
        "codecs": codecs,
        "attributes": attributes,
        **({"dimension_names": list(dims)} if dims is not None and len(dims) == len(shape) else {}),
    }


def _zstd(config: dict[str, Any]) -> Any:
    if config.get("checksum", False):
        raise ValueError("zstd with checksum is not on the fast path")
    return Zstd(level=config.get("level", 0))


def _blosc(config: dict[str, Any]) -> Any:
    shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[config.get("shuffle", "noshuffle")]
    return Blosc(cname=config["cname"], clevel=config["clevel"], shuffle=shuffle, blocksize=config.get("blocksize", 0), typesize=config.get("typesize"))


_COMPRESSORS = {"zstd": _zstd, "blosc": _blosc}


def _pcodec(config: dict[str, Any]) -> Any:
    from numcodecs.pcodec import PCodec  # needs the pcodec package, imported only when used

    return PCodec(**config)


class ChunkChain:
    """One chunk's codec chain, run on a whole chunk as zarr-python runs it.

    Parameters
    ----------
    codecs : list of dict
        The array's ``codecs`` (as in its ``zarr.json``), one of the chains
        listed in the module docstring (:meth:`parse` says which are).
    dtype : numpy.dtype
        The array's dtype (any byte order: the chain's ``bytes`` codec says
        which order is stored).
    """

    def __init__(self, codecs: list[dict[str, Any]], dtype: np.dtype) -> None:
        self.keepbits: int | None = None
        if codecs and codecs[0]["name"] == "numcodecs.bitround":
            self.keepbits = int(codecs[0]["configuration"]["keepbits"])
            codecs = codecs[1:]
        names = [c["name"] for c in codecs]
        self.delta = Delta(**codecs[0]["configuration"]) if names[0] == "numcodecs.delta" else None
        serializer = codecs[1 if self.delta else 0]
        self.pcodec = _pcodec(serializer.get("configuration", {})) if serializer["name"] == "numcodecs.pcodec" else None
        endian = serializer.get("configuration", {}).get("endian", "little")
        self.dtype = dtype.newbyteorder("<" if endian == "little" else ">") if dtype.itemsize > 1 and self.pcodec is None else dtype
        compressor = codecs[-2]
        self.compressor: Any = None if self.pcodec else _COMPRESSORS[compressor["name"]](compressor.get("configuration", {}))

    @staticmethod
    def parse(codecs: list[dict[str, Any]]) -> list[str] | None:
        """The codec names of a chain this class runs, or ``None`` for any other chain."""
        try:
            names = [c["name"] for c in codecs]
        except (TypeError, KeyError):
            return None
        rest = names[1:] if names[:1] == ["numcodecs.bitround"] else names
        if rest == ["numcodecs.pcodec", "crc32c"]:
            return names
        body = rest[1:] if rest[:1] == ["numcodecs.delta"] else rest
        if len(body) == 3 and body[0] == "bytes" and body[1] in _COMPRESSORS and body[2] == "crc32c":
            if body[1] == "zstd" and codecs[-2].get("configuration", {}).get("checksum", False):
                return None
            return names
        return None

    def encode(self, block: np.ndarray) -> bytes:
        """The stored bytes (checksum included) of one chunk-shaped ``block``."""
        if self.keepbits is not None:
            block = round_mantissa(block, self.keepbits)
        if self.pcodec is not None:
            body = bytes(self.pcodec.encode(np.ascontiguousarray(block)))
        else:
            if self.delta is not None:
                block = self.delta.encode(np.ascontiguousarray(block))
            raw = np.ascontiguousarray(block, dtype=self.dtype).reshape(-1).view(np.uint8)  # zarr hands codecs bytes
            body = bytes(self.compressor.encode(raw))
        return body + google_crc32c.value(body).to_bytes(4, "little")

    def decode(self, body: bytes, chunks: tuple[int, ...]) -> np.ndarray:
        """One chunk's values (shape ``chunks``) from its stored bytes without the checksum.

        Raises
        ------
        ValueError
            If the bytes do not decode to exactly one chunk.
        """
        count = math.prod(chunks)
        if self.pcodec is not None:
            from pcodec import standalone

            out = np.empty(count, dtype=self.dtype)
            progress = standalone.simple_decompress_into(body, out)
            if progress.n_processed != count or not progress.finished:
                raise ValueError(f"pcodec data hold {progress.n_processed} values, not the chunk's {count}")
            return out.reshape(chunks)
        declared = _declared_size(self.compressor, body)
        if declared != count * self.dtype.itemsize:  # checked before the decoder allocates what the header says
            raise ValueError(f"the compressed data declare {declared} bytes, not the chunk's {count * self.dtype.itemsize}")
        values = np.frombuffer(self.compressor.decode(body), dtype=self.dtype).reshape(chunks)
        if self.delta is not None:
            values = self.delta.decode(values).reshape(chunks)
        return values


def chain_holder(meta: dict[str, Any]) -> dict[str, Any]:
    """The mapping whose ``codecs`` are applied to each chunk: ``meta``, or its sharding configuration."""
    codecs = meta.get("codecs", [])
    if len(codecs) == 1 and codecs[0].get("name") == "sharding_indexed":
        return codecs[0]["configuration"]
    return meta


def with_chain(meta: dict[str, Any], codecs: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``meta`` whose chunks are coded by ``codecs`` (inside the sharding codec of a sharded array)."""
    holder = chain_holder(meta)
    if holder is meta:
        return {**meta, "codecs": codecs}
    return {**meta, "codecs": [{**meta["codecs"][0], "configuration": {**holder, "codecs": codecs}}]}


def without_bitround(metadata: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """``metadata`` without its ``numcodecs.bitround`` (sharded or not), and the bits it keeps.

    zarr-python's own write path hands the next codec the *integer* view that
    ``numcodecs.BitRound.encode`` returns, which PCodec then stores as
    integers.  So where spikestore writes through zarr, it rounds the values
    itself (:func:`round_mantissa`) and gives zarr this chain; the stored
    ``zarr.json`` keeps the ``numcodecs.bitround`` (decoding it is the
    identity, so the chunks are exactly those of the full chain).
    """
    codecs = chain_holder(metadata).get("codecs", [])
    if not codecs or codecs[0].get("name") != "numcodecs.bitround":
        return metadata, None
    return with_chain(metadata, codecs[1:]), int(codecs[0]["configuration"]["keepbits"])


def round_mantissa(values: np.ndarray, keepbits: int) -> np.ndarray:
    """``values`` (floats) rounded to nearest, ties to even, keeping ``keepbits`` mantissa bits.

    The arithmetic of ``numcodecs.bitround``, except that NaN and infinity,
    and a finite value that rounding would carry to infinity, are kept as
    they are.
    """
    given = np.asarray(values)
    values = given.astype(given.dtype.newbyteorder("="), copy=False)  # bit arithmetic in native order
    bits = MANTISSA_BITS[values.dtype.itemsize]
    ints = values.view(values.dtype.str.replace("f", "i"))
    drop = bits - keepbits
    one = ints.dtype.type(1)
    rounded = ((ints + ((ints >> drop) & one) + ((one << (drop - 1)) - one)) & ((ints.dtype.type(-1) >> drop) << drop)).view(values.dtype)
    keep = ~np.isfinite(rounded)
    if keep.any():
        rounded[keep] = values[keep]
    return rounded.astype(given.dtype, copy=False)
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _declared_size(compressor: Any, body: bytes) -> int | None:
    """The decompressed size a Blosc or Zstandard header declares (``None`` if it declares none).

    The decoders allocate that size before decompressing, so a damaged or
    hostile chunk declaring a terabyte would be a ``MemoryError``.
    """
    if isinstance(compressor, Blosc):
        return int.from_bytes(body[4:8], "little") if len(body) >= 16 else None
    if len(body) < 6 or body[:4] != _ZSTD_MAGIC:
        return None
    descriptor = body[4]
    single_segment = (descriptor >> 5) & 1
    field = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    start = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    if field == 0 or len(body) < start + field:
        return None
    return int.from_bytes(body[start : start + field], "little") + (256 if field == 2 else 0)


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


def _config_keys(codec: dict[str, Any], allowed: set[str], where: str) -> dict[str, Any]:
    config = codec.get("configuration", {})
    if not isinstance(config, dict) or not set(config) <= allowed:
        raise FormatError(f"{where}: codec {codec.get('name')!r} has configuration {config!r}; spikestore writes only {sorted(allowed)}.")
    return config


def _is_int(value: Any, allowed: range) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in allowed


def check_codec_configuration(codec: dict[str, Any], where: str) -> None:
    """Refuse a codec configuration spikestore never writes and that could be abused.

    For the codecs whose settings matter to a reader: ``numcodecs.bitround``
    (``keepbits`` 1-51), ``numcodecs.delta``
    (an integer ``dtype``, ``astype`` equal to it: an object dtype would
    reinterpret bytes as pointers), ``numcodecs.pcodec`` (known modes,
    ``level`` 0-12, pages of at most 2^18 numbers) and ``blosc`` (block size
    at most 64 MiB).  Other codecs are left to zarr's own validation.

    Parameters
    ----------
    codec : dict
        One entry of an array's ``codecs`` (``{"name", "configuration"}``).
    where : str
        Where the codec was read, for the message.

    Raises
    ------
    FormatError
        If the configuration is not one spikestore could have written.
    """
    name = codec.get("name")
    if name == "numcodecs.bitround":
        config = _config_keys(codec, {"keepbits"}, where)
        if not _is_int(config.get("keepbits"), range(1, max(MANTISSA_BITS.values()))):
            raise FormatError(f"{where}: numcodecs.bitround keeps {config.get('keepbits')!r} bits; spikestore writes 1-51.")
    elif name == "numcodecs.delta":
        config = _config_keys(codec, {"dtype", "astype"}, where)
        dtype = config.get("dtype")
        if dtype not in DELTA_DTYPES or config.get("astype", dtype) != dtype:
            raise FormatError(f"{where}: numcodecs.delta with dtype {dtype!r} / astype {config.get('astype')!r}; spikestore writes integer deltas only.")
    elif name == "numcodecs.pcodec":
        config = _config_keys(codec, {"level", "mode_spec", "delta_spec", "paging_spec", "delta_encoding_order", "equal_pages_up_to"}, where)
        order = config.get("delta_encoding_order")
        if not (
            _is_int(config.get("level", PCODEC_LEVEL), PCODEC_LEVELS)
            and config.get("mode_spec", "auto") in PCODEC_MODES
            and config.get("delta_spec", "auto") in PCODEC_DELTAS
            and config.get("paging_spec", "equal_pages_up_to") == "equal_pages_up_to"
            and (order is None or _is_int(order, range(0, 8)))
            and _is_int(config.get("equal_pages_up_to", PCODEC_MAX_PAGE), range(1, PCODEC_MAX_PAGE + 1))
        ):
            raise FormatError(f"{where}: numcodecs.pcodec configuration {config!r} is not one spikestore writes.")
    elif name == "blosc":
        config = codec.get("configuration", {})
        if not isinstance(config, dict) or not _is_int(config.get("blocksize", 0), range(0, BLOSC_MAX_BLOCKSIZE + 1)):
            raise FormatError(f"{where}: blosc configuration {config!r} has a block size spikestore never writes.")
