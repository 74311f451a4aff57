"""Basic selections read by spikestore.containers.region_reads equal numpy's, in
few requests, and damage is CorruptDataError, on arrays written by the fast
paths into a real folder."""

from __future__ import annotations

import asyncio
import json
import pickle

import google_crc32c
import numpy as np
import pytest
from zarr.abc.store import ByteRequest, RangeByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, WrapperStore

from spikestore.containers import fast_chunks, fast_shards, region_reads
from spikestore.containers.layout import apply_layout
from spikestore.containers.region_reads import RegionReader, plan
from spikestore.containers.zarr_array import array_metadata, with_chain
from spikestore.errors import CorruptDataError
from spikestore.strict_store import MissingChunkError

PCODEC = [{"name": "numcodecs.pcodec", "configuration": {"level": 8, "mode_spec": "auto", "delta_spec": "auto"}}, {"name": "crc32c"}]
BIG_ENDIAN = [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "zstd", "configuration": {"level": 1, "checksum": False}}, {"name": "crc32c"}]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


CASES = {
    # name: (data, access pattern or None for regular chunks, codec chain or None for the default)
    "rates tiles": (_rng(0).gamma(2.0, 2.0, (70, 9000)), "tiles", None),
    "ragged float32 tiles": (_rng(1).random((45, 9000)).astype(np.float32), "tiles", None),
    "spike ranges, pcodec": (np.sort(_rng(2).uniform(0, 1e6, 300_000)), "ranges", PCODEC),
    "matrix rows": (_rng(3).random((700, 700)), "rows", None),
    "event slices": (_rng(4).gamma(2.0, 1.0, (300, 75, 40)), "slices", None),
    "regular 1-d int32": (_rng(5).integers(-(2**31), 2**31 - 1, 700_000, dtype=np.int32), None, None),
    "regular 2-d big-endian": (_rng(6).random((600, 900)), None, BIG_ENDIAN),
    "regular 3-d": (_rng(7).random((40, 50, 300)), None, None),
}


class Counting(WrapperStore[Store]):
    """A real store that records every read (key, byte range)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.reads: list[tuple[str, ByteRequest | None]] = []

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        self.reads.append((key, byte_range))
        return await self._store.get(key, prototype, byte_range)


def _written(tmp_path, name: str) -> tuple[np.ndarray, dict, Counting]:
    data, access, chain = CASES[name]
    meta = array_metadata(data.shape, data.dtype, {})
    meta = apply_layout(meta, access) if access else meta
    if chain is not None:
        meta = with_chain(meta, chain)
    store = LocalStore(str(tmp_path))
    fast = fast_shards if fast_shards.supports(meta) else fast_chunks
    assert (fast is fast_shards) == (access is not None), meta["codecs"]
    sync(fast.write_array(store, "a", meta, data))
    assert region_reads.supports(meta)
    return data, meta, Counting(store)


def _selections(shape: tuple[int, ...], rng: np.random.Generator) -> list:
    fixed: list = [Ellipsis, 0, -1, slice(None), slice(None, None, -1), (Ellipsis, 0), (0, Ellipsis)]
    if len(shape) > 1:
        fixed += [(slice(3, 40), -2), (Ellipsis, slice(7, 9)), (1, 2), (slice(None, None, 7), slice(5, None, -3))]
    out = [s for s in fixed if not isinstance(s, tuple) or len([p for p in s if p is not Ellipsis]) <= len(shape)]
    for _ in range(25):
        parts = []
        for n in shape:
            kind = rng.integers(3)
            if kind == 0:
                parts.append(int(rng.integers(-n, n)))
            else:
                a, b = sorted(int(v) for v in rng.integers(-n - 5, n + 5, 2))
                step = int(rng.choice([1, 1, 2, 3, -1, -4]))
                parts.append(slice(a, b, step) if step > 0 else slice(b, a, step))
        out.append(tuple(parts))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_basic_selections_equal_numpys(tmp_path, name) -> None:
    data, meta, store = _written(tmp_path, name)
    reader = RegionReader(store, "a", meta)
    checked = 0
    for selection in _selections(data.shape, _rng(sorted(CASES).index(name))):
        expected = data[selection]
        planned = plan(selection, data.shape)
        if planned is None:  # an empty selection: zarr's path
            assert np.asarray(expected).size == 0, selection
            continue
        got = sync(reader.read(planned))
        assert type(got) is type(expected), (selection, type(got))
        assert np.asarray(got).dtype == np.asarray(expected).dtype.newbyteorder("="), selection
        np.testing.assert_array_equal(got, expected, err_msg=str(selection))
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    "selection",
    [[1, 2], np.array([0, 1]), np.zeros(5, dtype=bool), None, (None, 1), True, 1.5, (0, 0, 0, 0), (Ellipsis, Ellipsis), 10_000, -10_001, slice(5, 5), "a"],
    ids=repr,
)
def test_what_plan_leaves_to_zarr(selection) -> None:
    """Fancy indexing, new axes, bad indexes and empty slices are zarr's (and its errors)."""
    assert plan(selection, (10_000, 3)) is None


def test_a_shard_index_is_read_once_and_neighbouring_chunks_in_one_request(tmp_path) -> None:
    data, meta, store = _written(tmp_path, "rates tiles")
    reader = RegionReader(store, "a", meta)
    geometry = fast_shards.ShardGeometry(meta)
    assert geometry.per_shard[1] > 1, "a row band spans several inner chunks along time"
    np.testing.assert_array_equal(sync(reader.read(plan(5, data.shape))), data[5])
    assert len(store.reads) == 2, store.reads  # the shard's index, then the band's inner chunks in one range
    store.reads.clear()
    np.testing.assert_array_equal(sync(reader.read(plan((6, slice(100, 200)), data.shape))), data[6, 100:200])
    assert len(store.reads) == 1, store.reads  # the index is kept
    # a band's chunks beyond MAX_RANGE_BYTES are fetched in several ranges
    reader = RegionReader(store, "a", meta)
    store.reads.clear()
    old = region_reads.MAX_RANGE_BYTES
    region_reads.MAX_RANGE_BYTES = 1
    try:
        np.testing.assert_array_equal(sync(reader.read(plan(5, data.shape))), data[5])
    finally:
        region_reads.MAX_RANGE_BYTES = old
    assert len(store.reads) == 1 + geometry.per_shard[1], store.reads


def _shard(tmp_path, meta) -> tuple:
    shard = next(p for p in (tmp_path / "a" / "c").rglob("*") if p.is_file())
    geometry = fast_shards.ShardGeometry(meta)
    raw = shard.read_bytes()
    index = np.frombuffer(raw[: geometry.index_bytes - 4], dtype="<u8").reshape(geometry.count, 2).copy()
    return shard, raw, index, geometry


def _with_index(raw: bytes, index: np.ndarray, geometry) -> bytes:
    body = index.astype("<u8").tobytes()
    return body + google_crc32c.value(body).to_bytes(4, "little") + raw[geometry.index_bytes :]


@pytest.mark.parametrize("damage", ["empty slot", "points into the index", "points past the end", "flipped chunk byte", "flipped index byte", "truncated"])
def test_a_damaged_or_hostile_shard_is_corrupt_data(tmp_path, damage) -> None:
    data, meta, store = _written(tmp_path, "matrix rows")
    shard, raw, index, geometry = _shard(tmp_path, meta)
    if damage == "empty slot":
        index[0] = fast_shards.EMPTY
        damaged = _with_index(raw, index, geometry)
    elif damage == "points into the index":
        index[0, 0] = 8
        damaged = _with_index(raw, index, geometry)
    elif damage == "points past the end":
        index[0, 0] = len(raw) - 2
        damaged = _with_index(raw, index, geometry)
    elif damage == "flipped chunk byte":
        damaged = bytearray(raw)
        damaged[int(index[0, 0]) + 10] ^= 0xFF
        damaged = bytes(damaged)
    elif damage == "flipped index byte":
        damaged = bytearray(raw)
        damaged[3] ^= 0xFF
        damaged = bytes(damaged)
    else:
        damaged = raw[: geometry.index_bytes - 7]
    shard.write_bytes(damaged)
    with pytest.raises(CorruptDataError):
        sync(RegionReader(store, "a", meta).read(plan(0, data.shape)))


def test_a_missing_chunk_or_shard_is_a_missing_chunk(tmp_path) -> None:
    for name in ("matrix rows", "regular 3-d"):
        data, meta, store = _written(tmp_path / name, name)
        for path in (tmp_path / name / "a" / "c").rglob("*"):
            if path.is_file():
                path.unlink()
        with pytest.raises(MissingChunkError):
            sync(RegionReader(store, "a", meta).read(plan(0, data.shape)))


def test_the_fast_layouts_decide_what_is_read_here() -> None:
    strings = array_metadata((10,), np.dtype("<U5"), {})
    assert not region_reads.supports(strings)
    assert json.dumps(strings)  # a plain document: zarr reads it


def test_all_of_a_shard_is_one_request_and_concurrent_reads_share_its_index(tmp_path) -> None:
    data, meta, store = _written(tmp_path, "event slices")
    geometry = fast_shards.ShardGeometry(meta)
    reader = RegionReader(store, "a", meta)
    whole_shard = tuple(slice(0, min(s, n)) for s, n in zip(geometry.shard, data.shape))
    np.testing.assert_array_equal(sync(reader.read(plan(whole_shard, data.shape))), data[whole_shard])
    assert [r[1] for r in store.reads] == [None], store.reads  # the whole object, its index included
    store.reads.clear()
    sync(reader.read(plan((Ellipsis, 1), data.shape)))  # its index was kept
    assert len(store.reads) == 1 and store.reads[0][1] is not None, store.reads

    reader, _ = RegionReader(store, "a", meta), store.reads.clear()

    async def many() -> list:
        return await asyncio.gather(*(reader.read(plan((Ellipsis, i), data.shape)) for i in range(3)))

    for i, got in enumerate(sync(many())):
        np.testing.assert_array_equal(got, data[..., i])
    index_reads = [r for r in store.reads if isinstance(r[1], RangeByteRequest) and r[1].start == 0]
    assert len(index_reads) == 1, store.reads


def test_a_reader_survives_pickling_without_its_kept_indexes(tmp_path) -> None:
    data, meta, store = _written(tmp_path, "matrix rows")
    reader = RegionReader(store, "a", meta)
    sync(reader.read(plan(3, data.shape)))
    copy = pickle.loads(pickle.dumps(reader))
    assert copy._indexes == {}
    np.testing.assert_array_equal(sync(copy.read(plan(4, data.shape))), data[4])


def test_warm_fetches_the_index_of_a_single_shard_and_only_then(tmp_path) -> None:
    data, meta, store = _written(tmp_path / "one", "spike ranges, pcodec")
    assert fast_shards.ShardGeometry(meta).shard[0] >= data.shape[0], "one shard"
    reader = RegionReader(store, "a", meta)
    sync(reader.warm())
    assert len(store.reads) == 1 and store.reads[0][1].start == 0, store.reads
    store.reads.clear()
    np.testing.assert_array_equal(sync(reader.read(plan(slice(1000, 1500), data.shape))), data[1000:1500])
    assert len(store.reads) == 1, store.reads  # the range only
    data = CASES["rates tiles"][0]
    meta = apply_layout(array_metadata(data.shape, data.dtype, {}), "tiles", max_shard_bytes=1 << 20)
    store = Counting(LocalStore(str(tmp_path / "many")))
    sync(fast_shards.write_array(store, "a", meta, data))
    assert len(fast_shards.ShardGeometry(meta).shards()) > 1
    store.reads.clear()
    sync(RegionReader(store, "a", meta).warm())
    assert store.reads == [], "several shards: nothing is fetched ahead"


def test_warm_leaves_a_damaged_index_to_the_read(tmp_path) -> None:
    data, meta, store = _written(tmp_path, "spike ranges, pcodec")
    shard, raw, _, _ = _shard(tmp_path, meta)
    shard.write_bytes(bytes([raw[0] ^ 0xFF]) + raw[1:])
    reader = RegionReader(store, "a", meta)
    sync(reader.warm())  # no error here
    with pytest.raises(CorruptDataError, match="index failed its crc32c"):
        sync(reader.read(plan(7, data.shape)))


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n][1] is not None])
def test_chunks_in_counts_the_slots_inner_chunks_lists(name) -> None:
    """The whole-shard test counts a shard's chunks inside the array by arithmetic; it must
    agree with the listing of slots, edge shards (cut by the array's end) included."""
    data, access, _ = CASES[name]
    meta = apply_layout(array_metadata(data.shape, data.dtype, {}), access)
    inner = fast_shards.ShardGeometry(meta).inner
    edges = 0
    for cut in (0, 1, 7, max(inner) + 3):  # the same chunk grid over arrays cut short of its edges
        shape = [max(1, s - cut) for s in data.shape]
        geometry = fast_shards.ShardGeometry({**meta, "shape": shape})
        for shard in geometry.shards():
            listed = sum(c is not None for c in geometry.inner_chunks(shard))
            assert geometry.chunks_in(shard) == listed, (shape, shard)
            edges += listed < geometry.count
    assert edges  # some shards had slots past the array's end
