"""Keeping a store healthy: ``gc`` removes what interrupted or superseded
writes left behind, ``verify`` reads every chunk and reports damage.

Both are safe while writers are active: ``gc`` only removes a version folder
that no live index entry references *and* that is older than a grace period
(longer than any single item write), so data being written right now is
never touched.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import Backend
from .containers.zarr_group import open_array, skeleton_arrays
from .errors import CorruptDataError
from .index import INDEX_DIR
from .store import WorkspaceStore, version_age_seconds
from .strict_store import MissingChunkError

DEFAULT_GRACE_SECONDS = 3600.0
RESERVED_ROOT_NAMES = {"zarr.json", "__spikestore__"}


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

    @property
    def ok(self) -> bool:
        """True when nothing is damaged."""
        return not self.problems

    def __str__(self) -> str:
        head = f"checked {self.items_checked} item(s), {self.arrays_checked} array(s), {self.chunks_checked} chunk(s)"
        if self.ok:
            return head + ": no damage found"
        lines = [head + f": {len(self.problems)} problem(s)"]
        lines += [f"  ({ns!r}, {key!r}): {problem}" for ns, key, problem in self.problems]
        return "\n".join(lines)


def _store(target: Any, storage_options: dict | None, read_only: bool) -> WorkspaceStore:
    if isinstance(target, WorkspaceStore):
        target.refresh()
        return target
    inner = getattr(target, "_store", None)
    if isinstance(inner, WorkspaceStore):
        inner.refresh()
        return inner
    return WorkspaceStore.open(Backend(target, storage_options, read_only=read_only))


def gc(target: Any, *, storage_options: dict | None = None, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> GcReport:
    """Remove unreferenced item versions and stray temporary files.

    Parameters
    ----------
    target
        A store URL, a ``WorkspaceStore`` or an open workspace.
    grace_seconds
        Only leftovers older than this are removed; it must exceed the
        longest time one item takes to write (default one hour).
    """
    store = _store(target, storage_options, read_only=False)
    backend = store.backend
    store.compact()
    live = store.index.referenced_paths()
    live_keys = {(ns, key) for ns, keys in store.index.items.items() for key in keys}
    report = GcReport()
    for namespace in backend.list_names(""):
        if namespace in RESERVED_ROOT_NAMES:
            continue
        keys = [k for k in backend.list_names(namespace) if k != "zarr.json"]
        for key in keys:
            versions = [v for v in backend.list_names(f"{namespace}/{key}") if v != "zarr.json"]
            for version in versions:
                path = f"{namespace}/{key}/{version}"
                if path in live:
                    continue
                age = version_age_seconds(version)
                if age is not None and age < grace_seconds:
                    report.kept_young.append(path)
                    continue
                backend.delete_tree(path)
                report.removed.append(path)
            if (namespace, key) not in live_keys:
                backend.remove_group_if_empty(f"{namespace}/{key}")
        if namespace not in store.index.items:
            backend.remove_group_if_empty(namespace)
    _remove_stale_temporaries(backend, grace_seconds, report)
    return report


def _remove_stale_temporaries(backend: Backend, grace_seconds: float, report: GcReport) -> None:
    """Temporary files of interrupted local atomic writes (``*.tmp-<uuid>``)."""
    if not backend.is_local:
        return
    import os

    now = time.time()
    for path in backend.fs.find(backend.root):
        if ".tmp-" in os.path.basename(path):
            try:
                if now - os.path.getmtime(path) >= grace_seconds:
                    os.unlink(path)
                    report.removed.append(os.path.relpath(path, backend.root))
            except FileNotFoundError:
                pass


def verify(target: Any, *, storage_options: dict | None = None) -> VerifyReport:
    """Read every chunk of every item and check its checksum and metadata.

    Returns a report instead of raising, so every damaged item is listed.
    """
    store = _store(target, storage_options, read_only=True)
    report = VerifyReport()
    for namespace, keys in store.index.items.items():
        for key, entry in keys.items():
            report.items_checked += 1
            for problem in _verify_item(store, entry, report):
                report.problems.append((namespace, key, problem))
    for name in store.backend.list_names(INDEX_DIR):
        if name.startswith("snap-") and store.backend.read_bytes(f"{INDEX_DIR}/{name}") is None:
            report.problems.append(("", "", f"index snapshot {name} unreadable"))
    return report


def _verify_item(store: WorkspaceStore, entry: dict, report: VerifyReport) -> list[str]:
    problems: list[str] = []
    for rel, metadata in skeleton_arrays(entry["tree"]):
        path = f"{entry['path']}/{rel}"
        report.arrays_checked += 1
        stored_meta = store.backend.read_bytes(f"{path}/zarr.json")
        if stored_meta is None:
            problems.append(f"array {rel}: zarr.json missing")
            continue
        try:
            if json.loads(stored_meta) != metadata:
                problems.append(f"array {rel}: zarr.json differs from the index entry")
        except ValueError:
            problems.append(f"array {rel}: zarr.json is not valid JSON")
            continue
        array = open_array(store.reader, path, metadata)
        if int(np.prod(array.shape, dtype=np.int64)) == 0:
            continue
        for chunk_slices in _chunk_slices(array.shape, array.chunks):
            report.chunks_checked += 1
            try:
                array[chunk_slices]
            except MissingChunkError as exc:
                problems.append(f"array {rel}: chunk missing ({exc})")
            except (ValueError, RuntimeError, CorruptDataError) as exc:
                problems.append(f"array {rel}: chunk at {_fmt(chunk_slices)} is corrupt ({exc})")
    return problems


def _chunk_slices(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Any:
    if not shape:
        yield ()
        return
    grid = [range(0, s, c) for s, c in zip(shape, chunks)]
    for starts in np.ndindex(*[len(g) for g in grid]):
        yield tuple(slice(grid[d][i], min(shape[d], grid[d][i] + chunks[d])) for d, i in enumerate(starts))


def _fmt(slices: tuple[slice, ...]) -> str:
    return "[" + ", ".join(f"{s.start}:{s.stop}" for s in slices) + "]"
