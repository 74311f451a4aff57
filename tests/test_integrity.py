"""Damaged stores are detected: flipped bytes raise CorruptDataError, verify reports them."""

from __future__ import annotations

import numpy as np
import pytest

import spikestore
from spikestore import AnalysisWorkspace, CorruptDataError, gc, verify
from spikestore.workspace_root import WorkspaceRoot
from spikestore.store import WorkspaceStore

from .objects import assert_same


def _damage(location, flip: bool) -> str:
    """Flip a byte in (or delete) one chunk of ('rec', 'rates'); return its path."""
    store = WorkspaceStore.open(WorkspaceRoot(location.url, location.storage_options))
    entry = store.index.entry("rec", "rates")
    fs = store.backend.fs
    chunks = sorted(p for p in fs.find(store.backend.abspath(entry["path"] + "/data")) if "/c/" in p)
    target = chunks[len(chunks) // 2]
    if flip:
        data = bytearray(fs.cat_file(target))
        data[len(data) // 2] ^= 0x40
        fs.pipe_file(target, bytes(data))
    else:
        fs.rm_file(target)
    return target


def _saved(location) -> np.ndarray:
    rates = np.random.default_rng(3).gamma(2.0, 2.0, size=(200, 3000))
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", rates)
    ws.store("rec", "fine", {"x": np.arange(5)})
    ws.save(location.url, storage_options=location.storage_options)
    return rates


@pytest.mark.parametrize("flip", [True, False], ids=["flipped-byte", "missing-chunk"])
def test_damage_is_detected_by_get_and_reported_by_verify(location, flip) -> None:
    _saved(location)
    assert verify(location.url, storage_options=location.storage_options).ok
    _damage(location, flip)
    with pytest.raises(CorruptDataError, match="'rec', 'rates'"):
        AnalysisWorkspace.load_item(location.url, "rec", "rates", storage_options=location.storage_options)
    report = verify(location.url, storage_options=location.storage_options)
    assert not report.ok
    assert [(ns, key) for ns, key, _ in report.problems] == [("rec", "rates")]
    assert ("corrupt" if flip else "missing") in report.problems[0][2]
    assert_same({"x": np.arange(5)}, AnalysisWorkspace.load_item(location.url, "rec", "fine", storage_options=location.storage_options))
    assert gc(location.url, storage_options=location.storage_options, grace_seconds=0).removed == [], "gc never removes committed data"


def test_a_missing_chunk_is_the_same_error_on_every_read_path(location, tmp_path) -> None:
    """Lazy slice, full get and HDF5 export all raise CorruptDataError naming the item and the chunk."""
    from spikestore import export_hdf5, open_workspace

    _saved(location)
    target = _damage(location, flip=False)
    chunk = target[target.index("rec/rates/") :]  # the chunk's key in the store: rec/rates/<version>/data/c/<i>/<j>
    with open_workspace(location.url, "r", storage_options=location.storage_options) as ws:
        view = ws.get_lazy("rec", "rates")
        with pytest.raises(CorruptDataError, match="'rec', 'rates'") as lazy:
            view[:]
        with pytest.raises(CorruptDataError, match="'rec', 'rates'") as full:
            ws.get("rec", "rates")
    with pytest.raises(CorruptDataError, match="'rec', 'rates'") as export:
        export_hdf5(location.url, tmp_path / "out", storage_options=location.storage_options)
    for raised in (lazy, full, export):
        assert chunk in str(raised.value) and "missing" in str(raised.value)


def test_workspace_handles_verify_and_gc(location) -> None:
    from spikestore import open_workspace

    _saved(location)
    with open_workspace(location.url, "a", storage_options=location.storage_options) as ws:
        assert ws.verify().ok
        ws.store("rec", "fine", {"x": np.arange(6)})  # replaces a version: the old one is cleaned up
        assert ws.gc(grace_seconds=0).removed == []
        _damage(location, flip=True)
        report = ws.verify()
        assert [(ns, key) for ns, key, _ in report.problems] == [("rec", "rates")]
    with open_workspace(location.url, "r", storage_options=location.storage_options) as ws:
        with pytest.raises(spikestore.ReadOnlyError):
            ws.gc()


def test_an_unchanged_snapshot_is_checked_once_per_process_and_a_changed_one_again(tmp_path, monkeypatch) -> None:
    """Re-opening the same snapshot bytes skips re-checking them; different bytes (a hostile
    edit with a valid checksum) are checked, and refused."""
    import spikestore.index as index_module
    from spikestore import AnalysisWorkspace, open_workspace
    from spikestore.errors import FormatError
    from spikestore.index import INDEX_DIR, decode_index_object, encode_index_object

    from spikestore.testing.samples import uneven_slice_stack

    ws = AnalysisWorkspace()
    ws.store("ns", "x", np.arange(10.0))
    ws.store("ns", "stack", uneven_slice_stack())  # its summary's length_ms is a tuple
    ws.save(tmp_path / "ws")
    calls = []
    real = index_module.check_entry
    monkeypatch.setattr(index_module, "check_entry", lambda ns, key, entry, where: calls.append(where) or real(ns, key, entry, where))
    index_module._CHECKED_SNAPSHOTS.clear()
    for _ in range(2):
        with open_workspace(tmp_path / "ws") as lazy:
            assert isinstance(lazy.get_info("ns", "stack")["length_ms"], tuple)  # summaries restored on every open
    assert len(set(calls)) == 1 and len(calls) == 2  # two entries, checked on the first open only
    path = next((tmp_path / "ws" / INDEX_DIR).glob("snap-*.json"))
    doc = decode_index_object(path.read_bytes(), "snapshot", "test", legacy=False)[0]
    doc["items"]["ns"]["x"]["path"] = "../elsewhere"
    path.write_bytes(encode_index_object("snapshot", doc))
    with pytest.raises(FormatError):
        open_workspace(tmp_path / "ws")
    assert len(calls) > 2
