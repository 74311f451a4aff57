"""A version-1 workspace written by the previous release still opens, loads
and reads lazily, accepts new items in its own format, and is upgraded to
version 2 by a whole-workspace save."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from spikestore import AnalysisWorkspace, open_workspace, verify

from .format_v1_items import NOTES, WORKSPACE_NAME, expected_items
from .objects import assert_same

FIXTURE = Path(__file__).parent / "fixtures" / "format-v1"


@pytest.fixture()
def v1_copy(tmp_path: Path) -> Path:
    """A writable copy of the committed fixture."""
    target = tmp_path / "v1"
    shutil.copytree(FIXTURE, target)
    return target


def _root_version(path: Path) -> int:
    return json.loads((path / "zarr.json").read_text())["attributes"]["spikestore"]["format_version"]


def test_fixture_is_version_1() -> None:
    assert _root_version(FIXTURE) == 1
    assert (FIXTURE / "__spikestore__" / "index").is_dir()


def test_version_1_loads_every_item_exactly(v1_copy: Path) -> None:
    ws = AnalysisWorkspace.load(v1_copy)
    assert ws.name == WORKSPACE_NAME
    expected = expected_items()
    assert {(ns, k) for ns in ws.list_namespaces() for k in ws.list_keys(ns)} == set(expected)
    for (ns, key), obj in expected.items():
        assert_same(obj, ws.get(ns, key), f"{ns}/{key}")
    assert ws.get_info("rec1", "spikes")["note"] == NOTES[("rec1", "spikes")]
    assert verify(str(v1_copy)).ok


def test_version_1_reads_lazily(v1_copy: Path) -> None:
    expected = expected_items()
    with open_workspace(v1_copy) as ws:
        spikes = ws.get_lazy("rec1", "spikes")
        np.testing.assert_array_equal(spikes.train(3), expected[("rec1", "spikes")].train[3])
        rates = ws.get_lazy("rec1", "rates")
        np.testing.assert_array_equal(rates.inst_Frate_data[2], expected[("rec1", "rates")].inst_Frate_data[2])
        assert_same(expected[("rec2", "result")], ws.get("rec2", "result"))


def test_version_1_accepts_new_items_in_its_own_format(v1_copy: Path) -> None:
    with open_workspace(v1_copy, "r+") as ws:
        ws.store("rec3", "extra", np.arange(5))
    assert _root_version(v1_copy) == 1
    for obj in (v1_copy / "__spikestore__" / "index").iterdir():
        assert obj.read_bytes().lstrip().startswith(b"{"), f"{obj.name} is not a version-1 object"
    ws = AnalysisWorkspace.load(v1_copy)
    np.testing.assert_array_equal(ws.get("rec3", "extra"), np.arange(5))
    assert_same(expected_items()[("rec1", "corr")], ws.get("rec1", "corr"))


def test_a_whole_save_upgrades_version_1_to_version_2(v1_copy: Path) -> None:
    ws = AnalysisWorkspace.load(v1_copy)
    ws.store("rec3", "zarr.json", {"x": 1})
    ws.save(v1_copy)
    assert _root_version(v1_copy) == 2
    again = AnalysisWorkspace.load(v1_copy)
    for (ns, key), obj in expected_items().items():
        assert_same(obj, again.get(ns, key), f"{ns}/{key}")
    assert again.get("rec3", "zarr.json") == {"x": 1}
    report = verify(str(v1_copy))
    assert report.ok, str(report)
