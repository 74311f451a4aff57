"""Which codec handles which type: the one table to extend when a type is added.

``ITEM_CODECS`` are the types a workspace stores at the top level (what
spikelab's ``_dump_item`` accepts); ``VALUE_CODECS`` add what may appear
inside a dict.  Look-ups walk the object's class hierarchy, so subclasses
find their base class's codec.
"""

from __future__ import annotations

from typing import Any

from ..errors import FormatError, SpikestoreError, UnsupportedTypeError
from ..record import Record
from .arrays import ListCodec, NdarrayCodec
from .base import Codec
from .mappings import DictCodec, FrozensetCodec, NoneCodec, ScalarCodec, SetCodec, StrCodec, TupleCodec
from .neuron_attributes import GROUP as NEURON_ATTRIBUTES, column_dims
from .pairwise import PairwiseCompMatrixCodec, PairwiseCompMatrixStackCodec
from .rates import RateDataCodec, RateSliceStackCodec
from .spikes import SpikeDataCodec, SpikeSliceStackCodec

_ACCESS: dict[str, str] = {}
_ITEM: dict[type | str, Codec] = {}
_VALUE: dict[type | str, Codec] = {}
_BY_NAME: dict[str, Codec] = {}


def register(codec: Codec, *, item: bool) -> None:
    """Add ``codec`` to the tables (``item=False``: only inside dicts)."""
    for cls in codec.python_types:
        _VALUE[cls] = codec
        if item:
            _ITEM[cls] = codec
    _BY_NAME.setdefault(codec.type_name, codec)
    _ACCESS.update(getattr(codec, "access", {}))


def _lookup(table: dict[type | str, Codec], obj: Any) -> Codec | None:
    for cls in type(obj).__mro__:
        codec = table.get(cls) or table.get(f"{cls.__module__}.{cls.__qualname__}")
        if codec is not None:
            return codec
    return None


_SUPPORTED = (
    "ndarray, SpikeData, RateData, RateSliceStack, SpikeSliceStack, PairwiseCompMatrix, "
    "PairwiseCompMatrixStack, dict (inside a dict also: int, float, bool, numpy scalars, "
    "str, None, list, tuple, set, frozenset)"
)


def codec_for(obj: Any, where: str = "object") -> Codec:
    """The codec for a top-level workspace item.

    Raises
    ------
    UnsupportedTypeError
        If the object is of no supported item type.
    """
    codec = _lookup(_ITEM, obj)
    if codec is None:
        raise UnsupportedTypeError(
            f"{where}: cannot store a {type(obj).__module__}.{type(obj).__qualname__}. "
            f"Supported: {_SUPPORTED}. Convert it to one of these (never pickled)."
        )
    return codec


def codec_named(type_name: str | None) -> Codec:
    """The codec that decodes records tagged ``type_name``."""
    codec = _BY_NAME.get(type_name or "")
    if codec is None:
        raise FormatError(
            f"unknown __type__ {type_name!r}; known types: {sorted(_BY_NAME)}. The file "
            f"may come from a newer spikelab/spikestore."
        )
    return codec


def encode_item(obj: Any, where: str) -> Record:
    """Encode a top-level item."""
    return codec_for(obj, where).encode(obj, where)


def encode_value(obj: Any, where: str) -> Record:
    """Encode a value nested inside a dict."""
    codec = _lookup(_VALUE, obj)
    if codec is None:
        raise UnsupportedTypeError(
            f"{where}: cannot store a {type(obj).__module__}.{type(obj).__qualname__} "
            f"inside a dict. Supported: {_SUPPORTED}."
        )
    return codec.encode(obj, where)


# what a codec raises on a record that does not describe its type (read from a
# damaged or hostile store: a dataset missing, attributes of the wrong kind ...)
MALFORMED_RECORD_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)


def decode(record: Record) -> Any:
    """Rebuild the object a record describes.

    Raises
    ------
    FormatError
        If the record does not describe a valid object of its type.
    """
    codec = codec_named(record.type)
    try:
        return codec.decode(record)
    except SpikestoreError:
        raise
    except MALFORMED_RECORD_ERRORS as exc:
        raise FormatError(f"the stored {record.type!r} record is malformed ({type(exc).__name__}: {exc}); it is damaged or hostile") from None


def derive(record: Record) -> dict[str, Any]:
    """Arrays that speed up partial reads of ``record`` (empty for most types),
    with their access hints.

    The store computes them before it hands a record to the Zarr container
    (:func:`spikestore.store.add_derived`); exports to HDF5 do not, so they
    pay nothing for them.
    """
    codec = _BY_NAME.get(record.type or "")
    derive_fn = getattr(codec, "derive", None)
    derived = derive_fn(record) if derive_fn is not None else {}
    for name, ds in derived.items():
        if ds.access is None:
            ds.access = _ACCESS.get(name)
    return derived


def dims_for(record_type: str | None, dataset_name: str, ndim: int, *, neuron_attribute: bool = False) -> tuple[str | None, ...] | None:
    """The axis names the codec of ``record_type`` gives its dataset ``dataset_name``.

    ``neuron_attribute``: the dataset is a column of a ``neuron_attributes``
    group (``("unit", None, …)``).  ``None`` when the codec names no axes.
    """
    if neuron_attribute:
        return column_dims(ndim)
    codec = _BY_NAME.get(record_type or "")
    fn = getattr(codec, "dims_for", None)
    return fn(dataset_name, ndim) if fn is not None else None


def fill_hints(record: Record) -> Record:
    """Give every dataset (and derived array) of ``record``'s tree the axis
    names (``dims``) and the access hint (``access``) its codec gives it,
    where it has none; returns ``record`` (changed in place).

    Records built by a codec get their hints here before a container writes
    them; so do records that were not built by a codec (read from an HDF5
    file, or from a store written before dimension names were recorded).
    Untyped children (the slices of a ``SpikeSliceStack``) take their typed
    parent's names, ``neuron_attributes`` columns get ``("unit", None, …)``.
    """
    def fill(rec: Record, owner: str | None, columns: bool) -> None:
        for name, ds in [*rec.datasets.items(), *(rec.derived or {}).items()]:
            if ds.dims is None:
                ds.dims = dims_for(owner, name, len(ds.data.shape), neuron_attribute=columns)
            if ds.access is None and not columns:
                ds.access = _ACCESS.get(name)
        for name, child in rec.children.items():
            fill(child, child.type or owner, name == NEURON_ATTRIBUTES and child.type is None)

    fill(record, record.type, False)
    return record


def summary(obj: Any) -> dict[str, Any]:
    """spikelab's index summary for a top-level item.

    Raises
    ------
    UnsupportedTypeError
        If no codec stores the object's type.
    """
    return codec_for(obj).summary(obj)


def make_summary(obj: Any) -> dict[str, Any]:
    """spikelab's ``_make_summary``: :func:`summary`, or only the class name for a type no codec stores.

    An in-memory workspace holds any object (as spikelab's does); only saving refuses it.
    """
    try:
        return summary(obj)
    except UnsupportedTypeError:
        return {"type": type(obj).__name__}


def restore_summary(info: dict[str, Any]) -> dict[str, Any]:
    """An index entry read back from JSON, with the Python types spikelab's summary has.

    JSON has no tuples: a ``SpikeSliceStack`` whose slices differ in duration
    has ``length_ms = (shortest, longest)`` in spikelab's summary, which a
    JSON index gives back as a list.  Whoever turns stored JSON into an entry
    (the workspace index, the ``.json`` of an HDF5 import) passes it through
    here.  Returns ``info`` itself when nothing changes, else a new dict.
    """
    if not isinstance(info, dict):
        return info
    codec = _BY_NAME.get(info.get("type") or "") if isinstance(info.get("type"), str) else None
    restore = getattr(codec, "restore_summary", None)
    return restore(info) if restore is not None else info


ITEM_TYPE_NAMES: frozenset[str] = frozenset()


def _install() -> None:
    global ITEM_TYPE_NAMES
    items: list[Codec] = [
        NdarrayCodec(), SpikeDataCodec(), RateDataCodec(), RateSliceStackCodec(), SpikeSliceStackCodec(),
        PairwiseCompMatrixCodec(), PairwiseCompMatrixStackCodec(), DictCodec(encode_value, decode),
    ]
    values: list[Codec] = [ListCodec(), ScalarCodec(), StrCodec(), NoneCodec(), TupleCodec(), SetCodec(), FrozensetCodec()]
    for codec in items:
        register(codec, item=True)
    for codec in values:
        register(codec, item=False)
    ITEM_TYPE_NAMES = frozenset(c.type_name for c in items)


_install()
