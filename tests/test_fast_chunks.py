"""The fast chunk writer produces exactly the bytes zarr-python writes."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.core.sync import sync
from zarr.core.array import AsyncArray
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.storage import MemoryStore, StorePath

from spikestore.containers import fast_chunks
from spikestore.containers.zarr_array import array_metadata


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).gamma(2.0, 2.0, size=(300, 1700)),  # edge chunks on both axes
        np.arange(24, dtype=">i4").reshape(2, 3, 4),  # big-endian, one chunk
        np.random.default_rng(1).random((5, 7)).astype(np.float32)[:, ::2],  # non-contiguous view
        np.array([[True, False], [False, True]]),
        (np.arange(12) + 1j).reshape(3, 4),
        np.sort(np.random.default_rng(2).uniform(0, 6e5, 300_000)),  # 1-D: blosc + bit-shuffle, edge chunk
        np.arange(1000, dtype=np.int32),
        np.array([True, False, True]),
    ],
    ids=["rates", "big-endian", "strided", "bool", "complex", "spike-times-blosc", "int32-blosc", "bool-1d"],
)
def test_chunks_are_byte_identical_to_zarr(data) -> None:
    meta = array_metadata(data.shape, data.dtype, {})
    assert fast_chunks.supports(meta)
    ours, theirs = MemoryStore(), MemoryStore()
    sync(fast_chunks.write_array(ours, "a", meta, data))
    # zarr-python writing the very same array metadata is the reference
    reference = AsyncArray(metadata=ArrayV3Metadata.from_dict(meta), store_path=StorePath(theirs, "a"), config={"write_empty_chunks": True})
    sync(reference._save_metadata(reference.metadata))
    sync(reference.setitem(Ellipsis, data))
    chunk_keys = sorted(k for k in theirs._store_dict if "/c/" in k)
    assert chunk_keys == sorted(k for k in ours._store_dict if "/c/" in k)
    for key in chunk_keys:
        assert ours._store_dict[key].to_bytes() == theirs._store_dict[key].to_bytes(), key
    ours._store_dict["a/zarr.json"] = theirs._store_dict["a/zarr.json"]
    np.testing.assert_array_equal(zarr.open_array(ours, path="a", mode="r")[...], data)


def _write_both(meta: dict, data: np.ndarray) -> tuple[MemoryStore, MemoryStore]:
    ours, theirs = MemoryStore(), MemoryStore()
    sync(fast_chunks.write_array(ours, "a", meta, data))
    reference = AsyncArray(metadata=ArrayV3Metadata.from_dict(meta), store_path=StorePath(theirs, "a"), config={"write_empty_chunks": True})
    sync(reference._save_metadata(reference.metadata))
    sync(reference.setitem(Ellipsis, data))
    return ours, theirs


@pytest.mark.parametrize(
    ("candidate", "data"),
    [
        ("shuffle", np.random.default_rng(0).gamma(2.0, 2.0, size=(300, 1700))),
        ("shuffle", np.arange(300_000, dtype=">f8")),  # big-endian
        ("delta", np.cumsum(np.random.default_rng(1).poisson(20, 300_000)).astype(np.int64)),  # edge chunk
        ("delta", np.arange(70_000, dtype=np.uint16)),  # wraps around
        ("pcodec", np.sort(np.random.default_rng(2).uniform(0, 6e5, 300_000))),  # edge chunk
        ("pcodec", np.random.default_rng(3).gamma(2.0, 2.0, size=(300, 1700)).astype(np.float32)),
        ("pcodec", np.random.default_rng(4).integers(-5, 5, size=(600, 900)).astype(np.int16)),
    ],
    ids=["shuffle-rates", "shuffle-big-endian", "delta-int64", "delta-uint16-wraps", "pcodec-times", "pcodec-f4-2d", "pcodec-i2-2d"],
)
def test_chosen_chains_are_byte_identical_to_zarr(candidate: str, data: np.ndarray) -> None:
    from spikestore.containers.codec_choice import CANDIDATES

    (chain,) = [c.chain(data.dtype, data.ndim) for c in CANDIDATES if c.name == candidate]
    meta = {**array_metadata(data.shape, data.dtype, {}), "codecs": [*chain, {"name": "crc32c"}]}
    assert fast_chunks.supports(meta)
    ours, theirs = _write_both(meta, data)
    chunk_keys = sorted(k for k in theirs._store_dict if "/c/" in k)
    assert chunk_keys == sorted(k for k in ours._store_dict if "/c/" in k)
    for key in chunk_keys:
        assert ours._store_dict[key].to_bytes() == theirs._store_dict[key].to_bytes(), key
    np.testing.assert_array_equal(sync(fast_chunks.read_array(theirs, "a", meta)), data)


def test_chains_spikestore_never_writes_stay_on_zarr() -> None:
    meta = array_metadata((1000,), np.dtype("f8"), {})
    for codecs in (
        [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 1, "checksum": True}}, {"name": "crc32c"}],
        [{"name": "numcodecs.pcodec", "configuration": {}}],
        [{"name": "numcodecs.delta", "configuration": {"dtype": "<f8"}}, {"name": "numcodecs.pcodec", "configuration": {}}, {"name": "crc32c"}],
        [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
    ):
        assert not fast_chunks.supports({**meta, "codecs": codecs})


def test_block_writes_land_at_their_rows() -> None:
    data = np.arange(600 * 500, dtype=np.float64).reshape(600, 500)
    meta = array_metadata(data.shape, data.dtype, {})
    rows = meta["chunk_grid"]["configuration"]["chunk_shape"][0]
    store = MemoryStore()
    sync(fast_chunks.write_array(store, "a", meta, data[:rows], origin=(0,)))
    sync(fast_chunks.write_array(store, "a", meta, data[rows:], origin=(rows,)))
    sync(store.set("a/zarr.json", zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(__import__("json").dumps(meta).encode())))
    np.testing.assert_array_equal(zarr.open_array(store, path="a", mode="r")[...], data)
    with pytest.raises(ValueError, match="aligned"):
        sync(fast_chunks.write_array(store, "a", meta, data[1:], origin=(1,)))


@pytest.mark.parametrize("rows", [None, slice(0, 250), slice(100, 420), slice(250, 600)])
def test_reads_equal_zarr_reads(rows) -> None:
    data = np.random.default_rng(4).gamma(2.0, 2.0, size=(600, 900))
    meta = array_metadata(data.shape, data.dtype, {})
    store = MemoryStore()
    sync(fast_chunks.write_array(store, "a", meta, data))
    got = sync(fast_chunks.read_array(store, "a", meta, rows))
    np.testing.assert_array_equal(got, data if rows is None else data[rows])


def test_a_flipped_byte_is_a_corrupt_data_error() -> None:
    from spikestore.errors import CorruptDataError

    data = np.arange(300 * 500, dtype=np.float64).reshape(300, 500)
    meta = array_metadata(data.shape, data.dtype, {})
    store = MemoryStore()
    sync(fast_chunks.write_array(store, "a", meta, data))
    key = sorted(k for k in store._store_dict if "/c/" in k)[0]
    raw = bytearray(store._store_dict[key].to_bytes())
    raw[10] ^= 0x01
    store._store_dict[key] = zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match="crc32c"):
        sync(fast_chunks.read_array(store, "a", meta))


def test_small_chunks_are_coded_in_the_loop_thread(monkeypatch) -> None:
    """Handing a chunk of a few kB to the coding pool costs more than coding it (and,
    first in a process, starting the pool's threads): small chunks skip the pool."""
    data = np.random.default_rng(5).random(1000)
    meta = array_metadata(data.shape, data.dtype, {})
    assert np.prod(meta["chunk_grid"]["configuration"]["chunk_shape"]) * 8 <= fast_chunks.SMALL_CHUNK_BYTES

    def refuse(*args, **kwargs):
        raise AssertionError("a small chunk went to the coding pool")

    monkeypatch.setattr(fast_chunks._POOL, "submit", refuse)
    store = MemoryStore()
    sync(fast_chunks.write_array(store, "a", meta, data))
    np.testing.assert_array_equal(sync(fast_chunks.read_array(store, "a", meta)), data)
    large = np.random.default_rng(6).random((600, 900))
    with pytest.raises(AssertionError, match="coding pool"):
        sync(fast_chunks.write_array(store, "b", array_metadata(large.shape, large.dtype, {}), large))
