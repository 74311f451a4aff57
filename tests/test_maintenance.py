"""gc and the messages around it: unfinished locations are cleanable, a
missing key names the keys that exist."""

from __future__ import annotations

import numpy as np
import pytest

from spikestore import AnalysisWorkspace, gc, open_workspace, verify
from spikestore.workspace_root import WorkspaceRoot
from spikestore.index import INDEX_DIR, IndexState, index_problems
from spikestore.errors import InvalidValueError, ItemNotFoundError, WorkspaceNotFoundError
from spikestore.store import WorkspaceStore, claim_location


def _interrupted_import(location) -> WorkspaceRoot:
    """What an import or copy leaves when it is killed before publishing: a claim and item data."""
    backend = WorkspaceRoot(location.url, location.storage_options)
    claim_location(backend)
    store = WorkspaceStore(backend, WorkspaceStore._root_attrs("x", None, 0.0))
    store.index.creating = True
    store.write_items([(("rec", "a"), __import__("spikestore").codecs.encode_item(np.arange(1000.0), "a"))])
    return backend


def test_an_interrupted_import_is_reported_and_cleaned_by_gc(location) -> None:
    backend = _interrupted_import(location)
    with pytest.raises(WorkspaceNotFoundError, match="unfinished workspace"):
        open_workspace(location.url, storage_options=location.storage_options)
    kept = gc(location.url, storage_options=location.storage_options)  # the default grace keeps young data
    assert kept.removed == [] and kept.kept_young
    report = gc(location.url, storage_options=location.storage_options, grace_seconds=0)
    assert any(path.startswith("rec/a/v") for path in report.removed)
    assert not backend.list_names(""), backend.object_sizes()  # nothing at all is left
    ws = AnalysisWorkspace()
    ws.store("rec", "b", np.arange(3))
    ws.save(location.url, storage_options=location.storage_options)  # the location is usable again


def test_gc_refuses_a_negative_grace(tmp_path) -> None:
    AnalysisWorkspace().save(tmp_path / "ws")
    with pytest.raises(InvalidValueError, match="negative"):
        gc(str(tmp_path / "ws"), grace_seconds=-1)


def test_a_missing_key_names_close_matches(tmp_path) -> None:
    ws = AnalysisWorkspace()
    ws.store("rec1", "spikes_sorted", np.arange(3))
    ws.store("rec1", "rates", np.arange(3))
    ws.save(tmp_path / "ws")
    with pytest.raises(ItemNotFoundError, match="Did you mean 'spikes_sorted'"):
        AnalysisWorkspace.load_item(tmp_path / "ws", "rec1", "spikes_sortd")
    with pytest.raises(ItemNotFoundError, match="Did you mean 'rec1'"):
        AnalysisWorkspace.load_item(tmp_path / "ws", "rec", "rates")
    with pytest.raises(ItemNotFoundError, match="Existing keys: 'rates', 'spikes_sorted'"):
        AnalysisWorkspace.load_item(tmp_path / "ws", "rec1", "zzz")


class _LaggingListing(WorkspaceRoot):
    """A real folder whose index listings are a moment old, as an S3 listing
    taken just before a compactor ran: ``stale`` is returned once, ``hidden``
    names are left out of every listing."""

    def __init__(self, url: str, *, stale: list[str] | None = None, hidden: set[str] = frozenset()) -> None:
        super().__init__(url)
        self.stale, self.hidden, self.listings = stale, hidden, 0

    def list_names(self, rel: str) -> list[str]:
        self.listings += 1
        if self.stale is not None:
            names, self.stale = self.stale, None
            return names
        return [n for n in super().list_names(rel) if n not in self.hidden]


def test_a_listing_taken_before_a_compaction_is_no_vanished_record(tmp_path) -> None:
    """A compactor absorbs record 1 (and deletes it) after gc listed records 1
    and 2: the gap is the listing's age, not damage, so gc and verify list again."""
    url = str(tmp_path / "ws")
    AnalysisWorkspace().save(url)
    backend = WorkspaceRoot(url)
    writer = IndexState().refresh(backend)
    writer.append(backend, [{"op": "delete", "ns": "rec", "key": "none"}])
    first = next(n for n in backend.list_names(INDEX_DIR) if n.startswith("log-"))
    writer.append(backend, [{"op": "delete", "ns": "rec", "key": "none2"}])
    before = backend.list_names(INDEX_DIR)
    second = next(n for n in before if n.startswith("log-") and n != first)
    compactor_view = _LaggingListing(url, hidden={second})  # the compactor listed before record 2
    assert IndexState().refresh(compactor_view).compact(compactor_view)
    assert set(backend.list_names(INDEX_DIR)) >= {second} and first not in backend.list_names(INDEX_DIR)
    probe = _LaggingListing(url, stale=before)
    assert index_problems(probe, IndexState().refresh(backend)) == []
    assert probe.listings == 2, "the stale listing was judged instead of listed again"
    assert verify(url).ok
