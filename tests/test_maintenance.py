"""gc and the messages around it: unfinished locations are cleanable, a
missing key names the keys that exist."""

from __future__ import annotations

import numpy as np
import pytest

from spikestore import AnalysisWorkspace, gc, open_workspace
from spikestore.backend import Backend
from spikestore.errors import InvalidValueError, ItemNotFoundError, WorkspaceNotFoundError
from spikestore.store import WorkspaceStore, claim_location


def _interrupted_import(location) -> Backend:
    """What an import or copy leaves when it is killed before publishing: a claim and item data."""
    backend = Backend(location.url, location.storage_options)
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
    assert backend.is_empty(), backend.object_sizes()
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
