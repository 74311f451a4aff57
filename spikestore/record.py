"""The neutral shape every stored object is mapped to before it meets a container.

A :class:`Record` is a small tree: attributes (JSON-like values), named
:class:`Dataset` leaves (an array plus its own attributes) and named child
records.  Codecs turn objects into records and back; containers (the Zarr
store, the HDF5 file) turn records into groups and arrays and back.  Neither
side knows about the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol


class ArrayLike(Protocol):
    """What a dataset's data must offer: numpy arrays, zarr and h5py arrays."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> Any: ...

    def __getitem__(self, item: Any) -> Any: ...


@dataclass
class Dataset:
    """One named array of a record and the attributes that belong to it.

    Attributes
    ----------
    data
        The values: a numpy array in memory, or a zarr / h5py array when a
        container streams data without loading it.
    attrs
        Attributes of the array (e.g. ``__scalar_kind__``); values are JSON
        scalars, strings, lists or small numpy arrays.
    dims
        A name per axis (``"unit"``, ``"time"`` …, ``None`` where no name
        fits), chosen by the codec; the Zarr container writes them as the
        array's ``dimension_names``.  ``None``: no names.
    access
        How the array is read in pieces, as its codec declares it
        (``"ranges"``, ``"rows"``, ``"slices"``, ``"tiles"``; ``None``: read
        whole).  A container may lay the array out for those reads (the Zarr
        container shards it, see :mod:`spikestore.containers.layout`).
    precision
        The relative error a container may round the values to (opt-in
        lossy storage of measured values, set by
        :func:`spikestore.codecs.apply_precision`); ``None``: stored exactly.
        The Zarr container honours it, the HDF5 container (spikelab's
        format) stores the values it is given.
    """

    data: ArrayLike
    attrs: dict[str, Any] = field(default_factory=dict)
    dims: tuple[str | None, ...] | None = None
    access: str | None = None
    precision: float | None = None


@dataclass
class Record:
    """A stored object in container-neutral form.

    Attributes
    ----------
    type
        The ``__type__`` tag (``"SpikeData"``, ``"ndarray"``, ``"scalar"`` …)
        or ``None`` for an untyped helper group (``neuron_attributes``, the
        slices of a ``SpikeSliceStack``).
    attrs
        Group attributes, apart from ``__type__``.
    datasets
        Named arrays, in the order a container should write them.
    children
        Named child records.
    derived
        Arrays that speed up partial reads, computed from ``datasets`` (e.g.
        a time-ordered copy of spike times, see
        :func:`spikestore.codecs.derive`); a container may store them or drop
        them, and decoding never needs them.  They are put on the record
        before a container is called (the Zarr container stores them, the
        HDF5 container drops them); a container computes none.
    """

    type: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    children: dict[str, "Record"] = field(default_factory=dict)
    derived: dict[str, Dataset] = field(default_factory=dict)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, "Record"]]:
        """Yield ``(path, record)`` for this record and every descendant."""
        yield prefix, self
        for name, child in self.children.items():
            yield from child.walk(f"{prefix}/{name}" if prefix else name)

    def nbytes(self) -> int:
        """Total bytes of all datasets in the tree (logical, uncompressed)."""
        total = 0
        for _, rec in self.walk():
            for ds in rec.datasets.values():
                total += int(getattr(ds.data, "nbytes", 0) or 0)
        return total
