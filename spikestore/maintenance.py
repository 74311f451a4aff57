"""Keeping a store healthy: ``gc`` removes what interrupted or superseded
writes left behind, ``verify`` reads every chunk and reports damage.

Both are safe while writers are active: ``gc`` only removes a version folder
that no live index entry references *and* that is older than a grace period
(longer than any single item write), so data being written right now is
never touched.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable, Iterator

import google_crc32c
import numpy as np
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import MemoryStore

from .workspace_root import WorkspaceRoot
from .containers.zarr_group import CONSOLIDATED, chunk_digest, chunk_fingerprint, inline_chunk_bytes, open_array, skeleton_arrays, stores_objects
from .errors import CorruptDataError, FormatError, InvalidValueError
from .entries import IndexEntry
from .index import INDEX_DIR, IndexState, Items, index_problems
from .paths import GROUP_DOCUMENT, INTERNAL_DIR, is_version_id
from .store import WorkspaceStore, version_age_seconds
from .strict_store import MissingChunkError, StrictStore
from .jsonvalue import parse_json

DEFAULT_GRACE_SECONDS = 3600.0
RESERVED_ROOT_NAMES = {GROUP_DOCUMENT, INTERNAL_DIR}
# chunk objects fetched at once by verify
VERIFY_BATCH = 32
# verify stops reading an array after this many damaged or missing chunks
MAX_PROBLEMS_PER_ARRAY = 20


@dataclass
class GcReport:
    """What ``gc`` removed (root-relative paths) and what it kept for later."""

    removed: list[str] = field(default_factory=list)
    kept_young: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"removed {len(self.removed)} leftover folder(s); kept {len(self.kept_young)} younger than the grace period"


@dataclass
class VerifyReport:
    """Items checked and the problems found, as ``(namespace, key, problem)``."""

    items_checked: int = 0
    arrays_checked: int = 0
    chunks_checked: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    unreferenced_versions: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is damaged."""
        return not self.problems

    def __str__(self) -> str:
        head = f"checked {self.items_checked} item(s), {self.arrays_checked} array(s), {self.chunks_checked} chunk(s)"
        if self.unreferenced_versions:
            head += (
                f"; {self.unreferenced_versions} version folder(s) no index entry references (leftovers of "
                f"interrupted or superseded writes; `spikestore gc` removes them)"
            )
        if self.ok:
            return head + ": no damage found"
        lines = [head + f": {len(self.problems)} problem(s)"]
        lines += [f"  ({ns!r}, {key!r}): {problem}" for ns, key, problem in self.problems]
        return "\n".join(lines)


def _open_store_of(target: Any) -> WorkspaceStore | None:
    """The store behind ``target`` when it is a ``WorkspaceStore`` or an open workspace, else ``None``."""
    if isinstance(target, WorkspaceStore):
        return target
    inner = getattr(target, "_store", None)
    return inner if isinstance(inner, WorkspaceStore) else None


def _store(target: Any, storage_options: dict | None, read_only: bool) -> WorkspaceStore:
    store = _open_store_of(target)
    if store is None:
        return WorkspaceStore.at(target, storage_options, read_only=read_only)
    store.refresh()
    return store


def _backend_of(target: Any, storage_options: dict | None) -> WorkspaceRoot:
    store = _open_store_of(target)
    return store.backend if store is not None else WorkspaceRoot(target, storage_options)


def gc(target: Any, *, storage_options: dict | None = None, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> GcReport:
    """Remove unreferenced item versions and stray temporary files.

    Safe beside live writers and readers: a version is deleted only if it is
    older than ``grace_seconds`` (by the time in its name) *and* unreferenced
    in an index read after that age was reached, so a version committed
    during the pass is kept.  Nothing is deleted while the index is damaged
    (a missing generation, a failed checksum, a vanished journal record).
    A location holding an unfinished workspace (an interrupted save, import
    or copy) is cleaned too.

    Parameters
    ----------
    target
        A store URL, a ``WorkspaceStore`` or an open workspace.
    grace_seconds
        Only leftovers older than this are removed; it must exceed the
        longest time one item takes to write (default one hour). ``0`` is
        for a store no writer is using.

    Raises
    ------
    CorruptDataError
        If the index is damaged; nothing was deleted.
    """
    if grace_seconds < 0:
        raise InvalidValueError(f"grace_seconds={grace_seconds} is negative; use 0 or more seconds.")
    backend = _backend_of(target, storage_options)
    if WorkspaceStore.read_attrs(backend) is None and backend.exists(INTERNAL_DIR):
        return _gc_unfinished(backend, grace_seconds)
    store = _store(target, storage_options, read_only=False)
    backend = store.backend
    problems = index_problems(backend, store.index)
    if problems:
        raise CorruptDataError(
            f"gc deleted nothing: the index of {backend.url} is damaged, so it cannot tell garbage from "
            f"data: {'; '.join(problems[:3])}"
        )
    store.compact()
    report = GcReport()
    candidates = _unreferenced_versions(backend, store.index.referenced_paths(), grace_seconds, report)
    # an index read *after* every candidate's age passed the grace: a version
    # committed meanwhile is referenced here and kept
    store.refresh()
    live = store.index.referenced_paths()
    for path in candidates:
        if path not in live:
            backend.delete_version(path)
            report.removed.append(path)
    _remove_empty_groups(backend, store.index.items, grace_seconds)
    report.removed.extend(backend.remove_stale_temporaries(grace_seconds))
    return report


def _unreferenced_versions(backend: WorkspaceRoot, live: set[str], grace_seconds: float, report: GcReport) -> list[str]:
    """Version folders not in ``live`` and older than the grace period (younger ones go to the report)."""
    candidates = []
    for namespace in backend.list_names(""):
        if namespace in RESERVED_ROOT_NAMES:
            continue
        for key in backend.list_names(namespace):
            if key == GROUP_DOCUMENT:
                continue
            for version in backend.list_names(f"{namespace}/{key}"):
                path = f"{namespace}/{key}/{version}"
                if path in live or not is_version_id(version):
                    continue
                age = version_age_seconds(version)
                if age is not None and age < grace_seconds:
                    report.kept_young.append(path)
                else:
                    candidates.append(path)
    return candidates


def _remove_empty_groups(backend: WorkspaceRoot, items: Items, grace_seconds: float) -> None:
    live_folders = {e["path"].rsplit("/", 1)[0] for space in items.values() for e in space.values()}
    live_namespaces = {folder.split("/")[0] for folder in live_folders}
    for namespace in backend.list_names(""):
        if namespace in RESERVED_ROOT_NAMES:
            continue
        for key in backend.list_names(namespace):
            if key != GROUP_DOCUMENT and f"{namespace}/{key}" not in live_folders:
                backend.remove_group_if_empty(f"{namespace}/{key}", older_than=grace_seconds)
        if namespace not in live_namespaces:
            backend.remove_group_if_empty(namespace, older_than=grace_seconds)


def _gc_unfinished(backend: WorkspaceRoot, grace_seconds: float) -> GcReport:
    """Clean a location where creating a workspace was interrupted (no root document yet).

    Versions a readable snapshot references are kept (the creator may be
    about to publish them); everything else older than the grace period
    goes, and an unfinished workspace left with no data is removed entirely,
    so the location is empty again.
    """
    state = IndexState(creating=True)
    try:
        state.refresh(backend)
        live = state.referenced_paths()
    except (CorruptDataError, FormatError):
        live = set()
    report = GcReport()
    for path in _unreferenced_versions(backend, live, grace_seconds, report):
        backend.delete_version(path)
        report.removed.append(path)
    _remove_empty_groups(backend, state.items, grace_seconds)
    report.removed.extend(backend.remove_stale_temporaries(grace_seconds))
    leftovers = set(backend.list_names("")) - {INTERNAL_DIR}
    if not live and not leftovers and not report.kept_young:
        internal = [f"{INDEX_DIR}/{n}" for n in backend.list_names(INDEX_DIR)] + [f"{INTERNAL_DIR}/{GROUP_DOCUMENT}"]
        ages = [backend.modified_time(rel) for rel in internal]
        if all(t is not None and time.time() - t >= grace_seconds for t in ages):
            for rel in internal:
                backend.delete(rel)
                report.removed.append(rel)
            backend.remove_empty_internal_folders()
    return report


def verify(target: Any, *, storage_options: dict | None = None) -> VerifyReport:
    """Read every chunk of every item and check it against its checksum, its
    place (the chunk digest recorded at write time) and the index metadata;
    check the index itself for vanished records and a broken snapshot chain.

    Returns a report instead of raising, so every damaged item is listed.
    """
    report = VerifyReport()
    try:
        store = _store(target, storage_options, read_only=True)
    except (CorruptDataError, FormatError) as exc:
        report.problems.append(("", "", f"index: {exc}"))
        return report
    for problem in index_problems(store.backend, store.index):
        report.problems.append(("", "", f"index: {problem}"))
    for namespace, keys in store.index.items.items():
        for key, entry in keys.items():
            report.items_checked += 1
            for problem in _verify_item(store, entry, report):
                report.problems.append((namespace, key, problem))
    unreferenced = _unreferenced_versions(store.backend, store.index.referenced_paths(), 0.0, GcReport())
    report.unreferenced_versions = len(unreferenced)
    return report


def _consolidated_documents(store: WorkspaceStore, entry: IndexEntry) -> dict[str, Any] | None:
    """The array documents in an item's consolidated group document, or ``None`` when it has none (older stores)."""
    raw = store.backend.read_bytes(f"{entry['path']}/zarr.json") if stores_objects(entry["tree"]) else None
    try:
        documents = parse_json(raw).get(CONSOLIDATED, {}).get("metadata") if raw is not None else None
    except (ValueError, AttributeError):
        return None
    return documents if isinstance(documents, dict) else None


def _verify_item(store: WorkspaceStore, entry: IndexEntry, report: VerifyReport) -> list[str]:
    problems: list[str] = []
    consolidated = _consolidated_documents(store, entry)
    for rel, metadata, digest, inline in skeleton_arrays(entry["tree"]):
        path = f"{entry['path']}/{rel}"
        report.arrays_checked += 1
        if inline is not None:  # kept in the index: its chunks are checked from there
            try:
                chunks = inline_chunk_bytes(inline, f"array {rel}")
            except FormatError as exc:
                problems.append(str(exc))
                continue
            fetch = partial(_from_mapping, {f"{path}/{key}": raw for key, raw in chunks.items()})
            problems.extend(f"array {rel}: {p}" for p in _verify_chunks(fetch, path, metadata, digest, report))
            continue
        if consolidated is not None:  # format 2: the item's group document holds every array's zarr.json
            if consolidated.get(rel) != metadata:
                problems.append(f"array {rel}: its zarr.json in the item's consolidated metadata {'differs from the index entry' if rel in consolidated else 'is missing'}")
        else:  # written before consolidated metadata: a zarr.json per array
            stored_meta = store.backend.read_bytes(f"{path}/zarr.json")
            if stored_meta is None:
                problems.append(f"array {rel}: zarr.json missing")
                continue
            try:
                if parse_json(stored_meta) != metadata:
                    problems.append(f"array {rel}: zarr.json differs from the index entry")
            except ValueError:
                problems.append(f"array {rel}: zarr.json is not valid JSON")
                continue
        problems.extend(f"array {rel}: {p}" for p in _verify_chunks(store.backend.read_many, path, metadata, digest, report))
    return problems


def _chunk_keys(metadata: dict[str, Any]) -> Iterator[tuple[tuple[int, ...], str]]:
    """``(grid index, key relative to the array)`` of every chunk (shard) object of an array, lazily
    (a damaged or hostile index may declare a grid of billions of chunks)."""
    shape = metadata["shape"]
    chunks = metadata["chunk_grid"]["configuration"]["chunk_shape"]
    if int(np.prod(shape, dtype=np.int64)) == 0:
        return
    separator = metadata.get("chunk_key_encoding", {}).get("configuration", {}).get("separator", "/")
    for index in _grid_indexes([-(-s // c) for s, c in zip(shape, chunks)]):
        yield index, separator.join(["c", *map(str, index)])


def _grid_indexes(counts: list[int]) -> Iterator[tuple[int, ...]]:
    """Every index of a grid in C order, one at a time (``itertools.product`` would first list each axis)."""
    if not counts:
        yield ()
        return
    for first in range(counts[0]):
        for rest in _grid_indexes(counts[1:]):
            yield (first, *rest)


def _from_mapping(chunks: dict[str, bytes], keys: Iterable[str]) -> dict[str, bytes | None]:
    return {key: chunks.get(key) for key in keys}


def _verify_chunks(
    fetch: Callable[[Iterable[str]], dict[str, bytes | None]], path: str, metadata: dict[str, Any], digest: str | None, report: VerifyReport
) -> list[str]:
    """Fetch each chunk once (``fetch``: keys → bytes or ``None``): check its place (digest) and decode it from memory."""
    problems: list[str] = []
    keys = _chunk_keys(metadata)
    memory: dict[str, Any] = {}
    array = open_array(StrictStore(MemoryStore(memory)), "a", metadata)
    chunk_shape = metadata["chunk_grid"]["configuration"]["chunk_shape"]
    seen: list[tuple[str, int, int]] = []
    seen_before_crc32: list[tuple[str, int, int]] = []  # digests of stores written before CRC-32 fingerprints
    while len(problems) < MAX_PROBLEMS_PER_ARRAY:
        batch = list(itertools.islice(keys, VERIFY_BATCH))
        if not batch:
            break
        raws = fetch(f"{path}/{key}" for _, key in batch)
        memory.clear()
        for index, key in batch:
            report.chunks_checked += 1
            raw = raws[f"{path}/{key}"]
            if raw is None:
                problems.append(f"chunk {key} missing")
                continue
            seen.append((key, len(raw), chunk_fingerprint(raw)))
            seen_before_crc32.append((key, len(raw), google_crc32c.value(raw)))
            memory[f"a/{key}"] = default_buffer_prototype().buffer.from_bytes(raw)
            selection = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunk_shape))
            try:
                array[selection]
            except (MissingChunkError, ValueError, RuntimeError, CorruptDataError) as exc:
                problems.append(f"chunk {key} is corrupt ({exc})")
            except MemoryError:  # one chunk's header declares more than memory holds
                problems.append(f"chunk {key} is corrupt (it declares more data than can be allocated)")
    if len(problems) >= MAX_PROBLEMS_PER_ARRAY:
        problems.append(f"stopped reading the array after {len(problems)} damaged or missing chunks")
    # a store written before fingerprints were CRC-32 recorded crc32c ones (binding chunk sizes only):
    # its digest is accepted too, so verify reports no false damage on it
    if digest is not None and not problems and digest not in (chunk_digest(seen), chunk_digest(seen_before_crc32)):
        problems.append(
            "its chunks are not the ones written (chunks swapped or replaced by other valid chunks): "
            "the chunk digest recorded in the index differs"
        )
    return problems
