"""spikelab's AnalysisWorkspace API, behaviour for behaviour, on spikestore's class."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

from spikestore import AnalysisWorkspace, WorkspaceManager, get_workspace_manager

from .objects import all_items, assert_same, uneven_slice_stack


def _pair() -> tuple[AnalysisWorkspace, SpikelabWorkspace]:
    ours, theirs = AnalysisWorkspace(name="x"), SpikelabWorkspace(name="x")
    for ws in (ours, theirs):
        for i, (name, obj) in enumerate(all_items().items()):
            ws.store("rec1", name, obj, note="n" if i % 3 == 0 else None)
        ws.store("rec2", "extra", np.arange(3), note="second namespace")
    return ours, theirs


def _strip_times(index: dict) -> dict:
    return {ns: {k: {f: v for f, v in e.items() if f != "created_at"} for k, e in keys.items()} for ns, keys in index.items()}


def test_index_summaries_match_spikelab() -> None:
    ours, theirs = _pair()
    assert _strip_times(ours.describe()) == _strip_times(theirs.describe())
    assert ours.list_keys() == theirs.list_keys()
    assert ours.list_namespaces() == theirs.list_namespaces()
    assert ours.list_keys("rec1") == theirs.list_keys("rec1")
    assert ours.list_keys("missing") == theirs.list_keys("missing") == []
    assert ours.get("missing", "x") is None and ours.get_info("rec1", "missing") is None


def test_summary_of_a_stack_of_uneven_slices_is_spikelabs_tuple() -> None:
    ours, theirs = AnalysisWorkspace(), SpikelabWorkspace()
    for ws in (ours, theirs):
        ws.store("rec", "sss", uneven_slice_stack())
    assert _strip_times(ours.describe()) == _strip_times(theirs.describe())
    assert ours.get_info("rec", "sss")["length_ms"] == (100.0, 200.0)
    assert type(ours.get_info("rec", "sss")["length_ms"]) is tuple


def test_rename_delete_note_merge_behave_like_spikelab() -> None:
    ours, theirs = _pair()
    for ws in (ours, theirs):
        with pytest.warns(UserWarning, match="already exists"):
            assert ws.rename("rec1", "dict", "spikedata_full") is False
        assert ws.rename("rec1", "dict", "renamed") is True
        with pytest.raises(KeyError):
            ws.rename("rec1", "nope", "x")
        ws.add_note("rec1", "renamed", "hello")
        with pytest.raises(KeyError):
            ws.add_note("rec1", "nope", "x")
        ws.delete("rec2")
        with pytest.raises(KeyError):
            ws.delete("rec2")
        with pytest.raises(KeyError):
            ws.delete("rec1", "nope")
    assert _strip_times(ours.describe()) == _strip_times(theirs.describe())
    assert ours.get_info("rec1", "renamed")["note"] == "hello"

    single = AnalysisWorkspace()
    single.store("only", "k", np.arange(3))
    single.delete("only", "k")
    assert single.list_namespaces() == [], "an emptied namespace vanishes"

    target = AnalysisWorkspace()
    target.store("rec1", "renamed", np.zeros(1))
    result = target.merge_from(ours)
    assert result["skipped"] == 1 and result["skipped_keys"] == [("rec1", "renamed")]
    assert result["merged"] == sum(len(k) for k in ours.list_keys().values()) - 1
    assert_same(np.zeros(1), target.get("rec1", "renamed"))
    assert target.merge_from(ours, overwrite=True)["merged"] == result["merged"] + 1
    assert target.get_info("rec1", "renamed")["note"] == "hello"


def test_identity_attributes_repr_and_comparison_namespace() -> None:
    ws = AnalysisWorkspace(name="lab")
    assert len(ws.workspace_id) == 36 and isinstance(ws.created_at, float)
    ws.store("a", "b", np.arange(2))
    assert repr(ws).startswith("AnalysisWorkspace 'lab'(id=") and "1 namespace(s), 1 item(s)" in repr(ws)
    assert AnalysisWorkspace.comparison_namespace("r1", "r2") == SpikelabWorkspace.comparison_namespace("r1", "r2") == "C_r1_r2"


def test_workspace_manager_round_trip(tmp_path) -> None:
    manager = WorkspaceManager()
    wid = manager.create_workspace(name="m")
    ws = manager.get_workspace(wid)
    ws.store("ns", "k", np.arange(4))
    url = str(tmp_path / "saved")
    manager.save_workspace(wid, url)
    with pytest.warns(UserWarning, match="already registered"):
        assert manager.load_workspace(url) == wid
    other = manager.create_workspace()
    manager.load_workspace_item(url, "ns", "k", other)
    assert_same(np.arange(4), manager.get_workspace(other).get("ns", "k"))
    listing = {w["workspace_id"]: w for w in manager.list_workspaces()}
    assert listing[wid]["item_count"] == 1 and listing[wid]["namespace_count"] == 1
    manager.delete_workspace(other)
    with pytest.raises(KeyError):
        manager.delete_workspace(other)
    assert get_workspace_manager() is get_workspace_manager()


def test_in_memory_workspace_pickles() -> None:
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(3))
    clone = pickle.loads(pickle.dumps(ws))
    assert_same(ws.get("a", "b"), clone.get("a", "b"))
