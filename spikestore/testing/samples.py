"""Sample objects: one per type spikestore stores and the spikelab edge cases
every store and container must round-trip (empty units, zero units,
event-centred times, missing neuron attributes, every numeric dtype,
big-endian arrays, nested dicts)."""

from __future__ import annotations

from typing import Any

import numpy as np
from spikelab.spikedata.pairwise import PairwiseCompMatrix, PairwiseCompMatrixStack
from spikelab.spikedata.ratedata import RateData
from spikelab.spikedata.rateslicestack import RateSliceStack
from spikelab.spikedata.spikedata import SpikeData
from spikelab.spikedata.spikeslicestack import SpikeSliceStack


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def spike_data(n: int = 6, length: float = 2000.0, **kwargs: Any) -> SpikeData:
    rng = _rng()
    trains = [np.sort(rng.uniform(0, length, rng.integers(0, 50))) for _ in range(n)]
    if n > 1:
        trains[1] = np.array([])  # an empty unit
    return SpikeData(trains, length=length, **kwargs)


def neuron_attributes(n: int) -> list[dict]:
    units = []
    for i in range(n):
        unit: dict[str, Any] = {"channel": i * 2, "snr": 1.5 + i, "good": i % 2 == 0, "region": f"CA{i % 3}"}
        unit["template"] = np.arange(4, dtype=np.float32) + i
        if i == 2:
            del unit["region"]  # missing string
            del unit["template"]  # missing array row (None reads back as missing too)
        if i == 3:
            unit["depth"] = 120  # only one unit has it
        units.append(unit)
    return units


def all_items() -> dict[str, Any]:
    """One object per supported type and edge case, keyed by a readable name."""
    rng = _rng()
    n = 6
    sd_full = spike_data(
        n,
        neuron_attributes=neuron_attributes(n),
        metadata={"fs_Hz": 20000, "probe": "maxwell", "nested": {"a": [1, 2]}, "trial_starts": np.array([1.0, 2.5])},
        raw_data=rng.normal(size=(3, 50)),
        raw_time=np.arange(50) / 20.0,
        start_time=0.0,
    )
    event_centered = SpikeData([np.array([-100.0, -5.0, 30.0]), np.array([0.0])], length=500.0, start_time=-200.0)
    rates = RateData(rng.gamma(2.0, 2.0, size=(n, 40)), np.arange(40) * 10.0, neuron_attributes=neuron_attributes(n))
    rss = RateSliceStack(
        event_matrix=rng.random((n, 20, 4)), times_start_to_end=[(0.0, 200.0), (300.0, 500.0), (600.0, 800.0), (900.0, 1100.0)], step_size=10.0,
        neuron_attributes=neuron_attributes(n),
    )
    base = spike_data(n, length=5000.0, neuron_attributes=neuron_attributes(n))
    sss = SpikeSliceStack(data_obj=base, times_start_to_end=[(0.0, 1000.0), (1000.0, 2000.0), (2500.0, 3500.0)])
    pcm = PairwiseCompMatrix(matrix=rng.random((n, n)), labels=[f"u{i}" for i in range(n)], metadata={"method": "sttc", "delt": 20})
    pcm_int_labels = PairwiseCompMatrix(matrix=rng.random((3, 3)), labels=[3, 7, 9])
    pcms = PairwiseCompMatrixStack(
        stack=rng.random((n, n, 3)), labels=list(range(n)), times=[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)], metadata={"k": "v"}
    )
    items: dict[str, Any] = {
        "spikedata_full": sd_full,
        "spikedata_plain": spike_data(4),
        "spikedata_zero_units": SpikeData([], length=100.0),
        "spikedata_all_empty": SpikeData([np.array([]), np.array([])], length=10.0),
        "spikedata_event_centered": event_centered,
        "ratedata": rates,
        "ratedata_plain": RateData(np.zeros((2, 0)), np.zeros(0)),
        "rateslicestack": rss,
        "spikeslicestack": sss,
        "pairwise": pcm,
        "pairwise_int_labels": pcm_int_labels,
        "pairwise_stack": pcms,
        "pairwise_stack_plain": PairwiseCompMatrixStack(stack=rng.random((2, 2, 1))),
        "str_array": np.array(["alpha", "βeta", "", "gamma delta"]),
        "str_array_2d": np.array([["a", "bb"], ["ccc", "d"]]),
        "zero_d": np.array(3.5),
        "empty": np.zeros((0, 4)),
        "bool_array": np.array([True, False, True]),
        "dict": {
            "int": 3, "float": 2.5, "bool": True, "np_int": np.int64(9), "np_float32": np.float32(0.25), "np_bool": np.bool_(False),
            "str": "hello", "none": None, "list": [1, 2, 3], "list2d": [[1.0, 2.0], [3.0, 4.0]], "tuple": (1, 2), "str_tuple": ("a", "b"),
            "set": {3, 1, 2}, "frozenset": frozenset({"x", "y"}), "empty_tuple": (), "array": np.arange(5, dtype=np.uint16),
            "nested": {"deeper": {"x": 1.0, "sd": spike_data(2)}, "pcm": pcm},
            "rates": rates,
        },
        "empty_dict": {},
    }
    for dtype in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64", "complex64", "complex128"]:
        items[f"array_{dtype}"] = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    return items


def uneven_slice_stack() -> SpikeSliceStack:
    """A SpikeSliceStack whose slices last 100 and 200 ms (summary ``length_ms`` is a tuple)."""
    return SpikeSliceStack(spike_stack=[spike_data(3, length=100.0), spike_data(3, length=200.0)])


def big_endian_items() -> dict[str, Any]:
    """Arrays in non-native byte order, as items, inside a dict, and as class attributes
    spikelab keeps as given (``raw_data``, ``raw_time``, neuron-attribute arrays)."""
    rng = _rng()
    units = [{"template": np.arange(3, dtype=">f4") + i} for i in range(2)]
    return {
        "be_f8": (np.arange(6).reshape(2, 3) / 3).astype(">f8"),
        "be_i4": np.arange(-3, 3, dtype=">i4"),
        "be_c16": (np.arange(4) + 1j * np.arange(4)).astype(">c16"),
        "be_zero_d": np.array(2.5, dtype=">f8"),
        "le_u2": np.arange(5, dtype="<u2"),
        "be_dict": {"a": np.arange(3, dtype=">f8"), "b": np.arange(4, dtype=">i8").reshape(2, 2), "t": (1, 2)},
        "be_spikedata": SpikeData(
            [np.array([1.0, 2.0]), np.array([3.0])], length=10.0, raw_data=rng.normal(size=(2, 5)).astype(">f8"),
            raw_time=np.arange(5, dtype=">f8"), neuron_attributes=units,
        ),
    }
