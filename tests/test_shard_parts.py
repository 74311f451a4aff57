"""A shard is written as its parts (index, then inner chunks): to a local folder one after
another without a joined copy, to any other store joined; the stored bytes and the ledger's
fingerprints are the same either way, and a failed write leaves nothing behind."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from spikestore.containers import fast_shards
from spikestore.containers.layout import apply_layout
from spikestore.containers.zarr_array import array_metadata
from spikestore.containers.zarr_group import _ChunkLedger, chunk_fingerprint
from spikestore.errors import UnsafePathError
from spikestore.workspace_root import GuardedStore


def _sharded(shape: tuple[int, ...], access: str, seed: int = 0) -> tuple[np.ndarray, dict]:
    data = np.random.default_rng(seed).gamma(2.0, 2.0, shape)
    meta = apply_layout(array_metadata(data.shape, data.dtype, {}), access)
    assert fast_shards.supports(meta)
    return data, meta


def _objects(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("shape, access", [((70, 40_000), "tiles"), ((2000, 900), "rows"), ((300_000,), "ranges")])
def test_local_parts_and_joined_store_the_same_bytes_and_fingerprints(tmp_path, shape, access) -> None:
    data, meta = _sharded(shape, access)
    local = _ChunkLedger(GuardedStore(LocalStore(str(tmp_path)), str(tmp_path)), 8)
    memory_store = MemoryStore()
    joined = _ChunkLedger(memory_store, 8)
    sync(fast_shards.write_array(local, "a", meta, data))
    sync(fast_shards.write_array(joined, "a", meta, data))
    on_disk = _objects(tmp_path)
    in_memory = {key: buffer.to_bytes() for key, buffer in memory_store._store_dict.items()}
    assert on_disk == in_memory and len(on_disk) == len(fast_shards.ShardGeometry(meta).shards())
    assert local.written == joined.written
    assert local.written == {key: (len(raw), zlib.crc32(raw)) for key, raw in on_disk.items()}
    assert not list(tmp_path.rglob("*.partial"))


def test_a_fingerprint_of_parts_is_that_of_their_concatenation() -> None:
    parts = [b"", b"index", bytes(range(256)) * 300, b"x"]
    assert chunk_fingerprint(*parts) == chunk_fingerprint(b"".join(parts)) == zlib.crc32(b"".join(parts))
    assert chunk_fingerprint() == zlib.crc32(b"")


def test_a_failed_local_write_of_parts_leaves_no_file(tmp_path) -> None:
    store = GuardedStore(LocalStore(str(tmp_path)), str(tmp_path))
    with pytest.raises(TypeError):  # the second part is not bytes: the write fails midway
        sync(store.set_parts("a/c/0", [b"x" * 100, object()]))  # type: ignore[list-item]
    assert _objects(tmp_path) == {}


def test_parts_are_refused_by_a_read_only_folder_and_keys_outside_the_root(tmp_path) -> None:
    store = GuardedStore(LocalStore(str(tmp_path), read_only=True), str(tmp_path))
    with pytest.raises(ValueError, match="read-only"):  # as zarr's LocalStore.set refuses
        sync(store.set_parts("a/c/0", [b"x"]))
    writable = GuardedStore(LocalStore(str(tmp_path / "w")), str(tmp_path / "w"))
    with pytest.raises(UnsafePathError):
        sync(writable.set_parts("../escape/c/0", [b"x"]))
    assert _objects(tmp_path) == {}
