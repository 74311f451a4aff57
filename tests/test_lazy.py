"""Lazy workspaces: open_workspace modes, write-through, views equal to slicing
the loaded object, pickling and temporary stores, on every real store."""

from __future__ import annotations

import gc
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from spikelab.spikedata.spikedata import SpikeData

from spikestore import (
    AnalysisWorkspace,
    InvalidModeError,
    InvalidValueError,
    ItemNotFoundError,
    LazyAnalysisWorkspace,
    ReadOnlyError,
    SpikestoreError,
    WorkspaceNotFoundError,
    get_workspace_manager,
    open_workspace,
)
from spikestore.views import DictView, LazyArray, SpikeDataView

from .objects import all_items, assert_same

ITEMS = all_items()


@pytest.fixture
def saved(location):
    """A workspace with every test item saved at ``location``."""
    ws = AnalysisWorkspace(name="lazy")
    for name, obj in ITEMS.items():
        ws.store("ns", name, obj, note=f"note {name}")
    ws.save(location.url, storage_options=location.storage_options)
    return location, ws


def _open(location, mode="r"):
    return open_workspace(location.url, mode, storage_options=location.storage_options)


# -- reading -------------------------------------------------------------------


def test_get_and_views_load_equal_the_saved_items(saved) -> None:
    location, ws = saved
    with _open(location) as lazy:
        assert lazy.workspace_id == ws.workspace_id and lazy.name == "lazy" and lazy.created_at == ws.created_at
        assert lazy.describe() == ws.describe()
        assert lazy.list_keys() == ws.list_keys() and lazy.list_namespaces() == ["ns"]
        assert lazy.get_info("ns", "dict") == ws.get_info("ns", "dict")
        assert lazy.get("ns", "missing") is None and lazy.get("nope", "dict") is None
        for name, obj in ITEMS.items():
            assert_same(obj, lazy.get("ns", name), name)
            assert_same(obj, lazy.get_lazy("ns", name).load(), name)


def test_array_views_slice_like_numpy(saved) -> None:
    location, _ = saved
    lazy = _open(location)
    for name, obj in ITEMS.items():
        if not isinstance(obj, np.ndarray):
            continue
        view = lazy.get_lazy("ns", name)
        assert isinstance(view, LazyArray) and isinstance(view, zarr.Array) and view.read_only
        assert view.shape == obj.shape and view.dtype == obj.dtype and view.ndim == obj.ndim, name
        selections = [(), Ellipsis] + ([0, -1, slice(1, None), slice(None, None, 2)] if obj.ndim and len(obj) else [])
        if obj.ndim >= 2 and obj.shape[0]:
            selections += [(slice(None), 1), (0, slice(None, 2))]
        for sel in selections:
            expected, got = obj[sel], view[sel]
            assert type(got) is type(expected), f"{name}[{sel!r}]: {type(got)} vs {type(expected)}"
            assert_same(np.asarray(expected), np.asarray(got), f"{name}[{sel!r}]")
        assert_same(obj, np.asarray(view), name)
        assert "shape=" in repr(view) and "chunks=" in repr(view)


def test_spikedata_view_trains_and_windows_equal_the_loaded_object(saved) -> None:
    location, _ = saved
    lazy = _open(location)
    for name in ("spikedata_full", "spikedata_plain", "spikedata_all_empty", "spikedata_event_centered"):
        sd = ITEMS[name]
        view = lazy.get_lazy("ns", name)
        assert isinstance(view, SpikeDataView)
        assert (view.N, view.length, view.start_time) == (sd.N, sd.length, sd.start_time)
        assert_same(sd.metadata, view.metadata, "sd.metadata")
        assert_same(sd.neuron_attributes, view.neuron_attributes)
        for i in range(sd.N):
            assert_same(sd.train[i], view.train(i), f"{name} unit {i}")
        assert_same(sd.train[-1], view.train(-1))
        t0, t1 = sd.start_time, sd.start_time + sd.length
        windows = [(t0, t1), (t0 + 0.1 * sd.length, t0 + 0.45 * sd.length), (None, None), (t0 + 0.5 * sd.length, None)]
        for start, end in windows:
            assert_same(sd.subtime(start, end), view.subtime(start, end), f"{name} [{start}, {end})")
        mid = t0 + sd.length / 2
        assert_same(sd.subtime(t0, mid, shift_to=mid), view.subtime(t0, mid, shift_to=mid))
    full = ITEMS["spikedata_full"]
    view = lazy.get_lazy("ns", "spikedata_full")
    assert_same(full.subtime(-500, None), view.subtime(-500, None))  # counted from the end
    assert_same(full.subtime(0.5, 1.2), view.subtime(0.5, 1.2))  # raw data subset too
    with pytest.raises(InvalidValueError):
        view.train(full.N)
    with pytest.raises(InvalidValueError):
        view.subtime(900, 100)
    with pytest.raises(ValueError):
        view.subtime(0, full.length + 1)


def test_window_on_a_long_spikedata_spanning_many_time_blocks(location) -> None:
    rng = np.random.default_rng(3)
    length = 95_000.0  # ten 10 s blocks, the last one partial
    trains = [np.sort(rng.uniform(0, length, rng.integers(0, 400))) for _ in range(20)]
    trains[3] = np.array([0.0, 10_000.0, 20_000.0, 94_999.5, length])  # spikes on block edges and at the end
    sd = SpikeData(trains, length=length, start_time=0.0)
    ws = AnalysisWorkspace()
    ws.store("a", "sd", sd)
    ws.save(location.url, storage_options=location.storage_options)
    view = _open(location).get_lazy("a", "sd")
    for start, end in [(0.0, 10_000.0), (9_999.0, 20_000.0), (10_000.0, 10_000.5), (33_333.3, 71_234.5), (90_000.0, length), (5.0, length)]:
        assert_same(sd.subtime(start, end), view.subtime(start, end), f"[{start}, {end})")


def test_item_views_read_parts(saved) -> None:
    location, _ = saved
    lazy = _open(location)
    rates = ITEMS["ratedata"]
    view = lazy.get_lazy("ns", "ratedata")
    assert view.N == rates.N
    assert_same(rates.times, view.times)
    assert_same(rates.inst_Frate_data[2], view.inst_Frate_data[2])
    assert_same(rates.neuron_attributes, view.neuron_attributes)

    rss = ITEMS["rateslicestack"]
    view = lazy.get_lazy("ns", "rateslicestack")
    assert_same(rss.event_stack[:, :, 1], view.event_stack[:, :, 1])
    assert view.times == rss.times and view.step_size == rss.step_size

    pcm = ITEMS["pairwise"]
    view = lazy.get_lazy("ns", "pairwise")
    assert_same(pcm.matrix[3], view.matrix[3])
    assert view.labels == pcm.labels and view.metadata == pcm.metadata

    stack = ITEMS["pairwise_stack"]
    view = lazy.get_lazy("ns", "pairwise_stack")
    assert_same(stack.stack[:, :, 2], view.stack[:, :, 2])
    assert view.labels == stack.labels and view.times == stack.times and view.metadata == stack.metadata

    sss = ITEMS["spikeslicestack"]
    view = lazy.get_lazy("ns", "spikeslicestack")
    assert len(view) == len(sss.spike_stack) and view.N == sss.N and view.times == sss.times
    for i, sd in enumerate(sss.spike_stack):
        assert_same(sd, view.slice(i), f"slice {i}")
    with pytest.raises(InvalidValueError):
        view.slice(len(sss.spike_stack))


def test_dict_view_gives_sub_views_and_values(saved) -> None:
    location, _ = saved
    view = _open(location).get_lazy("ns", "dict")
    d = ITEMS["dict"]
    assert isinstance(view, DictView) and view.keys() == list(d) and len(view) == len(d) and "int" in view
    for key in ("int", "float", "bool", "np_int", "np_float32", "np_bool", "str", "none", "tuple", "set", "frozenset"):
        assert_same(d[key], view[key], key)
    assert isinstance(view["array"], LazyArray)
    assert_same(d["array"][1:3], view["array"][1:3])
    assert_same(np.asarray(d["list2d"]), view["list2d"].load())
    assert_same(d["nested"]["deeper"]["sd"].train[0], view["nested"]["deeper"]["sd"].train(0))
    assert_same(d["rates"].inst_Frate_data[:, 5], view["rates"].inst_Frate_data[:, 5])
    assert_same(d["nested"], view["nested"].load(), "nested")
    with pytest.raises(ItemNotFoundError):
        view["missing"]


def test_to_dask_reads_the_same_values(saved) -> None:
    da = pytest.importorskip("dask.array")
    location, _ = saved
    view = _open(location).get_lazy("ns", "ratedata").inst_Frate_data
    arr = view.to_dask()
    assert isinstance(arr, da.Array) and arr.chunks[0][0] == view.chunks[0]
    assert_same(ITEMS["ratedata"].inst_Frate_data, arr.compute())
    assert_same(ITEMS["ratedata"].inst_Frate_data, da.from_zarr(view).compute())  # a view is a zarr.Array
    assert_same(ITEMS["ratedata"].inst_Frate_data, _open(location).to_dask("ns", "ratedata").compute())


def test_get_lazy_of_a_missing_item_raises(saved) -> None:
    location, _ = saved
    lazy = _open(location)
    with pytest.raises(ItemNotFoundError):
        lazy.get_lazy("ns", "missing")
    with pytest.raises(KeyError):
        lazy.get_lazy("nope", "x")


# -- modes and writes ----------------------------------------------------------


def test_modes(location) -> None:
    with pytest.raises(WorkspaceNotFoundError):
        _open(location, "r")
    with pytest.raises(WorkspaceNotFoundError):
        _open(location, "r+")
    with pytest.raises(InvalidModeError):
        _open(location, "x")
    ws = open_workspace(location.url, "a", storage_options=location.storage_options, name="made")
    ws.store("a", "x", np.arange(3))
    ws.close()
    again = _open(location, "a")
    assert again.name == "made" and again.list_keys() == {"a": ["x"]}
    again.store("a", "y", np.arange(4))
    ro = _open(location, "r")
    for write in (
        lambda: ro.store("a", "z", np.arange(1)),
        lambda: ro.delete("a", "x"),
        lambda: ro.rename("a", "x", "w"),
        lambda: ro.add_note("a", "x", "n"),
        lambda: ro.compact(),
        lambda: ro.merge_from(again),
    ):
        with pytest.raises(ReadOnlyError):
            write()
    assert ro.list_keys() == {"a": ["x", "y"]}
    fresh = _open(location, "w")
    assert fresh.list_keys() == {} and fresh.workspace_id != again.workspace_id
    assert _open(location, "r").list_keys() == {}


def test_writes_go_through_to_the_store(location) -> None:
    ws = _open(location, "w")
    ws.store("rec", "sd", ITEMS["spikedata_full"], note="first")
    ws.store("rec", "arr", np.arange(5))
    ws.store("rec", "other", np.arange(2))
    with pytest.warns(UserWarning):
        assert ws.rename("rec", "arr", "other") is False
    assert ws.rename("rec", "arr", "renamed") is True
    ws.add_note("rec", "renamed", "a note")
    ws.delete("rec", "other")
    with pytest.raises(KeyError):
        ws.delete("rec", "other")
    reader = _open(location, "r")
    assert reader.list_keys() == {"rec": ["sd", "renamed"]}
    assert reader.get_info("rec", "renamed")["note"] == "a note"
    assert reader.get_info("rec", "sd")["note"] == "first"
    assert_same(np.arange(5), reader.get("rec", "renamed"))
    assert_same(ITEMS["spikedata_full"], reader.get("rec", "sd"))
    ws.delete("rec")
    reader.refresh()
    assert reader.list_namespaces() == []


def test_two_handles_see_each_others_items_after_refresh(location) -> None:
    first = _open(location, "a")
    second = _open(location, "a")
    first.store("a", "one", np.arange(1))
    second.store("b", "two", np.arange(2))
    assert "b" not in first.list_namespaces()
    first.refresh()
    second.refresh()
    assert first.list_keys() == second.list_keys() == {"a": ["one"], "b": ["two"]}
    assert_same(np.arange(2), first.get("b", "two"))
    first.close()  # compacts the journal
    second.store("b", "three", np.arange(3))
    reader = _open(location, "r")
    assert reader.list_keys() == {"a": ["one"], "b": ["two", "three"]}


def test_save_copies_and_merge_from(location) -> None:
    ws = _open(location, "w")
    for name in ("spikedata_full", "str_array", "dict", "rateslicestack", "empty"):
        ws.store("ns", name, ITEMS[name], note=name)
    copy = location.child("copy")
    ws.save(copy.url, storage_options=copy.storage_options)
    saved = AnalysisWorkspace.load(copy.url, storage_options=copy.storage_options)
    assert saved.workspace_id == ws.workspace_id and saved.describe() == ws.describe()
    for name in saved.list_keys("ns"):
        assert_same(ITEMS[name], saved.get("ns", name), name)
    assert_same(ITEMS["spikedata_full"].subtime(100, 700), _open(copy).get_lazy("ns", "spikedata_full").subtime(100, 700))

    target = LazyAnalysisWorkspace()
    target.store("ns", "str_array", np.arange(2))
    result = target.merge_from(ws)
    assert result["merged"] == 4 and result["skipped_keys"] == [("ns", "str_array")]
    assert target.get_info("ns", "dict")["note"] == "dict"
    assert_same(ITEMS["dict"], target.get("ns", "dict"))
    target.close()


def test_path_urls_and_load(tmp_path) -> None:
    ws = AnalysisWorkspace(name="p")
    ws.store("a", "x", np.arange(3.0))
    ws.save(tmp_path / "ws")
    lazy = open_workspace(tmp_path / "ws")
    assert_same(np.arange(3.0), lazy.get("a", "x"))
    copy = LazyAnalysisWorkspace.load(tmp_path / "ws")
    assert copy.workspace_id == ws.workspace_id and copy.mode == "r+"
    copy.store("a", "y", np.arange(1))  # a private copy: the source is unchanged
    assert open_workspace(tmp_path / "ws").list_keys() == {"a": ["x"]}
    copy.close()


# -- lifecycle -----------------------------------------------------------------


def test_temporary_store_is_removed_on_close_and_on_collection() -> None:
    ws = LazyAnalysisWorkspace(name="tmp")
    folder = ws.url
    ws.store("a", "x", np.arange(3))
    assert os.path.isdir(folder) and ws.list_keys() == {"a": ["x"]}
    ws.close()
    ws.close()
    assert not os.path.exists(folder) and ws.closed
    with pytest.raises(SpikestoreError):
        ws.get("a", "x")
    with pytest.raises(NotImplementedError):
        ws._items

    other = LazyAnalysisWorkspace()
    folder = other.url
    del other
    gc.collect()
    assert not os.path.exists(folder)


def test_workspace_manager_creates_lazy_workspaces() -> None:
    manager = get_workspace_manager()
    wid = manager.create_workspace(name="managed", lazy=True)
    ws = manager.get_workspace(wid)
    assert isinstance(ws, LazyAnalysisWorkspace)
    ws.store("a", "x", np.arange(2))
    assert [w["item_count"] for w in manager.list_workspaces() if w["workspace_id"] == wid] == [1]
    folder = ws.url
    manager.delete_workspace(wid)
    assert not os.path.exists(folder)


def test_pickle_reopens_from_url(location) -> None:
    ws = _open(location, "w")
    ws.store("a", "x", np.arange(3))
    clone = pickle.loads(pickle.dumps(ws))
    assert clone.mode == "r+" and clone.workspace_id == ws.workspace_id
    assert_same(np.arange(3), clone.get("a", "x"))
    ro = pickle.loads(pickle.dumps(_open(location, "r")))
    with pytest.raises(ReadOnlyError):
        ro.store("a", "y", np.arange(1))
    assert len(pickle.dumps(ws)) < 2000, "only the URL, options and mode are pickled"


def test_pickled_temporary_workspace_does_not_remove_the_folder() -> None:
    ws = LazyAnalysisWorkspace()
    ws.store("a", "x", np.arange(3))
    clone = pickle.loads(pickle.dumps(ws))
    clone.close()
    assert os.path.isdir(ws.url)
    assert_same(np.arange(3), ws.get("a", "x"))
    ws.close()


def test_dask_tasks_receive_the_workspace(saved) -> None:
    dask = pytest.importorskip("dask")
    location, _ = saved
    lazy = _open(location)

    def unit_count(ws, key):
        return len(ws.get_lazy("ns", key).train(0))

    tasks = [dask.delayed(unit_count)(lazy, key) for key in ("spikedata_full", "spikedata_plain")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts = dask.compute(*tasks, scheduler="processes", num_workers=2) if location.kind != "memory" else dask.compute(*tasks)
    assert list(counts) == [len(ITEMS["spikedata_full"].train[0]), len(ITEMS["spikedata_plain"].train[0])]


def test_view_of_a_replaced_item_says_so(location) -> None:
    ws = _open(location, "w")
    ws.store("a", "x", np.arange(10.0))
    view = ws.get_lazy("a", "x")
    ws.store("a", "x", np.arange(4.0))  # the old version's chunks are removed
    with pytest.raises(ItemNotFoundError):
        view[0:3]
    assert_same(np.arange(4.0), ws.get_lazy("a", "x")[:])


def test_a_path_holding_other_data_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "precious.txt").write_text("keep me")
    with pytest.raises(SpikestoreError):
        open_workspace(tmp_path / "ws", "a")
    with pytest.raises(SpikestoreError):
        open_workspace(tmp_path / "ws", "w")
    assert (tmp_path / "ws" / "precious.txt").read_text() == "keep me"


def test_constructor_with_a_url_creates_or_reopens(location) -> None:
    first = LazyAnalysisWorkspace(name="at-url", url=location.url, storage_options=location.storage_options)
    first.store("a", "x", np.arange(3))
    assert first.mode == "a" and "at-url" in repr(first) and "1 item(s)" in repr(first)
    first.close()
    again = LazyAnalysisWorkspace(url=location.url, storage_options=location.storage_options)
    assert again.workspace_id == first.workspace_id and again.name == "at-url"
    assert_same(np.arange(3), again.get("a", "x"))
    again.close()
    assert_same(np.arange(3), _open(location).get("a", "x")), "closing a URL-backed workspace keeps its data"


def test_a_view_pickles_to_the_same_data_and_shares_one_client_per_root(location) -> None:
    """Our requests and zarr's share one filesystem (one S3 session); a pickled
    view reopens the root by URL, since that filesystem holds an event loop."""
    ws = _open(location, "w")
    values = np.arange(5000.0).reshape(50, 100)
    ws.store("a", "m", values)
    root = ws._require_open().backend
    inner = root.zarr_store._store
    if not root.is_local and getattr(root.fs, "async_impl", False) and hasattr(inner, "fs"):  # (S3 may go through obstore)
        assert inner.fs is root.fs
    view = ws.get_lazy("a", "m")
    clone = pickle.loads(pickle.dumps(view))
    assert_same(values[7:9], np.asarray(clone[7:9]))
    assert_same(values, np.asarray(clone[:]))
    assert type(pickle.loads(pickle.dumps(inner))) is type(inner)


@pytest.mark.parametrize("dtype", [">f8", "<f8", ">i4", "<u2"])
def test_a_lazy_array_keeps_the_stored_byte_order(tmp_path, dtype) -> None:
    """A view gives what the loaded item gives: the dtype as stored, byte order included."""
    values = (np.arange(5000) % 251).astype(dtype).reshape(50, 100)
    ws = AnalysisWorkspace()
    ws.store("ns", "a", values)
    ws.save(str(tmp_path / "ws"))
    view = open_workspace(str(tmp_path / "ws")).get_lazy("ns", "a")
    loaded = AnalysisWorkspace.load(str(tmp_path / "ws")).get("ns", "a")
    assert loaded.dtype == np.dtype(dtype)
    for got in (view.load(), view[...], view[3:7, ::3], np.asarray(view)):
        assert got.dtype == np.dtype(dtype), got.dtype
    np.testing.assert_array_equal(view[3:7, ::3], values[3:7, ::3])
    np.testing.assert_array_equal(view.load(), values)
