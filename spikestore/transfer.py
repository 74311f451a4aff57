"""Moving whole workspaces: HDF5 export/import (spikelab's ``.h5`` + ``.json``)
and Zarr-to-Zarr copies, all streaming item by item.

* :func:`export_hdf5` writes spikelab's exact format from an in-memory
  workspace, a store-backed (lazy) workspace or a store URL.  From a store,
  each item's arrays are copied block by block from Zarr to HDF5, so memory
  stays bounded whatever the workspace size.
* :func:`import_hdf5` writes a spikelab save into a Zarr workspace at any
  URL.  The file is checked completely (HDF5 structure, known types, ``.json``
  consistent with ``.h5``) before anything is written; data then streams from
  the h5py datasets into fresh version folders published by one index
  snapshot, so a failure mid-copy leaves the destination as it was.
* :func:`copy_workspace` copies a Zarr workspace to another URL (local, S3,
  memory) the same way.

Reading and checking spikelab's files is :mod:`spikestore.hdf5_reading`'s
job; ``load_hdf5_workspace``, ``load_hdf5_item`` and ``hdf5_paths`` stay
importable from here.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional

import h5py

from . import codecs, hdf5_reading
from .workspace_root import WorkspaceRoot, normalize_url
from .containers.hdf5_file import check_compression, read_record, write_record
from .containers.zarr_group import block_readable
from .errors import CorruptDataError, FormatError, InvalidURLError, StoreWriteError
from .hdf5_reading import load_hdf5_item
from .jsonvalue import json_default
from .lazy import LazyAnalysisWorkspace, open_workspace
from .locations import hdf5_paths
from .malloc_trim import release_free_memory
from .record import Record
from .store import WorkspaceStore, save_records
from .workspace import AnalysisWorkspace, load_hdf5_workspace


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------


class _Progress:
    """A tqdm bar over bytes (no-op when disabled)."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc)

    def item(self, label: str, nbytes: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(nbytes)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _record_bytes(record: Record) -> int:
    try:
        return record.nbytes()
    except Exception:  # an array-like without a usable nbytes: progress only
        return 0


def _with_progress(
    entries: Iterable[tuple[str, str, Record, dict]], progress: _Progress
) -> Iterator[tuple[str, str, Record, dict]]:
    """Pass entries through, advancing the bar once each has been consumed.

    Between items, freed memory goes back to the OS (see :mod:`spikestore.malloc_trim`).
    """
    previous: tuple[str, int] | None = None
    for ns, key, record, info in entries:
        if previous is not None:
            progress.item(*previous)
            release_free_memory()
        previous = (f"{ns}/{key}", _record_bytes(record))
        yield ns, key, record, info
    if previous is not None:
        progress.item(*previous)


# ---------------------------------------------------------------------------
# sources of items for export
# ---------------------------------------------------------------------------


@dataclass
class _Source:
    """What an export reads: workspace attributes, the index and one record per item."""

    workspace_id: str
    name: Optional[str]
    created_at: float
    index: dict[str, dict[str, dict]]
    record: Callable[[str, str], Record]
    total: Callable[[], int]


def _store_of(ws: AnalysisWorkspace) -> WorkspaceStore | None:
    """The store behind a store-backed (lazy) workspace, or ``None`` for an in-memory one."""
    store = getattr(ws, "_store", None)  # LazyAnalysisWorkspace keeps its open store here
    return store if isinstance(store, WorkspaceStore) else None


def _store_source(store: WorkspaceStore) -> _Source:
    attrs = store.attrs
    return _Source(
        workspace_id=attrs["workspace_id"],
        name=attrs.get("name"),
        created_at=float(attrs["created_at"]),
        index=store.describe(),
        record=lambda ns, key: block_readable(store.read(ns, key, lazy=True), store.require(ns, key)["tree"], f"({ns!r}, {key!r})"),
        # lazy records are built from the index alone: sizing them reads no data
        total=lambda: sum(_record_bytes(store.read(ns, key, lazy=True)) for ns, keys in store.describe().items() for key in keys),
    )


def _memory_source(ws: AnalysisWorkspace) -> _Source:
    """Encode every item now: an unsupported object raises before any file exists."""
    records: dict[tuple[str, str], Record] = {}
    index = ws.describe()
    for ns, keys in index.items():
        for key in keys:
            records[(ns, key)] = codecs.encode_item(ws.get(ns, key), f"item ({ns!r}, {key!r})")
    return _Source(
        ws.workspace_id, ws.name, float(ws.created_at), index,
        record=lambda ns, key: records.pop((ns, key)),
        total=lambda: sum(_record_bytes(r) for r in records.values()),
    )


@contextmanager
def _open_source(src: Any, storage_options: Optional[dict]) -> Iterator[_Source]:
    if isinstance(src, AnalysisWorkspace):
        store = _store_of(src)
        if store is not None:
            store.refresh()
            yield _store_source(store)
        else:
            yield _memory_source(src)
        return
    if isinstance(src, (str, os.PathLike)):
        yield _store_source(WorkspaceStore.at(src, storage_options, read_only=True))
        return
    raise InvalidURLError(
        f"cannot export a {type(src).__name__}; pass an AnalysisWorkspace, a "
        f"LazyAnalysisWorkspace or the URL of a saved workspace."
    )


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------


def _write_json(path: str, content: dict[str, Any]) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(content, fh, indent=2, default=json_default)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _check_folder(h5_path: str) -> None:
    """The folder of ``h5_path`` exists (or say which ancestor is missing or is a file).

    Raises
    ------
    InvalidURLError
        If the folder does not exist or one of its parents is a file.
    """
    folder = os.path.dirname(os.path.abspath(h5_path))
    if os.path.isdir(folder):
        return
    ancestor = folder
    while not os.path.exists(ancestor) and os.path.dirname(ancestor) != ancestor:
        ancestor = os.path.dirname(ancestor)
    if os.path.exists(ancestor) and not os.path.isdir(ancestor):
        raise InvalidURLError(
            f"cannot write {h5_path}: {ancestor} is a file, not a folder; choose a path whose parent is a folder."
        )
    raise InvalidURLError(f"cannot write {h5_path}: folder {folder} does not exist; create it first.")


class _Terminated(BaseException):
    """SIGTERM arrived during an export (raised so that the temporary file is removed)."""


class _TerminationLatch:
    """Remembers that SIGTERM arrived, so the signal cannot be lost.

    The handler raises :class:`_Terminated` at whatever bytecode runs when the
    signal arrives; if that is a ``__del__``, a weakref callback or code that
    catches ``BaseException``, Python prints and drops the exception and the
    export would go on.  :meth:`check`, called between items and before the
    file is renamed into place, raises it again.
    """

    def __init__(self) -> None:
        self.arrived = False

    def check(self) -> None:
        """Raise :class:`_Terminated` if SIGTERM arrived."""
        if self.arrived:
            raise _Terminated()


@contextmanager
def _sigterm_as_exception() -> Iterator[_TerminationLatch]:
    """Inside the block, SIGTERM raises :class:`_Terminated`; afterwards the signal is re-delivered.

    Only in the main thread (where Python runs signal handlers) and only when
    SIGTERM is not ignored; the previous handler is restored on exit, then
    receives the signal as if the export had not intercepted it.  The block
    gets a :class:`_TerminationLatch` to check at safe points; leaving the
    block checks it once more.
    """
    latch = _TerminationLatch()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield latch
        return

    def handler(signum: int, frame: Any) -> None:
        latch.arrived = True
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield latch
        latch.check()  # the exception was swallowed where the signal landed: deliver it now
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)
        raise SystemExit(128 + signal.SIGTERM) from None  # the previous handler returned
    finally:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)


def _write_h5(h5_path: str, source: _Source, compression: Optional[str], bar: _Progress, latch: _TerminationLatch) -> None:
    """Write every item to a temporary file renamed to ``h5_path``; removed on any error or signal.

    ``latch`` is checked after every item and before the rename, so a
    termination is never followed by a complete-looking file.
    """
    tmp = f"{h5_path}.tmp-{uuid.uuid4().hex}"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["__workspace_id__"] = source.workspace_id
            f.attrs["__workspace_name__"] = source.name or ""
            f.attrs["__created_at__"] = source.created_at
            for ns, keys in source.index.items():
                ns_group = f.require_group(ns)
                for key, info in keys.items():
                    record = source.record(ns, key)
                    nbytes = _record_bytes(record)
                    write_record(
                        ns_group.create_group(key),
                        record,
                        created_at=float(info.get("created_at", time.time())),
                        item_types=codecs.registry.ITEM_TYPE_NAMES,
                        note=info.get("note"),
                        compression=compression,
                    )
                    del record
                    bar.item(f"{ns}/{key}", nbytes)
                    release_free_memory()
                    latch.check()
        latch.check()
        os.replace(tmp, h5_path)
    except BaseException:
        _remove(tmp)
        raise


def export_hdf5(
    src: Any,
    base_path: str | os.PathLike[str],
    *,
    storage_options: Optional[dict] = None,
    compression: Optional[str] = None,
    progress: bool = False,
) -> tuple[str, str]:
    """Write a workspace as spikelab's ``base_path.h5`` + ``base_path.json``.

    Parameters
    ----------
    src
        An ``AnalysisWorkspace`` (in memory), a ``LazyAnalysisWorkspace`` or the
        URL (``str``/path) of a saved workspace.  From a store, arrays stream
        from Zarr to HDF5 in blocks of whole chunks of about 4 MiB (``STREAM_BLOCK_BYTES``).
    base_path
        Local base path; a trailing ``.h5`` is stripped as spikelab does.
    storage_options
        fsspec options when ``src`` is a URL.
    compression
        ``None`` (spikelab's layout byte for byte), ``"gzip"`` or ``"lzf"``
        (chunked datasets; spikelab reads them, ``lzf`` needs h5py).
    progress
        Show a tqdm progress bar (bytes).

    Returns
    -------
    tuple of str
        The paths of the ``.h5`` and ``.json`` files written.

    Raises
    ------
    UnsupportedTypeError, InvalidValueError
        If an in-memory item cannot be stored; no file is created.
    WorkspaceNotFoundError
        If ``src`` is a URL holding no workspace.
    InvalidURLError
        If ``base_path`` is a URL, its folder does not exist, or a parent is a file.

    Notes
    -----
    The ``.h5`` is written under a temporary name in the same folder and
    renamed into place; on error, Ctrl-C or SIGTERM it is removed and an
    existing ``.h5`` is left untouched (SIGTERM is then passed on to the
    handler that was installed before).  The progress bar's total is the
    bytes of every item, known before the first item is written.
    """
    check_compression(compression)
    h5_path, json_path = hdf5_paths(base_path)
    _check_folder(h5_path)
    with _open_source(src, storage_options) as source:
        bar = _Progress(progress, source.total() if progress else 0, f"export {os.path.basename(h5_path)}")
        try:
            with _sigterm_as_exception() as latch:
                _write_h5(h5_path, source, compression, bar, latch)
        finally:
            bar.close()
        _write_json(
            json_path,
            {"workspace_id": source.workspace_id, "name": source.name, "created_at": source.created_at, "index": source.index},
        )
    return h5_path, json_path


# ---------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------


def _save_streaming(
    backend: WorkspaceRoot,
    entries: Iterable[tuple[str, str, Record, dict]],
    workspace_id: str,
    name: Optional[str],
    created_at: float,
) -> WorkspaceStore:
    """``save_records`` over a generator; a damaged source is reported as such, not as a write error."""
    try:
        return save_records(backend, entries, workspace_id, name, created_at)
    except StoreWriteError as exc:
        if isinstance(exc.__cause__, (CorruptDataError, FormatError)):
            raise exc.__cause__ from None
        raise


def _opened(url: str | os.PathLike[str], storage_options: Optional[dict]) -> LazyAnalysisWorkspace:
    """The workspace at ``url`` opened read-only (a ``LazyAnalysisWorkspace``)."""
    return open_workspace(url, "r", storage_options=storage_options)


def import_hdf5(
    base_path: str | os.PathLike[str],
    url: str | os.PathLike[str],
    *,
    storage_options: Optional[dict] = None,
    progress: bool = False,
) -> LazyAnalysisWorkspace:
    """Write spikelab's ``base_path.h5`` + ``.json`` as a Zarr workspace at ``url``.

    Workspace id, name and creation time, item notes and ``created_at`` are
    kept; each item's summary comes from the ``.json`` index, its
    ``created_at``/``note`` from the ``.h5`` (as spikelab's loader reads them).
    Data streams from HDF5 to Zarr without building the spikelab objects.

    Parameters
    ----------
    base_path
        The base path spikelab saved to (a trailing ``.h5`` is stripped).
    url
        Destination: a path or any fsspec URL; an existing workspace there is replaced.
    storage_options
        fsspec options for ``url``.
    progress
        Show a tqdm progress bar (bytes).

    Returns
    -------
    LazyAnalysisWorkspace
        The imported workspace, opened read-only (``open_workspace(url, "r")``):
        nothing is loaded until an item is asked for.

    Raises
    ------
    WorkspaceNotFoundError
        If the ``.h5`` is missing.
    FormatError
        If the ``.h5`` is not HDF5 or not a spikelab workspace, holds an unknown
        ``__type__``, is damaged or hostile (unsafe names, links, datatypes or
        declared sizes; see :mod:`spikestore.hdf5_reading`), or the ``.json`` is
        missing or does not match it (items, types, shapes, counts).
    CorruptDataError
        If a dataset cannot be read while copying.

    Notes
    -----
    Everything is checked before the first byte is written.  Items go to
    fresh version folders made visible by one index snapshot: if the copy
    fails midway, the destination keeps its previous content (unreferenced
    folders left behind are removed by ``gc``; a destination that was empty
    then holds an empty workspace).
    """
    h5_path, json_path = hdf5_paths(base_path)
    with hdf5_reading.open_h5(h5_path) as f:
        content = hdf5_reading.read_index(json_path, h5_path)
        items = hdf5_reading.checked_pair(h5_path, json_path, f, content)
        workspace_id, name, created_at = hdf5_reading.root_attrs(h5_path, f)
        backend = WorkspaceRoot(url, storage_options)
        total = sum(int(ds.nbytes) for _, _, g, _ in items for ds in _datasets(g)) if progress else 0
        bar = _Progress(progress, total, f"import {os.path.basename(h5_path)}")

        def entries() -> Iterator[tuple[str, str, Record, dict]]:
            for ns, key, group, info in items:
                with hdf5_reading.guard(h5_path, f"item {group.name!r}"):
                    record = read_record(group)
                yield ns, key, hdf5_reading.checked_record(record, h5_path), info

        try:
            _save_streaming(backend, _with_progress(entries(), bar), workspace_id, name, created_at)
        finally:
            bar.close()
    return _opened(url, storage_options)


def _datasets(group: h5py.Group) -> Iterator[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    group.visititems(lambda _, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return iter(found)


# ---------------------------------------------------------------------------
# Zarr to Zarr
# ---------------------------------------------------------------------------


def _short_label(verb: str, url: str, width: int = 20) -> str:
    """``"<verb> <last path component>"``, the component cut to ``width`` characters (a bar label)."""
    last = os.path.basename(str(url).rstrip("/")) or str(url)
    return f"{verb} {last if len(last) <= width else last[: width - 1] + '…'}"


def copy_workspace(
    src_url: str | os.PathLike[str],
    dst_url: str | os.PathLike[str],
    *,
    src_storage_options: Optional[dict] = None,
    dst_storage_options: Optional[dict] = None,
    progress: bool = False,
) -> LazyAnalysisWorkspace:
    """Copy the workspace at ``src_url`` to ``dst_url`` (any two fsspec URLs), streaming.

    Items are read as lazy records and written block by block; ids, names,
    notes and every ``created_at`` are kept, as are the Zarr-only derived
    arrays.  An existing workspace at ``dst_url`` is replaced atomically
    (see :func:`spikestore.store.save_records`).

    Returns
    -------
    LazyAnalysisWorkspace
        The copy, opened read-only (``open_workspace(dst_url, "r")``).

    Raises
    ------
    WorkspaceNotFoundError
        If ``src_url`` holds no workspace.
    InvalidURLError
        If source and destination are the same location.
    """
    src_backend = WorkspaceRoot(src_url, src_storage_options, read_only=True)
    dst_backend = WorkspaceRoot(dst_url, dst_storage_options)
    if normalize_url(src_url) == normalize_url(dst_url):
        raise InvalidURLError(f"source and destination are both {src_backend.url}; choose another destination.")
    src = WorkspaceStore.open(src_backend)
    order = [(ns, key, dict(entry["info"])) for ns, keys in src.index.items.items() for key, entry in keys.items()]
    total = sum(_record_bytes(src.read(ns, key, lazy=True)) for ns, key, _ in order) if progress else 0
    bar = _Progress(progress, total, _short_label("copy", src_backend.url))

    def entries() -> Iterator[tuple[str, str, Record, dict]]:
        for ns, key, info in order:
            yield ns, key, src.read(ns, key, lazy=True), info

    try:
        _save_streaming(
            dst_backend, _with_progress(entries(), bar), src.attrs["workspace_id"], src.attrs.get("name"), float(src.attrs["created_at"])
        )
    finally:
        bar.close()
    return _opened(dst_url, dst_storage_options)


__all__ = [
    "export_hdf5",
    "import_hdf5",
    "copy_workspace",
    "load_hdf5_workspace",
    "load_hdf5_item",
    "hdf5_paths",
]
