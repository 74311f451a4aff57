"""Where bytes go: one URL (any fsspec URL or a plain path) turned into a
filesystem for small control objects and a Zarr store for arrays.

This is the only module that knows how a filesystem makes a write atomic or
exclusive: local files use a temporary name plus ``os.replace``/``os.link``,
object stores use a single ``PUT`` (``If-None-Match: *`` for create-only).
Everything above it speaks in paths relative to the workspace root.
"""

from __future__ import annotations

import inspect
import os
import posixpath
import uuid
from pathlib import Path
from typing import Any, Iterable

import fsspec
from fsspec.implementations.local import LocalFileSystem
from zarr.abc.store import Store
from zarr.storage import FsspecStore, LocalStore

from .errors import InvalidURLError


def normalize_url(url: str | os.PathLike[str]) -> str:
    """A URL string for ``url``; paths (``pathlib.Path`` too) become absolute paths."""
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError(f"workspace URL must be a non-empty string or path, got {url!r}")
    url = url.strip()
    if "://" not in url and not url.startswith("file:"):
        return str(Path(url).expanduser().absolute())
    return url.rstrip("/") if not url.endswith("://") else url


class Backend:
    """A workspace root on some filesystem.

    Parameters
    ----------
    url
        A plain path, ``file://``, ``memory://``, ``s3://bucket/prefix`` or any
        other fsspec URL.
    storage_options
        Passed to fsspec (credentials, ``endpoint_url`` …).
    read_only
        Open the Zarr store read-only.
    """

    def __init__(self, url: str | os.PathLike[str], storage_options: dict[str, Any] | None = None, *, read_only: bool = False) -> None:
        self.url = normalize_url(url)
        self.storage_options = dict(storage_options or {})
        self.read_only = read_only
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **self._options(self.url, self.storage_options))
        except (ValueError, ImportError, TypeError) as exc:
            raise InvalidURLError(
                f"cannot open {self.url!r}: {exc}. Use a path or an fsspec URL such as "
                f"'memory://ws', 's3://bucket/prefix' (check the protocol and storage_options)."
            ) from None
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self._zarr_store: Store | None = None

    @staticmethod
    def _options(url: str, options: dict[str, Any]) -> dict[str, Any]:
        """Storage options with our defaults: one request per object read.

        s3fs reads a whole object with a ``HEAD`` then ranged ``GET``s unless
        ``max_concurrency`` is 1; our objects are small chunks, so one ``GET``
        each is both fewer requests and faster.
        """
        cls = fsspec.get_filesystem_class(fsspec.core.split_protocol(url)[0] or "file")
        if "max_concurrency" in inspect.signature(cls.__init__).parameters:
            return {"max_concurrency": 1, **options}
        return options

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["storage_options"], read_only=state["read_only"])  # type: ignore[misc]

    # -- paths -------------------------------------------------------------

    def abspath(self, rel: str) -> str:
        """Filesystem path of a root-relative path."""
        return posixpath.join(self.root, rel) if rel else self.root

    @property
    def zarr_store(self) -> Store:
        """The Zarr store rooted at the workspace root (created on first use)."""
        if self._zarr_store is None:
            if self.is_local:
                self._zarr_store = LocalStore(self.root, read_only=self.read_only)
            else:
                self._zarr_store = FsspecStore.from_url(
                    self.url, storage_options=self._options(self.url, self.storage_options), read_only=self.read_only
                )
        return self._zarr_store

    # -- small objects -----------------------------------------------------

    def read_bytes(self, rel: str) -> bytes | None:
        """The object's bytes, or ``None`` when it does not exist."""
        try:
            return self.fs.cat_file(self.abspath(rel))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def read_many(self, rels: Iterable[str]) -> dict[str, bytes | None]:
        """Several objects at once (concurrent requests where the filesystem can)."""
        rels = list(rels)
        if not rels:
            return {}
        paths = {self.abspath(r): r for r in rels}
        out = self.fs.cat(list(paths), on_error="return")
        result: dict[str, bytes | None] = {}
        for path, rel in paths.items():
            value = out.get(path) if isinstance(out, dict) else out
            result[rel] = value if isinstance(value, bytes) else None
        return result

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write an object so that readers see the old or the new bytes, never a mix."""
        path = self.abspath(rel)
        if self.is_local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def create_bytes(self, rel: str, data: bytes) -> bool:
        """Write an object only if none exists at ``rel``; return whether it was written.

        Exclusive creation is a single atomic step: ``os.link`` of a complete
        temporary file locally, a conditional ``PUT`` on object stores.
        """
        path = self.abspath(rel)
        if self.is_local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as fh:
                fh.write(data)
            try:
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        try:
            self.fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            return False

    def list_names(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (fresh listing, no cache)."""
        path = self.abspath(rel)
        try:
            self.fs.invalidate_cache(path)
            entries = self.fs.ls(path, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        names = [posixpath.basename(str(e).rstrip("/")) for e in entries]
        return [n for n in names if n and ".tmp-" not in n]

    def delete(self, rel: str) -> None:
        """Remove one object; missing is fine."""
        try:
            self.fs.rm_file(self.abspath(rel))
        except FileNotFoundError:
            pass

    def delete_tree(self, rel: str) -> None:
        """Remove everything under ``rel``; missing is fine."""
        path = self.abspath(rel)
        try:
            self.fs.invalidate_cache(path)
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def remove_group_if_empty(self, rel: str) -> None:
        """Remove a group folder that holds nothing but its ``zarr.json``.

        Only the group document is deleted (and, locally, the then-empty
        folder with ``rmdir``, which refuses a non-empty folder): data another
        writer is putting there right now is never touched.
        """
        if set(self.list_names(rel)) - {"zarr.json"}:
            return
        self.delete(f"{rel}/zarr.json")
        if self.is_local:
            try:
                os.rmdir(self.abspath(rel))
            except OSError:
                pass

    def copy_tree(self, src_rel: str, dst_rel: str) -> None:
        """Copy everything under ``src_rel`` to ``dst_rel`` on the same filesystem."""
        src, dst = self.abspath(src_rel), self.abspath(dst_rel)
        self.fs.invalidate_cache(src)
        files = [f for f in self.fs.find(src) if ".tmp-" not in f]
        for f in files:
            target = posixpath.join(dst, posixpath.relpath(f, src))
            if self.is_local:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            self.fs.copy(f, target)

    def exists(self, rel: str) -> bool:
        """Whether an object or folder exists at ``rel``."""
        path = self.abspath(rel)
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def is_empty(self) -> bool:
        """Whether the root holds nothing at all."""
        return not self.list_names("")
