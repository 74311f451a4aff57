"""The contract a workspace location keeps, as pytest tests to inherit.

Subclass :class:`WorkspaceContract` in a test module (its name must start
with ``Test``) and give it a ``contract_location`` fixture that yields
``(url, storage_options)`` of an empty location on the store under test;
every test below then runs on it::

    class TestMyStore(WorkspaceContract):
        @pytest.fixture
        def contract_location(self, tmp_path):
            yield f"myfs://bucket/{uuid.uuid4().hex}", {"token": "..."}

spikestore's own suite runs it on a folder, ``memory://`` and moto's S3
server (``tests/test_contract.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .. import AnalysisWorkspace, export_hdf5, gc, import_hdf5, open_workspace, verify
from ..errors import InvalidNameError, WorkspaceNotFoundError
from .compare import assert_same
from .samples import all_items, big_endian_items

Location = tuple[str, "dict[str, Any] | None"]


class WorkspaceContract:
    """Tests every location must pass; see the module docstring for how to use them."""

    @pytest.fixture(scope="class")
    @classmethod
    def samples(cls) -> dict[str, Any]:
        """One object per stored type and edge case."""
        return all_items()

    def test_every_type_round_trips_through_save_and_load(self, contract_location: Location, samples: dict[str, Any]) -> None:
        url, options = contract_location
        ws = AnalysisWorkspace(name="contract")
        for name, obj in samples.items():
            ws.store("rec1", name, obj, note=f"note for {name}")
        ws.save(url, storage_options=options)
        loaded = AnalysisWorkspace.load(url, storage_options=options)
        assert (loaded.workspace_id, loaded.name, loaded.created_at) == (ws.workspace_id, "contract", ws.created_at)
        assert loaded.describe() == ws.describe()
        with open_workspace(url, "r", storage_options=options) as lazy:
            for name, obj in samples.items():
                assert_same(obj, loaded.get("rec1", name), name)
                assert_same(obj, lazy.get("rec1", name), name)
        for name in ("spikedata_full", "dict", "spikeslicestack"):
            assert_same(samples[name], AnalysisWorkspace.load_item(url, "rec1", name, storage_options=options), name)

    def test_byte_order_is_kept(self, contract_location: Location) -> None:
        url, options = contract_location
        items = big_endian_items()
        ws = AnalysisWorkspace()
        for name, obj in items.items():
            ws.store("be", name, obj)
        ws.save(url, storage_options=options)
        loaded = AnalysisWorkspace.load(url, storage_options=options)
        for name, obj in items.items():
            assert_same(obj, loaded.get("be", name), name)

    def test_items_stored_on_an_open_workspace_are_read_lazily(self, contract_location: Location, samples: dict[str, Any]) -> None:
        url, options = contract_location
        names = ["spikedata_full", "ratedata", "spikeslicestack", "pairwise_stack", "dict", "array_float32", "str_array"]
        with open_workspace(url, "w", storage_options=options) as ws:
            for name in names:
                ws.store("ns", name, samples[name])
        with open_workspace(url, "r", storage_options=options) as ws:
            assert sorted(ws.list_keys("ns")) == sorted(names)
            for name in names:
                assert_same(samples[name], ws.get("ns", name), name)
            rates = ws.get_lazy("ns", "ratedata").inst_Frate_data
            assert_same(samples["ratedata"].inst_Frate_data[2], rates[2])
            spikes = ws.get_lazy("ns", "spikedata_full")
            assert_same(samples["spikedata_full"].train[3], spikes.train(3))
            assert_same(samples["array_float32"][1, 1:], ws.get_lazy("ns", "array_float32")[1, 1:])

    def test_delete_rename_and_note_survive_reopening(self, contract_location: Location) -> None:
        url, options = contract_location
        with open_workspace(url, "w", storage_options=options) as ws:
            for key in ("a", "b", "c"):
                ws.store("ns", key, np.arange(1000.0) + ord(key))
            ws.store("gone", "x", {"v": 1})
            ws.delete("ns", "a")
            ws.rename("ns", "b", "b2")
            ws.add_note("ns", "c", "checked")
            ws.delete("gone")
        with open_workspace(url, "r", storage_options=options) as ws:
            assert ws.list_namespaces() == ["ns"] and sorted(ws.list_keys("ns")) == ["b2", "c"]
            assert_same(np.arange(1000.0) + ord("b"), ws.get("ns", "b2"))
            assert (ws.get_info("ns", "c") or {}).get("note") == "checked"
        assert verify(url, storage_options=options).ok
        assert gc(url, storage_options=options, grace_seconds=0).removed == []

    def test_saving_over_a_workspace_replaces_it(self, contract_location: Location) -> None:
        url, options = contract_location
        first = AnalysisWorkspace(name="first")
        first.store("old", "a", np.arange(3000))
        first.store("keep", "b", np.arange(4))
        first.save(url, storage_options=options)
        second = AnalysisWorkspace(name="second")
        second.store("keep", "b", np.arange(5.0))
        second.save(url, storage_options=options)
        loaded = AnalysisWorkspace.load(url, storage_options=options)
        assert loaded.name == "second" and loaded.list_keys() == {"keep": ["b"]}
        assert_same(np.arange(5.0), loaded.get("keep", "b"))
        assert verify(url, storage_options=options).unreferenced_versions == 0

    def test_hdf5_exchange_gives_equal_objects(self, contract_location: Location, samples: dict[str, Any], tmp_path: Any) -> None:
        url, options = contract_location
        # spikelab's .h5 keeps numpy bools in dicts as Python bools (as spikelab
        # itself writes them), so the sample dict is not among these
        names = ("spikedata_full", "rateslicestack", "spikeslicestack", "pairwise", "pairwise_stack", "str_array")
        ws = AnalysisWorkspace(name="exchange")
        for name in names:
            ws.store("ns", name, samples[name])
        ws.store("ns", "results", {"n": 3, "curve": np.linspace(0, 1, 50), "label": "good"})
        ws.save(url, storage_options=options)
        export_hdf5(url, str(tmp_path / "mail"), storage_options=options)
        copy = f"{url.rstrip('/')}-imported"
        import_hdf5(str(tmp_path / "mail"), copy, storage_options=options)
        loaded = AnalysisWorkspace.load(copy, storage_options=options)
        for name in names:
            assert_same(samples[name], loaded.get("ns", name), name)
        assert_same(ws.get("ns", "results"), loaded.get("ns", "results"))

    def test_errors_name_the_problem_and_change_nothing(self, contract_location: Location) -> None:
        url, options = contract_location
        with pytest.raises(WorkspaceNotFoundError):
            open_workspace(url, "r", storage_options=options)
        with pytest.raises(KeyError, match="Namespace 'nope' not found"):
            ws = AnalysisWorkspace()
            ws.store("ns", "k", np.arange(2))
            ws.save(url, storage_options=options)
            AnalysisWorkspace.load_item(url, "nope", "k", storage_options=options)
        with open_workspace(url, "r+", storage_options=options) as ws:
            for bad in ("../up", "a/b", "", "__spikestore__"):
                with pytest.raises(InvalidNameError):
                    ws.store("ns", bad, np.arange(3))
        assert AnalysisWorkspace.load(url, storage_options=options).list_keys() == {"ns": ["k"]}
