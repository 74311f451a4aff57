"""Codec details that whole-object round trips do not reach."""

from __future__ import annotations

import numpy as np
import pytest

from spikestore import codecs
from spikestore.record import Dataset

from .objects import assert_same, spike_data


def _record(flat, index, n, length=100.0):
    record = codecs.encode_item(spike_data(2), "x")
    record.datasets["spike_times"] = Dataset(np.asarray(flat, dtype=np.float64))
    record.datasets["spike_times_index"] = Dataset(np.asarray(index, dtype=np.int64))
    record.attrs.update(N=n, length_ms=length, start_time=0.0)
    record.children.clear()
    return record


def test_sorted_trains_decode_without_the_constructor_and_equal_it() -> None:
    sd = codecs.decode(_record([1.0, 5.0, 2.0, 3.0], [2, 4], 2))
    assert [t.tolist() for t in sd.train] == [[1.0, 5.0], [2.0, 3.0]]
    assert sd.N == 2 and sd.raw_data.shape == (0, 0) and sd.raw_time.shape == (0,)


def test_unsorted_foreign_trains_are_sorted_by_spikelab() -> None:
    sd = codecs.decode(_record([5.0, 1.0, 3.0], [2, 3], 2))
    assert [t.tolist() for t in sd.train] == [[1.0, 5.0], [3.0]]


def test_out_of_range_or_nan_spikes_are_refused_as_spikelab_does() -> None:
    with pytest.raises(ValueError, match="exceeds end"):
        codecs.decode(_record([1.0, 500.0], [2], 1))
    with pytest.raises(ValueError, match="NaN"):
        codecs.decode(_record([1.0, np.nan], [2], 1))


def test_spike_data_round_trip_through_the_record_equals_the_original() -> None:
    original = spike_data(5)
    assert_same(original, codecs.decode(codecs.encode_item(original, "x")))


def test_numpy_bool_is_written_as_spikelab_writes_it_with_a_private_marker() -> None:
    record = codecs.encode_value(np.bool_(True), "x")
    assert record.attrs == {"__scalar_value__": True, "__scalar_kind__": "bool", "spikestore:numpy_bool": True}
    assert type(codecs.decode(record)) is np.bool_ and codecs.decode(record)
    # what the HDF5 export writes (the private attribute dropped): spikelab's own record
    spikelab_record = codecs.encode_value(np.bool_(False), "x")
    del spikelab_record.attrs["spikestore:numpy_bool"]
    assert type(codecs.decode(spikelab_record)) is bool and codecs.decode(spikelab_record) is False
    assert codecs.encode_value(True, "x").attrs == {"__scalar_value__": True, "__scalar_kind__": "bool"}


def test_stores_written_with_the_old_bool_kind_still_read_numpy_bools() -> None:
    record = codecs.encode_value(np.bool_(True), "x")
    record.attrs = {"__scalar_value__": True, "__scalar_kind__": "bool_"}
    assert type(codecs.decode(record)) is np.bool_


def test_non_native_byte_order_is_recorded_and_restored_by_read() -> None:
    big = np.arange(4, dtype=">i4")
    record = codecs.encode_item(big, "x")
    ds = record.datasets["data"]
    assert ds.attrs["spikestore:byteorder"] == ">"
    ds.data = ds.data.astype("=i4")  # what a container that normalises byte order gives back
    got = codecs.decode(record)
    assert got.dtype.str == ">i4" and np.array_equal(got, big)
    native = codecs.encode_item(np.arange(4, dtype="=i4"), "x")
    assert "spikestore:byteorder" not in native.datasets["data"].attrs
    assert "spikestore:byteorder" not in codecs.encode_item(np.arange(4, dtype=np.uint8), "x").datasets["data"].attrs


def test_long_long_arrays_are_stored_as_fixed_width_ints() -> None:
    record = codecs.encode_value([2**63, 2**64 - 1], "x")
    assert record.datasets["data"].data.dtype is np.dtype("uint64")
    assert codecs.encode_item(np.arange(3, dtype=np.longlong), "x").datasets["data"].data.dtype is np.dtype("int64")


def test_uneven_slice_stack_summary_is_spikelabs() -> None:
    from spikelab.workspace.workspace import _make_summary

    from .objects import uneven_slice_stack

    sss = uneven_slice_stack()
    assert codecs.summary(sss) == _make_summary(sss) and type(codecs.summary(sss)["length_ms"]) is tuple


def test_neuron_attribute_columns_decode_missing_units_of_every_kind() -> None:
    """Missing units: listed in ``__missing_unit_indices__``, an all-NaN row of a legacy
    file (no list), NaN in a number column; partly-NaN rows and other values are kept."""
    from spikestore.codecs.neuron_attributes import GROUP, decode_neuron_attributes
    from spikestore.record import Dataset, Record

    listed = np.arange(12.0).reshape(4, 3)
    legacy = np.array([[1.0, 2.0], [np.nan, np.nan], [np.nan, 5.0], [6.0, 7.0]])
    group = Record(
        datasets={
            "listed": Dataset(listed, {"__missing_unit_indices__": np.array([0, 2])}),
            "legacy": Dataset(legacy),
            "count": Dataset(np.array([1.0, np.nan, 3.0, 4.0]), {"__scalar_kind__": "int"}),
            "label": Dataset(np.array(["a", "", "c", "d"])),
        }
    )
    units = decode_neuron_attributes(Record("SpikeData", children={GROUP: group}))
    assert units is not None and len(units) == 4
    assert sorted(units[0]) == ["count", "label", "legacy"]
    assert sorted(units[1]) == ["listed"]
    np.testing.assert_array_equal(units[1]["listed"], listed[1])
    np.testing.assert_array_equal(units[2]["legacy"], legacy[2])  # partly NaN: a value
    assert units[3]["count"] == 4 and type(units[3]["count"]) is int and units[2]["label"] == "c"
    units[3]["listed"][0] = -1.0  # each unit's array is its own copy
    assert listed[3, 0] == 9.0
