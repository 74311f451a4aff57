"""Test objects and whole-object equality (shipped in :mod:`spikestore.testing`,
re-exported here for the tests)."""

from spikestore.testing.compare import assert_same
from spikestore.testing.samples import all_items, big_endian_items, neuron_attributes, spike_data, uneven_slice_stack

__all__ = ["assert_same", "all_items", "big_endian_items", "neuron_attributes", "spike_data", "uneven_slice_stack"]
