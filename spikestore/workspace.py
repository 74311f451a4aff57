"""``AnalysisWorkspace``: spikelab's in-memory workspace, saved as Zarr.

The in-memory workspace behaves as ``spikelab.workspace.AnalysisWorkspace``
does; ``save``/``load``/``load_item`` take any fsspec URL instead of a file
base path (and still read spikelab ``.h5`` saves when given their base path,
through :mod:`spikestore.hdf5_reading`).  The store-backed subclass lives in
:mod:`spikestore.lazy`, the process-wide registry in
:mod:`spikestore.workspace_manager`.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from typing import Any, Optional

from . import codecs, hdf5_reading
from .workspace_root import WorkspaceRoot
from .codecs import make_summary
from .locations import URL
from .names import validate_item_address
from .record import Record
from .store import WorkspaceStore, save_records
from .gc_pause import gc_paused


class AnalysisWorkspace:
    """Named, namespaced container for analysis results (spikelab's API).

    Attributes
    ----------
    workspace_id : str
        UUID identifying this workspace.
    name : str or None
        Optional human-readable label.
    created_at : float
        POSIX timestamp of creation.
    """

    def __init__(self, name: Optional[str] = None) -> None:
        self.workspace_id: str = str(uuid.uuid4())
        self.name: Optional[str] = name
        self.created_at: float = time.time()
        self._items: dict[str, dict[str, Any]] = {}
        self._index: dict[str, dict[str, dict]] = {}

    # -- storage -------------------------------------------------------------

    def store(self, namespace: str, key: str, obj: Any, note: Optional[str] = None) -> None:
        """Store ``obj`` under ``(namespace, key)``, replacing any previous value.

        Raises
        ------
        InvalidNameError
            If the namespace or key cannot be a storage name.
        """
        validate_item_address(namespace, key)
        self._items.setdefault(namespace, {})[key] = obj
        self._index.setdefault(namespace, {})
        entry = make_summary(obj)
        entry["created_at"] = time.time()
        if note is not None:
            entry["note"] = note
        self._index[namespace][key] = entry

    def get(self, namespace: str, key: str) -> Optional[Any]:
        """The stored object, or ``None``."""
        return self._items.get(namespace, {}).get(key)

    def get_info(self, namespace: str, key: str) -> Optional[dict]:
        """The index entry (type, shape…, ``created_at``, ``note``), or ``None``."""
        return self._index.get(namespace, {}).get(key)

    # -- inspection ----------------------------------------------------------

    def describe(self) -> dict:
        """The whole index: ``{namespace: {key: summary}}``."""
        return {ns: dict(keys) for ns, keys in self._index.items()}

    def list_keys(self, namespace: Optional[str] = None) -> "dict | list":
        """Keys of one namespace, or ``{namespace: [keys]}`` for all."""
        if namespace is not None:
            return list(self._index.get(namespace, {}).keys())
        return {ns: list(keys.keys()) for ns, keys in self._index.items()}

    def list_namespaces(self) -> list:
        """Namespace names in insertion order."""
        return list(self._index.keys())

    # -- mutation ------------------------------------------------------------

    def rename(self, namespace: str, old_key: str, new_key: str, overwrite: bool = False) -> bool:
        """Rename a key; warn and return False if ``new_key`` exists and not ``overwrite``."""
        validate_item_address(namespace, new_key)
        if namespace not in self._index or old_key not in self._index[namespace]:
            raise KeyError(f"workspace item not found: ({namespace!r}, {old_key!r})")
        if not overwrite and new_key in self._index[namespace]:
            warnings.warn(
                f"Key '{new_key}' already exists in namespace '{namespace}'. Use overwrite=True to replace it.",
                UserWarning,
                stacklevel=2,
            )
            return False
        self._rename(namespace, old_key, new_key)
        self._index[namespace][new_key] = self._index[namespace].pop(old_key)
        return True

    def _rename(self, namespace: str, old_key: str, new_key: str) -> None:
        self._items[namespace][new_key] = self._items[namespace].pop(old_key)

    def add_note(self, namespace: str, key: str, note: str) -> None:
        """Attach or replace the note of an item."""
        if namespace not in self._index or key not in self._index[namespace]:
            raise KeyError(f"workspace item not found: ({namespace!r}, {key!r})")
        self._set_note(namespace, key, note)
        self._index[namespace][key]["note"] = note

    def _set_note(self, namespace: str, key: str, note: str) -> None:
        pass

    def delete(self, namespace: str, key: Optional[str] = None) -> None:
        """Delete one item, or a whole namespace; an emptied namespace vanishes."""
        if namespace not in self._index:
            if key is None:
                raise KeyError(f"workspace namespace not found: {namespace!r}")
            raise KeyError(f"workspace item not found: ({namespace!r}, {key!r})")
        if key is not None and key not in self._index[namespace]:
            raise KeyError(f"workspace item not found: ({namespace!r}, {key!r})")
        self._delete(namespace, key)
        if key is None:
            del self._index[namespace]
            return
        del self._index[namespace][key]
        if not self._index[namespace]:
            del self._index[namespace]

    def _delete(self, namespace: str, key: Optional[str]) -> None:
        if key is None:
            del self._items[namespace]
            return
        del self._items[namespace][key]
        if not self._items[namespace]:
            del self._items[namespace]

    def merge_from(self, other: "AnalysisWorkspace", overwrite: bool = False) -> dict:
        """Copy every item of ``other`` (notes too); existing keys are kept unless ``overwrite``."""
        merged, skipped, skipped_keys = 0, 0, []
        for namespace in other.list_namespaces():
            for key in other.list_keys(namespace):
                if not overwrite and key in self._index.get(namespace, {}):
                    skipped += 1
                    skipped_keys.append((namespace, key))
                    continue
                info = other.get_info(namespace, key)
                self.store(namespace, key, other.get(namespace, key), note=info.get("note") if info else None)
                merged += 1
        return {"merged": merged, "skipped": skipped, "skipped_keys": skipped_keys}

    # -- persistence -----------------------------------------------------------

    def _encoded_items(self, precision: dict[str, float] | None = None) -> list[tuple[str, str, Record, dict]]:
        """Encode every item (validating all of them before anything is written).

        ``precision`` (checked by :func:`spikestore.codecs.check_precision`)
        marks the values that may be rounded.
        """
        encoded = []
        for namespace, keys in self._index.items():
            for key, info in keys.items():
                obj = self.get(namespace, key)
                record = codecs.encode_item(obj, f"item ({namespace!r}, {key!r})")
                encoded.append((namespace, key, codecs.apply_precision(record, precision or {}), dict(info)))
        return encoded

    def save(self, url: URL, *, storage_options: Optional[dict] = None, precision: Optional[dict[str, float]] = None) -> None:
        """Save the workspace as a Zarr hierarchy at ``url``, replacing what is there.

        Every item is encoded and validated first: an unsupported object
        raises :class:`UnsupportedTypeError` naming its namespace and key and
        nothing is written.  Items are written to fresh version folders and
        made visible by one index snapshot, so a reader sees the old
        workspace or the new one.

        Parameters
        ----------
        url
            Where to save: a folder, ``memory://…``, ``s3://…`` or any fsspec URL.
        storage_options
            Passed to fsspec (e.g. S3 credentials or ``endpoint_url``).
        precision
            Opt-in lossy storage, off by default: type name -> relative
            error, e.g. ``{"RateData": 1e-6}`` keeps every rate within
            1e-6 of its value and stores it in far fewer bytes.  The types:
            ``RateData``, ``RateSliceStack``, ``PairwiseCompMatrix``,
            ``PairwiseCompMatrixStack`` (their value matrices) and
            ``ndarray`` (float arrays); spike times and time axes are
            always exact.  See ``docs/format.md`` ("Stated precision").

        Raises
        ------
        InvalidValueError
            If ``precision`` names another type or an error out of range
            (before anything is written).
        """
        encoded = self._encoded_items(codecs.check_precision(precision))
        backend = WorkspaceRoot(url, storage_options)
        save_records(backend, encoded, self.workspace_id, self.name, self.created_at)

    @classmethod
    def load(cls, url: URL, *, storage_options: Optional[dict] = None) -> "AnalysisWorkspace":
        """Load a whole workspace from a Zarr URL (or a spikelab ``.h5`` base path)."""
        base = hdf5_reading.spikelab_base(url)
        if base is not None:
            return load_hdf5_workspace(base, cls)
        store = WorkspaceStore.at(url, storage_options, read_only=True)
        ws = cls.__new__(cls)
        AnalysisWorkspace.__init__(ws)
        ws.workspace_id = store.attrs["workspace_id"]
        ws.name = store.attrs.get("name")
        ws.created_at = float(store.attrs["created_at"])
        with gc_paused():  # decoding builds ~10^5 acyclic objects: full GC passes cost ~30 % of a load
            addresses = [(ns, key) for ns, keys in store.index.items.items() for key in keys]
            infos = {(ns, key): dict(store.index.items[ns][key]["info"]) for ns, key in addresses}
            for (namespace, key), obj in store.get_many(addresses):
                ws._items.setdefault(namespace, {})[key] = obj
                ws._index.setdefault(namespace, {})[key] = infos[(namespace, key)]
        return ws

    @classmethod
    def load_item(cls, url: URL, namespace: str, key: str, *, storage_options: Optional[dict] = None) -> Any:
        """Load one item; raises ``KeyError`` if the namespace or key is missing."""
        base = hdf5_reading.spikelab_base(url)
        if base is not None:
            return hdf5_reading.load_hdf5_item(base, namespace, key)
        # the index entries of other items are not read (nor checked: ~30 us each)
        store = WorkspaceStore.at(url, storage_options, read_only=True, only=(namespace, key))
        if store.index.entry(namespace, key) is None:  # missing: the whole index says what is there instead
            store = WorkspaceStore.at(url, storage_options, read_only=True)
        return store.get(namespace, key)

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def comparison_namespace(*namespaces: str) -> str:
        """The conventional namespace for a comparison: ``C_ns1_ns2_…``."""
        return "C_" + "_".join(namespaces)

    def __repr__(self) -> str:
        ns_count = len(self._index)
        item_count = sum(len(v) for v in self._index.values())
        name_part = f" {self.name!r}" if self.name else ""
        return f"{type(self).__name__}{name_part}(id={self.workspace_id[:8]}…, {ns_count} namespace(s), {item_count} item(s))"


def load_hdf5_workspace(base_path: str | os.PathLike[str], cls: type[AnalysisWorkspace] = AnalysisWorkspace) -> AnalysisWorkspace:
    """Load a spikelab save into memory, as spikelab's ``AnalysisWorkspace.load`` does.

    Parameters
    ----------
    base_path
        The base path spikelab saved to (a trailing ``.h5`` is stripped).
    cls
        The class of the workspace returned (``AnalysisWorkspace`` or a subclass).

    Raises
    ------
    WorkspaceNotFoundError, FormatError, CorruptDataError
        As :func:`spikestore.hdf5_reading.read_save`.
    """
    save = hdf5_reading.read_save(base_path)
    ws = cls.__new__(cls)
    AnalysisWorkspace.__init__(ws)
    ws.workspace_id, ws.name, ws.created_at = save.workspace_id, save.name, save.created_at
    for ns, key, obj, entry in save.items:
        ws._items.setdefault(ns, {})[key] = obj
        ws._index.setdefault(ns, {})[key] = entry
    return ws
