"""Dicts and the values that may live inside them: scalars, strings, None,
tuples, sets and frozensets.  Lists and the spikelab classes inside a dict use
their own codecs (see :mod:`spikestore.codecs.registry`), which
:class:`DictCodec` reaches through the encoder and decoder it is built with.

Layout (spikelab's): a dict is a group with one child group per key; each
child carries a ``__type__`` tag: ``scalar`` (``__scalar_value__`` and
``__scalar_kind__``), ``scalar_str``, ``none``, ``tuple``/``set``/``frozenset``
(a ``data`` dataset), or any item type.

``__scalar_kind__`` is the value's type name, as spikelab writes it; a numpy
bool is written ``"bool"`` (numpy 2's name for ``np.bool_``, and what spikelab
writes) with the private attribute ``spikestore:numpy_bool`` so that the Zarr
store gives back a numpy bool.  The HDF5 export drops ``spikestore:*``
attributes, so an exported file is the one spikelab would write, and reads
back (in spikelab and spikestore alike) as a Python bool.
"""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidValueTypeError
from ..names import validate_name
from ..record import Record
from .arrays import array_from_record, array_record
from .base import Decoder, Dims, Encoder, check_int_range, homogeneous_array, unnamed


class DictCodec:
    """``dict`` with string keys, nesting any supported value.

    Parameters
    ----------
    encode_value
        Encodes one value of the dict (any type allowed inside a dict).
    decode_value
        Rebuilds one value from its record.
    """

    type_name: ClassVar[str] = "dict"
    python_types: ClassVar[tuple[type, ...]] = (dict,)

    def __init__(self, encode_value: Encoder, decode_value: Decoder) -> None:
        self._encode_value = encode_value
        self._decode_value = decode_value

    def encode(self, obj: dict, where: str) -> Record:
        record = Record(self.type_name)
        for key, value in obj.items():
            validate_name(key, f"{where}: dict key")
            record.children[key] = self._encode_value(value, f"{where}[{key!r}]")
        return record

    def decode(self, record: Record) -> dict:
        return {key: self._decode_value(child) for key, child in record.children.items()}

    def summary(self, obj: dict) -> dict[str, Any]:
        return {"type": "dict"}


_PY_SCALARS = {"bool": bool, "int": int, "float": float}
# Marks a scalar written from a numpy bool (its ``__scalar_kind__`` is "bool", as spikelab writes).
NUMPY_BOOL_ATTR = "spikestore:numpy_bool"


def _scalar_kind(value: Any) -> str:
    if isinstance(value, np.bool_):
        return "bool"  # spikelab writes type(value).__name__, which numpy 2 spells "bool"
    name = type(value).__name__
    if type(value) in (bool, int, float) or isinstance(value, np.generic):
        return name
    # subclasses such as IntEnum: keep the numeric kind, not the class name
    return "bool" if isinstance(value, bool) else "int" if isinstance(value, numbers.Integral) else "float"


class ScalarCodec:
    """Python and numpy numbers and bools; numpy scalar types come back as themselves."""

    type_name: ClassVar[str] = "scalar"
    python_types: ClassVar[tuple[type, ...]] = (bool, int, float, np.bool_, np.integer, np.floating)

    def encode(self, obj: Any, where: str) -> Record:
        """Raises :class:`~spikestore.errors.InvalidValueTypeError` for ints beyond int64/uint64."""
        if isinstance(obj, (bool, np.bool_)):
            value: Any = bool(obj)
        elif isinstance(obj, numbers.Integral):
            value = check_int_range(int(obj), where)
        else:
            value = float(obj)
        attrs = {"__scalar_value__": value, "__scalar_kind__": _scalar_kind(obj)}
        if isinstance(obj, np.bool_):
            attrs[NUMPY_BOOL_ATTR] = True
        return Record(self.type_name, attrs=attrs)

    def decode(self, record: Record) -> Any:
        kind = record.attrs.get("__scalar_kind__", "float")
        if isinstance(kind, bytes):
            kind = kind.decode("utf-8")
        value = record.attrs["__scalar_value__"]
        if record.attrs.get(NUMPY_BOOL_ATTR) is True:
            return np.bool_(value)
        if kind in _PY_SCALARS:
            return _PY_SCALARS[kind](value)
        numpy_type = getattr(np, str(kind), None)
        if isinstance(numpy_type, type) and issubclass(numpy_type, np.generic):
            return numpy_type(value)
        # spikelab's rule for kinds it does not know
        if "int" in kind:
            return int(value)
        if kind in ("bool", "bool_"):
            return bool(value)
        return float(value)

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": type(obj).__name__}


class StrCodec:
    """``str`` (numpy ``str_`` included)."""

    type_name: ClassVar[str] = "scalar_str"
    python_types: ClassVar[tuple[type, ...]] = (str,)

    def encode(self, obj: str, where: str) -> Record:
        return Record(self.type_name, attrs={"__scalar_value__": str(obj)})

    def decode(self, record: Record) -> str:
        value = record.attrs["__scalar_value__"]
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    def summary(self, obj: str) -> dict[str, Any]:
        return {"type": "str"}


class NoneCodec:
    """``None``."""

    type_name: ClassVar[str] = "none"
    python_types: ClassVar[tuple[type, ...]] = (type(None),)

    def encode(self, obj: None, where: str) -> Record:
        return Record(self.type_name)

    def decode(self, record: Record) -> None:
        return None

    def summary(self, obj: None) -> dict[str, Any]:
        return {"type": "NoneType"}


class _SequenceCodec:
    """Shared shape of tuple/set/frozenset: a homogeneous ``data`` array."""

    type_name: ClassVar[str]
    python_types: ClassVar[tuple[type, ...]]
    rebuild: ClassVar[type]

    def ordered(self, obj: Any, where: str) -> Any:
        return obj

    def encode(self, obj: Any, where: str) -> Record:
        arr = homogeneous_array(self.ordered(obj, where), where, self.type_name)
        return array_record(arr, self.type_name, where)

    def dims_for(self, name: str, ndim: int) -> Dims:
        """``data``: ``None`` per axis."""
        return unnamed(ndim)

    def decode(self, record: Record) -> Any:
        return self.rebuild(array_from_record(record).tolist())

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"type": type(obj).__name__}


class TupleCodec(_SequenceCodec):
    """``tuple`` of same-typed elements (round-trips as a tuple of Python values)."""

    type_name: ClassVar[str] = "tuple"
    python_types: ClassVar[tuple[type, ...]] = (tuple,)
    rebuild: ClassVar[type] = tuple


class SetCodec(_SequenceCodec):
    """``set`` of mutually orderable, same-typed elements (stored sorted)."""

    type_name: ClassVar[str] = "set"
    python_types: ClassVar[tuple[type, ...]] = (set,)
    rebuild: ClassVar[type] = set

    def ordered(self, obj: Any, where: str) -> Any:
        """The elements sorted; raises :class:`~spikestore.errors.InvalidValueTypeError`
        (a ``TypeError``, as spikelab raises) when they cannot be ordered."""
        try:
            return sorted(obj)
        except TypeError as exc:
            raise InvalidValueTypeError(
                f"{where}: {self.type_name} elements cannot be ordered ({exc}); use "
                f"elements of one type so the stored order is deterministic."
            ) from None


class FrozensetCodec(SetCodec):
    """``frozenset``, stored like a set."""

    type_name: ClassVar[str] = "frozenset"
    python_types: ClassVar[tuple[type, ...]] = (frozenset,)
    rebuild: ClassVar[type] = frozenset
