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

Format version 2 protects the index itself (version-1 workspaces are read
as before):

* every snapshot and record starts with a header line carrying the SHA-256
  of the JSON payload after it, so a truncated, garbage or edited object is
  :class:`~spikestore.errors.CorruptDataError`, never a silently different
  index;
* a workspace is created with snapshot 1, and compaction keeps the previous
  generation beside the newest one, so a deleted snapshot shows as a missing
  generation; each snapshot names the SHA-256 of its predecessor;
* each record names its writer, its number in that writer's sequence and the
  snapshot generation it was written on; snapshots remember the last number
  they absorbed per writer.  A record that vanished leaves a gap that
  :func:`index_problems` (used by ``verify`` and ``gc``) reports.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Required, TypedDict, cast

from .workspace_root import WorkspaceRoot
from .codecs import restore_summary
from .entries import IndexEntry, check_entry, check_name
from .errors import CorruptDataError, FormatError
from .gc_pause import gc_paused
from .jsonvalue import parse_json

INDEX_DIR = "__spikestore__/index"
SNAPSHOT_PREFIX = "snap-"
JOURNAL_PREFIX = "log-"
# an empty marker naming the newest generation: a deleted newest snapshot leaves it behind
HEAD_PREFIX = "head-"
INDEX_FORMAT_VERSION = 2
AUTO_COMPACT_RECORDS = 64
HEADER_MAGIC = "spikestore-index"
# a writer's sequence is forgotten by snapshots once it has been idle this long
WRITER_MEMORY_NS = 30 * 24 * 3600 * 10**9

# ``{namespace: {key: entry}}``: the items of a snapshot, and the state a reader holds
Items = dict[str, dict[str, IndexEntry]]


class JournalOp(TypedDict, total=False):
    """One operation of a journal record: ``put`` carries ``key`` and ``entry``,
    ``delete`` ``key``, ``note`` ``key`` and ``note``, ``delete_namespace``
    nothing more.  :func:`check_ops` checks operations read from a store."""

    op: Required[Literal["put", "delete", "delete_namespace", "note"]]
    ns: Required[str]
    key: str
    entry: IndexEntry
    note: str


def encode_index_object(kind: str, payload: dict[str, Any]) -> bytes:
    """An index object: a header line with the payload's SHA-256, then the JSON payload."""
    body = json.dumps(payload).encode()
    header = json.dumps({"magic": HEADER_MAGIC, "format_version": INDEX_FORMAT_VERSION, "kind": kind, "sha256": hashlib.sha256(body).hexdigest()})
    return header.encode() + b"\n" + body


def decode_index_object(raw: bytes, kind: str, where: str, *, legacy: bool) -> tuple[dict[str, Any], str]:
    """The payload of an index object and its SHA-256, after checking both.

    ``legacy`` accepts version-1 objects (plain JSON without a header), as
    version-1 workspaces hold.

    Raises
    ------
    CorruptDataError
        If the object is truncated, fails its checksum or is not JSON.
    FormatError
        If it was written by a newer spikestore.
    """
    head, sep, body = raw.partition(b"\n")
    try:
        if not sep:
            if not legacy:
                raise ValueError("no header line")
            payload = parse_json(raw)
            digest = hashlib.sha256(raw).hexdigest()
        else:
            header = parse_json(head)
            if not isinstance(header, dict) or header.get("magic") != HEADER_MAGIC or header.get("kind") != kind:
                raise ValueError("not a spikestore index header")
            if int(header.get("format_version", 0)) > INDEX_FORMAT_VERSION:
                raise FormatError(f"{where} has index format {header['format_version']}; upgrade spikestore.")
            digest = hashlib.sha256(body).hexdigest()
            if digest != header.get("sha256"):
                raise ValueError("its SHA-256 does not match its header")
            payload = parse_json(body)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise CorruptDataError(
            f"{where} is damaged ({exc}); the index cannot be trusted, so nothing was changed. "
            f"Restore the file from a copy; `spikestore verify` reports what else is affected."
        ) from None
    return payload, digest


def journal_name() -> str:
    """A new, unique journal record name that sorts by creation time."""
    return f"{JOURNAL_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"


def _snapshot_name(generation: int) -> str:
    return f"{SNAPSHOT_PREFIX}{generation:012d}.json"


def _generation(name: str) -> int:
    return int(name[len(SNAPSHOT_PREFIX) : -len(".json")])


def check_items(items: object, where: str, *, checked: bool = False) -> Items:
    """``items`` of a snapshot, every entry checked (:func:`spikestore.entries.check_entry`)
    unless ``checked`` (the same bytes passed before), summaries given spikelab's types."""
    if not isinstance(items, dict):
        raise FormatError(f"{where}: 'items' is not a mapping.")
    for ns, keys in items.items():
        if not isinstance(keys, dict):
            raise FormatError(f"{where}: namespace {ns!r} is not a mapping.")
        for key, entry in keys.items():
            if not checked:
                check_entry(ns, key, entry, where)
            entry["info"] = restore_summary(entry["info"])  # JSON has no tuples
    return cast(Items, items)


def check_ops(ops: object, where: str) -> list[JournalOp]:
    """Journal operations, each checked before it is applied."""
    if not isinstance(ops, list):
        raise FormatError(f"{where}: 'ops' is not a list.")
    for op in ops:
        if not isinstance(op, dict):
            raise FormatError(f"{where}: an operation is not a mapping.")
        check_name(op.get("ns"), f"{where}: namespace")
        if op.get("op") in ("put", "delete", "note"):
            check_name(op.get("key"), f"{where}: key")
        if op.get("op") == "put":
            check_entry(op["ns"], op["key"], op.get("entry"), where)
            op["entry"]["info"] = restore_summary(op["entry"]["info"])
        elif op.get("op") == "note" and not isinstance(op.get("note"), str):
            raise FormatError(f"{where}: a note is not a string.")
    return cast(list[JournalOp], ops)


def apply_ops(items: Items, ops: list[JournalOp]) -> None:
    """Apply (checked) journal operations to an ``{ns: {key: entry}}`` mapping in place."""
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
    """One reader's (or writer's) view of the index, refreshed incrementally.

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
    legacy
        The workspace is format version 1: index objects without headers are
        accepted, and new ones are written in the version-1 form.
    creating
        The workspace is being created: no snapshot exists yet.
    upgrading
        A whole-workspace save replaces a version-1 workspace: its objects
        are read as version 1, new ones are written as version 2.
    replacing
        A whole-workspace save replaces a workspace whose index is damaged:
        only the listing is read (for the next generation number).
    only
        A view of one item ``(namespace, key)`` (``load_item``): the
        snapshot's other entries are dropped unread, so only this one is
        checked; damage elsewhere in the index is reported by a full open.
    """

    items: Items = field(default_factory=dict)
    generation: int = 0
    absorbed: set[str] = field(default_factory=set)
    applied: list[str] = field(default_factory=list)
    workspace: dict[str, Any] | None = None
    legacy: bool = False
    creating: bool = False
    upgrading: bool = False
    replacing: bool = False
    only: tuple[str, str] | None = None
    writers: dict[str, list[int]] = field(default_factory=dict)
    snapshot_digest: str | None = None
    writer: str = field(default_factory=lambda: f"{_writer_id()}:{uuid.uuid4().hex[:8]}")
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _snapshot_raw: bytes = b""
    _fresh_items: Items | None = None
    _records: dict[str, tuple[list[JournalOp], dict[str, Any]]] = field(default_factory=dict)
    # the index folder's names as the last refresh listed them (compact deletes from these)
    _listed: list[str] | None = None

    def entry(self, namespace: str, key: str) -> IndexEntry | None:
        """The entry of an item, or ``None``."""
        return self.items.get(namespace, {}).get(key)

    def referenced_paths(self) -> set[str]:
        """Data paths of every live item."""
        return {e["path"] for space in self.items.values() for e in space.values()}

    def refresh(self, backend: WorkspaceRoot, attempts: int = 8, *, listing: list[str] | None = None) -> "IndexState":
        """Bring the view up to date: one listing plus the new objects.

        Raises
        ------
        CorruptDataError
            If an index object fails its checksum, or a snapshot generation
            that must exist is missing.
        FormatError
            If an entry is malformed or names a path outside its item.
        """
        for attempt in range(attempts):
            try:
                # ``listing``: the index folder listed by the caller (concurrently with
                # its own first request); used for the first attempt only
                self._refresh_once(backend, listing if attempt == 0 else None)
                return self
            except CorruptDataError:
                if attempt or listing is None:
                    raise
                # the caller listed while the workspace was being created (its root was
                # written after our listing): judge the index on a listing of our own
            except FileNotFoundError:
                # a compactor removed a record or snapshot between our listing
                # and our read: list again
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise FormatError(f"the index of {backend.url} kept changing while being read; try again")

    def _decode(self, backend: WorkspaceRoot, raw: bytes, kind: str, name: str, *, lenient: bool = False) -> tuple[dict[str, Any], str]:
        where = f"index {kind} {name} of {backend.url}"
        return decode_index_object(raw, kind, where, legacy=lenient or self.legacy or self.upgrading)

    def _refresh_once(self, backend: WorkspaceRoot, listing: list[str] | None = None) -> None:
        names = backend.list_names(INDEX_DIR) if listing is None else listing
        self._listed = names
        snapshots = sorted(n for n in names if _is_snapshot_name(n))
        journal = sorted(n for n in names if _is_journal_name(n))
        newest = _generation(snapshots[-1]) if snapshots else 0
        if self.replacing:
            self.generation, self.absorbed, self.items, self.applied = newest, set(), {}, list(journal)
            return
        if not (self.legacy or self.upgrading) and not (self.creating and newest == 0):
            _check_generations(backend, set(names), newest)
        snapshot: dict[str, Any] | None = None
        digest = self.snapshot_digest
        if snapshots and newest != self.generation:
            raw = backend.read_bytes(f"{INDEX_DIR}/{snapshots[-1]}")
            if raw is None:
                raise FileNotFoundError(snapshots[-1])
            with gc_paused():  # 10^4 acyclic objects: a full collection mid-parse cost up to 100x the parse
                snapshot, digest = self._decode(backend, raw, "snapshot", snapshots[-1])
                if int(snapshot.get("format_version", 1)) > INDEX_FORMAT_VERSION:
                    raise FormatError(f"index snapshot of {backend.url} has format {snapshot['format_version']}; upgrade spikestore")
                where = f"index snapshot {snapshots[-1]} of {backend.url}"
                if snapshot.get("generation") != newest or not isinstance(snapshot.get("absorbed", []), list):
                    raise CorruptDataError(f"{where} does not hold generation {newest}; the index is damaged.")
                snapshot["items"] = self._narrowed(snapshot.get("items"))
                check_items(snapshot["items"], where, checked=digest in _CHECKED_SNAPSHOTS)  # same bytes: checked before
            if self.only is None:
                _remember_checked(digest)
        absorbed = set(snapshot.get("absorbed", [])) if snapshot is not None else self.absorbed
        pending = [n for n in journal if n not in absorbed]
        missing = [n for n in pending if n not in self._records]
        fetched = backend.read_many(f"{INDEX_DIR}/{n}" for n in missing)
        for name in missing:
            raw_record = fetched[f"{INDEX_DIR}/{name}"]
            if raw_record is None:
                raise FileNotFoundError(name)
            payload, _ = self._decode(backend, raw_record, "record", name)
            ops = check_ops(payload.get("ops"), f"index record {name} of {backend.url}")
            base = payload.get("base", 0)
            if not self.legacy and isinstance(base, int) and base > newest:
                raise CorruptDataError(
                    f"index record {name} of {backend.url} was written on snapshot generation {base}, which is "
                    f"missing (newest present: {newest}); the index is damaged, so nothing was changed."
                )
            self._records[name] = (ops, {k: payload.get(k) for k in ("writer", "seq", "base")})
        # everything is read: only now does the view change (a retry starts clean)
        rebuilt = snapshot is not None or pending[: len(self.applied)] != self.applied
        if snapshot is not None:
            self.generation = newest
            self.absorbed = absorbed
            self.workspace = snapshot.get("workspace")
            self.writers = dict(snapshot.get("writers") or {})
            self.snapshot_digest = digest
            assert raw is not None  # read with the snapshot above
            self._snapshot_raw = raw.partition(b"\n")[2] or raw
            self._fresh_items = snapshot["items"]  # used as is: parsing again is cheaper than deepcopy
        if rebuilt:  # a new snapshot, or a record sorted in before ours / records vanished
            self.items = self._snapshot_state()
            self.applied = []
        for name in pending[len(self.applied) :]:
            apply_ops(self.items, copy.deepcopy(self._records[name][0]))
            self.applied.append(name)
        for name in list(self._records):
            if name not in pending:
                del self._records[name]

    def append(self, backend: WorkspaceRoot, ops: list[JournalOp]) -> str:
        """Commit ``ops`` as one journal record and apply them to this view.

        The write of the record is the commit point: readers that list the
        index after it returns see all ``ops``, and never some of them.
        """
        name = journal_name()
        with self._lock:  # one writer's records are written in sequence order
            self._seq += 1
            meta = {"writer": self.writer, "seq": self._seq, "base": self.generation}
            payload = {"ops": ops, **meta}
            raw = json.dumps(payload).encode() if self.legacy else encode_index_object("record", payload)
            try:
                backend.write_bytes(f"{INDEX_DIR}/{name}", raw)
            except BaseException:
                self._seq -= 1
                raise
        self._records[name] = (copy.deepcopy(ops), meta)
        apply_ops(self.items, copy.deepcopy(ops))
        self.applied.append(name)
        return name

    def compact(
        self, backend: WorkspaceRoot, items: Items | None = None, workspace: dict[str, Any] | None = None
    ) -> bool:
        """Fold the journal into a new snapshot (``items`` replaces the state).

        ``workspace`` replaces the recorded workspace attributes (a save over
        an existing workspace switches items and attributes in one step).
        The previous snapshot is kept beside the new one (see the module
        docstring); older ones and the absorbed records are deleted.

        Returns False when another writer created that snapshot generation
        first; nothing is lost then, the other snapshot holds everything.
        """
        if self.creating and self.generation == 0 and not self.applied and self._listed is None:
            # a workspace being created has no index yet: generation 1 is tried without a
            # listing (its write is exclusive); if another creator won, list and go on
            listed: set[str] = set()
        else:
            self.refresh(backend)
            listed = set(self._listed or ())
        self._listed = None
        if items is None:
            items = self.items
        absorbed = sorted(self.absorbed.union(self.applied))
        absorbed = [n for n in absorbed if n in listed]
        generation = self.generation + 1
        workspace = workspace if workspace is not None else self.workspace
        writers = self._absorbed_writers()
        doc: dict[str, Any] = {"format_version": 1 if self.legacy else INDEX_FORMAT_VERSION, "generation": generation, "absorbed": absorbed, "items": items}
        if workspace is not None:
            doc["workspace"] = workspace
        if self.legacy:
            payload = json.dumps(doc).encode()
            digest = hashlib.sha256(payload).hexdigest()
        else:
            doc["writers"] = writers
            doc["previous"] = self.snapshot_digest
            payload = encode_index_object("snapshot", doc)
            digest = hashlib.sha256(payload.partition(b"\n")[2]).hexdigest()
        if not backend.create_bytes(f"{INDEX_DIR}/{_snapshot_name(generation)}", payload):
            if not listed and self.creating:  # the next attempt lists the index another creator wrote
                self._listed = []
            return False
        if not self.legacy and generation > 1:
            # generation 1 needs no head: an index without any snapshot is refused as damaged
            # already, so a new workspace is visible one round trip sooner
            backend.write_bytes(f"{INDEX_DIR}/{HEAD_PREFIX}{generation:012d}", b"")
        for name in absorbed:
            backend.delete(f"{INDEX_DIR}/{name}")
        for name in listed:
            if _is_snapshot_name(name) and _generation(name) < generation - 1:
                backend.delete(f"{INDEX_DIR}/{name}")
            elif _head_generation(name) is not None and (_head_generation(name) or 0) < generation:
                backend.delete(f"{INDEX_DIR}/{name}")
        self.generation, self.absorbed, self.workspace = generation, set(absorbed), workspace
        self.writers, self.snapshot_digest = writers, digest
        self.creating = self.upgrading = self.replacing = False
        self._snapshot_raw = payload if self.legacy else payload.partition(b"\n")[2]
        self.items = self._snapshot_state()
        self.applied, self._records = [], {}
        return True

    def _absorbed_writers(self) -> dict[str, list[int]]:
        """Per writer, ``[last sequence number absorbed, when (ns)]``, idle writers forgotten."""
        now = time.time_ns()
        writers = {w: list(v) for w, v in self.writers.items() if isinstance(v, list) and len(v) == 2}
        for name in self.applied:
            meta = self._records.get(name, ([], {}))[1]
            writer, seq = meta.get("writer"), meta.get("seq")
            if isinstance(writer, str) and isinstance(seq, int):
                last = writers.get(writer, [0, 0])[0]
                writers[writer] = [max(last, seq), now]
        return {w: v for w, v in writers.items() if now - int(v[1]) < WRITER_MEMORY_NS}

    def _snapshot_state(self) -> Items:
        """A private copy of the snapshot's items, to apply journal records to."""
        fresh, self._fresh_items = self._fresh_items, None
        if fresh is not None:
            return fresh
        if not self._snapshot_raw:
            return {}
        # the same bytes as checked on the first read: only a one-item view checks (its entry) again
        items = self._narrowed(parse_json(self._snapshot_raw)["items"])
        return check_items(items, "index snapshot", checked=self.only is None)

    def _narrowed(self, items: object) -> object:
        """A snapshot's items as this view keeps them: all, or only the entry of :attr:`only`."""
        if self.only is None or not isinstance(items, dict):
            return items
        namespace, key = self.only
        space = items.get(namespace)
        return {namespace: {key: space[key]}} if isinstance(space, dict) and key in space else {}

    @property
    def pending_records(self) -> int:
        """Journal records not yet folded into a snapshot."""
        return len(self.applied)


# SHA-256 digests of snapshot bodies whose entries passed check_items in this process:
# opening the same unchanged snapshot again (a notebook re-opening a workspace, a
# reader per request) skips re-checking identical bytes; the digest is the one
# decode_index_object verified against the object's header
_CHECKED_SNAPSHOTS: dict[str, None] = {}
_CHECKED_SNAPSHOTS_KEPT = 256


def _remember_checked(digest: str) -> None:
    _CHECKED_SNAPSHOTS[digest] = None
    while len(_CHECKED_SNAPSHOTS) > _CHECKED_SNAPSHOTS_KEPT:
        del _CHECKED_SNAPSHOTS[next(iter(_CHECKED_SNAPSHOTS))]


def _is_snapshot_name(name: str) -> bool:
    return name.startswith(SNAPSHOT_PREFIX) and name.endswith(".json") and name[len(SNAPSHOT_PREFIX) : -5].isdigit()


def _head_generation(name: str) -> int | None:
    digits = name[len(HEAD_PREFIX) :]
    return int(digits) if name.startswith(HEAD_PREFIX) and digits.isdigit() else None


def _is_journal_name(name: str) -> bool:
    return name.startswith(JOURNAL_PREFIX) and name.endswith(".json")


def _check_generations(backend: WorkspaceRoot, names: set[str], newest: int) -> None:
    """A version-2 index always holds its newest snapshot and, from generation 2 on, the one before."""
    if newest == 0:
        raise CorruptDataError(
            f"the index of {backend.url} holds no snapshot, but every version-2 workspace is created with "
            f"one: it was deleted. Nothing was changed; restore __spikestore__/index/ from a copy."
        )
    heads = [g for g in map(_head_generation, names) if g is not None]
    if heads and max(heads) > newest:
        raise CorruptDataError(
            f"the index of {backend.url} lacks snapshot generation {max(heads)}, its newest: it was deleted. "
            f"Nothing was changed; restore __spikestore__/index/ from a copy."
        )
    if newest > 1 and _snapshot_name(newest - 1) not in names:
        raise CorruptDataError(
            f"the index of {backend.url} lacks snapshot generation {newest - 1} beside generation {newest}: "
            f"a snapshot was deleted or a stray one was added. Nothing was changed; restore "
            f"__spikestore__/index/ from a copy, or run `spikestore verify` for details."
        )


def index_problems(backend: WorkspaceRoot, state: IndexState, attempts: int = 6) -> list[str]:
    """Damage to the index that a reader does not notice: vanished journal
    records (gaps in a writer's sequence) and a broken snapshot chain.

    Reads every snapshot and record present (``verify`` and ``gc`` use it).
    A listed object that is gone when read means a compactor ran in
    between: the listing is stale, and a gap seen in it would be a false
    alarm, so the check lists again.  When the index keeps changing for
    ``attempts`` listings, nothing is reported: no listing could be judged.
    """
    problems: list[str] = []
    for attempt in range(attempts):
        problems, stable = _index_problems_once(backend, state)
        if stable:
            return problems
        time.sleep(min(0.05 * 2**attempt, 1.0))
    return problems


def _index_problems_once(backend: WorkspaceRoot, state: IndexState) -> tuple[list[str], bool]:
    """One listing's problems, and whether every listed object could be read."""
    problems: list[str] = []
    names = backend.list_names(INDEX_DIR)
    snapshots = sorted(n for n in names if _is_snapshot_name(n))
    journal = [n for n in names if _is_journal_name(n)]
    raws = backend.read_many(f"{INDEX_DIR}/{n}" for n in snapshots + journal)
    if any(raws.get(f"{INDEX_DIR}/{n}") is None for n in snapshots + journal):
        return problems, False
    read = {path: raw for path, raw in raws.items() if raw is not None}  # all of them
    digests: dict[int, str] = {}
    payloads: dict[int, dict[str, Any]] = {}
    for name in snapshots:
        try:
            # an older generation may still be the version-1 snapshot a save upgraded
            lenient = name != snapshots[-1]
            payloads[_generation(name)], digests[_generation(name)] = state._decode(
                backend, read[f"{INDEX_DIR}/{name}"], "snapshot", name, lenient=lenient
            )
        except (CorruptDataError, FormatError) as exc:
            problems.append(str(exc))
    for generation, payload in payloads.items():
        previous = payload.get("previous")
        if generation - 1 in digests and previous is not None and previous != digests[generation - 1]:
            problems.append(
                f"index snapshot generation {generation} does not follow generation {generation - 1} (its "
                f"'previous' checksum differs): one of them was replaced."
            )
    newest = payloads[max(payloads)] if payloads else {}
    absorbed = set(newest.get("absorbed", []))
    known = {w: int(v[0]) for w, v in (newest.get("writers") or {}).items() if isinstance(v, list) and v}
    sequences: dict[str, set[int]] = {}
    for name in journal:
        if name in absorbed:
            continue
        try:
            payload, _ = state._decode(backend, read[f"{INDEX_DIR}/{name}"], "record", name)
        except (CorruptDataError, FormatError) as exc:
            problems.append(str(exc))
            continue
        writer, seq = payload.get("writer"), payload.get("seq")
        if isinstance(writer, str) and isinstance(seq, int):
            sequences.setdefault(writer, set()).add(seq)
    for writer, seqs in sequences.items():
        start = known.get(writer, 0) + 1  # every writer numbers its records from 1
        lost = sorted(set(range(start, max(seqs) + 1)) - seqs)
        if lost:
            problems.append(
                f"journal record(s) number {lost[:5]} of writer {writer} vanished: the items they committed "
                f"are no longer in the index. Restore __spikestore__/index/ from a copy."
            )
    return problems, True


def _writer_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"
