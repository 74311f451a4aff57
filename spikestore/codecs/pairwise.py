"""Pairwise comparison matrices: ``PairwiseCompMatrix`` and ``PairwiseCompMatrixStack``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..record import Dataset, Record
from .base import SPIKELAB_CLASSES, spikelab_class, decode_labels, decode_times, encode_labels, encode_times, metadata_from_json, metadata_to_json, read


class PairwiseCompMatrixCodec:
    """``spikelab.PairwiseCompMatrix``: ``matrix`` (n×n), ``labels``, ``__metadata__``."""

    type_name: ClassVar[str] = "PairwiseCompMatrix"
    access: ClassVar[dict[str, str]] = {"matrix": "rows"}
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["PairwiseCompMatrix"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name)
        record.datasets["matrix"] = Dataset(np.asarray(obj.matrix, dtype=np.float64))
        encode_labels(record, obj.labels, where)
        record.attrs["__metadata__"] = metadata_to_json(obj.metadata, where)
        return record

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
    python_types: ClassVar[tuple[type | str, ...]] = (SPIKELAB_CLASSES["PairwiseCompMatrixStack"],)

    def encode(self, obj: Any, where: str) -> Record:
        record = Record(self.type_name)
        record.datasets["stack"] = Dataset(np.asarray(obj.stack, dtype=np.float64))
        encode_labels(record, obj.labels, where)
        encode_times(record, obj.times)
        record.attrs["__metadata__"] = metadata_to_json(obj.metadata, where)
        return record

    def decode(self, record: Record) -> Any:
        return spikelab_class("PairwiseCompMatrixStack")(
            stack=read(record.datasets["stack"]),
            labels=decode_labels(record),
            times=decode_times(record),
            metadata=metadata_from_json(record.attrs.get("__metadata__")),
        )

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": "PairwiseCompMatrixStack", "shape": list(obj.stack.shape)}
