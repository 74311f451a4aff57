"""Object requests of a workspace root through an fsspec filesystem (a folder, ``memory://``,
s3fs, gcsfs …).

:class:`FsspecObjects` and :class:`LocalObjects` are two of the object
backends behind :class:`~spikestore.workspace_root.WorkspaceRoot` (the third,
:class:`~spikestore.object_store.ObstoreObjects`, sends S3 requests through
obstore).  Every method takes a root-relative key that the workspace root has
already checked (:func:`spikestore.paths.check_key`); the backend only turns
it into requests.  A folder's writes are atomic and exclusive through
temporary files under ``__spikestore__/tmp/`` moved into place; an object
store's through a single ``PUT`` (``If-None-Match: *`` for create-only).
"""

from __future__ import annotations

import inspect
import os
import posixpath
import uuid
from typing import Any, Callable

import fsspec
import fsspec.asyn

from .paths import INTERNAL_DIR

TMP_DIR = f"{INTERNAL_DIR}/tmp"


class FsspecObjects:
    """The objects under ``root`` on the fsspec filesystem ``fs``.

    Parameters
    ----------
    fs
        The filesystem.
    root
        The workspace root's path on it (no protocol, no trailing ``/``).
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self.root = root

    def path(self, rel: str) -> str:
        """The filesystem path of a (checked) root-relative key."""
        rel = rel.rstrip("/")
        return posixpath.join(self.root, rel) if rel else self.root

    def read(self, rel: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` (or ``IsADirectoryError`` …) when there is none."""
        return bytes(self.fs.cat_file(self.path(rel)))

    def read_many(self, rels: list[str]) -> dict[str, Any]:
        """Several objects at once (concurrent requests where the filesystem can); a failed read
        maps to its exception (or to nothing)."""
        paths = {self.path(r): r for r in rels}
        out = self.fs.cat(list(paths), on_error="return")
        return {rel: (out.get(path) if isinstance(out, dict) else out) for path, rel in paths.items()}

    def write(self, rel: str, data: bytes) -> None:
        """Write an object in one step (readers see old or new bytes)."""
        self.fs.pipe_file(self.path(rel), data)

    def create(self, rel: str, data: bytes) -> bool:
        """Write an object only if none exists at ``rel``; return whether it was written."""
        try:
            self.fs.pipe_file(self.path(rel), data, mode="create")
            return True
        except FileExistsError:
            return False

    def listing(self, rel: str) -> dict[str, float | None]:
        """Names directly under ``rel`` with their modification times (fresh, no cache).

        s3fs's ``ls`` of an empty prefix also lists the parent prefix (to
        tell a missing folder from an object of that name), which is a
        second request and can page through a whole bucket; a workspace
        only asks for folders, so on S3 one listing request (``_lsdir``)
        answers.
        """
        path = self.path(rel)
        lsdir = getattr(self.fs, "_lsdir", None)
        if "s3" in _protocols(self.fs) and inspect.iscoroutinefunction(lsdir):
            entries = list(fsspec.asyn.sync(self.fs.loop, lsdir, path, refresh=True))
        else:
            self.fs.invalidate_cache(path)
            entries = list(self.fs.ls(path, detail=True))
        out: dict[str, float | None] = {}
        for entry in entries:
            name = posixpath.basename(str(entry.get("name", "")).rstrip("/"))
            if name:
                out[name] = _mtime(entry)
        return out

    def modified_time(self, rel: str) -> float | None:
        """When the object at ``rel`` last changed; ``None`` for a folder; ``FileNotFoundError`` if missing."""
        path = self.path(rel)
        self.fs.invalidate_cache(path)
        return _mtime(self.fs.info(path))

    def sizes(self, rel: str) -> dict[str, int]:
        """Every object under ``rel``: root-relative key → size in bytes."""
        base = self.path(rel)
        self.fs.invalidate_cache(base)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        root = self.root.rstrip("/")
        return {posixpath.relpath(str(path), root): int(info.get("size") or 0) for path, info in found.items()}

    def delete(self, rel: str) -> None:
        """Remove one object; missing is fine."""
        try:
            self.fs.rm_file(self.path(rel))
        except FileNotFoundError:
            pass

    def delete_tree(self, rel: str) -> None:
        """Remove every object under ``rel``; missing is fine."""
        path = self.path(rel)
        try:
            self.fs.invalidate_cache(path)
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def copy(self, src: str, dst: str) -> None:
        """Copy one object (server-side where the filesystem can)."""
        self.fs.copy(self.path(src), self.path(dst))

    def exists(self, rel: str) -> bool:
        """Whether an object or folder exists at ``rel``."""
        path = self.path(rel)
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def container_exists(self) -> bool:
        """Whether the bucket (the first path segment of the root) exists."""
        return bool(self.fs.exists(self.root.split("/", 1)[0]))


class LocalObjects(FsspecObjects):
    """A workspace root in a local folder: writes go to a complete temporary file under
    ``__spikestore__/tmp/`` (where no user name can reach) and are moved into place with
    ``os.replace`` (old or new bytes, never a mix) or ``os.link`` (only if none is there)."""

    def _place(self, rel: str, data: bytes, place: Callable[[str, str], None]) -> None:
        path = self.path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        folder = self.path(TMP_DIR)
        os.makedirs(folder, exist_ok=True)
        tmp = posixpath.join(folder, uuid.uuid4().hex)
        with open(tmp, "wb") as fh:
            fh.write(data)
        try:
            place(tmp, path)
        finally:
            unlink_if_present(tmp)  # already gone after os.replace

    def write(self, rel: str, data: bytes) -> None:
        self._place(rel, data, os.replace)

    def create(self, rel: str, data: bytes) -> bool:
        try:
            self._place(rel, data, os.link)
            return True
        except FileExistsError:
            return False

    def modified_time(self, rel: str) -> float | None:
        return os.stat(self.path(rel)).st_mtime

    def copy(self, src: str, dst: str) -> None:
        os.makedirs(os.path.dirname(self.path(dst)), exist_ok=True)
        super().copy(src, dst)


def unlink_if_present(path: str) -> None:
    """``os.unlink``, fine when the file is already gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _mtime(info: dict[str, Any]) -> float | None:
    for field in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(field)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None
