"""The workspace store: items committed to a Zarr hierarchy, one at a time,
atomically, by any number of writers.

An item is written in three steps:

1. its record goes to a fresh, uniquely named version folder
   ``<namespace>/<key>/<version>/`` (invisible: nothing points to it yet);
2. one journal record naming it is written to the index: the commit point;
3. the version it replaced, if no live entry references it any more, is
   deleted.

A crash before step 2 leaves an unreferenced folder that ``gc`` removes; a
crash after it leaves a committed item.  Readers therefore see an item
entirely or not at all.
"""

from __future__ import annotations

import difflib
import os
from concurrent.futures import ThreadPoolExecutor
import time
import uuid
import warnings
from typing import Any, Iterable, Iterator, Optional

from zarr.abc.store import Store

from . import codecs
from .workspace_root import WorkspaceRoot
from .containers.zarr_group import group_document, lazy_record, read_record, read_records, stored_packed, stores_objects, write_records
from .errors import CorruptDataError, FormatError, InvalidNameError, ItemNotFoundError, StoreWriteError, WorkspaceNotFoundError
from .containers.skeleton import Skeleton
from .entries import IndexEntry
from .index import AUTO_COMPACT_RECORDS, INDEX_DIR, IndexState, Items, JournalOp
from .locations import URL
from .paths import GROUP_DOCUMENT, INTERNAL_DIR, item_folder, storage_segment
from .record import Record
from .strict_store import MissingChunkError, StrictStore
from .containers.read_errors import ItemVersionStore, raise_read_error
from .jsonvalue import parse_json

FORMAT_NAME = "spikestore-workspace"
FORMAT_VERSION = 2
ROOT_ATTR = "spikestore"
# a read retries while the item it reads keeps being replaced under it
READ_ATTEMPTS = 6
# items read together by a whole-workspace load
LOAD_BATCH = 64


def new_version_id() -> str:
    """A version folder name: creation time in ms (for gc's age check) + randomness."""
    return f"v{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"


def version_age_seconds(version_id: str) -> float | None:
    """Age of a version folder from its name, or ``None`` if it is not one."""
    try:
        return time.time() - int(version_id[1:14]) / 1000 if version_id.startswith("v") else None
    except ValueError:
        return None


class WorkspaceStore:
    """One workspace hierarchy at one URL.

    Parameters
    ----------
    backend
        Where the hierarchy lives.
    attrs
        The workspace attributes (``workspace_id``, ``name``, ``created_at``).
    """

    def __init__(self, backend: WorkspaceRoot, attrs: dict[str, Any]) -> None:
        self.backend = backend
        self.attrs = attrs
        self.index = IndexState(legacy=int(attrs.get("format_version", 1)) < 2)
        self._reader: Store | None = None

    # -- opening and creating -----------------------------------------------

    @staticmethod
    def read_attrs(backend: WorkspaceRoot) -> dict[str, Any] | None:
        """The workspace attributes stored at ``backend``'s root, or ``None``."""
        raw = backend.read_bytes("zarr.json")
        if raw is None:
            return None
        try:
            attrs = parse_json(raw).get("attributes", {}).get(ROOT_ATTR)
        except (ValueError, AttributeError):
            return None
        if not isinstance(attrs, dict) or attrs.get("format") != FORMAT_NAME:
            return None
        if not isinstance(attrs.get("format_version", 1), int) or not isinstance(attrs.get("workspace_id"), str):
            raise FormatError(f"{backend.url}/zarr.json has malformed spikestore attributes; the root document is damaged.")
        if int(attrs.get("format_version", 1)) > FORMAT_VERSION:
            raise FormatError(
                f"{backend.url} uses spikestore format {attrs['format_version']}, newer than this "
                f"library's {FORMAT_VERSION}; upgrade spikestore."
            )
        return attrs

    @classmethod
    def read_attrs_listing(cls, backend: WorkspaceRoot, folder: str) -> tuple[dict[str, Any] | None, list[str]]:
        """:meth:`read_attrs` and the names under ``folder``: independent, so fetched in one round trip
        (one after the other on a local disk, where a thread would cost more than it saves)."""
        if backend.is_local:
            return cls.read_attrs(backend), backend.list_names(folder)
        with ThreadPoolExecutor(max_workers=1) as pool:
            listing = pool.submit(backend.list_names, folder)
            attrs = cls.read_attrs(backend)
            return attrs, listing.result()

    @classmethod
    def open(cls, backend: WorkspaceRoot, *, only: tuple[str, str] | None = None) -> "WorkspaceStore":
        """Open an existing workspace (reads the root and the index); with ``only``, a view of
        that one ``(namespace, key)`` (:attr:`IndexState.only <spikestore.index.IndexState.only>`)."""
        refuse_file_location(backend)
        attrs, names = cls.read_attrs_listing(backend, INDEX_DIR)
        if attrs is None:
            hint = backend.missing_location_hint()
            if not hint and backend.exists(INTERNAL_DIR):
                hint = (
                    " (it holds an unfinished workspace: an interrupted save, import or copy; remove the "
                    "leftovers with `spikestore gc --grace 0 URL` once no writer is active)"
                )
            raise WorkspaceNotFoundError(
                f"no spikestore workspace at {backend.url}{hint}; check the URL, or create one with "
                f"ws.save(url) or open_workspace(url, mode='a')."
            )
        store = cls(backend, attrs)
        store.index.only = only
        store.index.refresh(backend, listing=names)
        store.attrs = {**attrs, **(store.index.workspace or {})}
        return store

    @classmethod
    def at(
        cls, url: URL, storage_options: dict[str, Any] | None = None, *, read_only: bool = False, only: tuple[str, str] | None = None
    ) -> "WorkspaceStore":
        """Open the existing workspace at ``url`` (:meth:`open` of a :class:`WorkspaceRoot` made from it)."""
        return cls.open(WorkspaceRoot(url, storage_options, read_only=read_only), only=only)

    @staticmethod
    def _root_attrs(workspace_id: str, name: str | None, created_at: float) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "workspace_id": workspace_id,
            "name": name,
            "created_at": created_at,
        }

    @classmethod
    def write_root(cls, backend: WorkspaceRoot, workspace_id: str, name: str | None, created_at: float) -> dict[str, Any]:
        """Write the root group document (the location is claimed already); return the workspace attributes."""
        attrs = cls._root_attrs(workspace_id, name, created_at)
        backend.write_bytes("zarr.json", group_document({ROOT_ATTR: attrs}))
        return attrs

    @classmethod
    def open_or_create(cls, backend: WorkspaceRoot, name: str | None = None) -> "WorkspaceStore":
        """Open the workspace at ``backend``, creating it if there is none.

        Safe when many processes do it at once: the root is created with an
        exclusive write, so exactly one creator's ``workspace_id`` wins and
        every process ends up with that one.
        """
        refuse_file_location(backend)
        attrs, names = cls.read_attrs_listing(backend, "")
        if attrs is None:
            if holds_foreign_data(names):
                raise FormatError(
                    f"{backend.url} already holds data that is not a spikestore workspace; choose an empty location."
                )
            attrs = cls._root_attrs(str(uuid.uuid4()), name, time.time())
            claim_location(backend)
            # snapshot 1 before the root: a version-2 workspace always has a snapshot (see index.py)
            creator = cls(backend, attrs)
            creator.index.creating = True
            creator.index.compact(backend)
            backend.create_bytes("zarr.json", group_document({ROOT_ATTR: attrs}))
        return cls.open(backend)

    @property
    def reader(self) -> Store:
        """The Zarr store used for reads (missing chunks raise)."""
        if self._reader is None:
            self._reader = StrictStore(self.backend.zarr_store)
        return self._reader

    # -- writing -------------------------------------------------------------

    def write_data(self, namespace: str, key: str, record: Record) -> tuple[str, Skeleton]:
        """Write a record's data to a new version folder (step 1); return path and skeleton.

        Raises
        ------
        InvalidNameError
            Before anything is written, if a key of the record would be longer
            than the location allows (deeply nested dicts on object stores).
        """
        for attempt in range(2):
            try:
                (_, path, tree), = self.write_items([((namespace, key), record)])
                return path, tree
            except FileNotFoundError:
                # locally, gc may remove an empty key folder just as we create it: write a new version
                if attempt or not self.backend.is_local:
                    raise
        raise AssertionError("unreachable")

    def write_items(self, items: Iterable[tuple[Any, Record]]) -> list[tuple[Any, str, Skeleton]]:
        """Write many records to new version folders, with many requests in flight across items.

        ``items`` are ``((namespace, key, …), record)``; it may be a generator
        (records are pulled as the write goes, memory stays bounded, see
        :func:`spikestore.containers.zarr_group.write_records`).  Group
        documents of namespace and key folders are written once, after the
        item's data, and only where the index does not already have them.

        Returns
        -------
        list of (tag, path, skeleton), in the order of ``items``.
        """
        # folders whose group documents exist: those of items with objects of their own
        known_folders = {
            e["path"].rsplit("/", 1)[0] for space in self.index.items.values() for e in space.values() if stores_objects(e["tree"])
        }
        known_folders |= {f.split("/")[0] for f in known_folders}

        def jobs() -> Iterator[tuple[Any, str, Record, list[tuple[str, bytes]]]]:
            for tag, record in items:
                namespace, key = tag[0], tag[1]
                codecs.fill_hints(record)  # axis names and access hints; records read from HDF5 or older stores have none
                folder = item_folder(namespace, key)
                check_key_lengths(self.backend, folder, record, f"({namespace!r}, {key!r})")
                # written after the item's data, once per folder, and only if the item has objects
                extra = [(f"{parent}/zarr.json", group_document({})) for parent in (folder, folder.split("/")[0]) if parent not in known_folders]
                path = f"{folder}/{new_version_id()}"
                yield (tag, path), path, record, extra

        written = write_records(self.backend.zarr_store, jobs(), prepare=add_derived)
        return [(tag, path, tree) for (tag, path), tree in written]

    def commit(self, ops: list[JournalOp], superseded: Iterable[str] = ()) -> None:
        """Commit ``ops`` as one journal record (step 2), then clean up (step 3)."""
        try:
            self.index.append(self.backend, ops)
        except OSError as exc:
            raise StoreWriteError(f"updating the index of {self.backend.url} failed: {exc!r}; nothing changed.") from exc
        self.cleanup(superseded)

    def cleanup(self, superseded: Iterable[str]) -> None:
        """Delete superseded versions no live entry references; compact a long journal.

        Best effort: the commit already happened, so a failure here only
        leaves garbage for ``gc`` and is reported as a warning.
        """
        try:
            superseded = [p for p in superseded if p]
            if superseded:
                self.index.refresh(self.backend)
                live = self.index.referenced_paths()
                for path in superseded:
                    if path not in live:
                        self.backend.delete_version(path)
            if self.index.pending_records >= AUTO_COMPACT_RECORDS:
                self.index.compact(self.backend)
        except OSError as exc:
            warnings.warn(f"cleanup after a commit to {self.backend.url} failed ({exc!r}); run `spikestore gc`.", stacklevel=3)

    def put(self, namespace: str, key: str, record: Record, info: dict[str, Any]) -> IndexEntry:
        """Store an encoded item under ``(namespace, key)``; return its entry.

        Raises
        ------
        StoreWriteError
            If writing the data or the journal record failed.  The item is
            then not visible; its partial data is removed by ``gc``.
        """
        try:
            path, tree = self.write_data(namespace, key, record)
            entry: IndexEntry = {"info": info, "path": path, "tree": tree}
            old = self.index.entry(namespace, key)
            self.index.append(self.backend, [{"op": "put", "ns": namespace, "key": key, "entry": entry}])
        except (OSError, RuntimeError, ValueError) as exc:
            raise StoreWriteError(
                f"storing ({namespace!r}, {key!r}) in {self.backend.url} failed: {exc!r}. The workspace is "
                f"unchanged; partial data is invisible to readers and `spikestore gc` removes it."
            ) from exc
        self.cleanup([old["path"]] if old else [])
        return entry

    def delete(self, namespace: str, key: str | None = None) -> None:
        """Remove one item, or a whole namespace."""
        if key is None:
            entries = self.index.items.get(namespace, {})
            paths = [e["path"] for e in entries.values()]
            self.commit([{"op": "delete_namespace", "ns": namespace}], paths)
            self.remove_empty_groups(namespace, list(entries))
            return
        entry = self.require(namespace, key)
        self.commit([{"op": "delete", "ns": namespace, "key": key}], [entry["path"]])
        self.remove_empty_groups(namespace, [key])

    def remove_empty_groups(self, namespace: str, keys: Iterable[str]) -> None:
        """Drop the group documents of keys (and the namespace) that no longer hold anything.

        Never deletes a folder wholesale: a version another writer is writing
        there right now stays untouched (see WorkspaceRoot.remove_group_if_empty).
        """
        try:
            for key in keys:
                if self.index.entry(namespace, key) is None:
                    self.backend.remove_group_if_empty(item_folder(namespace, key))
            if namespace not in self.index.items:
                self.backend.remove_group_if_empty(item_folder(namespace, "k").split("/")[0])
        except OSError as exc:
            warnings.warn(f"removing empty groups in {self.backend.url} failed ({exc!r}); run `spikestore gc`", stacklevel=3)

    def rename(self, namespace: str, old_key: str, new_key: str) -> None:
        """Move an item to a new key: its data is copied, then one record swaps the names."""
        entry = self.require(namespace, old_key)
        replaced = self.index.entry(namespace, new_key)
        new_path = f"{item_folder(namespace, new_key)}/{new_version_id()}"
        if stores_objects(entry["tree"]):  # an item kept in the index has nothing to copy
            self.backend.write_bytes(f"{item_folder(namespace, new_key)}/zarr.json", group_document({}))
            self.backend.copy_tree(entry["path"], new_path)
        moved: IndexEntry = {**entry, "path": new_path}
        self.commit(
            [{"op": "put", "ns": namespace, "key": new_key, "entry": moved}, {"op": "delete", "ns": namespace, "key": old_key}],
            [entry["path"]] + ([replaced["path"]] if replaced else []),
        )
        self.remove_empty_groups(namespace, [old_key])

    def set_note(self, namespace: str, key: str, note: str) -> None:
        """Attach a note to an item."""
        self.require(namespace, key)
        self.commit([{"op": "note", "ns": namespace, "key": key, "note": note}])

    # -- reading -------------------------------------------------------------

    def require(self, namespace: str, key: str) -> IndexEntry:
        """The entry of an item, or :class:`ItemNotFoundError`."""
        entry = self.index.entry(namespace, key)
        if entry is None:
            if namespace not in self.index.items:
                raise ItemNotFoundError(
                    f"Namespace '{namespace}' not found in workspace {self.backend.url}."
                    + close_matches(namespace, self.index.items, "namespaces")
                )
            raise ItemNotFoundError(
                f"Key '{key}' not found in namespace '{namespace}'." + close_matches(key, self.index.items[namespace], "keys")
            )
        return entry

    def read(self, namespace: str, key: str, *, lazy: bool = False) -> Record:
        """The item's record (arrays in memory, or ``zarr.Array`` when ``lazy``).

        If the version named by our view of the index was replaced and removed
        meanwhile, the view is refreshed and the read retried, as long as the
        index keeps pointing to newer versions (bounded): a chunk missing from
        the version the index still names is damage.
        """
        last_path = None
        for attempt in range(READ_ATTEMPTS):
            entry = self.require(namespace, key)
            if entry["path"] == last_path:
                break  # the index still names the version whose chunk is missing
            last_path = entry["path"]
            try:
                if lazy:
                    # a chunk missing later is damage only if this version is still the committed one
                    version = ItemVersionStore(self.reader, _StillCommitted(self, namespace, key, entry["path"]))
                    return lazy_record(version, entry["path"], entry["tree"])
                return read_record(self.reader, entry["path"], entry["tree"])
            except CorruptDataError as exc:
                raise_read_error(exc, f"({namespace!r}, {key!r}) in {self.backend.url}")
            except MissingChunkError as exc:
                missing = exc
                time.sleep(0.01 * attempt)
                self.index.refresh(self.backend)
        raise_read_error(missing, f"({namespace!r}, {key!r}) in {self.backend.url}")

    def get(self, namespace: str, key: str) -> Any:
        """The decoded item."""
        return self._decode(namespace, key, self.read(namespace, key))

    def _decode(self, namespace: str, key: str, record: Record) -> Any:
        try:
            return codecs.decode(record)
        except FormatError as exc:
            raise FormatError(f"({namespace!r}, {key!r}) in {self.backend.url}: {exc}. Run `spikestore verify {self.backend.url}`.") from None

    def get_many(self, addresses: list[tuple[str, str]], batch: int = LOAD_BATCH) -> Iterator[tuple[tuple[str, str], Any]]:
        """Decoded items, read ``batch`` items at a time with all their arrays in flight together.

        An item whose version vanished or is damaged is read again on its own
        (:meth:`get`: retries, and errors that name the item).
        """
        for start in range(0, len(addresses), batch):
            part = addresses[start : start + batch]
            entries = [self.require(ns, key) for ns, key in part]
            try:
                records = read_records(self.reader, [(e["path"], e["tree"]) for e in entries])
            except (MissingChunkError, CorruptDataError):
                yield from ((address, self.get(*address)) for address in part)
                continue
            for address, record in zip(part, records):
                yield address, self._decode(*address, record)

    def info(self, namespace: str, key: str) -> dict[str, Any] | None:
        """spikelab's index entry (summary, ``created_at``, ``note``)."""
        entry = self.index.entry(namespace, key)
        return entry["info"] if entry else None

    def describe(self) -> dict[str, dict[str, dict]]:
        """``{namespace: {key: info}}``."""
        return {ns: {k: e["info"] for k, e in space.items()} for ns, space in self.index.items.items()}

    def refresh(self) -> None:
        """See the items other writers committed since the last refresh."""
        self.index.refresh(self.backend)

    def compact(self) -> bool:
        """Fold the journal into a snapshot, so that the next open is a few requests."""
        return self.index.compact(self.backend)


def save_records(
    backend: WorkspaceRoot,
    encoded: Iterable[tuple[str, str, Record, dict]],
    workspace_id: str,
    name: Optional[str],
    created_at: float,
) -> WorkspaceStore:
    """Write encoded items as the whole content of the workspace at ``backend``.

    Data goes to fresh version folders first; one new index snapshot, which
    also records the workspace attributes, then switches readers over (for a
    new workspace, the root document written last makes it visible); the
    previous content is removed last.  A failure before the switch leaves the
    location as it was (the new folders are garbage for ``gc``; a location
    holding only such leftovers may be saved to again).

    ``encoded`` may be a generator, so items can be streamed one at a time.
    """
    previous, names = WorkspaceStore.read_attrs_listing(backend, "")
    if previous is None and holds_foreign_data(names):
        raise FormatError(
            f"{backend.url} already holds data that is not a spikestore workspace; refusing to "
            f"overwrite it. Choose an empty location."
        )
    old, damaged = None, False
    if previous is not None:
        try:
            old = WorkspaceStore.open(backend)
        except (CorruptDataError, FormatError) as exc:
            if "upgrade spikestore" in str(exc):
                raise
            # the content is being replaced: a damaged index must not block that, but the
            # old data it names cannot be trusted, so nothing of it is deleted here
            damaged = True
            warnings.warn(
                f"the index of {backend.url} is damaged ({exc}); saving replaces it. Data it named "
                f"is left in place (unreferenced); `spikestore gc` removes it after the grace period.",
                UserWarning,
                stacklevel=3,
            )
    attrs = WorkspaceStore._root_attrs(workspace_id, name, created_at)
    store = WorkspaceStore(backend, attrs)
    store.index.creating = previous is None
    store.index.replacing = damaged
    store.index.upgrading = (old is not None and old.index.legacy) or (damaged and previous is not None and int(previous.get("format_version", 1)) < 2)
    items: Items = {}
    workspace = {k: attrs[k] for k in ("workspace_id", "name", "created_at")}
    try:
        if previous is None:  # claims the location: leftovers of a failed save are recognisably ours
            claim_location(backend)
        written = store.write_items(((namespace, key, info), record) for namespace, key, record, info in encoded)
        for (namespace, key, info), path, tree in written:
            items.setdefault(namespace, {})[key] = {"info": info, "path": path, "tree": tree}
        for _ in range(20):
            if store.index.compact(backend, items, workspace):
                break
        else:
            raise StoreWriteError(f"could not publish the new index of {backend.url}: other writers kept compacting")
        if previous is None:  # a new workspace becomes visible with its root document
            WorkspaceStore.write_root(backend, workspace_id, name, created_at)
    except OSError as exc:
        if isinstance(exc, StoreWriteError):
            raise
        raise StoreWriteError(
            f"saving to {backend.url} failed: {exc!r}. The previous content is unchanged; partial data "
            f"is invisible and `spikestore gc` removes it."
        ) from exc
    if previous is not None:
        try:  # the snapshot already switched readers over; the root is for plain-zarr browsing
            WorkspaceStore.write_root(backend, workspace_id, name, created_at)
        except OSError as exc:
            warnings.warn(f"saved, but updating the root attributes of {backend.url} failed ({exc!r})", stacklevel=2)
        try:
            if old is not None:
                _remove_replaced(backend, old, store, items)
        except OSError as exc:
            warnings.warn(f"saved, but removing the replaced content of {backend.url} failed ({exc!r}); run `spikestore gc`", stacklevel=2)
    return store


def _remove_replaced(backend: WorkspaceRoot, old: WorkspaceStore, new: WorkspaceStore, items: Items) -> None:
    keep = new.index.referenced_paths()
    for namespace, keys in old.index.items.items():
        for entry in keys.values():
            if entry["path"] not in keep:
                backend.delete_version(entry["path"])
        new.remove_empty_groups(namespace, keys)


def holds_foreign_data(names: list[str]) -> bool:
    """Whether a location whose root holds ``names`` holds something other than (the start of) a workspace.

    ``__spikestore__/`` is written first by every writer that creates a
    workspace, so a location holding it is ours even before its root exists
    (another process is creating it, or a save was interrupted).
    """
    return bool(names) and GROUP_DOCUMENT not in names and INTERNAL_DIR not in names


def refuse_file_location(backend: WorkspaceRoot) -> None:
    """Refuse a local location that is a file: a spikelab ``.h5`` save, or anything else.

    Raises
    ------
    FormatError
        Saying how to convert a ``.h5`` save (``spikestore import``).
    """
    if not backend.is_local or not os.path.isfile(backend.root):
        return
    if backend.root.endswith(".h5"):
        base = backend.root[:-3]
        raise FormatError(
            f"{backend.root} is a spikelab HDF5 save, not a spikestore workspace. Convert it with "
            f"`spikestore import {base} NEW_URL` (or spikestore.import_hdf5), or read it with "
            f"AnalysisWorkspace.load({base!r})."
        )
    raise FormatError(f"{backend.root} is a file, not a workspace folder; choose a folder path or an fsspec URL.")


def claim_location(backend: WorkspaceRoot) -> None:
    """Mark a location as (the start of) a workspace: ``__spikestore__/zarr.json``."""
    backend.write_bytes(f"{INTERNAL_DIR}/zarr.json", group_document({ROOT_ATTR: "internal: the item index, see docs/format.md"}))


class _StillCommitted:
    """``() -> bool``: whether the index (refreshed) still names ``path`` for an item.

    Sent with a lazy record's store to other processes (dask): it pickles as
    the location, and opens the workspace there when first asked.
    """

    def __init__(self, store: WorkspaceStore | None, namespace: str, key: str, path: str, backend: WorkspaceRoot | None = None) -> None:
        self.store, self.namespace, self.key, self.path = store, namespace, key, path
        self.backend = backend if store is None else store.backend

    def __call__(self) -> bool:
        try:
            if self.store is None:
                assert self.backend is not None  # given when no store is
                self.store = WorkspaceStore.open(self.backend)
            else:
                self.store.index.refresh(self.store.backend)
        except WorkspaceNotFoundError:  # the workspace itself is gone
            return False
        entry = self.store.index.entry(self.namespace, self.key)
        return entry is not None and entry["path"] == self.path

    def __reduce__(self) -> tuple[Any, ...]:
        return (_StillCommitted, (None, self.namespace, self.key, self.path, self.backend))


def add_derived(record: Record, *, root: bool = True) -> Record:
    """Give the records of ``record``'s tree the derived arrays their codecs
    compute (:func:`spikestore.codecs.derive`), for the Zarr container to
    store; returns ``record`` (changed in place).

    A record that carries derived arrays already (a lazy record read from
    another store) keeps them.  The children of a record the container
    stores packed get none, as packing keeps no derived arrays
    (:func:`spikestore.containers.zarr_group.stored_packed`).
    """
    if not record.derived and (record.datasets or record.children):
        record.derived = codecs.derive(record)
    if not stored_packed(record, root=root):
        for child in record.children.values():
            add_derived(child, root=False)
    return record


def check_key_lengths(backend: WorkspaceRoot, folder: str, record: Record, where: str) -> None:
    """Refuse a record whose longest key (with chunk keys) would not fit the location.

    Raises
    ------
    InvalidNameError
        Naming the item; nothing has been written.
    """
    deepest = 0
    for sub, rec in record.walk():
        prefix = len("/".join(storage_segment(part) for part in sub.split("/") if part).encode())
        leaves = [storage_segment(n) for n in [*rec.datasets, *rec.derived, "zarr.json"]]
        deepest = max(deepest, prefix + 1 + max(len(leaf.encode()) for leaf in leaves))
    # version folder (24) + separators + "/c/" chunk keys of up to 4 dimensions of 6 digits + "zarr.json"
    longest = len(folder.encode()) + 24 + deepest + 40
    if longest > backend.max_key_bytes:
        raise InvalidNameError(
            f"{where}: its keys would be about {longest} bytes long, more than {backend.url} allows "
            f"({backend.max_key_bytes}); use shorter names or a flatter dict."
        )


def close_matches(name: str, existing: Iterable[str], what: str) -> str:
    """`` Did you mean …?`` text listing existing names close to ``name`` (or the first few)."""
    existing = [str(e) for e in existing]
    if not existing:
        return ""
    near = difflib.get_close_matches(str(name), existing, n=3)
    if near:
        return f" Did you mean {', '.join(map(repr, near))}?"
    shown = ", ".join(map(repr, sorted(existing)[:5]))
    return f" Existing {what}: {shown}{' …' if len(existing) > 5 else ''}."


def encode_info(obj: Any, created_at: float, note: str | None) -> dict[str, Any]:
    """spikelab's index entry for ``obj``."""
    info = codecs.summary(obj)
    info["created_at"] = created_at
    if note is not None:
        info["note"] = note
    return info


__all__ = ["WorkspaceStore", "INDEX_DIR", "encode_info"]
