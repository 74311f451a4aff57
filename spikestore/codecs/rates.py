"""Rate matrices: ``RateData`` (units × time) and ``RateSliceStack`` (units × time × slices)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import FormatError
from ..record import Dataset, Record
from .base import SLICE, SLICE_TIMES_DIMS, SPIKELAB_CLASSES, TIME, UNIT, Dims, attr_float, decode_times, encode_times, fitted, read, spikelab_class
from .neuron_attributes import decode_neuron_attributes, encode_neuron_attributes


class RateDataCodec:
    """``spikelab.RateData``: ``inst_Frate_data`` (float64, U×T) and ``times``."""

    type_name: ClassVar[str] = "RateData"
    access: ClassVar[dict[str, str]] = {"inst_Frate_data": "tiles"}
    dims: ClassVar[dict[str, Dims]] = {"inst_Frate_data": (UNIT, TIME), "times": (TIME,)}
    values: ClassVar[tuple[str, ...]] = ("inst_Frate_data",)
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["RateData"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name)
        rates = np.asarray(obj.inst_Frate_data, dtype=np.float64)
        times = np.asarray(obj.times, dtype=np.float64)
        record.datasets["inst_Frate_data"] = Dataset(rates, dims=self.dims_for("inst_Frate_data", rates.ndim))
        record.datasets["times"] = Dataset(times, dims=self.dims_for("times", times.ndim))
        encode_neuron_attributes(record, obj.neuron_attributes, where)
        return record

    def dims_for(self, name: str, ndim: int) -> Dims | None:
        """Rates are units × time bins; ``times`` is the time axis."""
        return fitted(self.dims.get(name), ndim)

    def decode(self, record: Record) -> Any:
        rates = read(record.datasets["inst_Frate_data"])
        times = read(record.datasets["times"])
        if rates.ndim != 2 or rates.shape[1] != times.shape[0]:
            raise FormatError(f"RateData record has rates {rates.shape} but times {times.shape}")
        # Built without the constructor, which would copy the whole matrix
        # once more; the fields are exactly those RateData.__init__ sets.
        cls = spikelab_class("RateData")
        rd = cls.__new__(cls)
        rd.inst_Frate_data = rates.astype(np.float64, copy=False)
        rd.times = times
        rd.rate_unit = None
        rd.N = rates.shape[0]
        rd.neuron_attributes = decode_neuron_attributes(record)
        return rd

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": "RateData", "shape": list(obj.inst_Frate_data.shape)}


class RateSliceStackCodec:
    """``spikelab.RateSliceStack``: ``event_stack`` (U×T×S), slice ``times``, ``step_size``."""

    type_name: ClassVar[str] = "RateSliceStack"
    access: ClassVar[dict[str, str]] = {"event_stack": "slices"}
    dims: ClassVar[dict[str, Dims]] = {"event_stack": (UNIT, TIME, SLICE), "times": SLICE_TIMES_DIMS}
    values: ClassVar[tuple[str, ...]] = ("event_stack",)
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["RateSliceStack"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name, attrs={"step_size": float(obj.step_size)})
        stack = np.asarray(obj.event_stack, dtype=np.float64)
        record.datasets["event_stack"] = Dataset(stack, dims=self.dims_for("event_stack", stack.ndim))
        encode_times(record, obj.times)
        encode_neuron_attributes(record, obj.neuron_attributes, where)
        return record

    def dims_for(self, name: str, ndim: int) -> Dims | None:
        """``event_stack`` is units × time bins × slices; ``times`` one ``(start, end)`` per slice."""
        return fitted(self.dims.get(name), ndim)

    def decode(self, record: Record) -> Any:
        return spikelab_class("RateSliceStack")(
            data_obj=None,
            event_matrix=read(record.datasets["event_stack"]),
            times_start_to_end=decode_times(record),
            step_size=attr_float(record, "step_size"),
            neuron_attributes=decode_neuron_attributes(record),
        )

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": "RateSliceStack", "shape": list(obj.event_stack.shape)}
