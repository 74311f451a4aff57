"""Pairwise comparison matrices: ``PairwiseCompMatrix`` and ``PairwiseCompMatrixStack``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..record import Dataset, Record
from .base import (
    LABELS_DIMS, SLICE, SLICE_TIMES_DIMS, SPIKELAB_CLASSES, UNIT_I, UNIT_J, Dims, decode_labels, decode_times, encode_labels,
    encode_times, fitted, metadata_from_json, metadata_to_json, read, spikelab_class,
)


class PairwiseCompMatrixCodec:
    """``spikelab.PairwiseCompMatrix``: ``matrix`` (n×n), ``labels``, ``__metadata__``."""

    type_name: ClassVar[str] = "PairwiseCompMatrix"
    access: ClassVar[dict[str, str]] = {"matrix": "rows"}
    dims: ClassVar[dict[str, Dims]] = {"matrix": (UNIT_I, UNIT_J), "labels": LABELS_DIMS}
    values: ClassVar[tuple[str, ...]] = ("matrix",)
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["PairwiseCompMatrix"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name)
        matrix = np.asarray(obj.matrix, dtype=np.float64)
        record.datasets["matrix"] = Dataset(matrix, dims=self.dims_for("matrix", matrix.ndim))
        encode_labels(record, obj.labels, where)
        record.attrs["__metadata__"] = metadata_to_json(obj.metadata, where)
        return record

    def dims_for(self, name: str, ndim: int) -> Dims | None:
        """``matrix`` is n × n (rows ``unit_i``, columns ``unit_j``); ``labels`` label the rows."""
        return fitted(self.dims.get(name), ndim)

    def decode(self, record: Record) -> Any:
        return spikelab_class("PairwiseCompMatrix")(
            matrix=read(record.datasets["matrix"]),
            labels=decode_labels(record),
            metadata=metadata_from_json(record.attrs.get("__metadata__")),
        )

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": "PairwiseCompMatrix", "shape": list(obj.matrix.shape)}


class PairwiseCompMatrixStackCodec:
    """``spikelab.PairwiseCompMatrixStack``: ``stack`` (n×n×S), ``labels``, ``times``."""

    type_name: ClassVar[str] = "PairwiseCompMatrixStack"
    access: ClassVar[dict[str, str]] = {"stack": "slices"}
    dims: ClassVar[dict[str, Dims]] = {"stack": (UNIT_I, UNIT_J, SLICE), "labels": LABELS_DIMS, "times": SLICE_TIMES_DIMS}
    values: ClassVar[tuple[str, ...]] = ("stack",)
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["PairwiseCompMatrixStack"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name)
        stack = np.asarray(obj.stack, dtype=np.float64)
        record.datasets["stack"] = Dataset(stack, dims=self.dims_for("stack", stack.ndim))
        encode_labels(record, obj.labels, where)
        encode_times(record, obj.times)
        record.attrs["__metadata__"] = metadata_to_json(obj.metadata, where)
        return record

    def dims_for(self, name: str, ndim: int) -> Dims | None:
        """``stack`` is n × n × slices; ``labels`` label the rows; ``times`` one ``(start, end)`` per slice."""
        return fitted(self.dims.get(name), ndim)

    def decode(self, record: Record) -> Any:
        return spikelab_class("PairwiseCompMatrixStack")(
            stack=read(record.datasets["stack"]),
            labels=decode_labels(record),
            times=decode_times(record),
            metadata=metadata_from_json(record.attrs.get("__metadata__")),
        )

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": "PairwiseCompMatrixStack", "shape": list(obj.stack.shape)}
