"""Stored items as labelled arrays: :func:`to_xarray` and :func:`to_dask`.

:func:`to_xarray` turns an item into an ``xarray.Dataset`` whose dimensions
are the axis names the codecs give every array (the arrays' Zarr
``dimension_names``: ``unit``, ``time``, ``slice``, ``unit_i``/``unit_j`` …;
see ``docs/xarray.md`` for the table).  It takes an in-memory object
(``RateData``, ``RateSliceStack``, ``PairwiseCompMatrix``,
``PairwiseCompMatrixStack``, ``numpy.ndarray``) or a lazy view
(``ws.get_lazy(ns, key)``); ``LazyAnalysisWorkspace.to_xarray(ns, key)`` is
the same for a stored item.  For a view or a stored item the data variables
are dask arrays over the store, one task per stored chunk: only the
coordinate arrays (bin times, slice start/end, labels, per-unit attributes)
are read, all at once.

xarray and dask are optional (``pip install spikestore[xarray]``); without
them :func:`to_xarray` raises :class:`MissingDependencyError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import codecs
from .codecs.base import SLICE, TIME, UNIT, UNIT_I, UNIT_J, as_str_array, read
from .codecs.neuron_attributes import GROUP as NEURON_ATTRIBUTES
from .containers.zarr_group import stores_objects
from .errors import ItemNotFoundError, MissingDependencyError, UnsupportedTypeError
from .record import Dataset, Record
from .views import ItemView, LazyArray, lazy_array, materialize

INSTALL_HINT = "pip install spikestore[xarray]"
XARRAY_TYPES = ("ndarray", "RateData", "RateSliceStack", "PairwiseCompMatrix", "PairwiseCompMatrixStack")
"""Item types :func:`to_xarray` converts."""
BOUND = "bound"
"""Name given in xarray to the unnamed ``(start, end)`` axis of slice ``times``."""




def _xarray() -> Any:
    try:
        import dask.array  # noqa: F401  (the lazy data variables)
        import xarray
    except ImportError as exc:
        raise MissingDependencyError(
            f"to_xarray() needs xarray and dask ({exc.name or exc} is not installed); install them with "
            f"`{INSTALL_HINT}`."
        ) from None
    return xarray


def _dask_array() -> Any:
    try:
        import dask.array as da
    except ImportError:
        raise MissingDependencyError(f"to_dask() needs dask; install it with `{INSTALL_HINT}` or `pip install dask[array]`.") from None
    return da


# ---------------------------------------------------------------------------
# dask
# ---------------------------------------------------------------------------


def to_dask(view: Any, dataset: str | None = None, chunks: Any = None) -> Any:
    """A ``dask.array`` over one stored array of a lazy view.

    Parameters
    ----------
    view
        A :class:`~spikestore.views.LazyArray` (an ``ndarray`` item, a dict
        entry) or an item view.
    dataset
        Which array of an item view (``"raw_data"``, ``"times"`` …); by
        default its main lazy array (``inst_Frate_data``, ``event_stack``,
        ``matrix``, ``stack``, ``spike_times``).
    chunks
        dask chunks; by default the stored chunks (the inner chunks of a
        sharded array).

    Raises
    ------
    UnsupportedTypeError
        If the view has no such array (a dict, a ``SpikeSliceStack``).
    MissingDependencyError
        If dask is not installed.
    """
    _dask_array()
    if isinstance(view, LazyArray):
        if dataset is not None:
            raise UnsupportedTypeError(f"{view._where} is one array; it has no dataset {dataset!r}.")
        return view.to_dask(chunks)
    if isinstance(view, ItemView):
        record = view._record
        name = dataset if dataset is not None else (view.lazy_fields[0] if len(view.lazy_fields) == 1 else None)
        if name is None or name not in record.datasets:
            names = sorted(record.datasets)
            raise UnsupportedTypeError(
                f"{view._where}: a {view.type_name or 'stored'} item has "
                + (f"no dataset {name!r}; its arrays are {names}." if name is not None else
                   "no single array; read its parts through get_lazy() (e.g. view[key].to_dask() for a dict).")
            )
        return lazy_array(record.datasets[name], f"{view._where}.{name}").to_dask(chunks)
    raise UnsupportedTypeError(f"to_dask() takes a lazy view (ws.get_lazy(ns, key)), not a {type(view).__name__}.")


# ---------------------------------------------------------------------------
# xarray
# ---------------------------------------------------------------------------


def to_xarray(obj: Any) -> Any:
    """An ``xarray.Dataset`` of an item: an in-memory object or a lazy view.

    Parameters
    ----------
    obj
        ``RateData``, ``RateSliceStack``, ``PairwiseCompMatrix``,
        ``PairwiseCompMatrixStack`` or ``numpy.ndarray`` (numpy-backed
        result), or the view ``ws.get_lazy(ns, key)`` of one (dask-backed).

    Returns
    -------
    xarray.Dataset
        The main array as a data variable named as spikelab names it
        (``inst_Frate_data``, ``event_stack``, ``matrix``, ``stack``,
        ``data``) with coordinates: ``unit`` (0…N-1), bin ``time`` (ms),
        ``slice`` with ``slice_start``/``slice_end`` (ms), pairwise labels
        as ``unit_i``/``unit_j`` when present, and every per-unit attribute
        holding one value per unit as a coordinate along ``unit``.

    Raises
    ------
    UnsupportedTypeError
        For other types (``SpikeData``, slice stacks of spikes, dicts).
    MissingDependencyError
        If xarray or dask is not installed (``pip install spikestore[xarray]``).
    """
    _xarray()
    if isinstance(obj, ItemView):
        return record_to_xarray(obj._record, obj._where, lazy=True)
    if isinstance(obj, LazyArray):
        record = Record("ndarray", datasets={"data": Dataset(obj, {}, obj.dims)})
        return record_to_xarray(record, obj._where, lazy=True)
    kind = codecs.codec_for(obj, "to_xarray()").type_name
    if kind not in XARRAY_TYPES:
        raise _unsupported(kind, "to_xarray()")
    return record_to_xarray(codecs.encode_item(obj, "to_xarray()"), "object", lazy=False)


def record_to_xarray(record: Record, where: str, *, lazy: bool) -> Any:
    """The ``xarray.Dataset`` of an item's record (``lazy``: its arrays are in the store)."""
    xr = _xarray()
    kind = record.type or ""
    if kind not in XARRAY_TYPES:
        raise _unsupported(kind, where)
    codecs.fill_hints(record)  # records written before dimension names were stored
    small = _read_small(record, lazy)
    main = {"ndarray": "data", "RateData": "inst_Frate_data", "RateSliceStack": "event_stack",
            "PairwiseCompMatrix": "matrix", "PairwiseCompMatrixStack": "stack"}[kind]
    ds = record.datasets[main]
    dims = _dim_names(kind, main, ds.dims, len(ds.data.shape))
    values = lazy_array(ds, f"{where}.{main}").to_dask() if lazy else read(ds)
    sizes = dict(zip(dims, ds.data.shape))
    coords: dict[str, Any] = {}
    if kind == "RateData":
        coords[UNIT] = np.arange(sizes[UNIT])
        coords[TIME] = (TIME, read(small.datasets["times"]), {"units": "ms", "long_name": "bin time"})
    elif kind == "RateSliceStack":
        coords[UNIT] = np.arange(sizes[UNIT])
        step = float(record.attrs.get("step_size", 1.0))
        coords[TIME] = (TIME, np.arange(sizes[TIME]) * step, {"units": "ms", "long_name": "time from slice start"})
        coords.update(_slice_coords(small, sizes[SLICE]))
    elif kind.startswith("PairwiseCompMatrix"):
        labels = _labels(small)
        for dim in (UNIT_I, UNIT_J):
            coords[dim] = labels if labels is not None and len(labels) == sizes[dim] else np.arange(sizes[dim])
        if SLICE in sizes:
            coords.update(_slice_coords(small, sizes[SLICE]))
    if UNIT in sizes:
        for name, column in _unit_columns(small, sizes[UNIT]).items():
            coords[name if name not in coords and name != main else f"neuron_{name}"] = (UNIT, column)
    attrs: dict[str, Any] = {"spikestore_type": kind}
    attrs.update({k: v for k, v in record.attrs.items() if not k.startswith("__") and isinstance(v, (int, float, str, bool))})
    if "__metadata__" in record.attrs:
        attrs["metadata"] = str(record.attrs["__metadata__"])
    return xr.Dataset({main: (dims, values, _public(ds.attrs))}, coords=coords, attrs=attrs)


def _unsupported(kind: str, where: str) -> UnsupportedTypeError:
    return UnsupportedTypeError(
        f"{where}: to_xarray() converts {', '.join(XARRAY_TYPES)}; not a {kind or 'untyped record'}. "
        f"Read its arrays with get_lazy() (each is a zarr.Array) or to_dask()."
    )


def _dim_names(kind: str, name: str, dims: tuple[str | None, ...] | None, ndim: int) -> tuple[str, ...]:
    """The xarray dimension names: the stored names, a default where the axis has none."""
    dims = dims if dims is not None and len(dims) == ndim else (None,) * ndim
    out = []
    for i, dim in enumerate(dims):
        if dim is None:
            dim = f"dim_{i}" if kind == "ndarray" else BOUND if name == "times" and i == 1 else f"{name}_dim_{i}"
        out.append(dim)
    return tuple(out)


def _public(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if not k.startswith(("__", "spikestore:"))}


def _read_small(record: Record, lazy: bool) -> Record:
    """The coordinate arrays of ``record`` (times, labels, 1-D per-unit columns), read at once."""
    group = record.children.get(NEURON_ATTRIBUTES)
    columns = Record()
    if group is not None:
        columns.datasets = {k: ds for k, ds in group.datasets.items() if len(ds.data.shape) == 1}
    small = Record(
        datasets={n: record.datasets[n] for n in ("times", "labels") if n in record.datasets},
        children={NEURON_ATTRIBUTES: columns},
    )
    return materialize(small) if lazy else small


def _slice_coords(small: Record, n_slices: int) -> dict[str, Any]:
    coords: dict[str, Any] = {SLICE: np.arange(n_slices)}
    if "times" in small.datasets:
        times = read(small.datasets["times"]).reshape(-1, 2)
        if len(times) == n_slices:
            coords["slice_start"] = (SLICE, times[:, 0], {"units": "ms"})
            coords["slice_end"] = (SLICE, times[:, 1], {"units": "ms"})
    return coords


def _labels(small: Record) -> np.ndarray | None:
    if "labels" not in small.datasets:
        return None
    labels = read(small.datasets["labels"])
    return as_str_array(labels) if labels.dtype.kind in "SOUT" else labels


def _unit_columns(small: Record, n_units: int) -> dict[str, np.ndarray]:
    """Per-unit attributes with one value per unit, as stored (NaN or "" where a unit has none).

    Integer and bool attributes become int64 / bool columns when no unit lacks them.
    """
    out = {}
    for key, ds in small.children[NEURON_ATTRIBUTES].datasets.items():
        values = read(ds)
        if values.shape != (n_units,):
            continue
        if values.dtype.kind in "SOUT":
            values = as_str_array(values)
        else:
            kind = ds.attrs.get("__scalar_kind__")
            kind = kind.decode("utf-8") if isinstance(kind, bytes) else kind
            if kind in ("int", "bool") and values.dtype.kind == "f" and not np.isnan(values).any():
                values = values.astype(np.int64 if kind == "int" else bool)
        out[key] = values
    return out


def item_url(ws: Any, namespace: str, key: str) -> str:
    """The URL of an item's current version folder (a Zarr group), for plain-Zarr readers.

    ``xarray.open_zarr(item_url(ws, ns, key), consolidated=False)`` and
    ``zarr.open_group(...)`` read it; it changes when the item is replaced.
    ``spikestore info URL NAMESPACE KEY --path`` prints the same URL.

    Parameters
    ----------
    ws
        An open workspace handle (``open_workspace(url)``).
    namespace, key
        The item.

    Raises
    ------
    ItemNotFoundError
        If the item does not exist.
    UnsupportedTypeError
        If the item is a small dict of results kept wholly in the index: it
        has no objects, so there is no group to open (read it with ``get`` or
        ``get_lazy``; its arrays are ``zarr.Array`` views all the same).
    """
    return group_url(ws._require_open(), namespace, key)


def group_url(store: Any, namespace: str, key: str) -> str:
    """:func:`item_url` of an open :class:`~spikestore.store.WorkspaceStore`."""
    entry = store.index.entry(namespace, key)
    if entry is None:
        raise ItemNotFoundError(f"no item ({namespace!r}, {key!r}) in {store.backend.url}.")
    if not stores_objects(entry["tree"]):
        raise UnsupportedTypeError(
            f"({namespace!r}, {key!r}) in {store.backend.url} is a small dict of results kept wholly in the index: "
            "it has no Zarr group to open. Read it with get() or get_lazy() (its arrays are zarr.Arrays)."
        )
    return f"{store.backend.url.rstrip('/')}/{entry['path']}"


__all__ = ["to_xarray", "to_dask", "record_to_xarray", "item_url", "group_url", "MissingDependencyError", "XARRAY_TYPES"]
