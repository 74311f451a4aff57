"""The gatekeeper: the one layer that reads, writes, lists and deletes objects.

A :class:`WorkspaceRoot` is the folder or prefix a workspace lives in (any fsspec URL or
a plain path).  Every method takes a key *relative to the root* and checks it
with :func:`spikestore.paths.check_key` before any request, so no path read
from an index, a skeleton or a ``.h5`` file can address anything outside the
root.  Deletes are confined further: :meth:`WorkspaceRoot.delete_version` removes
only item version folders, :meth:`WorkspaceRoot.remove_group_if_empty` only the
group document of a namespace or key folder.  Zarr reaches the same bytes
only through :class:`GuardedStore`, which applies the same check to every
key zarr asks for.

The requests themselves are made by an object backend behind the root:
:class:`~spikestore.fsspec_objects.LocalObjects` for a folder (atomic and
exclusive writes through temporary files under ``__spikestore__/tmp/``, where
no user name can reach), :class:`~spikestore.object_store.ObstoreObjects` on
S3 when obstore can reach the bucket, and
:class:`~spikestore.fsspec_objects.FsspecObjects` for any other fsspec URL
(object stores write with a single ``PUT``, ``If-None-Match: *`` for
create-only).  Storage errors that mean "no access" (missing credentials, a
missing bucket, access denied, an unreachable endpoint) become
:class:`~spikestore.errors.StoreAccessError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import posixpath
import re
import time
import urllib.parse
import uuid
import warnings
from pathlib import Path
from typing import Any, AsyncIterator, Iterable, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem
import zarr.core.sync as zarr_sync
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.storage import FsspecStore, LocalStore, WrapperStore

from .errors import InvalidURLError, StoreAccessError
from .fsspec_objects import TMP_DIR, FsspecObjects, LocalObjects
from .object_store import ObstoreObjects, SinglePutObjectStore, s3_store
from .paths import GROUP_DOCUMENT, INTERNAL_DIR, check_key, check_version_folder
# connections an object-store client keeps open (botocore's default is 10)
MAX_CONNECTIONS = 64
# object stores limit a whole key (S3: 1024 bytes); local paths are limited per segment
OBJECT_KEY_BYTES = 1024
_ACCESS_ERRORS = {
    "NoCredentialsError": "no credentials were found",
    "PartialCredentialsError": "the credentials are incomplete",
    "InvalidAccessKeyId": "the access key id is not known to the server",
    "SignatureDoesNotMatch": "the secret key does not match the access key id",
    "AccessDenied": "access was denied",
    "NoSuchBucket": "the bucket does not exist",
    "EndpointConnectionError": "the endpoint could not be reached (check endpoint_url and the network)",
    "ConnectTimeoutError": "the endpoint did not answer in time (check endpoint_url and the network)",
    "InvalidRegionError": "the region name is not valid (check client_kwargs={'region_name': ...})",
    "PermissionDeniedError": "access was denied",  # obstore's (spikestore.object_store)
    "UnauthenticatedError": "the credentials were not accepted",
}


_S3_ERROR_CODE = re.compile(r"<Code>(\w+)</Code>")


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


def access_problem(exc: BaseException) -> str | None:
    """What an exception says about access (credentials, bucket), or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in _ACCESS_ERRORS:
            return _ACCESS_ERRORS[name]
        code = getattr(current, "response", {}).get("Error", {}).get("Code") if hasattr(current, "response") else None
        if code in _ACCESS_ERRORS:
            return _ACCESS_ERRORS[code]
        if isinstance(current, PermissionError):
            return "access was denied"
        if type(current).__module__.startswith("obstore"):
            problem = _obstore_problem(str(current))
            if problem is not None:
                return problem
        current = current.__cause__ or current.__context__
    return None


def _obstore_problem(message: str) -> str | None:
    """What an obstore error message says about access: the S3 error code it quotes, or a
    failed connection (obstore has one exception type for all of them)."""
    for code in _S3_ERROR_CODE.findall(message):
        if code in _ACCESS_ERRORS:
            return _ACCESS_ERRORS[code]
    if "error sending request" in message:
        return _ACCESS_ERRORS["EndpointConnectionError"]
    return None


def translated(url: str, exc: Exception) -> Exception:
    """The error to raise for ``exc``: :class:`StoreAccessError` when it means "no access", else ``exc`` itself."""
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError)):
        return exc
    problem = access_problem(exc)
    return exc if problem is None else _access_error(url, problem)


def _check_endpoints(url: str, options: dict[str, Any]) -> None:
    """Refuse an ``endpoint_url`` (top-level or in ``client_kwargs``) that is not an http(s) URL:
    the S3 client would fail on it only at its first request, with a bare ``ValueError``."""
    client = options.get("client_kwargs")
    for endpoint in (options.get("endpoint_url"), client.get("endpoint_url") if isinstance(client, dict) else None):
        if endpoint is None:
            continue
        try:
            parts = urllib.parse.urlsplit(endpoint) if isinstance(endpoint, str) else None
            valid = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # an invalid IPv6 address or port
            valid = False
        if not valid:
            raise InvalidURLError(
                f"cannot open {url!r}: endpoint_url {endpoint!r} is not an http(s) URL; give the server's "
                f"address, e.g. storage_options={{'endpoint_url': 'http://localhost:9000'}}."
            )


def _access_error(url: str, problem: str) -> StoreAccessError:
    return StoreAccessError(
        f"cannot access {url}: {problem}. For S3, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
        f"AWS_PROFILE), or pass storage_options={{'key': ..., 'secret': ...}} (`-o key=... -o secret=...` "
        f"on the command line); use anon=True for a public bucket; check that the bucket exists."
    )


class WorkspaceRoot:
    """A workspace root on some filesystem: the only code that touches it.

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
            self.fs, root = fsspec.core.url_to_fs(self.url, **self._client_options(self.url, self.storage_options))
        except (ValueError, ImportError, TypeError) as exc:
            raise InvalidURLError(
                f"cannot open {self.url!r}: {exc}. Use a path or an fsspec URL such as "
                f"'memory://ws', 's3://bucket/prefix' (check the protocol and storage_options)."
            ) from None
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self._zarr_store: Store | None = None
        _check_endpoints(self.url, self.storage_options)
        self._fsspec = (LocalObjects if self.is_local else FsspecObjects)(self.fs, self.root)
        self._s3 = None if self.is_local else s3_store(self.url, self.storage_options)
        self._objects: FsspecObjects | ObstoreObjects = (
            self._fsspec if self._s3 is None else ObstoreObjects(self._s3, self._fsspec, max_in_flight=MAX_CONNECTIONS)
        )

    @staticmethod
    def _options(url: str, options: dict[str, Any]) -> dict[str, Any]:
        """Storage options with our defaults: one request per object read.

        s3fs reads a whole object with a ``HEAD`` then ranged ``GET``s unless
        ``max_concurrency`` is 1; our objects are small chunks, so one ``GET``
        each is both fewer requests and faster.
        """
        parameters = _init_parameters(fsspec.get_filesystem_class(fsspec.core.split_protocol(url)[0] or "file"))
        if "max_concurrency" in parameters:
            options = {"max_concurrency": 1, **options}
        if "config_kwargs" in parameters:
            # botocore keeps 10 connections by default, which would cap the
            # requests spikestore keeps in flight (MAX_REQUESTS_IN_FLIGHT)
            config = {"max_pool_connections": MAX_CONNECTIONS, **options.get("config_kwargs", {})}
            options = {**options, "config_kwargs": config}
        return options

    @classmethod
    def _client_options(cls, url: str, options: dict[str, Any]) -> dict[str, Any]:
        """:meth:`_options`, plus, for an asynchronous filesystem (s3fs, gcsfs …), zarr's event loop.

        One filesystem object, and so one client session (connections,
        credentials, the service description it parses: ~0.2 s of CPU for
        s3fs), then serves both our own requests (run on that loop) and
        zarr's (:attr:`zarr_store`), instead of two sessions on two loops.
        """
        options = cls._options(url, options)
        protocol = fsspec.core.split_protocol(url)[0] or "file"
        if getattr(fsspec.get_filesystem_class(protocol), "async_impl", False) and "loop" not in options:
            options = {**options, "asynchronous": False, "loop": zarr_sync._get_loop()}
        return options

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["storage_options"], read_only=state["read_only"])  # type: ignore[misc]

    # -- the boundary ------------------------------------------------------------

    def checked(self, rel: str, *, prefix: bool = False) -> str:
        """``rel`` if it is a root-relative key that stays inside the root (:func:`~spikestore.paths.check_key`)."""
        return check_key(rel, f"key in {self.url}", prefix=prefix)

    def abspath(self, rel: str, *, prefix: bool = False) -> str:
        """Filesystem path of a root-relative key, after checking that it stays inside the root."""
        return self._fsspec.path(self.checked(rel, prefix=prefix))

    @property
    def max_key_bytes(self) -> int:
        """The longest root-relative key this location can hold (UTF-8 bytes)."""
        if self.is_local:
            return 4096 - len(self.root.encode()) - 1
        return OBJECT_KEY_BYTES - len(self.root.split("/", 1)[-1].encode()) - 1

    @contextlib.contextmanager
    def access(self) -> Iterator[None]:
        """Turn "no access" failures of the filesystem into :class:`StoreAccessError`."""
        try:
            yield
        except Exception as exc:
            raise translated(self.url, exc) from exc

    def missing_location_hint(self) -> str:
        """Why a location may look empty: e.g. its bucket does not exist (one request)."""
        if self.is_local:
            parent = os.path.dirname(self.root)
            return "" if os.path.isdir(parent) else f" (folder {parent} does not exist)"
        bucket = self.root.split("/", 1)[0]
        try:
            with self.access():
                exists = self._objects.container_exists()
        except StoreAccessError as exc:
            return f" ({exc})"
        except OSError:
            return ""
        return "" if exists else f" (bucket {bucket!r} does not exist, or these credentials cannot see it)"

    @property
    def zarr_store(self) -> Store:
        """The Zarr store rooted at the workspace root, behind :class:`GuardedStore`."""
        if self._zarr_store is None:
            if self.is_local:
                inner: Store = LocalStore(self.root, read_only=self.read_only)
            elif getattr(self.fs, "async_impl", False) and self.fs.loop is zarr_sync._get_loop():
                inner = _SharedLoopStore(self.fs, path=self.root, read_only=self.read_only)
                inner.origin = (self.url, self.storage_options)
            else:
                inner = FsspecStore.from_url(
                    self.url, storage_options=self._options(self.url, self.storage_options), read_only=self.read_only
                )
            if self._s3 is not None:
                inner = SinglePutObjectStore(self._s3, read_only=self.read_only, fallback=inner)
            self._zarr_store = GuardedStore(inner, self.url)
        return self._zarr_store

    # -- small objects -----------------------------------------------------

    def read_bytes(self, rel: str) -> bytes | None:
        """The object's bytes, or ``None`` when it does not exist."""
        self.checked(rel)
        try:
            with self.access():
                return self._objects.read(rel)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def read_many(self, rels: Iterable[str]) -> dict[str, bytes | None]:
        """Several objects at once (concurrent requests where the filesystem can)."""
        rels = list(dict.fromkeys(rels))
        if not rels:
            return {}
        for rel in rels:
            self.checked(rel)
        with self.access():
            out = self._objects.read_many(rels)
        result: dict[str, bytes | None] = {}
        for rel in rels:
            value = out.get(rel)
            if isinstance(value, BaseException) and access_problem(value) is not None:
                raise _access_error(self.url, access_problem(value) or "") from value
            result[rel] = value if isinstance(value, bytes) else None
        return result

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write an object so that readers see the old or the new bytes, never a mix."""
        self.checked(rel)
        with self.access():
            self._objects.write(rel, data)

    def create_bytes(self, rel: str, data: bytes) -> bool:
        """Write an object only if none exists at ``rel``; return whether it was written.

        Exclusive creation is a single atomic step: ``os.link`` of a complete
        temporary file locally, a conditional ``PUT`` on object stores.
        """
        self.checked(rel)
        with self.access():
            return self._objects.create(rel, data)

    def list_names(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (fresh listing, no cache)."""
        return list(self.list_details(rel))

    def list_details(self, rel: str) -> dict[str, float | None]:
        """Names directly under ``rel`` with their modification time (POSIX seconds, ``None`` if unknown); fresh listing, no cache."""
        self.checked(rel)
        try:
            with self.access():
                return self._objects.listing(rel)
        except (FileNotFoundError, NotADirectoryError):
            return {}

    def modified_time(self, rel: str) -> float | None:
        """When the object or folder at ``rel`` last changed (POSIX seconds), ``None`` if missing."""
        self.checked(rel)
        try:
            with self.access():
                return self._objects.modified_time(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def object_sizes(self, rel: str = "") -> dict[str, int]:
        """Every object under ``rel``: root-relative key → size in bytes."""
        self.checked(rel)
        with self.access():
            found = self._objects.sizes(rel)
        return {key: size for key, size in found.items() if not key.startswith(f"{TMP_DIR}/")}

    def delete(self, rel: str) -> None:
        """Remove one object; missing is fine."""
        self.checked(rel)
        with self.access():
            self._objects.delete(rel)

    def delete_version(self, rel: str) -> None:
        """Remove one item version folder (``<ns>/<key>/<version>``) and everything in it.

        The only recursive delete spikestore does: anything that is not a
        version folder is refused with :class:`~spikestore.errors.UnsafePathError`.
        """
        self.checked(check_version_folder(rel))
        with self.access():
            self._objects.delete_tree(rel)

    def remove_group_if_empty(self, rel: str, *, older_than: float | None = None) -> None:
        """Remove a namespace or key folder that holds nothing but its ``zarr.json``.

        Only the group document is deleted (and, locally, the then-empty
        folder with ``rmdir``, which refuses a non-empty folder): data another
        writer is putting there right now is never touched.  With
        ``older_than`` (seconds), a folder or document that changed more
        recently is kept: a writer may be creating it.
        """
        check_key(rel, "group folder")
        if not 1 <= rel.count("/") + 1 <= 2 or rel.startswith("__"):
            raise ValueError(f"remove_group_if_empty takes a namespace or key folder, not {rel!r}")
        details = self.list_details(rel)
        if set(details) - {GROUP_DOCUMENT}:
            return
        if older_than is not None:
            stamps = [details[GROUP_DOCUMENT]] if GROUP_DOCUMENT in details else []
            if self.is_local:
                stamps.append(self.modified_time(rel))
            if not stamps or any(t is None or time.time() - t < older_than for t in stamps):
                return
        self.delete(f"{rel}/{GROUP_DOCUMENT}")
        if self.is_local:
            try:
                os.rmdir(self.abspath(rel))
            except OSError:
                pass

    def remove_stale_temporaries(self, older_than: float) -> list[str]:
        """Remove temporary files of interrupted local writes older than ``older_than`` seconds."""
        if not self.is_local:
            return []
        folder = self.abspath(TMP_DIR)
        removed = []
        now = time.time()
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        for name in names:
            path = os.path.join(folder, name)
            try:
                if now - os.path.getmtime(path) >= older_than:
                    os.unlink(path)
                    removed.append(f"{TMP_DIR}/{name}")
            except (FileNotFoundError, IsADirectoryError):
                pass
        return removed

    def remove_empty_internal_folders(self) -> None:
        """Locally, remove ``__spikestore__/`` and its folders if they hold no file (object stores have no folders)."""
        if not self.is_local:
            return
        for rel in (TMP_DIR, f"{INTERNAL_DIR}/index", INTERNAL_DIR):
            try:
                os.rmdir(self.abspath(rel))
            except OSError:
                pass

    def copy_tree(self, src_rel: str, dst_rel: str) -> None:
        """Copy everything under ``src_rel`` to ``dst_rel`` on the same filesystem."""
        self.checked(src_rel)
        self.checked(dst_rel)  # checked before anything is copied
        with self.access():
            keys = list(self._objects.sizes(src_rel))
            for key in keys:
                relative = posixpath.relpath(key, src_rel)
                target = f"{dst_rel}/{relative}"
                self.checked(target)  # each copied key is checked too
                self._objects.copy(key, target)

    def exists(self, rel: str) -> bool:
        """Whether an object or folder exists at ``rel``."""
        self.checked(rel)
        with self.access():
            return self._objects.exists(rel)


class _SharedLoopStore(FsspecStore):
    """zarr's ``FsspecStore`` on a filesystem that runs on zarr's own event loop
    (:meth:`WorkspaceRoot._client_options`).

    zarr warns about any filesystem not made with ``asynchronous=True``, as
    its sync methods would run on another loop; this one's sync methods run
    on zarr's loop, and only spikestore calls them (never from inside that
    loop: a blocking call made there runs in a thread, see
    :class:`~spikestore.containers.read_errors.ItemVersionStore`).
    """

    origin: tuple[str, dict[str, Any]]  # (url, storage_options) of the workspace root: how to open it again

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "fs .* was not created with `asynchronous=True`")
            super().__init__(*args, **kwargs)

    def with_read_only(self, read_only: bool = False) -> "_SharedLoopStore":
        store = super().with_read_only(read_only)
        assert isinstance(store, _SharedLoopStore)
        store.origin = self.origin
        return store

    def __reduce__(self) -> tuple[Any, ...]:
        # the filesystem holds an event loop, which does not pickle: another process
        # opens the root again, on its own zarr loop
        return (_reopened_store, (*self.origin, self.read_only))


def _reopened_store(url: str, storage_options: dict[str, Any], read_only: bool) -> Store:
    """The store :class:`_SharedLoopStore` pickles to: the unguarded Zarr store of the same root."""
    guarded = WorkspaceRoot(url, storage_options, read_only=read_only).zarr_store
    assert isinstance(guarded, GuardedStore)
    return guarded._store


def _write_parts(path: Path, parts: list[bytes]) -> None:
    """Write the concatenation of ``parts`` to ``path``: a temporary file beside it, renamed
    (``BufferedWriter.writelines`` passes parts larger than its buffer straight to the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_suffix(f".{uuid.uuid4().hex}.partial")
    try:
        with partial_path.open("wb") as f:
            f.writelines(parts)
        partial_path.replace(path)
    except BaseException:
        partial_path.unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=None)
def _init_parameters(cls: Any) -> Any:
    """The parameters a filesystem class's ``__init__`` takes (``inspect.signature``: ~0.1 ms a call)."""
    return inspect.signature(cls.__init__).parameters


class GuardedStore(WrapperStore[Store]):
    """A Zarr store that checks every key zarr asks for before passing it on.

    Keys must stay inside the root (:func:`spikestore.paths.check_key`);
    "no access" failures become :class:`~spikestore.errors.StoreAccessError`.
    """

    def __init__(self, store: Store, url: str = "") -> None:
        super().__init__(store)
        self._url = url

    def _with_store(self, store: Store) -> "GuardedStore":
        return type(self)(store, self._url)

    def _check(self, key: str, *, prefix: bool = False) -> None:
        check_key(key, f"zarr key in {self._url}", prefix=prefix)

    @contextlib.asynccontextmanager
    async def _access(self) -> Any:
        try:
            yield
        except Exception as exc:
            raise translated(self._url, exc) from exc

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        self._check(key)
        async with self._access():
            return await self._store.get(key, prototype, byte_range)

    async def get_partial_values(self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        for key, _ in key_ranges:
            self._check(key)
        async with self._access():
            return await self._store.get_partial_values(prototype, key_ranges)

    async def exists(self, key: str) -> bool:
        self._check(key)
        return await self._store.exists(key)

    async def set(self, key: str, value: Buffer) -> None:
        self._check(key)
        async with self._access():
            await self._store.set(key, value)

    async def set_parts(self, key: str, parts: list[bytes]) -> None:
        """``set`` of the concatenation of ``parts``.  A local folder gets the parts written
        one after another (a shard of tens of MB is not copied once more to be joined), as
        zarr's ``LocalStore`` writes: to a temporary file in the same folder, then renamed;
        any other store gets them joined."""
        self._check(key)
        async with self._access():
            inner = self._store
            if type(inner) is LocalStore:
                inner._check_writable()
                await asyncio.to_thread(_write_parts, inner.root / key, parts)
            else:
                await inner.set(key, default_buffer_prototype().buffer.from_bytes(b"".join(parts)))

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        for key, value in values:
            await self.set(key, value)

    async def _get_many(self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]) -> Any:
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        self._check(key)
        await self._store.set_if_not_exists(key, value)

    async def delete(self, key: str) -> None:
        self._check(key)
        await self._store.delete(key)

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        self._check(prefix, prefix=True)
        return self._store.list_prefix(prefix)

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        self._check(prefix, prefix=True)
        return self._store.list_dir(prefix)

    async def delete_dir(self, prefix: str) -> None:
        raise PermissionError("spikestore never deletes through zarr; use WorkspaceRoot.delete_version")
