"""Every supported type and edge case round-trips through save/load on every store."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from spikestore import AnalysisWorkspace

from .objects import all_items, assert_same, big_endian_items

ITEMS = all_items()


@pytest.fixture(scope="module")
def items() -> dict:
    return all_items()


def test_every_item_roundtrips_through_save_and_load(location, items) -> None:
    ws = AnalysisWorkspace(name="roundtrip")
    for name, obj in items.items():
        ws.store("rec1", name, obj, note=f"note for {name}")
    ws.save(location.url, storage_options=location.storage_options)

    loaded = AnalysisWorkspace.load(location.url, storage_options=location.storage_options)
    assert loaded.workspace_id == ws.workspace_id
    assert loaded.name == "roundtrip"
    assert loaded.created_at == ws.created_at
    assert loaded.describe() == ws.describe()
    for name, obj in items.items():
        assert_same(obj, loaded.get("rec1", name), name)


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_load_item_reads_one_item(tmp_path, name) -> None:
    ws = AnalysisWorkspace()
    ws.store("ns", name, ITEMS[name])
    ws.store("ns", "other", np.arange(3))
    ws.save(tmp_path / "ws")
    assert_same(ITEMS[name], AnalysisWorkspace.load_item(tmp_path / "ws", "ns", name))


@pytest.mark.parametrize("name", ["spikedata_full", "dict", "str_array", "spikeslicestack"])
def test_load_item_on_every_store(location, name) -> None:
    ws = AnalysisWorkspace()
    ws.store("ns", name, ITEMS[name])
    ws.save(location.url, storage_options=location.storage_options)
    assert_same(ITEMS[name], AnalysisWorkspace.load_item(location.url, "ns", name, storage_options=location.storage_options))


def test_saved_workspace_is_plain_zarr_with_compressed_chunked_arrays(tmp_path) -> None:
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", np.random.default_rng(0).random((300, 2000)))
    ws.save(tmp_path / "ws")
    root = zarr.open_group(str(tmp_path / "ws"), mode="r")
    assert root.attrs["spikestore"]["workspace_id"] == ws.workspace_id
    (version,) = [name for name in root["rec"]["rates"].keys()]
    arr = root["rec"]["rates"][version]["data"]
    assert arr.shape == (300, 2000) and arr.dtype == np.float64
    assert arr.chunks != arr.shape, "large arrays are chunked"
    names = [c["name"] for c in arr.metadata.to_dict()["codecs"]]
    assert ("blosc" in names or "zstd" in names) and "crc32c" in names
    np.testing.assert_array_equal(arr[:], ws.get("rec", "rates"))


def test_saving_over_a_workspace_replaces_it(location) -> None:
    first = AnalysisWorkspace(name="first")
    first.store("old", "a", np.arange(3))
    first.store("keep", "b", np.arange(4))
    first.save(location.url, storage_options=location.storage_options)
    second = AnalysisWorkspace(name="second")
    second.store("keep", "b", np.arange(5.0))
    second.save(location.url, storage_options=location.storage_options)

    loaded = AnalysisWorkspace.load(location.url, storage_options=location.storage_options)
    assert loaded.name == "second" and loaded.workspace_id == second.workspace_id
    assert loaded.list_keys() == {"keep": ["b"]}
    assert_same(np.arange(5.0), loaded.get("keep", "b"))
    fs = location.fs()
    root = location.url.split("://", 1)[-1]
    assert not fs.exists(f"{root}/old"), "the replaced workspace's data is removed"


def test_load_item_missing_namespace_or_key_raises_keyerror(location) -> None:
    ws = AnalysisWorkspace()
    ws.store("ns", "k", np.arange(2))
    ws.save(location.url, storage_options=location.storage_options)
    with pytest.raises(KeyError, match="Namespace 'nope' not found"):
        AnalysisWorkspace.load_item(location.url, "nope", "k", storage_options=location.storage_options)
    with pytest.raises(KeyError, match="Key 'nope' not found in namespace 'ns'"):
        AnalysisWorkspace.load_item(location.url, "ns", "nope", storage_options=location.storage_options)


def test_big_endian_arrays_round_trip_with_their_byte_order(location) -> None:
    items = big_endian_items()
    ws = AnalysisWorkspace()
    for name, obj in items.items():
        ws.store("be", name, obj)
    ws.save(location.url, storage_options=location.storage_options)
    loaded = AnalysisWorkspace.load(location.url, storage_options=location.storage_options)
    for name, obj in items.items():
        assert_same(obj, loaded.get("be", name), name)
    assert loaded.get("be", "be_c16").dtype.str == ">c16"
    assert loaded.get("be", "be_spikedata").raw_data.dtype.str == ">f8"


def test_numpy_and_python_bools_in_dicts_keep_their_types(location) -> None:
    value = {"np": np.bool_(True), "np_false": np.bool_(False), "py": True}
    ws = AnalysisWorkspace()
    ws.store("ns", "d", value)
    ws.save(location.url, storage_options=location.storage_options)
    assert_same(value, AnalysisWorkspace.load_item(location.url, "ns", "d", storage_options=location.storage_options))
