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
from .base import SPIKELAB_CLASSES, spikelab_class, attr_float, decode_times, encode_times, metadata_from_json, metadata_to_json, read
from .neuron_attributes import decode_neuron_attributes, encode_neuron_attributes

# Block length of the time-ordered copy of the spikes (a derived array used
# for time-window reads).  See docs/format.md, "Spike-train layout".
TIME_BLOCK_MS = 10_000.0


def encode_spike_fields(sd: Any, record: Record, where: str) -> None:
    """Write a ``SpikeData``'s datasets and attributes into ``record``."""
    lengths = np.fromiter((len(t) for t in sd.train), dtype=np.int64, count=len(sd.train))
    if lengths.sum():
        flat = np.concatenate([np.asarray(t, dtype=np.float64) for t in sd.train])
    else:
        flat = np.zeros(0, dtype=np.float64)
    record.datasets["spike_times"] = Dataset(flat)
    record.datasets["spike_times_index"] = Dataset(np.cumsum(lengths, dtype=np.int64))
    record.attrs["length_ms"] = float(sd.length)
    record.attrs["start_time"] = float(sd.start_time)
    record.attrs["N"] = int(sd.N)
    record.attrs["__metadata__"] = metadata_to_json(sd.metadata, where)
    raw_data = getattr(sd, "raw_data", None)
    raw_time = getattr(sd, "raw_time", None)
    if raw_data is not None and np.asarray(raw_data).size > 0:
        record.datasets["raw_data"] = Dataset(np.asarray(raw_data))
    if raw_time is not None and np.asarray(raw_time).size > 0:
        record.datasets["raw_time"] = Dataset(np.asarray(raw_time))
    encode_neuron_attributes(record, sd.neuron_attributes, where)


def time_ordered_copy(flat: np.ndarray, index: np.ndarray, start_time: float, length: float) -> dict[str, Dataset]:
    """Derived arrays for window reads: spikes sorted by time, their units, block offsets.

    ``by_time_offsets[b]`` is the position of the first spike at or after
    ``start_time + b * TIME_BLOCK_MS``; the last entry is the spike count.
    """
    units = np.repeat(np.arange(len(index), dtype=np.int32), np.diff(index, prepend=0))
    order = np.argsort(flat, kind="stable")
    times = flat[order]
    n_blocks = max(1, int(np.ceil(length / TIME_BLOCK_MS))) if length > 0 else 1
    edges = start_time + TIME_BLOCK_MS * np.arange(n_blocks + 1)
    offsets = np.searchsorted(times, edges, side="left").astype(np.int64)
    offsets[-1] = len(times)
    return {
        "by_time_times": Dataset(times),
        "by_time_units": Dataset(units[order]),
        "by_time_offsets": Dataset(offsets, {"block_ms": TIME_BLOCK_MS}),
    }


def decode_spike_fields(record: Record) -> Any:
    """Rebuild a ``SpikeData`` from a record written by :func:`encode_spike_fields`."""
    flat = read(record.datasets["spike_times"]).astype(np.float64, copy=False)
    index = read(record.datasets["spike_times_index"]).astype(np.int64, copy=False)
    raw_data = read(record.datasets["raw_data"]) if "raw_data" in record.datasets else None
    raw_time = read(record.datasets["raw_time"]) if "raw_time" in record.datasets else None
    if raw_data is None and raw_time is not None:
        raw_data = np.zeros((0, np.atleast_1d(raw_time).shape[0]))
    return spikelab_class("SpikeData")(
        np.split(flat, index[:-1]) if len(index) else [],
        N=int(record.attrs["N"]),
        length=attr_float(record, "length_ms"),
        start_time=attr_float(record, "start_time", 0.0),
        metadata=metadata_from_json(record.attrs.get("__metadata__")),
        neuron_attributes=decode_neuron_attributes(record),
        raw_data=raw_data,
        raw_time=raw_time,
    )


class SpikeDataCodec:
    """``spikelab.SpikeData``."""

    type_name: ClassVar[str] = "SpikeData"
    access: ClassVar[dict[str, str]] = {"spike_times": "ranges", "by_time_times": "ranges", "by_time_units": "ranges"}
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["SpikeData"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name)
        encode_spike_fields(obj, record, where)
        return record

    def derive(self, record: Record) -> dict[str, Dataset]:
        """The time-ordered copy, computed only by containers that store it."""
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
        length: Any = None
        if len(obj.times) > 0:
            durations = [float(t1 - t0) for (t0, t1) in obj.times]
            length = durations[0] if min(durations) == max(durations) else [min(durations), max(durations)]
        return {
            "type": "SpikeSliceStack",
            "N_slices": len(obj.spike_stack),
            "N_units": int(obj.spike_stack[0].N) if obj.spike_stack else 0,
            "length_ms": length,
        }
