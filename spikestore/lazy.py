"""Store-backed workspaces: open in a few requests, read one item, one unit
or one time window without loading the rest.

:func:`open_workspace` opens a workspace at any fsspec URL holding only its
index (one snapshot plus the journal records newer than it: on S3 a root
``GET``, an index ``LIST`` and a snapshot ``GET`` when the journal is
compacted).  :class:`LazyAnalysisWorkspace` has spikelab's
``AnalysisWorkspace`` API; every write goes straight to the store, every
``get`` reads that one item, and ``get_lazy`` returns a view
(:mod:`spikestore.views`) that reads chunks only when asked.

Modes of :func:`open_workspace`:

====  ==============================================================
``r``  existing workspace, read only (writes raise ``ReadOnlyError``)
``r+`` existing workspace, read and write
``a``  read and write; created when missing
``w``  created; an existing workspace is replaced (atomically emptied)
====  ==============================================================
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
import warnings
import weakref
from typing import Any, Optional

from . import codecs
from .workspace_root import WorkspaceRoot
from .errors import InvalidModeError, InvalidValueError, ItemNotFoundError, ReadOnlyError, SpikestoreError
from .hdf5_reading import spikelab_base
from .locations import URL
from .maintenance import DEFAULT_GRACE_SECONDS, GcReport, VerifyReport, gc, verify
from .names import validate_item_address
from .store import WorkspaceStore, encode_info, save_records
from .views import view_for
from .workspace import AnalysisWorkspace
from .xarray_support import record_to_xarray, to_dask

MODES = ("r", "r+", "a", "w")


def open_workspace(
    url: URL, mode: str = "r", *, storage_options: Optional[dict] = None, name: Optional[str] = None
) -> "LazyAnalysisWorkspace":
    """Open the workspace at ``url`` without loading any item.

    Parameters
    ----------
    url
        A path (``str`` or ``pathlib.Path``) or any fsspec URL.
    mode
        ``"r"`` (default), ``"r+"``, ``"a"`` or ``"w"`` (see the module docstring).
    storage_options
        fsspec options (credentials, ``endpoint_url`` …).
    name
        Name of a workspace created by ``"a"`` or ``"w"``.

    Raises
    ------
    InvalidModeError
        For any other mode.
    WorkspaceNotFoundError
        In ``"r"``/``"r+"`` when ``url`` holds no workspace.
    FormatError
        In ``"a"``/``"w"`` when ``url`` holds data that is not a workspace.
    """
    ws = LazyAnalysisWorkspace.__new__(LazyAnalysisWorkspace)
    ws._connect(url, mode, storage_options, name)
    return ws


class LazyAnalysisWorkspace(AnalysisWorkspace):
    """spikelab's ``LazyAnalysisWorkspace``, backed by a Zarr store.

    Only the index is held in memory: ``store`` writes the item to the store
    at once, ``get`` reads that item, ``get_lazy`` reads parts of it.

    Parameters
    ----------
    name
        Optional human-readable label.
    url
        Where the workspace lives.  ``None`` (the default, spikelab's
        behaviour): a temporary local folder, removed by ``close()`` or when
        the workspace is garbage-collected.  Otherwise the workspace at
        ``url`` is opened, or created when missing (mode ``"a"``).
    storage_options
        fsspec options for ``url``.

    Notes
    -----
    ``_items`` is not available (as in spikelab): use ``get``.  A
    ``LazyAnalysisWorkspace`` pickles as its URL, options and mode and
    reopens on unpickling (dask tasks can receive it); a temporary workspace
    unpickles as a plain handle that does not own (remove) the folder.
    """

    def __init__(self, name: Optional[str] = None, *, url: Optional[URL] = None, storage_options: Optional[dict] = None) -> None:
        if url is None:
            folder = tempfile.mkdtemp(prefix="spikestore-lazy-")
            self._finalizer: Optional[weakref.finalize[Any, Any]] = weakref.finalize(self, shutil.rmtree, folder, True)
            try:
                self._connect(folder, "w", None, name)
            except BaseException:
                self._finalizer()
                raise
        else:
            self._connect(url, "a", storage_options, name)

    # -- connection ------------------------------------------------------------

    def _connect(self, url: URL, mode: str, storage_options: Optional[dict], name: Optional[str]) -> None:
        if mode not in MODES:
            raise InvalidModeError(f"mode {mode!r} is not one of {', '.join(map(repr, MODES))} (r: read, r+: read/write, a: create if missing, w: replace).")
        backend = WorkspaceRoot(url, storage_options, read_only=mode == "r")
        if mode in ("r", "r+"):
            store = WorkspaceStore.open(backend)
        elif mode == "a":
            store = WorkspaceStore.open_or_create(backend, name)
        else:
            store = save_records(backend, [], str(uuid.uuid4()), name, time.time())
        self._store: Optional[WorkspaceStore] = store
        self._index_cache: Optional[dict[str, dict[str, dict]]] = None
        self._mode = mode
        self.workspace_id = str(store.attrs["workspace_id"])
        self.name = store.attrs.get("name")
        self.created_at = float(store.attrs["created_at"])
        if not hasattr(self, "_finalizer"):
            self._finalizer = None

    @property
    def url(self) -> str:
        """The workspace's URL."""
        return self._require_open().backend.url

    @property
    def mode(self) -> str:
        """The open mode (``r``, ``r+``, ``a`` or ``w``)."""
        return self._mode

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._store is None

    def _require_open(self) -> WorkspaceStore:
        store = getattr(self, "_store", None)
        if store is None:
            raise SpikestoreError("this workspace is closed; reopen it with spikestore.open_workspace(url, mode).")
        return store

    def _writable(self) -> WorkspaceStore:
        store = self._require_open()
        if self._mode == "r":
            raise ReadOnlyError(
                f"{store.backend.url} was opened read-only (mode 'r'); reopen it with "
                f"open_workspace(url, 'r+') to change it."
            )
        return store

    # -- spikelab's in-memory fields, derived from the index -------------------

    @property
    def _items(self) -> Any:
        raise NotImplementedError(
            "LazyAnalysisWorkspace does not expose ``_items``; items live in the store. Use "
            "list_namespaces() / list_keys(namespace) / get(namespace, key) or get_lazy(namespace, key)."
        )

    @_items.setter
    def _items(self, value: Any) -> None:
        pass

    @property
    def _index(self) -> dict[str, dict[str, dict]]:
        """``{namespace: {key: info}}`` built from the store's index.

        Cached between operations: the parent class's ``rename``/``delete``
        update it in step with the store (through the ``_rename``/``_delete``
        hooks); every public entry point that changes the store's index
        drops the cache afterwards, so it is rebuilt from the truth.
        """
        store = getattr(self, "_store", None)
        if store is None:
            return {}
        cache = getattr(self, "_index_cache", None)
        if cache is None:
            cache = self._index_cache = {ns: {k: e["info"] for k, e in space.items()} for ns, space in store.index.items.items()}
        return cache

    @_index.setter
    def _index(self, value: Any) -> None:
        pass

    # -- reading ---------------------------------------------------------------

    def get(self, namespace: str, key: str) -> Optional[Any]:
        """Read and decode one item; ``None`` if it does not exist."""
        store = self._require_open()
        if store.index.entry(namespace, key) is None:
            return None
        try:
            return store.get(namespace, key)
        except ItemNotFoundError:
            return None
        finally:
            self._index_cache = None  # a read may refresh the index

    def get_info(self, namespace: str, key: str) -> Optional[dict]:
        """The index entry (type, shape …, ``created_at``, ``note``), or ``None`` (no request)."""
        return self._require_open().info(namespace, key)

    def get_lazy(self, namespace: str, key: str) -> Any:
        """A view of one item that reads chunks only when asked (see :mod:`spikestore.views`).

        Raises
        ------
        ItemNotFoundError
            If the namespace or key does not exist.
        """
        record = self._require_open().read(namespace, key, lazy=True)
        return view_for(record, f"({namespace!r}, {key!r})")

    def to_dask(self, namespace: str, key: str, dataset: Optional[str] = None, chunks: Any = None) -> Any:
        """A ``dask.array`` over one stored array of an item, one task per stored chunk.

        The item's main array by default (an ``ndarray`` item itself,
        ``inst_Frate_data``, ``event_stack``, ``matrix``, ``stack``,
        ``spike_times``), or the array named ``dataset`` (``"raw_data"`` …).
        No request is made until the array is computed.  Its chunks are the
        stored chunks (the inner chunks of a sharded array) unless ``chunks``
        says otherwise.  See ``docs/xarray.md``.

        Raises
        ------
        ItemNotFoundError
            If the item does not exist.
        UnsupportedTypeError
            If the item has no such array (a dict, a ``SpikeSliceStack``).
        MissingDependencyError
            If dask is not installed (``pip install spikestore[xarray]``).
        """
        return to_dask(self.get_lazy(namespace, key), dataset, chunks)

    def to_xarray(self, namespace: str, key: str) -> Any:
        """The item as an ``xarray.Dataset`` whose data variables are dask arrays over the store.

        For ``RateData``, ``RateSliceStack``, ``PairwiseCompMatrix``,
        ``PairwiseCompMatrixStack`` and ``ndarray`` items; dimensions are the
        arrays' stored ``dimension_names`` (``unit``, ``time``, ``slice`` …).
        Only the coordinate arrays (times, labels, per-unit attributes) are
        read, all at once.  See :func:`spikestore.to_xarray` and ``docs/xarray.md``.

        Raises
        ------
        ItemNotFoundError
            If the item does not exist.
        UnsupportedTypeError
            For other item types.
        MissingDependencyError
            If xarray or dask is not installed (``pip install spikestore[xarray]``).
        """
        record = self._require_open().read(namespace, key, lazy=True)
        return record_to_xarray(record, f"({namespace!r}, {key!r})", lazy=True)

    def refresh(self) -> None:
        """Re-read the index to see items other writers committed."""
        self._require_open().refresh()
        self._index_cache = None

    # -- writing ---------------------------------------------------------------

    def store(self, namespace: str, key: str, obj: Any, note: Optional[str] = None, *, precision: Optional[dict[str, float]] = None) -> None:
        """Encode ``obj`` and commit it to the store under ``(namespace, key)``.

        ``precision`` (opt-in lossy storage, off by default) is as in
        :meth:`spikestore.AnalysisWorkspace.save`, e.g. ``{"RateData": 1e-6}``.

        Raises
        ------
        ReadOnlyError
            If the workspace was opened with mode ``"r"``.
        InvalidNameError, UnsupportedTypeError, InvalidValueError
            Before anything is written.
        """
        store = self._writable()
        validate_item_address(namespace, key)
        checked = codecs.check_precision(precision)
        record = codecs.apply_precision(codecs.encode_item(obj, f"item ({namespace!r}, {key!r})"), checked)
        try:
            store.put(namespace, key, record, encode_info(obj, time.time(), note))
        finally:
            self._index_cache = None

    def _rename(self, namespace: str, old_key: str, new_key: str) -> None:
        self._writable().rename(namespace, old_key, new_key)

    def rename(self, namespace: str, old_key: str, new_key: str, overwrite: bool = False) -> bool:
        """Rename a key; warn and return False if ``new_key`` exists and not ``overwrite``."""
        self._writable()
        try:
            return super().rename(namespace, old_key, new_key, overwrite)
        finally:
            self._index_cache = None

    def _set_note(self, namespace: str, key: str, note: str) -> None:
        self._writable().set_note(namespace, key, note)

    def add_note(self, namespace: str, key: str, note: str) -> None:
        """Attach or replace the note of an item (written to the store)."""
        self._writable()
        try:
            super().add_note(namespace, key, note)
        finally:
            self._index_cache = None

    def _delete(self, namespace: str, key: Optional[str]) -> None:
        self._writable().delete(namespace, key)

    def delete(self, namespace: str, key: Optional[str] = None) -> None:
        """Delete one item, or a whole namespace, from the store."""
        self._writable()
        try:
            super().delete(namespace, key)
        finally:
            self._index_cache = None

    def merge_from(self, other: AnalysisWorkspace, overwrite: bool = False) -> dict:
        """Copy every item of ``other`` (notes too) into the store (spikelab's semantics)."""
        self._writable()
        return super().merge_from(other, overwrite)

    def compact(self) -> bool:
        """Fold the index journal into one snapshot (next open: constant requests)."""
        try:
            return self._writable().compact()
        finally:
            self._index_cache = None

    def verify(self) -> "VerifyReport":
        """Read every chunk of every item and report damage (see :func:`spikestore.verify`)."""
        return verify(self._require_open())

    def gc(self, grace_seconds: float | None = None) -> "GcReport":
        """Remove leftovers of interrupted or superseded writes (see :func:`spikestore.gc`)."""
        try:
            return gc(self._writable(), grace_seconds=DEFAULT_GRACE_SECONDS if grace_seconds is None else grace_seconds)
        finally:
            self._index_cache = None

    # -- persistence -----------------------------------------------------------

    def save(self, url: URL, *, storage_options: Optional[dict] = None, precision: Optional[dict[str, float]] = None) -> None:
        """Copy the workspace to ``url``, replacing what is there.

        Items are streamed array by array from this store to the destination
        (no item is decoded), then published by one index snapshot.
        ``precision`` (opt-in lossy storage) is as in
        :meth:`spikestore.AnalysisWorkspace.save`; saving to the workspace's
        own location only compacts its index and rounds nothing.

        Raises
        ------
        InvalidValueError
            If ``precision`` is bad, or given for the workspace's own location.
        """
        store = self._require_open()
        checked = codecs.check_precision(precision)
        dest = WorkspaceRoot(url, storage_options)
        if dest.url == store.backend.url and dest.storage_options == store.backend.storage_options:
            if checked:
                raise InvalidValueError("precision applies to a copy: save to another location (a workspace is not rounded in place).")
            if self._mode != "r":
                store.compact()
            return
        store.refresh()
        self._index_cache = None
        encoded = [
            (ns, key, codecs.apply_precision(store.read(ns, key, lazy=True), checked), dict(entry["info"]))
            for ns, space in store.index.items.items()
            for key, entry in space.items()
        ]
        save_records(dest, encoded, self.workspace_id, self.name, self.created_at)

    @classmethod
    def load(cls, url: URL, *, storage_options: Optional[dict] = None) -> "LazyAnalysisWorkspace":
        """A new temporary lazy workspace holding a copy of the workspace at ``url``.

        To work on a stored workspace in place, use :func:`open_workspace`.
        """
        if spikelab_base(url) is not None:
            eager = AnalysisWorkspace.load(url)
            ws = cls(name=eager.name)
            ws.merge_from(eager)
            return ws
        ws = cls()
        with open_workspace(url, "r", storage_options=storage_options) as source:
            source.save(ws._require_open().backend.url)
        ws._connect(ws._require_open().backend.url, "r+", None, None)
        return ws

    def close(self) -> None:
        """Compact the journal (if opened for writing) and release the store.

        A temporary workspace's folder is removed.  Safe to call twice.
        """
        store = getattr(self, "_store", None)
        if store is not None and self._mode != "r" and self._finalizer is None:
            try:
                if store.index.pending_records:
                    store.refresh()  # another handle may have compacted our records already
                if store.index.pending_records:
                    store.compact()
            except Exception as exc:  # best effort: the items are committed already
                warnings.warn(f"compacting the index of {store.backend.url} on close failed: {exc!r}", stacklevel=2)
        self._store = None
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> "LazyAnalysisWorkspace":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- pickling ----------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        store = self._require_open()
        mode = "r+" if self._mode == "w" else self._mode
        return {"url": store.backend.url, "storage_options": store.backend.storage_options, "mode": mode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._finalizer = None
        self._connect(state["url"], state["mode"], state["storage_options"], None)

    def __repr__(self) -> str:
        index = self._index
        item_count = sum(len(v) for v in index.values())
        name_part = f" {self.name!r}" if getattr(self, "name", None) else ""
        where = "closed" if self.closed else f"{self.url}, mode {self._mode!r}"
        return (
            f"LazyAnalysisWorkspace{name_part}(id={self.workspace_id[:8]}…, {len(index)} namespace(s), "
            f"{item_count} item(s), {where})"
        )


__all__ = ["LazyAnalysisWorkspace", "open_workspace", "MODES"]
