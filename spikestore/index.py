"""The workspace index: which items exist, their summaries, notes and where
their data lives, kept so that many writers never lose each other's entries.

Layout under ``__spikestore__/index/``:

* ``snap-<generation>.json``: a consolidated snapshot of all items, plus the
  names of the journal records it has absorbed.  Snapshots are created with
  an exclusive create (``If-None-Match: *`` / ``os.link``), so of two
  compactors racing for the same generation exactly one wins.
* ``log-<time_ns>-<random>.json``: one journal record per commit, holding one
  or more operations (``put``, ``delete``, ``delete_namespace``, ``note``).
  Every writer creates its own uniquely named records: no object is ever
  read-modified-written by two writers.

A reader lists the folder (one request), reads the newest snapshot and the
journal records it has not absorbed, and applies them in name order.  The
state is therefore ``snapshot + newer records``; compaction folds records
into a new snapshot and then deletes them.
"""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .backend import Backend
from .errors import FormatError

INDEX_DIR = "__spikestore__/index"
SNAPSHOT_PREFIX = "snap-"
JOURNAL_PREFIX = "log-"
INDEX_FORMAT_VERSION = 1
AUTO_COMPACT_RECORDS = 64


def journal_name() -> str:
    """A new, unique journal record name that sorts by creation time."""
    return f"{JOURNAL_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"


def _snapshot_name(generation: int) -> str:
    return f"{SNAPSHOT_PREFIX}{generation:012d}.json"


def _generation(name: str) -> int:
    return int(name[len(SNAPSHOT_PREFIX) : -len(".json")])


def apply_ops(items: dict[str, dict[str, dict]], ops: list[dict[str, Any]]) -> None:
    """Apply journal operations to an ``{ns: {key: entry}}`` mapping in place."""
    for op in ops:
        kind, ns = op["op"], op["ns"]
        if kind == "put":
            items.setdefault(ns, {})[op["key"]] = op["entry"]
        elif kind == "delete":
            space = items.get(ns)
            if space is not None:
                space.pop(op["key"], None)
                if not space:
                    del items[ns]
        elif kind == "delete_namespace":
            items.pop(ns, None)
        elif kind == "note":
            entry = items.get(ns, {}).get(op["key"])
            if entry is not None:
                entry["info"]["note"] = op["note"]
        else:
            raise FormatError(f"unknown index operation {kind!r}; written by a newer spikestore?")


@dataclass
class IndexState:
    """One reader's view of the index, refreshed incrementally.

    Attributes
    ----------
    items
        ``{namespace: {key: entry}}`` with ``entry = {"info", "path", "tree"}``.
    generation
        Generation of the snapshot the view is based on (0: none).
    absorbed
        Journal record names folded into that snapshot.
    applied
        Journal record names applied on top of the snapshot, in order.
    workspace
        Workspace attributes (``workspace_id``, ``name``, ``created_at``)
        recorded in the snapshot by a whole-workspace save, if any.
    """

    items: dict[str, dict[str, dict]] = field(default_factory=dict)
    generation: int = 0
    absorbed: set[str] = field(default_factory=set)
    applied: list[str] = field(default_factory=list)
    workspace: dict[str, Any] | None = None
    _snapshot_raw: bytes = b""
    _fresh_items: dict[str, dict[str, dict]] | None = None
    _records: dict[str, list[dict]] = field(default_factory=dict)

    def entry(self, namespace: str, key: str) -> dict | None:
        """The entry of an item, or ``None``."""
        return self.items.get(namespace, {}).get(key)

    def referenced_paths(self) -> set[str]:
        """Data paths of every live item."""
        return {e["path"] for space in self.items.values() for e in space.values()}

    def refresh(self, backend: Backend, attempts: int = 8) -> "IndexState":
        """Bring the view up to date: one listing plus the new objects."""
        for attempt in range(attempts):
            try:
                self._refresh_once(backend)
                return self
            except FileNotFoundError:
                # a compactor removed a record or snapshot between our listing
                # and our read: list again
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise FormatError(f"the index of {backend.url} kept changing while being read; try again")

    def _refresh_once(self, backend: Backend) -> None:
        names = backend.list_names(INDEX_DIR)
        snapshots = sorted(n for n in names if n.startswith(SNAPSHOT_PREFIX) and n.endswith(".json"))
        journal = sorted(n for n in names if n.startswith(JOURNAL_PREFIX) and n.endswith(".json"))
        snapshot: dict[str, Any] | None = None
        if snapshots and _generation(snapshots[-1]) != self.generation:
            raw = backend.read_bytes(f"{INDEX_DIR}/{snapshots[-1]}")
            if raw is None:
                raise FileNotFoundError(snapshots[-1])
            snapshot = json.loads(raw)
            if snapshot.get("format_version", 1) > INDEX_FORMAT_VERSION:
                raise FormatError(f"index snapshot of {backend.url} has format {snapshot['format_version']}; upgrade spikestore")
        absorbed = set(snapshot.get("absorbed", [])) if snapshot is not None else self.absorbed
        pending = [n for n in journal if n not in absorbed]
        missing = [n for n in pending if n not in self._records]
        fetched = backend.read_many(f"{INDEX_DIR}/{n}" for n in missing)
        for name in missing:
            raw_record = fetched[f"{INDEX_DIR}/{name}"]
            if raw_record is None:
                raise FileNotFoundError(name)
            self._records[name] = json.loads(raw_record)["ops"]
        # everything is read: only now does the view change (a retry starts clean)
        rebuilt = snapshot is not None or pending[: len(self.applied)] != self.applied
        if snapshot is not None:
            self.generation = int(snapshot["generation"])
            self.absorbed = absorbed
            self.workspace = snapshot.get("workspace")
            self._snapshot_raw = raw
            self._fresh_items = snapshot["items"]  # used as is: parsing again is cheaper than deepcopy
        if rebuilt:  # a new snapshot, or a record sorted in before ours / records vanished
            self.items = self._snapshot_state()
            self.applied = []
        for name in pending[len(self.applied) :]:
            apply_ops(self.items, copy.deepcopy(self._records[name]))
            self.applied.append(name)
        for name in list(self._records):
            if name not in pending:
                del self._records[name]

    def append(self, backend: Backend, ops: list[dict[str, Any]]) -> str:
        """Commit ``ops`` as one journal record and apply them to this view.

        The write of the record is the commit point: readers that list the
        index after it returns see all ``ops``, and never some of them.
        """
        name = journal_name()
        backend.write_bytes(f"{INDEX_DIR}/{name}", json.dumps({"ops": ops, "writer": _writer_id()}).encode())
        self._records[name] = copy.deepcopy(ops)
        apply_ops(self.items, copy.deepcopy(ops))
        self.applied.append(name)
        return name

    def compact(
        self, backend: Backend, items: dict[str, dict[str, dict]] | None = None, workspace: dict[str, Any] | None = None
    ) -> bool:
        """Fold the journal into a new snapshot (``items`` replaces the state).

        ``workspace`` replaces the recorded workspace attributes (a save over
        an existing workspace switches items and attributes in one step).

        Returns False when another writer created that snapshot generation
        first; nothing is lost then, the other snapshot holds everything.
        """
        self.refresh(backend)
        if items is None:
            items = self.items
        absorbed = sorted(self.absorbed.union(self.applied))
        listed = set(backend.list_names(INDEX_DIR))
        absorbed = [n for n in absorbed if n in listed]
        generation = self.generation + 1
        workspace = workspace if workspace is not None else self.workspace
        doc = {"format_version": INDEX_FORMAT_VERSION, "generation": generation, "absorbed": absorbed, "items": items}
        if workspace is not None:
            doc["workspace"] = workspace
        payload = json.dumps(doc).encode()
        if not backend.create_bytes(f"{INDEX_DIR}/{_snapshot_name(generation)}", payload):
            return False
        for name in absorbed:
            backend.delete(f"{INDEX_DIR}/{name}")
        for name in listed:
            if name.startswith(SNAPSHOT_PREFIX) and name.endswith(".json") and _generation(name) < generation:
                backend.delete(f"{INDEX_DIR}/{name}")
        self.generation, self.absorbed, self.workspace = generation, set(absorbed), workspace
        self._snapshot_raw = payload
        self.items = self._snapshot_state()
        self.applied, self._records = [], {}
        return True

    def _snapshot_state(self) -> dict[str, dict[str, dict]]:
        """A private copy of the snapshot's items, to apply journal records to."""
        fresh, self._fresh_items = self._fresh_items, None
        if fresh is not None:
            return fresh
        return json.loads(self._snapshot_raw)["items"] if self._snapshot_raw else {}

    @property
    def pending_records(self) -> int:
        """Journal records not yet folded into a snapshot."""
        return len(self.applied)


def _writer_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"
