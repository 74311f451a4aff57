"""Codecs: one per stored type, mapping objects to container-neutral records.

Use :func:`encode_item`, :func:`encode_value`, :func:`decode` and
:func:`summary` (or :func:`make_summary`); add a type by writing one codec
module and registering it in :mod:`spikestore.codecs.registry`.
"""

from .precision import apply_precision, check_precision
from .registry import (
    codec_for,
    codec_named,
    decode,
    derive,
    dims_for,
    encode_item,
    encode_value,
    fill_hints,
    make_summary,
    restore_summary,
    summary,
)

__all__ = [
    "apply_precision", "check_precision", "codec_for", "codec_named", "decode", "derive", "dims_for", "fill_hints", "encode_item", "encode_value",
    "make_summary", "restore_summary", "summary",
]
