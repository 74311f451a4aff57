"""The last differences from spikelab 0.1.2, checked against spikelab itself.

Each test runs the same operation through spikelab's ``AnalysisWorkspace``
and spikestore's, and compares what a user sees: index summaries (with their
Python types), the objects read back, the exception types raised for values
spikelab cannot save, and the HDF5 attributes an export writes.
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
import pytest
from spikelab.spikedata.pairwise import PairwiseCompMatrix, PairwiseCompMatrixStack
from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

from spikestore import AnalysisWorkspace, InvalidValueError, SpikestoreError, codecs, export_hdf5, import_hdf5, open_workspace

from .objects import assert_same, big_endian_items, uneven_slice_stack

NS = "rec"


def _info(ws: Any, key: str) -> dict:
    return {k: v for k, v in ws.get_info(NS, key).items() if k != "created_at"}


# -- 1. a SpikeSliceStack of uneven slices: length_ms is a tuple ----------------------------------


def test_uneven_slice_stack_summary_is_spikelabs_tuple_in_memory() -> None:
    ours, theirs = AnalysisWorkspace(), SpikelabWorkspace()
    for ws in (ours, theirs):
        ws.store(NS, "sss", uneven_slice_stack())
    assert _info(ours, "sss") == _info(theirs, "sss") == {"type": "SpikeSliceStack", "N_slices": 2, "N_units": 3, "length_ms": (100.0, 200.0)}
    assert type(_info(ours, "sss")["length_ms"]) is tuple


def _spikelab_loaded_info(tmp_path: Any) -> dict:
    theirs = SpikelabWorkspace()
    theirs.store(NS, "sss", uneven_slice_stack())
    theirs.save(str(tmp_path / "theirs"))
    expected = _info(SpikelabWorkspace.load(str(tmp_path / "theirs")), "sss")
    assert type(expected["length_ms"]) is tuple, "spikelab rebuilds its summaries on load"
    return expected


def test_uneven_slice_stack_summary_read_from_a_spikelab_file_is_a_tuple(tmp_path) -> None:
    expected = _spikelab_loaded_info(tmp_path)  # its .json holds the range as a list
    from_h5 = AnalysisWorkspace.load(str(tmp_path / "theirs"))
    assert _info(from_h5, "sss") == expected and type(_info(from_h5, "sss")["length_ms"]) is tuple


def test_restore_summary_gives_back_the_tuple_a_json_index_lost() -> None:
    info = codecs.summary(uneven_slice_stack())
    from_json = json.loads(json.dumps(info))
    assert type(from_json["length_ms"]) is list
    assert codecs.restore_summary(from_json) == info and type(codecs.restore_summary(from_json)["length_ms"]) is tuple
    plain = {"type": "ndarray", "shape": [2, 3], "dtype": "float64"}
    assert codecs.restore_summary(plain) is plain


def test_uneven_slice_stack_summary_is_a_tuple_after_save_and_load(tmp_path) -> None:
    expected = _spikelab_loaded_info(tmp_path)
    ours = AnalysisWorkspace()
    ours.store(NS, "sss", uneven_slice_stack())
    ours.save(tmp_path / "ours")
    loaded = AnalysisWorkspace.load(tmp_path / "ours")
    assert _info(loaded, "sss") == expected
    assert type(_info(loaded, "sss")["length_ms"]) is tuple
    lazy = open_workspace(tmp_path / "ours", mode="r")
    assert type(lazy.get_info(NS, "sss")["length_ms"]) is tuple
    assert type(lazy.describe()[NS]["sss"]["length_ms"]) is tuple


# -- 2, 3, 6. values spikelab refuses with TypeError -------------------------------------------


REFUSED = {
    "unorderable-set": {"s": {1, "a"}},
    "unorderable-frozenset": {"s": frozenset({1, "a"})},
    "none-in-list": {"l": [1, None]},
    "labels-with-none": PairwiseCompMatrix(matrix=np.zeros((3, 3)), labels=[1, None, 3]),
    "stack-labels-with-none": PairwiseCompMatrixStack(stack=np.zeros((2, 2, 1)), labels=[None, 2.5]),
    "int-above-uint64": {"x": 2**64},
    "int-below-int64": {"nested": {"x": -(2**63) - 1}},
    "big-int-in-list": {"l": [1, 2**70]},
    "big-int-in-tuple": {"t": (-(2**65),)},
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_values_spikelab_cannot_save_are_refused_as_type_and_value_errors(tmp_path, name) -> None:
    theirs = SpikelabWorkspace()
    theirs.store(NS, "k", REFUSED[name])
    with pytest.raises(TypeError):
        theirs.save(str(tmp_path / "theirs"))

    ours = AnalysisWorkspace()
    ours.store(NS, "k", REFUSED[name])
    with pytest.raises(TypeError) as err:
        ours.save(tmp_path / "ours")
    assert isinstance(err.value, InvalidValueError) and isinstance(err.value, SpikestoreError)
    assert "('rec', 'k')" in str(err.value)
    assert not (tmp_path / "ours").exists(), "refused before anything is written"


@pytest.mark.parametrize(
    "value, key",
    [({"x": 2**64}, "'x'"), ({"a": {"deep": -(2**63) - 1}}, "'deep'"), ({"l": [0, 2**64]}, "'l'")],
)
def test_ints_beyond_int64_and_uint64_name_the_key(tmp_path, value, key) -> None:
    ws = AnalysisWorkspace()
    ws.store(NS, "k", value)
    with pytest.raises(InvalidValueError, match="outside the range") as err:
        ws.save(tmp_path / "ws")
    assert key in str(err.value)
    assert not (tmp_path / "ws").exists()


def test_ints_at_the_edges_of_int64_and_uint64_round_trip(tmp_path) -> None:
    value = {"max_u64": 2**64 - 1, "min_i64": -(2**63), "list": [2**63, 2**64 - 1], "tuple": (-(2**63), 0)}
    ws = AnalysisWorkspace()
    ws.store(NS, "k", value)
    ws.save(tmp_path / "ws")
    got = AnalysisWorkspace.load(tmp_path / "ws").get(NS, "k")
    assert_same(value, got)


def test_labels_that_are_all_numbers_or_all_strings_keep_working(tmp_path) -> None:
    items = {
        "ints": PairwiseCompMatrix(matrix=np.zeros((2, 2)), labels=[3, 7]),
        "floats": PairwiseCompMatrix(matrix=np.zeros((2, 2)), labels=[1, 2.5]),
        "strings": PairwiseCompMatrix(matrix=np.zeros((2, 2)), labels=["a", "b"]),
        "string-and-none": PairwiseCompMatrix(matrix=np.zeros((2, 2)), labels=["a", None]),
        "all-none": PairwiseCompMatrix(matrix=np.zeros((2, 2)), labels=[None, None]),
    }
    ours, theirs = AnalysisWorkspace(), SpikelabWorkspace()
    for ws in (ours, theirs):
        for name, obj in items.items():
            ws.store(NS, name, obj)
    ours.save(tmp_path / "ours")
    theirs.save(str(tmp_path / "theirs"))
    got, expected = AnalysisWorkspace.load(tmp_path / "ours"), SpikelabWorkspace.load(str(tmp_path / "theirs"))
    for name in items:
        assert_same(expected.get(NS, name), got.get(NS, name), name)
    assert got.get(NS, "string-and-none").labels == ["a", "None"]


# -- 4. byte order --------------------------------------------------------------------------


def test_big_endian_arrays_keep_their_byte_order_like_spikelab(tmp_path) -> None:
    items = big_endian_items()
    theirs = SpikelabWorkspace()
    for name, obj in items.items():
        theirs.store(NS, name, obj)
    theirs.save(str(tmp_path / "theirs"))
    reference = SpikelabWorkspace.load(str(tmp_path / "theirs"))

    ours = AnalysisWorkspace()
    for name, obj in items.items():
        ours.store(NS, name, obj)
    ours.save(tmp_path / "ours")
    loaded = AnalysisWorkspace.load(tmp_path / "ours")
    for name in items:
        assert_same(reference.get(NS, name), loaded.get(NS, name), name)
        assert_same(reference.get(NS, name), AnalysisWorkspace.load_item(tmp_path / "ours", NS, name), name)
    assert loaded.get(NS, "be_f8").dtype.str == ">f8" and loaded.get(NS, "be_dict")["b"].dtype.str == ">i8"


def test_export_of_an_in_memory_workspace_keeps_the_byte_order(tmp_path) -> None:
    ours = AnalysisWorkspace()
    for name, obj in big_endian_items().items():
        ours.store(NS, name, obj)
    export_hdf5(ours, str(tmp_path / "out"))
    got = SpikelabWorkspace.load(str(tmp_path / "out"))
    for name, obj in big_endian_items().items():
        assert_same(obj, got.get(NS, name), name)
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert not [n for n in f[f"{NS}/be_f8/data"].attrs if n.startswith("spikestore:")]


def test_export_of_a_zarr_store_keeps_the_byte_order(tmp_path) -> None:
    ours = AnalysisWorkspace()
    for name, obj in big_endian_items().items():
        ours.store(NS, name, obj)
    ours.save(tmp_path / "ours")
    export_hdf5(str(tmp_path / "ours"), str(tmp_path / "out"))
    got = SpikelabWorkspace.load(str(tmp_path / "out"))
    for name, obj in big_endian_items().items():
        assert_same(obj, got.get(NS, name), name)


def test_import_of_a_spikelab_file_keeps_the_byte_order(tmp_path) -> None:
    theirs = SpikelabWorkspace()
    for name, obj in big_endian_items().items():
        theirs.store(NS, name, obj)
    theirs.save(str(tmp_path / "theirs"))
    import_hdf5(str(tmp_path / "theirs"), str(tmp_path / "ours"))
    got = AnalysisWorkspace.load(tmp_path / "ours")
    reference = SpikelabWorkspace.load(str(tmp_path / "theirs"))
    for name in big_endian_items():
        assert_same(reference.get(NS, name), got.get(NS, name), name)


def test_loading_a_spikelab_file_directly_keeps_the_byte_order(tmp_path) -> None:
    """``load``/``load_item`` of a spikelab ``.h5`` keep ``>f8`` even for a 0-d array (h5py reads it as a native scalar)."""
    theirs = SpikelabWorkspace()
    for name, obj in big_endian_items().items():
        theirs.store(NS, name, obj)
    theirs.save(str(tmp_path / "theirs"))
    reference = SpikelabWorkspace.load(str(tmp_path / "theirs"))
    loaded = AnalysisWorkspace.load(str(tmp_path / "theirs"))
    for name in big_endian_items():
        assert_same(reference.get(NS, name), loaded.get(NS, name), name)
        assert_same(reference.get(NS, name), AnalysisWorkspace.load_item(str(tmp_path / "theirs"), NS, name), name)
    assert loaded.get(NS, "be_zero_d").dtype.str == ">f8"
    export_hdf5(loaded, str(tmp_path / "again"))
    with h5py.File(tmp_path / "again.h5", "r") as f:
        assert f[f"{NS}/be_zero_d/data"].dtype.str == ">f8"


# -- 5. numpy bools in dicts ------------------------------------------------------------------


def test_numpy_bool_exports_as_spikelab_writes_it_and_stays_numpy_on_zarr(tmp_path) -> None:
    value = {"np_bool": np.bool_(True), "py_bool": False}
    theirs = SpikelabWorkspace()
    theirs.store(NS, "d", value)
    theirs.save(str(tmp_path / "theirs"))
    ours = AnalysisWorkspace()
    ours.store(NS, "d", value)
    ours.save(tmp_path / "zarr")
    export_hdf5(str(tmp_path / "zarr"), str(tmp_path / "exported"))
    export_hdf5(ours, str(tmp_path / "from_memory"))

    def attrs(path: str) -> dict[str, dict]:
        with h5py.File(path, "r") as f:
            return {k: {n: f[f"{NS}/d/{k}"].attrs[n] for n in f[f"{NS}/d/{k}"].attrs} for k in value}

    expected = attrs(str(tmp_path / "theirs.h5"))
    assert expected["np_bool"]["__scalar_kind__"] == "bool"
    assert attrs(str(tmp_path / "exported.h5")) == attrs(str(tmp_path / "from_memory.h5")) == expected

    got = AnalysisWorkspace.load(tmp_path / "zarr").get(NS, "d")
    assert type(got["np_bool"]) is np.bool_ and got["np_bool"] and type(got["py_bool"]) is bool
    # spikelab's file (and our export) read back as spikelab reads them: Python bools
    for base in ("theirs", "exported"):
        want = SpikelabWorkspace.load(str(tmp_path / base)).get(NS, "d")
        assert_same(want, AnalysisWorkspace.load(str(tmp_path / base)).get(NS, "d"), base)
        assert type(want["np_bool"]) is bool
    import_hdf5(str(tmp_path / "theirs"), str(tmp_path / "imported"))
    assert type(AnalysisWorkspace.load(tmp_path / "imported").get(NS, "d")["np_bool"]) is bool


def test_exported_json_index_matches_spikelabs_for_uneven_stacks(tmp_path) -> None:
    ours, theirs = AnalysisWorkspace(name="w"), SpikelabWorkspace(name="w")
    for ws in (ours, theirs):
        ws.store(NS, "sss", uneven_slice_stack())
    export_hdf5(ours, str(tmp_path / "ours"))
    theirs.save(str(tmp_path / "theirs"))
    with open(tmp_path / "ours.json") as a, open(tmp_path / "theirs.json") as b:
        assert json.load(a)["index"][NS]["sss"]["length_ms"] == json.load(b)["index"][NS]["sss"]["length_ms"] == [100.0, 200.0]
