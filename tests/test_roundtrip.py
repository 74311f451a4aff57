"""Round trips beyond the shipped contract suite (tests/test_contract.py runs
:class:`spikestore.testing.WorkspaceContract` on every store): ``load_item`` of
every sample type, the plain-Zarr layout, numpy and Python bools."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from spikestore import AnalysisWorkspace

from .objects import all_items, assert_same

ITEMS = all_items()


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_load_item_reads_one_item(tmp_path, name) -> None:
    ws = AnalysisWorkspace()
    ws.store("ns", name, ITEMS[name])
    ws.store("ns", "other", np.arange(3))
    ws.save(tmp_path / "ws")
    assert_same(ITEMS[name], AnalysisWorkspace.load_item(tmp_path / "ws", "ns", name))


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


def test_numpy_and_python_bools_in_dicts_keep_their_types(location) -> None:
    value = {"np": np.bool_(True), "np_false": np.bool_(False), "py": True}
    ws = AnalysisWorkspace()
    ws.store("ns", "d", value)
    ws.save(location.url, storage_options=location.storage_options)
    assert_same(value, AnalysisWorkspace.load_item(location.url, "ns", "d", storage_options=location.storage_options))
