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
