"""Shards written and read by spikestore.containers.fast_shards are the shards
zarr-python writes and reads: each reads the other's, values exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from zarr.core.sync import sync
from zarr.storage import LocalStore

from spikestore.containers import fast_shards
from spikestore.containers.zarr_array import array_metadata
from spikestore.containers.layout import apply_layout
from spikestore.errors import CorruptDataError


def _meta(data: np.ndarray, access: str) -> dict:
    meta = apply_layout(array_metadata(data.shape, data.dtype, {}), access)
    assert fast_shards.supports(meta), meta["codecs"]
    return meta


CASES = {
    # (data, access): shards that divide the array, ragged edges, a shard with inner chunks past the end
    "rates": (np.random.default_rng(0).gamma(2.0, 2.0, (200, 9000)), "tiles"),
    "ragged": (np.random.default_rng(1).random((70, 5000)).astype(np.float32), "tiles"),
    "spikes": (np.sort(np.random.default_rng(2).uniform(0, 1e6, 300_000)), "ranges"),
    "matrix": (np.random.default_rng(3).random((700, 700)), "rows"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_shards_read_with_zarr_and_zarrs_with_ours(tmp_path, name) -> None:
    data, access = CASES[name]
    meta = _meta(data, access)
    ours, theirs = LocalStore(str(tmp_path / "ours")), LocalStore(str(tmp_path / "theirs"))
    for store in (ours, theirs):
        sync(store.set("a/zarr.json", zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(json.dumps(meta).encode())))
    sync(fast_shards.write_array(ours, "a", meta, data))
    zarr.open_array(theirs, path="a", mode="r+")[...] = data
    np.testing.assert_array_equal(zarr.open_array(ours, path="a", mode="r")[...], data)
    for store in (ours, theirs):
        out = sync(fast_shards.read_array(store, "a", meta))
        assert out.dtype == data.dtype and np.array_equal(out, data)
    rows = sync(fast_shards.read_array(ours, "a", meta, rows=slice(17, 61)))
    np.testing.assert_array_equal(rows, data[17:61])
    assert len(list((tmp_path / "ours" / "a" / "c").rglob("*"))) >= 1


def test_a_damaged_shard_is_corrupt_data(tmp_path) -> None:
    data, access = CASES["rates"]
    meta = _meta(data, access)
    store = LocalStore(str(tmp_path))
    sync(fast_shards.write_array(store, "a", meta, data))
    shard = next(p for p in (tmp_path / "a" / "c").rglob("*") if p.is_file())
    raw = bytearray(shard.read_bytes())
    for where in (5, len(raw) - 10):  # the index, then an inner chunk
        damaged = bytearray(raw)
        damaged[where] ^= 0xFF
        shard.write_bytes(bytes(damaged))
        with pytest.raises(CorruptDataError, match="crc32c"):
            sync(fast_shards.read_array(store, "a", meta))
