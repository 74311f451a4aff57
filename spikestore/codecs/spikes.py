"""Spike trains: ``SpikeData`` and ``SpikeSliceStack``.

A ``SpikeData`` is stored as spikelab stores it: all trains concatenated in
``spike_times`` (float64) and their cumulative ends in ``spike_times_index``
(int64), with ``N``, ``length_ms``, ``start_time`` and ``__metadata__``
attributes, optional ``raw_data``/``raw_time`` and ``neuron_attributes``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..record import Dataset, Record
from .base import (
    CHANNEL, SAMPLE, SLICE_TIMES_DIMS, SPIKE, SPIKELAB_CLASSES, UNIT, Dims, attr_float, dataset, decode_times, encode_times,
    fitted, metadata_from_json, metadata_to_json, read, spikelab_class, trailing,
)
from .neuron_attributes import decode_neuron_attributes, encode_neuron_attributes

# Block length of the time-ordered copy of the spikes (a derived array used
# for time-window reads).  See docs/format.md, "Spike-train layout".
TIME_BLOCK_MS = 10_000.0

SPIKE_DIMS: dict[str, Dims] = {
    "spike_times": (SPIKE,),
    "spike_times_index": (UNIT,),  # the end of each unit's train in spike_times
    "raw_time": (SAMPLE,),
    "by_time_times": (SPIKE,),
    "by_time_units": (SPIKE,),
    "by_time_offsets": ("time_block_edge",),
}
"""Axis names of a ``SpikeData``'s datasets (``raw_data``: see :func:`spike_dims`)."""


# below this many spikes a SpikeData gets no time-ordered copy: its spike
# times fit one inner chunk (512 KiB, spikestore/containers/layout.py), so a
# whole read is one request anyway
TIME_ORDERED_MIN_SPIKES = 65_536

def spike_dims(name: str, ndim: int) -> Dims | None:
    """The axis names of a ``SpikeData`` dataset.

    ``raw_data`` is ``(channel, sample)`` as spikelab documents it (its last
    axis matches ``raw_time``); a 1-D trace is ``(sample,)``.
    """
    if name == "raw_data":
        return trailing((CHANNEL, SAMPLE), ndim)
    return fitted(SPIKE_DIMS.get(name), ndim)



def encode_spike_fields(sd: Any, record: Record, where: str) -> None:
    """Write a ``SpikeData``'s datasets and attributes into ``record``."""
    lengths = np.fromiter((len(t) for t in sd.train), dtype=np.int64, count=len(sd.train))
    if lengths.sum():
        flat = np.concatenate([np.asarray(t, dtype=np.float64) for t in sd.train])
    else:
        flat = np.zeros(0, dtype=np.float64)
    record.datasets["spike_times"] = Dataset(flat, dims=SPIKE_DIMS["spike_times"])
    record.datasets["spike_times_index"] = Dataset(np.cumsum(lengths, dtype=np.int64), dims=SPIKE_DIMS["spike_times_index"])
    record.attrs["length_ms"] = float(sd.length)
    record.attrs["start_time"] = float(sd.start_time)
    record.attrs["N"] = int(sd.N)
    record.attrs["__metadata__"] = metadata_to_json(sd.metadata, where)
    raw_data = getattr(sd, "raw_data", None)
    raw_time = getattr(sd, "raw_time", None)
    if raw_data is not None and np.asarray(raw_data).size > 0:
        raw_data = np.asarray(raw_data)
        record.datasets["raw_data"] = dataset(raw_data, dims=spike_dims("raw_data", raw_data.ndim))
    if raw_time is not None and np.asarray(raw_time).size > 0:
        raw_time = np.asarray(raw_time)
        record.datasets["raw_time"] = dataset(raw_time, dims=spike_dims("raw_time", raw_time.ndim))
    encode_neuron_attributes(record, sd.neuron_attributes, where)


def train_bounds(index: np.ndarray, unit: int) -> tuple[int, int]:
    """Where unit ``unit``'s train lies in ``spike_times``: ``[lo, hi)``, from ``spike_times_index``
    (the cumulative end of each train)."""
    return (int(index[unit - 1]) if unit else 0), int(index[unit])


def time_block_edges(start_time: float, block_ms: float, n_blocks: int) -> np.ndarray:
    """The ``n_blocks + 1`` block edges of the time-ordered copy: ``start_time + b * block_ms``."""
    return start_time + block_ms * np.arange(n_blocks + 1)


def window_positions(offsets: np.ndarray, block_ms: float, start_time: float, start: float, end: float) -> tuple[int, int]:
    """The positions ``[lo, hi)`` of the time-ordered copy holding every spike in ``[start, end)``.

    ``offsets`` is ``by_time_offsets`` and ``block_ms`` its ``block_ms``
    attribute (see :func:`time_ordered_copy`); the range covers whole
    blocks, so spikes outside the window are still to be cut away.
    """
    n_blocks = len(offsets) - 1
    edges = time_block_edges(start_time, block_ms, n_blocks)
    b0 = max(0, int(np.searchsorted(edges, start, side="right")) - 1)
    b1 = int(np.searchsorted(edges, end, side="left"))
    lo = int(offsets[min(b0, n_blocks)])
    hi = int(offsets[b1]) if b1 <= n_blocks else int(offsets[-1])
    return lo, hi


def time_ordered_copy(flat: np.ndarray, index: np.ndarray, start_time: float, length: float) -> dict[str, Dataset]:
    """Derived arrays for window reads: spikes sorted by time, their units, block offsets.

    ``by_time_offsets[b]`` is the position of the first spike at or after
    ``start_time + b * TIME_BLOCK_MS``; the last entry is the spike count.
    """
    units = np.repeat(np.arange(len(index), dtype=np.int32), np.diff(index, prepend=0))
    order = np.argsort(flat, kind="stable")
    times = flat[order]
    n_blocks = max(1, int(np.ceil(length / TIME_BLOCK_MS))) if length > 0 else 1
    edges = time_block_edges(start_time, TIME_BLOCK_MS, n_blocks)
    offsets = np.searchsorted(times, edges, side="left").astype(np.int64)
    offsets[-1] = len(times)
    return {
        "by_time_times": Dataset(times, dims=SPIKE_DIMS["by_time_times"]),
        "by_time_units": Dataset(units[order], dims=SPIKE_DIMS["by_time_units"]),
        "by_time_offsets": Dataset(offsets, {"block_ms": TIME_BLOCK_MS}, SPIKE_DIMS["by_time_offsets"]),
    }


def decode_spike_fields(record: Record) -> Any:
    """Rebuild a ``SpikeData`` from a record written by :func:`encode_spike_fields`."""
    flat = read(record.datasets["spike_times"]).astype(np.float64, copy=False)
    index = read(record.datasets["spike_times_index"]).astype(np.int64, copy=False)
    raw_data = read(record.datasets["raw_data"]) if "raw_data" in record.datasets else None
    raw_time = read(record.datasets["raw_time"]) if "raw_time" in record.datasets else None
    if raw_data is None and raw_time is not None:
        raw_data = np.zeros((0, np.atleast_1d(raw_time).shape[0]))
    fields = {
        "N": int(record.attrs["N"]),
        "length": attr_float(record, "length_ms"),
        "start_time": attr_float(record, "start_time", 0.0),
        "metadata": metadata_from_json(record.attrs.get("__metadata__")),
        "neuron_attributes": decode_neuron_attributes(record),
    }
    if raw_data is None and _valid_as_stored(flat, index, fields):
        ends = index.tolist()  # slicing by Python ints: np.split costs ~3x as much per train
        return _spike_data_without_checks([flat[a:b] for a, b in zip([0, *ends[:-1]], ends)], fields)
    trains = np.split(flat, index[:-1]) if len(index) else []
    return spikelab_class("SpikeData")(trains, raw_data=raw_data, raw_time=raw_time, **fields)


def _valid_as_stored(flat: np.ndarray, index: np.ndarray, fields: dict[str, Any]) -> bool:
    """Whether the trains pass SpikeData's checks, tested on the flat array at once.

    SpikeData's constructor sorts and checks every train separately, which
    costs ~10 us per train -- about a second for a slice stack of 80 slices of
    1,000 units.  Stored trains are sorted already (SpikeData sorted them
    before they were saved); anything unusual goes through the constructor.
    """
    n_units = fields["N"]
    if len(index) != n_units or (n_units and index[-1] != len(flat)) or np.any(np.diff(index) < 0):
        return False
    neuron_attributes = fields["neuron_attributes"]
    if neuron_attributes is not None and len(neuron_attributes) != n_units:
        return False
    if not len(flat):
        return True
    start, end = fields["start_time"], fields["start_time"] + fields["length"]
    if not np.isfinite(flat).all() or flat.min() < start or flat.max() > end:
        return False
    steps = np.diff(flat)
    boundaries = index[:-1][(index[:-1] > 0) & (index[:-1] < len(flat))] - 1
    steps[boundaries] = 0.0  # a new unit may start below the previous unit's last spike
    return bool(np.all(steps >= 0))


def _spike_data_without_checks(trains: list[np.ndarray], fields: dict[str, Any]) -> Any:
    """A SpikeData with exactly the fields its constructor sets (validated above)."""
    cls = spikelab_class("SpikeData")
    sd = cls.__new__(cls)
    sd.train = trains
    sd.start_time = float(fields["start_time"])
    sd.length = fields["length"]
    sd.N = len(trains)
    sd.raw_data = np.zeros((0, 0))
    sd.raw_time = np.zeros((0,))
    sd.metadata = fields["metadata"]
    sd.neuron_attributes = fields["neuron_attributes"]
    return sd


class SpikeDataCodec:
    """``spikelab.SpikeData``."""

    type_name: ClassVar[str] = "SpikeData"
    access: ClassVar[dict[str, str]] = {"spike_times": "ranges", "by_time_times": "ranges", "by_time_units": "ranges"}
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["SpikeData"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name)
        encode_spike_fields(obj, record, where)
        return record

    def dims_for(self, name: str, ndim: int) -> Dims | None:
        """See :func:`spike_dims`."""
        return spike_dims(name, ndim)

    def derive(self, record: Record) -> dict[str, Dataset]:
        """The time-ordered copy, computed only for a container that stores it.

        Not for a SpikeData whose spikes fit one inner chunk of the Zarr
        layout (``TIME_ORDERED_MIN_SPIKES``): reading it whole is then one
        request, so a window read loads it and cuts the window out.
        """
        if record.datasets["spike_times"].data.shape[0] < TIME_ORDERED_MIN_SPIKES:
            return {}
        return time_ordered_copy(
            read(record.datasets["spike_times"]),
            read(record.datasets["spike_times_index"]),
            attr_float(record, "start_time", 0.0),
            attr_float(record, "length_ms"),
        )

    def decode(self, record: Record) -> Any:
        return decode_spike_fields(record)

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": "SpikeData", "N": int(obj.N), "length_ms": float(obj.length), "start_time": float(obj.start_time)}


class SpikeSliceStackCodec:
    """``spikelab.SpikeSliceStack``: one untyped ``SpikeData`` group per slice."""

    type_name: ClassVar[str] = "SpikeSliceStack"
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["SpikeSliceStack"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name, attrs={"N": int(obj.N)})
        encode_times(record, obj.times)
        slices = Record()
        for i, sd in enumerate(obj.spike_stack):
            child = Record()
            encode_spike_fields(sd, child, f"{where}, slice {i}")
            slices.children[str(i)] = child
        record.children["spike_stack"] = slices
        encode_neuron_attributes(record, obj.neuron_attributes, where)
        return record

    def dims_for(self, name: str, ndim: int) -> Dims | None:
        """``times``: one ``(start, end)`` per slice; the slices' datasets: see :func:`spike_dims`."""
        return fitted(SLICE_TIMES_DIMS, ndim) if name == "times" else spike_dims(name, ndim)

    def decode(self, record: Record) -> Any:
        slices = record.children.get("spike_stack", Record())
        stack = [decode_spike_fields(slices.children[str(i)]) for i in range(len(slices.children))]
        cls = spikelab_class("SpikeSliceStack")
        sss = cls.__new__(cls)
        sss.spike_stack = stack
        sss.times = decode_times(record)
        sss.N = int(record.attrs["N"]) if "N" in record.attrs else (stack[0].N if stack else 0)
        sss.neuron_attributes = decode_neuron_attributes(record)
        return sss

    def summary(self, obj: Any) -> dict[str, Any]:
        """spikelab's summary: ``length_ms`` is one duration, or ``(shortest, longest)``."""
        length: Any = None
        if len(obj.times) > 0:
            durations = [float(t1 - t0) for (t0, t1) in obj.times]
            length = durations[0] if min(durations) == max(durations) else (min(durations), max(durations))
        return {
            "type": "SpikeSliceStack",
            "N_slices": len(obj.spike_stack),
            "N_units": int(obj.spike_stack[0].N) if obj.spike_stack else 0,
            "length_ms": length,
        }

    def restore_summary(self, info: dict[str, Any]) -> dict[str, Any]:
        """``info`` read back from JSON, with the ``length_ms`` range a tuple again."""
        if isinstance(info.get("length_ms"), list):
            info = {**info, "length_ms": tuple(info["length_ms"])}
        return info
