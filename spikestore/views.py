"""Read-only views of stored items that fetch chunks only when asked.

``LazyAnalysisWorkspace.get_lazy`` returns one of these instead of the
decoded object.  A view holds the item's lazy :class:`~spikestore.record.Record`
(its arrays are ``zarr.Array`` objects opened from the index skeleton, so
creating a view costs no request) and reads only what an attribute or a
method needs:

=========================  ====================================================
stored type                view
=========================  ====================================================
``ndarray``                :class:`LazyArray` (numpy slicing, ``.shape`` …)
``SpikeData``              :class:`SpikeDataView` (``train(i)``, ``subtime``)
``SpikeSliceStack``        :class:`SpikeSliceStackView` (``slice(i)``)
``RateData``               :class:`RateDataView` (lazy ``inst_Frate_data``)
``RateSliceStack``         :class:`RateSliceStackView` (lazy ``event_stack``)
``PairwiseCompMatrix``     :class:`PairwiseView` (lazy ``matrix``)
``PairwiseCompMatrixStack`` :class:`PairwiseStackView` (lazy ``stack``)
``dict``                   :class:`DictView` (``keys()``, ``[key]``)
=========================  ====================================================

Every view has ``load()``, which returns the whole spikelab object, equal to
``ws.get(namespace, key)``.  Arrays are :class:`LazyArray` objects: a thin,
read-only subclass of ``zarr.Array`` (so ``dask.array.from_zarr(view)``,
``view.info``, ``view.nchunks``, ``view.metadata.dimension_names`` work),
whose slices are exactly what slicing the loaded numpy array gives (string
arrays come back with their original unicode dtype, not zarr's
variable-length string dtype; big-endian arrays stay big-endian), whose
reads raise spikestore's errors, and which have ``load()``, ``to_dask()``
and ``dims``.  A plain ``zarr.Array`` over the same stored array is
``LazyArray.zarr``.  :mod:`spikestore.xarray_support` turns views into
``xarray`` Datasets.

A view reads the item *version* it was created from.  If the item is
replaced or deleted afterwards and the old version's chunks are removed, a
read raises :class:`~spikestore.errors.ItemNotFoundError`; call ``get_lazy``
again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

import numpy as np
from zarr.core.dtype import VariableLengthUTF8
from zarr.core.array import Array, AsyncArray
from zarr.core.sync import sync
from zarr.storage import StorePath

from . import codecs
from .codecs.base import as_str_array, decode_labels, decode_times, metadata_from_json, spikelab_class
from .codecs.neuron_attributes import GROUP as NEURON_ATTRIBUTES, decode_neuron_attributes
from .codecs.spikes import decode_spike_fields, train_bounds, window_positions
from .containers.zarr_array import NUMPY_DTYPE_ATTR, as_stored_byte_order
from .errors import FormatError, InvalidValueError, ItemNotFoundError, ReadOnlyError
from .record import Dataset, Record
from .containers.read_errors import array_nbytes, raise_read_error
from .containers.region_reads import plan
from .containers.zarr_group import StoredArray, read_whole

if TYPE_CHECKING:
    from spikelab.spikedata.spikedata import SpikeData

# ---------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------


def _restore(value: Any, attrs: dict[str, Any], string: bool) -> Any:
    """Give a value read from zarr the dtype the loaded numpy array has."""
    if not string or not isinstance(value, np.ndarray):
        return value
    wanted = attrs.get(NUMPY_DTYPE_ATTR)
    return value.astype(wanted) if wanted is not None else as_str_array(value)


async def _read_async(array: Array, selection: Any, where: str) -> Any:
    """``array[selection]`` with spikestore's errors for missing and damaged chunks."""
    region = array.region if isinstance(array, StoredArray) else None
    planned = plan(selection, array.shape) if region is not None else None
    try:
        if planned is not None:
            return await region.read(planned)  # type: ignore[union-attr]
        return await array.async_array.getitem(selection)
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        raise_read_error(exc, where, array.path, array_bytes=array_nbytes(array))


def _read_only(async_array: AsyncArray) -> AsyncArray:
    """The same array over a read-only view of its store (no request)."""
    store = async_array.store_path.store
    if store.read_only:
        return async_array
    return AsyncArray(
        metadata=async_array.metadata,
        store_path=StorePath(store.with_read_only(True), async_array.store_path.path),
        config=async_array.config,
    )


def _refuse_write(self: "LazyArray", *args: Any, **kwargs: Any) -> Any:
    raise ReadOnlyError(
        f"{self._where} is a read-only view of a stored item; change items with "
        f"ws.store(namespace, key, obj) on a workspace opened for writing."
    )


class LazyArray(Array):
    """A stored array read chunk by chunk on slicing: a read-only ``zarr.Array``.

    ``LazyArray`` is a thin subclass of :class:`zarr.Array` over the item's
    array in the store (opened read-only, from the index's copy of its
    ``zarr.json``: creating one costs no request), so everything that takes a
    ``zarr.Array`` takes it: ``dask.array.from_zarr(view)``, ``view.info``,
    ``view.nchunks``, ``view.metadata.dimension_names``, ``view.oindex[...]``.
    It differs from a plain ``zarr.Array`` in three ways, all so that a slice
    equals the same slice of the loaded numpy array:

    * reads raise spikestore's errors: :class:`~spikestore.errors.ItemNotFoundError`
      when a chunk is gone (the item was replaced or deleted after the view
      was created), :class:`~spikestore.errors.CorruptDataError` when a chunk
      of the version still committed is missing, fails its checksum or does
      not decode (see :mod:`spikestore.containers.read_errors`);
    * ``dtype`` and the values read have the dtype the item was stored with:
      strings come back as numpy unicode (not zarr's variable-length string
      dtype) and big-endian numbers as big-endian;
    * writes (``view[...] = x``, ``resize``, ``append``, ``update_attributes``)
      raise :class:`~spikestore.errors.ReadOnlyError`.

    It also has ``load()`` (the whole array as numpy), ``to_dask()`` and
    ``dims`` (the axis names, Zarr's ``dimension_names``).  ``.zarr`` is a
    plain ``zarr.Array`` over the same stored array, without these changes.

    Parameters
    ----------
    array
        The ``zarr.Array`` (or ``AsyncArray``) of the stored array.
    attrs
        The dataset's attributes (kept for reference; the dtype is restored
        from the array's own metadata).
    where
        What the array is, for error messages.

    Examples
    --------
    >>> rates = ws.get_lazy("rec1", "rates").inst_Frate_data   # doctest: +SKIP
    >>> rates[10]            # one unit's row: only the chunks holding it  # doctest: +SKIP
    """

    def __init__(self, array: Array | AsyncArray, attrs: dict[str, Any] | None = None, where: str = "array") -> None:
        async_array = array.async_array if isinstance(array, Array) else array
        super().__init__(_read_only(async_array))
        self._attrs = dict(attrs or {})
        self._where = where
        # the index's copy of its zarr.json, and basic selections read by spikestore (region_reads)
        self._stored = array if isinstance(array, StoredArray) else None
        # from the parsed metadata's fields: its to_dict() costs ~1.5 ms, as much as a chunk read
        metadata = self._async_array.metadata
        self._string = isinstance(metadata.data_type, VariableLengthUTF8)
        native = np.dtype(self._async_array.dtype)
        if self._string:
            self._numpy_dtype = np.dtype(metadata.attributes.get(NUMPY_DTYPE_ATTR) or self._attrs.get(NUMPY_DTYPE_ATTR, "<U0"))
        else:
            document = self._stored.document if self._stored is not None else metadata.to_dict()
            self._numpy_dtype = as_stored_byte_order(native, document)

    # -- description ------------------------------------------------------------

    @property
    def zarr(self) -> Array:
        """A plain ``zarr.Array`` over the same stored array (zarr's dtypes, zarr's errors)."""
        return Array(self._async_array)

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype slices have (strings: the original unicode dtype; byte order as stored)."""
        return self._numpy_dtype

    @property
    def dims(self) -> tuple[str | None, ...] | None:
        """The axis names (the array's Zarr ``dimension_names``), ``None`` where unnamed."""
        names = getattr(self.metadata, "dimension_names", None)
        return tuple(names) if names is not None else None

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    # -- reading -----------------------------------------------------------------

    def _restored(self, value: Any) -> Any:
        if not isinstance(value, np.ndarray):
            return value
        if self._string:
            return _restore(value, {NUMPY_DTYPE_ATTR: self._numpy_dtype.str} if self._numpy_dtype.itemsize else {}, True)
        return value.astype(self._numpy_dtype) if value.dtype != self._numpy_dtype else value

    def _guarded(self, read: Callable[[], Any]) -> Any:
        try:
            value = read()
        except (OSError, ValueError, RuntimeError, MemoryError) as exc:
            raise_read_error(exc, self._where, self.path, array_bytes=array_nbytes(self))
        return self._restored(value)

    def get_basic_selection(self, selection: Any = Ellipsis, **kwargs: Any) -> Any:
        """``zarr.Array.get_basic_selection`` with spikestore's errors and dtypes.

        Integers, slices and ``...`` are read by spikestore
        (:mod:`~spikestore.containers.region_reads`: the chunks they touch,
        a shard's neighbouring chunks in one request) when the array's layout
        allows; anything else, and any keyword, by zarr.
        """
        region = self._stored.region if self._stored is not None else None
        planned = plan(selection, self.shape) if region is not None and not kwargs else None
        if planned is not None:
            return self._guarded(lambda: sync(region.read(planned)))  # type: ignore[union-attr]
        return self._guarded(lambda: super(LazyArray, self).get_basic_selection(selection, **kwargs))

    def get_orthogonal_selection(self, selection: Any, **kwargs: Any) -> Any:
        """``zarr.Array.get_orthogonal_selection`` with spikestore's errors and dtypes."""
        return self._guarded(lambda: super(LazyArray, self).get_orthogonal_selection(selection, **kwargs))

    def get_mask_selection(self, mask: Any, **kwargs: Any) -> Any:
        """``zarr.Array.get_mask_selection`` with spikestore's errors and dtypes."""
        return self._guarded(lambda: super(LazyArray, self).get_mask_selection(mask, **kwargs))

    def get_coordinate_selection(self, selection: Any, **kwargs: Any) -> Any:
        """``zarr.Array.get_coordinate_selection`` with spikestore's errors and dtypes."""
        return self._guarded(lambda: super(LazyArray, self).get_coordinate_selection(selection, **kwargs))

    def get_block_selection(self, selection: Any, **kwargs: Any) -> Any:
        """``zarr.Array.get_block_selection`` with spikestore's errors and dtypes."""
        return self._guarded(lambda: super(LazyArray, self).get_block_selection(selection, **kwargs))

    def __getitem__(self, selection: Any) -> Any:
        """numpy-style indexing; reads only the chunks the selection touches.

        Basic indexing gives what the same index of the loaded numpy array
        gives; integer-array and boolean selections follow zarr's rules
        (``__getitem__`` of ``zarr.Array``).
        """
        if self.size == 0:
            return self.load()[selection]
        if _is_basic(selection):
            # zarr.Array.__getitem__ reads `a[0]` as an orthogonal selection (a 0-d
            # array); numpy, and a basic selection, give a scalar
            value = self.get_basic_selection(selection)
        else:
            value = super().__getitem__(selection)
        if isinstance(value, str):
            return np.str_(value)  # numpy gives a numpy string scalar
        if not isinstance(value, np.ndarray) and _has_ellipsis(selection):
            value = np.asarray(value, dtype=self.dtype if not self._string else None)  # numpy keeps a 0-d array for `a[...]`
            return self._restored(value)
        return value

    def load(self, *, warming: "LazyArray | None" = None) -> np.ndarray:
        """The whole array as numpy (what the loaded item holds).

        Read as ``get`` reads an item (:func:`~spikestore.containers.zarr_group.read_whole`:
        whole chunks and shards decoded in spikestore's coding pool), which
        for a small array is about a third faster than zarr's selection path.
        ``warming``: another array of the item whose shard index is fetched
        meanwhile (:meth:`~spikestore.containers.region_reads.RegionReader.warm`),
        so that its first slice costs one round trip less.
        """
        if self.size == 0:
            return np.zeros(self.shape, dtype=self._numpy_dtype if not self._string or self._numpy_dtype.itemsize else str)
        if self._string:
            return np.asarray(self[...])
        document = self._stored.document if self._stored is not None else None
        region = warming._stored.region if warming is not None and warming._stored is not None else None

        async def read() -> Any:
            if region is None:
                return await read_whole(self.zarr, document)
            value, _ = await asyncio.gather(read_whole(self.zarr, document), region.warm())
            return value

        return np.asarray(self._guarded(lambda: sync(read())))

    # zarr's NDArrayLike protocol does not match numpy 2's ndarray stubs (all, reshape); a
    # later zarr or numpy may agree, hence unused-ignore
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:  # type: ignore[override, unused-ignore]
        arr = self.load()
        return arr.astype(dtype) if dtype is not None else arr

    def to_dask(self, chunks: Any = None) -> Any:
        """A ``dask.array`` over this array (needs dask: ``pip install dask[array]``).

        Its chunks are the stored chunks (the inner chunks of a sharded
        array), unless ``chunks`` says otherwise (``chunks=view.shards``:
        one task per shard, one request each).  Its tasks read through this
        view: spikestore's errors and dtypes.
        """
        try:
            import dask.array as da
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("to_dask() needs dask; install it with `pip install dask[array]`.") from None
        return da.from_zarr(self, chunks=chunks)

    # -- writing is refused --------------------------------------------------------

    __setitem__ = _refuse_write
    set_basic_selection = _refuse_write
    set_orthogonal_selection = _refuse_write
    set_mask_selection = _refuse_write
    set_coordinate_selection = _refuse_write
    set_block_selection = _refuse_write
    resize = _refuse_write
    append = _refuse_write
    update_attributes = _refuse_write

    def __repr__(self) -> str:
        return f"<LazyArray {self._where} shape={self.shape} dtype={self.dtype} chunks={self.chunks}>"


def _is_basic(selection: Any) -> bool:
    """Integers, slices and ``...`` only (numpy's basic indexing without ``None``)."""
    parts = selection if isinstance(selection, tuple) else (selection,)
    return all(
        s is Ellipsis or isinstance(s, slice) or (isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)))
        for s in parts
    )


def _has_ellipsis(selection: Any) -> bool:
    return selection is Ellipsis or (isinstance(selection, tuple) and any(s is Ellipsis for s in selection))


def lazy_array(ds: Dataset, where: str) -> LazyArray:
    """Wrap a lazy record's dataset (a numpy one is wrapped via ``zarr`` too)."""
    if isinstance(ds.data, Array):
        return LazyArray(ds.data, ds.attrs, where)
    raise InvalidValueError(f"{where}: dataset is not stored lazily; open the item with get_lazy().")


def materialize(record: Record, where: str = "item") -> Record:
    """A copy of a lazy record with every dataset read into memory, concurrently
    (:func:`spikestore.containers.zarr_group.read_whole`, as ``get`` reads an item);
    ``where`` names the item in errors."""
    leaves: list[tuple[Dataset, Dataset]] = []

    def copy(rec: Record) -> Record:
        out = Record(rec.type, dict(rec.attrs))
        for name, ds in rec.datasets.items():
            out.datasets[name] = Dataset(ds.data, ds.attrs)
            if isinstance(ds.data, Array):
                leaves.append((ds, out.datasets[name]))
        out.children = {n: copy(c) for n, c in rec.children.items()}
        return out

    result = copy(record)

    async def one(array: Array) -> np.ndarray:
        try:
            return await read_whole(array)
        except OSError as exc:  # a missing chunk, or damage already named by its array
            raise_read_error(exc, where, array.path)

    async def run() -> list[Any]:
        return await asyncio.gather(*(one(src.data) for src, _ in leaves))  # type: ignore[arg-type]

    for (_, dst), value in zip(leaves, sync(run())):
        dst.data = value
    return result


# ---------------------------------------------------------------------------
# Item views
# ---------------------------------------------------------------------------


class ItemView:
    """Base of the item views: the lazy record, ``load()`` and a ``__repr__``."""

    type_name: ClassVar[str] = ""
    lazy_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, record: Record, where: str) -> None:
        self._record = record
        self._where = where
        self._cache: dict[str, Any] = {}

    def load(self) -> Any:
        """The whole item as its spikelab object (equal to ``ws.get``)."""
        return codecs.decode(materialize(self._record, self._where))

    def _lazy(self, name: str) -> LazyArray:
        return lazy_array(self._record.datasets[name], f"{self._where}.{name}")

    def _cached(self, name: str, read: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = read()
        return self._cache[name]

    def _read(self, name: str) -> np.ndarray:
        """A (small) dataset read whole and cached."""
        return self._cached(name, lambda: self._lazy(name).load())

    @property
    def neuron_attributes(self) -> list[dict] | None:
        """Per-unit attribute dicts (read once, all columns concurrently)."""
        def read() -> list[dict] | None:
            group = self._record.children.get(NEURON_ATTRIBUTES)
            if group is None:
                return None
            return decode_neuron_attributes(materialize(Record(children={NEURON_ATTRIBUTES: group})))

        return self._cached("neuron_attributes", read)

    def __repr__(self) -> str:
        parts = [f"{name}: {getattr(self, name)!r}" for name in self.lazy_fields]
        inner = (" " + ", ".join(parts)) if parts else ""
        return f"<{type(self).__name__} {self._where}{inner}>"


class RateDataView(ItemView):
    """``RateData``: lazy ``inst_Frate_data``; ``times`` and attributes loaded."""

    type_name: ClassVar[str] = "RateData"
    lazy_fields: ClassVar[tuple[str, ...]] = ("inst_Frate_data",)

    @property
    def inst_Frate_data(self) -> LazyArray:
        """Rates, units × time bins (lazy)."""
        return self._lazy("inst_Frate_data")

    @property
    def times(self) -> np.ndarray:
        """Bin times (loaded)."""
        return self._read("times")

    @property
    def N(self) -> int:
        """Number of units."""
        return int(self.inst_Frate_data.shape[0])


class RateSliceStackView(ItemView):
    """``RateSliceStack``: lazy ``event_stack`` (units × time × slices)."""

    type_name: ClassVar[str] = "RateSliceStack"
    lazy_fields: ClassVar[tuple[str, ...]] = ("event_stack",)

    @property
    def event_stack(self) -> LazyArray:
        """Rates, units × time × events (lazy; ``event_stack[:, :, i]`` is event ``i``)."""
        return self._lazy("event_stack")

    @property
    def times(self) -> list[tuple[float, float]] | None:
        """``(start, end)`` of every slice."""
        return self._cached("times", lambda: decode_times(materialize(_only(self._record, "times"))))

    @property
    def step_size(self) -> float:
        """Bin width in ms."""
        return float(self._record.attrs["step_size"])


class PairwiseView(ItemView):
    """``PairwiseCompMatrix``: lazy ``matrix``; ``labels`` and ``metadata`` loaded."""

    type_name: ClassVar[str] = "PairwiseCompMatrix"
    lazy_fields: ClassVar[tuple[str, ...]] = ("matrix",)

    @property
    def matrix(self) -> LazyArray:
        """The n × n matrix (lazy)."""
        return self._lazy("matrix")

    @property
    def labels(self) -> list | None:
        """Unit labels, or ``None``."""
        return self._cached("labels", lambda: decode_labels(materialize(_only(self._record, "labels"))))

    @property
    def metadata(self) -> dict:
        """The metadata dict."""
        return metadata_from_json(self._record.attrs.get("__metadata__"))


class PairwiseStackView(PairwiseView):
    """``PairwiseCompMatrixStack``: lazy ``stack`` (n × n × S)."""

    type_name: ClassVar[str] = "PairwiseCompMatrixStack"
    lazy_fields: ClassVar[tuple[str, ...]] = ("stack",)

    @property
    def stack(self) -> LazyArray:
        """The n × n × S stack (lazy; ``stack[:, :, i]`` is matrix ``i``)."""
        return self._lazy("stack")

    @property
    def matrix(self) -> LazyArray:
        raise AttributeError("a PairwiseCompMatrixStack has .stack, not .matrix")

    @property
    def times(self) -> list[tuple[float, float]] | None:
        """``(start, end)`` of every matrix, or ``None``."""
        return self._cached("times", lambda: decode_times(materialize(_only(self._record, "times"))))


def _only(record: Record, *names: str) -> Record:
    return Record(datasets={n: record.datasets[n] for n in names if n in record.datasets})


# ---------------------------------------------------------------------------
# Spike trains
# ---------------------------------------------------------------------------


def window_bounds(start: Any, end: Any, start_time: float, length: float) -> tuple[float, float]:
    """Normalise ``subtime``'s ``start``/``end`` exactly as ``SpikeData.subtime`` does."""
    end_time = start_time + length
    if start is None or start is Ellipsis:
        start = start_time
    elif start < 0 and start_time >= 0:
        start += end_time
        if start < start_time:
            raise InvalidValueError(f"start ({start - end_time}) is too negative. Minimum allowed is -{length} (recording length)")
    elif start > end_time:
        raise InvalidValueError(f"start ({start}) exceeds recording end ({end_time}). Recording range is [{start_time}, {end_time}].")
    if end is None or end is Ellipsis:
        end = end_time
    elif end < 0 and start_time >= 0:
        end += end_time
    elif end > end_time:
        raise InvalidValueError(f"end ({end}) exceeds recording end ({end_time}). Recording range is [{start_time}, {end_time}].")
    if start < start_time:
        raise InvalidValueError(f"start ({start}) is below recording start ({start_time}). Recording range is [{start_time}, {end_time}].")
    if start >= end:
        raise InvalidValueError(f"start ({start}) must be less than end ({end}). Cannot create subtime with invalid range.")
    return start, end


class SpikeDataView(ItemView):
    """``SpikeData``: one unit's train or one time window without reading the rest.

    ``train(i)`` reads ``spike_times_index`` once (cached) and then only the
    chunk(s) of ``spike_times`` holding unit ``i``.  ``subtime(start, end)``
    reads the block offsets of the time-ordered copy (``by_time_*``, cached),
    then the contiguous range of spikes covering the window, and regroups
    them by unit.
    """

    type_name: ClassVar[str] = "SpikeData"
    lazy_fields: ClassVar[tuple[str, ...]] = ("spike_times",)

    @property
    def N(self) -> int:
        """Number of units."""
        return int(self._record.attrs["N"])

    @property
    def length(self) -> float:
        """Recording length in ms."""
        return float(self._record.attrs["length_ms"])

    @property
    def start_time(self) -> float:
        """Time of the recording's start in ms."""
        return float(self._record.attrs.get("start_time", 0.0))

    @property
    def metadata(self) -> dict:
        """The metadata dict."""
        return metadata_from_json(self._record.attrs.get("__metadata__"))

    @property
    def spike_times(self) -> LazyArray:
        """All trains concatenated (lazy)."""
        return self._lazy("spike_times")

    @property
    def raw_data(self) -> LazyArray | None:
        """Raw traces (lazy), or ``None`` when the item has none."""
        return self._lazy("raw_data") if "raw_data" in self._record.datasets else None

    @property
    def raw_time(self) -> LazyArray | None:
        """Raw sample times (lazy), or ``None``."""
        return self._lazy("raw_time") if "raw_time" in self._record.datasets else None

    def _ends(self) -> np.ndarray:
        # the spike array's shard index is fetched alongside: a unit's train is then one more round trip, not two
        ends = self._cached("spike_times_index", lambda: self._lazy("spike_times_index").load(warming=self.spike_times))
        return ends.astype(np.int64, copy=False)

    def train(self, unit: int) -> np.ndarray:
        """Spike times of one unit (ms), as ``sd.train[unit]`` of the loaded item.

        Raises
        ------
        InvalidValueError
            If ``unit`` is not an integer in ``[-N, N)``.
        """
        n = self.N
        if isinstance(unit, (bool, np.bool_)) or not isinstance(unit, (int, np.integer)) or not -n <= unit < n:
            raise InvalidValueError(f"{self._where}: unit {unit!r} is out of range; this SpikeData has N={n} units (0..{n - 1}).")
        unit = int(unit) % n
        lo, hi = train_bounds(self._ends(), unit)
        if hi == lo:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self.spike_times[lo:hi], dtype=np.float64)

    def subtime(self, start: Any, end: Any, shift_to: float | None = None) -> SpikeData:
        """The spikes in ``[start, end)``: equal to ``loaded.subtime(start, end, shift_to)``."""
        if shift_to is not None and not np.isfinite(shift_to):
            raise InvalidValueError(f"shift_to ({shift_to}) must be a finite number, not NaN or inf.")
        start, end = window_bounds(start, end, self.start_time, self.length)
        if "by_time_offsets" not in self._record.derived:
            return self.load().subtime(start, end, shift_to)  # written without the time-ordered copy
        shift = start if shift_to is None else shift_to
        times, units = self._window_spikes(start, end)
        counts = np.bincount(units, minlength=self.N) if self.N else np.zeros(0, dtype=np.int64)
        order = np.argsort(units, kind="stable")
        shifted = times[order] - shift
        trains = np.split(shifted, np.cumsum(counts)[:-1]) if self.N else []
        raw_time, raw_data = self._window_raw(start, end, shift)
        return spikelab_class("SpikeData")(
            trains,
            length=end - start,
            start_time=start - shift,
            N=self.N,
            neuron_attributes=self.neuron_attributes,
            metadata=self.metadata,
            raw_time=raw_time,
            raw_data=raw_data,
        )

    def _window_spikes(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        ds = self._record.derived["by_time_offsets"]
        offsets = self._cached("by_time_offsets", lambda: lazy_array(ds, "by_time_offsets").load().astype(np.int64))
        lo, hi = window_positions(offsets, float(ds.attrs.get("block_ms", 0.0)), self.start_time, start, end)
        if hi <= lo:
            return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
        derived = self._record.derived

        by_time_times, by_time_units = derived["by_time_times"].data, derived["by_time_units"].data
        assert isinstance(by_time_times, Array) and isinstance(by_time_units, Array)  # a lazy record's

        async def both() -> tuple[Any, Any]:
            return await asyncio.gather(
                _read_async(by_time_times, slice(lo, hi), f"{self._where}.by_time_times"),
                _read_async(by_time_units, slice(lo, hi), f"{self._where}.by_time_units"),
            )

        times, units = (np.asarray(v) for v in sync(both()))
        keep = (times >= start) & (times < end)
        return times[keep].astype(np.float64, copy=False), units[keep].astype(np.int64)

    def _window_raw(self, start: float, end: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
        raw_time = self._read("raw_time") if "raw_time" in self._record.datasets else np.zeros((0,))
        if "raw_data" not in self._record.datasets:
            # subtime leaves raw_time untouched when there is no raw data
            return raw_time, np.zeros((0, raw_time.shape[0]) if "raw_time" in self._record.datasets else (0, 0))
        mask = (raw_time >= start) & (raw_time < end)
        idx = np.flatnonzero(mask)
        raw_data = self._lazy("raw_data")
        if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
            data = raw_data[..., int(idx[0]) : int(idx[-1]) + 1]
        else:
            data = raw_data.load()[..., mask]
        return raw_time[mask] - shift, data

    def __repr__(self) -> str:
        chunks = self.spike_times.chunks
        return (
            f"<SpikeDataView {self._where} N={self.N} length={self.length} ms start_time={self.start_time} "
            f"spikes={self.spike_times.shape[0]} chunks={chunks}>"
        )


class SpikeSliceStackView(ItemView):
    """``SpikeSliceStack``: one slice at a time."""

    type_name: ClassVar[str] = "SpikeSliceStack"

    def _slices(self) -> Record:
        return self._record.children.get("spike_stack", Record())

    @property
    def times(self) -> list[tuple[float, float]] | None:
        """``(start, end)`` of every slice."""
        return self._cached("times", lambda: decode_times(materialize(_only(self._record, "times"))))

    @property
    def N(self) -> int:
        """Number of units."""
        if "N" in self._record.attrs:
            return int(self._record.attrs["N"])
        slices = self._slices().children
        return int(slices["0"].attrs["N"]) if slices else 0

    def __len__(self) -> int:
        return len(self._slices().children)

    def slice(self, i: int) -> SpikeData:
        """Slice ``i`` as a ``SpikeData`` (only that slice is read)."""
        n = len(self)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise InvalidValueError(f"{self._where}: slice {i!r} is out of range; this stack has {n} slices.")
        child = self._slices().children.get(str(int(i) % n))
        if child is None:
            raise FormatError(f"{self._where}: the stored stack has no slice named {str(int(i) % n)!r}; it is damaged or hostile.")
        return decode_spike_fields(materialize(child))

    def __repr__(self) -> str:
        return f"<SpikeSliceStackView {self._where} slices={len(self)} N={self.N}>"


class DictView(ItemView):
    """A stored ``dict``: ``keys()`` and ``[key]`` (sub-views for arrays and
    spikelab objects, plain values for scalars, strings, tuples and sets)."""

    type_name: ClassVar[str] = "dict"

    def keys(self) -> list[str]:
        """The dict's keys, in stored order."""
        return list(self._record.children)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._record.children)

    def __contains__(self, key: object) -> bool:
        return key in self._record.children

    def __getitem__(self, key: str) -> Any:
        child = self._record.children.get(key)
        if child is None:
            raise ItemNotFoundError(f"{self._where}: no key {key!r}; keys are {self.keys()}.")
        return view_for(child, f"{self._where}[{key!r}]")

    def __repr__(self) -> str:
        return f"<DictView {self._where} keys={self.keys()}>"


def _ndarray_view(record: Record, where: str) -> LazyArray:
    return lazy_array(record.datasets["data"], where)


VIEWS: dict[str, Callable[[Record, str], Any]] = {
    "ndarray": _ndarray_view,
    "SpikeData": SpikeDataView,
    "SpikeSliceStack": SpikeSliceStackView,
    "RateData": RateDataView,
    "RateSliceStack": RateSliceStackView,
    "PairwiseCompMatrix": PairwiseView,
    "PairwiseCompMatrixStack": PairwiseStackView,
    "dict": DictView,
}
"""Record type → view factory.  Types without a view (scalars, strings,
tuples, sets, None inside dicts) are small and returned decoded."""


def view_for(record: Record, where: str) -> Any:
    """The lazy view of a record, or its decoded value for small value types."""
    factory = VIEWS.get(record.type or "")
    if factory is not None:
        return factory(record, where)
    return codecs.decode(materialize(record))


__all__ = [
    "LazyArray",
    "ItemView",
    "SpikeDataView",
    "SpikeSliceStackView",
    "RateDataView",
    "RateSliceStackView",
    "PairwiseView",
    "PairwiseStackView",
    "DictView",
    "VIEWS",
    "view_for",
    "materialize",
]
