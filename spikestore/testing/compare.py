"""Whole-object equality for round-trip tests: type, dtype, shape, values and
every attribute, recursively (numpy arrays, spikelab classes, dicts, sets)."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_same(a: Any, b: Any, path: str = "obj", *, in_user_dict: bool = False) -> None:
    """Assert two objects are equal in type, dtype, shape, values and attributes.

    ``in_user_dict``: ``a`` is a value of a stored dict, where spikelab's
    documented rule applies: a list reads back as an ndarray.
    """
    top_level_dict = isinstance(a, dict) and "." not in path and "[" not in path
    if in_user_dict and isinstance(a, list):
        a = np.asarray(a)
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), f"{path}: {type(b)} is not an ndarray"
        assert a.dtype == b.dtype, f"{path}: dtype {a.dtype} != {b.dtype}"
        assert a.shape == b.shape, f"{path}: shape {a.shape} != {b.shape}"
        if a.dtype.kind in "fc":
            assert np.array_equal(a, b, equal_nan=True), f"{path}: values differ"
        else:
            assert np.array_equal(a, b), f"{path}: values differ"
        return
    assert type(a) is type(b), f"{path}: type {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]", in_user_dict=in_user_dict or top_level_dict)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, (set, frozenset)):
        assert a == b, f"{path}: {a} != {b}"
        assert {type(x) for x in a} == {type(x) for x in b}, f"{path}: element types differ"
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), f"{path}: {a} != {b}"
    elif isinstance(a, (str, bytes, int, float, bool, np.generic, type(None))):
        assert a == b, f"{path}: {a!r} != {b!r}"
    else:
        _assert_vars(a, b, path)


def _assert_vars(a: Any, b: Any, path: str) -> None:
    va, vb = vars(a), vars(b)
    assert set(va) == set(vb), f"{path}: attributes {sorted(va)} != {sorted(vb)}"
    for k in va:
        assert_same(va[k], vb[k], f"{path}.{k}")


def stored_array_documents(folder: Any) -> dict[str, dict[str, Any]]:
    """``{array folder: zarr.json}`` of every array stored under a local ``folder``, as plain zarr finds them.

    An item's arrays have no ``zarr.json`` of their own: their documents are
    in the consolidated metadata of the item's group document (Zarr v3
    ``consolidated_metadata``); documents of arrays that do have one (older
    stores) are found too.  Keys are paths (``str``) of the arrays' folders.
    """
    import json
    from pathlib import Path

    found: dict[str, dict[str, Any]] = {}
    for doc_path in Path(folder).rglob("zarr.json"):
        doc = json.loads(doc_path.read_text())
        if doc.get("node_type") == "array":
            found[str(doc_path.parent)] = doc
        for rel, child in ((doc.get("consolidated_metadata") or {}).get("metadata") or {}).items():
            if child.get("node_type") == "array":
                found[str(doc_path.parent / rel)] = child
    return found
