"""S3 requests through obstore's Rust client, when the storage options allow.

s3fs sends every request through aiobotocore, which spends about 4 ms of
Python CPU on each one (request building, signing, its event hooks, a
user-agent string rebuilt twice per request), all of it in the one thread
of the event loop and under the GIL the encoding threads need too; and its
first request builds a botocore client, ~0.25 s of CPU (the service
description is parsed).  A save of the ``small`` benchmark workspace is ~100
requests; measured against moto with 20 ms added per request, it took
0.95-1.28 s through s3fs and 0.71-0.95 s (half the CPU) with only the chunks
on obstore.

Here live the obstore side of a workspace root on S3: the Zarr store
(:class:`SinglePutObjectStore`: chunks, shards, group documents) and the
small-object requests (:class:`ObstoreObjects`: the index, listings,
deletes), both over one ``S3Store``.  obstore is used only where the options
say exactly how to reach the bucket, so that it reaches the same one s3fs
would:

* the URL is ``s3://`` (or ``s3a://``) and the bucket name is plain
  (letters, digits, ``.``, ``-``, ``_``);
* every option is one :func:`s3_settings` understands (credentials,
  ``endpoint_url``, ``region_name``, ``anon`` and s3fs' cache settings);
  any other (a profile, ``config_kwargs`` …) keeps s3fs;
* credentials are given (``key``/``secret``, optionally ``token``), or
  ``anon=True``, or the environment holds ``AWS_ACCESS_KEY_ID`` and
  ``AWS_SECRET_ACCESS_KEY`` (and no ``AWS_PROFILE``);
* the region is a valid region name (``client_kwargs={"region_name": …}``,
  ``AWS_REGION`` or ``AWS_DEFAULT_REGION``), or an ``endpoint_url`` (or
  ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, which botocore honours
  too) names the server (an S3-compatible store: path-style requests,
  ``us-east-1`` unless a region is given).  s3fs finds a bucket's region by
  itself; obstore does not.

obstore cannot address a key holding an ASCII control character (a user
may name an item ``"a\tb"``), nor list a prefix holding one: such keys, and
listings that meet one, go through s3fs (the *fallback*), which writes and
reads the very same objects.  ``SPIKESTORE_S3_CLIENT=fsspec`` in the
environment keeps s3fs for everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
from typing import Any, Callable, TypeVar

import obstore
from obstore.exceptions import AlreadyExistsError, InvalidPathError
from zarr.abc.store import Store
from zarr.core.buffer import Buffer
from zarr.storage import ObjectStore

S3_PROTOCOLS = ("s3://", "s3a://")
_IGNORED = {"use_listings_cache", "listings_expiry_time", "skip_instance_cache", "max_paths", "asynchronous", "loop"}
_UNDERSTOOD = {"key", "secret", "token", "endpoint_url", "client_kwargs", "anon"} | _IGNORED
_CLIENT_KWARGS = {"endpoint_url", "region_name"}
# obstore gives a whole request 30 s by default: a save keeps many shards of up to 64 MiB
# in flight, and on a lab's uplink of 50 Mbit/s a few of them together take longer than
# that, so every attempt would time out.  As botocore does, no limit on the whole
# request; a stalled connection is found by the time between two reads instead.
CLIENT_TIMEOUTS = {"timeout": "24h", "read_timeout": "120s", "connect_timeout": "10s"}
_PLAIN_BUCKET = re.compile(r"[A-Za-z0-9._-]+")
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# what obstore's paths cannot hold (spikestore's keys never hold "\\" or NUL)
_UNADDRESSABLE = re.compile(r"[\x00-\x1f\x7f\\]")
# the errors obstore raises for a path it cannot parse (a key, or a key in a listing)
_PATH_ERRORS = (ValueError, InvalidPathError)


def addressable(key: str) -> bool:
    """Whether obstore can address ``key`` (no ASCII control character in it)."""
    return _UNADDRESSABLE.search(key) is None


def s3_settings(url: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """The obstore ``S3Store`` settings for ``url`` and s3fs-style ``options``, or ``None``
    when fsspec should reach it (see the module docstring)."""
    if os.environ.get("SPIKESTORE_S3_CLIENT", "").lower() == "fsspec" or not url.startswith(S3_PROTOCOLS):
        return None
    if set(options) - _UNDERSTOOD:
        return None
    client = options.get("client_kwargs") or {}
    if not isinstance(client, dict) or set(client) - _CLIENT_KWARGS:
        return None
    bucket, _, prefix = url.split("://", 1)[1].partition("/")
    if not _PLAIN_BUCKET.fullmatch(bucket) or not addressable(prefix):
        return None
    settings: dict[str, Any] = {"bucket": bucket, "prefix": prefix.strip("/") or None}
    if options.get("anon"):
        settings["skip_signature"] = True
    elif options.get("key") and options.get("secret"):
        settings.update(access_key_id=options["key"], secret_access_key=options["secret"])
        if options.get("token"):
            settings["session_token"] = options["token"]
    elif os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY") and not os.environ.get("AWS_PROFILE"):
        settings.update(access_key_id=os.environ["AWS_ACCESS_KEY_ID"], secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
        if os.environ.get("AWS_SESSION_TOKEN"):
            settings["session_token"] = os.environ["AWS_SESSION_TOKEN"]
    else:
        return None
    # botocore (so s3fs) honours the AWS_ENDPOINT_URL variables too
    endpoint = options.get("endpoint_url") or client.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = client.get("region_name") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region is not None and not (isinstance(region, str) and _REGION.fullmatch(region)):
        return None  # obstore would panic building the URL; s3fs names the problem
    if endpoint:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            return None
        settings.update(endpoint=endpoint, virtual_hosted_style_request=False, region=region or "us-east-1")
        if endpoint.startswith("http://"):
            settings["client_options"] = {**CLIENT_TIMEOUTS, "allow_http": True}
    elif region:
        settings["region"] = region
    else:
        return None
    settings.setdefault("client_options", dict(CLIENT_TIMEOUTS))
    return settings


def s3_store(url: str, options: dict[str, Any]) -> Any | None:
    """An obstore ``S3Store`` rooted at ``url``, or ``None`` (keep fsspec)."""
    settings = s3_settings(url, options)
    if settings is None:
        return None
    from obstore.store import S3Store

    bucket = settings.pop("bucket")
    return S3Store(bucket, **settings)


class SinglePutObjectStore(ObjectStore):
    """zarr's ``ObjectStore`` writing every object with one ``PUT``, and passing what obstore
    cannot address to ``fallback`` (s3fs over the same root).

    obstore uploads a body over 5 MiB in parts (a multipart upload: two
    more requests); a shard is at most 64 MiB, well under a single ``PUT``'s
    5 GB, and one request per object is what the request budgets (and the
    write ledger) count on.
    """

    def __init__(self, store: Any, *, read_only: bool = False, fallback: Store | None = None) -> None:
        super().__init__(store, read_only=read_only)
        self.fallback = fallback

    def with_read_only(self, read_only: bool = False) -> "SinglePutObjectStore":
        fallback = self.fallback.with_read_only(read_only) if self.fallback is not None else None
        return type(self)(self.store, read_only=read_only, fallback=fallback)

    def _other(self, *keys: str) -> Store | None:
        """The fallback store, when a key is one obstore cannot address."""
        if self.fallback is not None and not all(addressable(k) for k in keys):
            return self.fallback
        return None

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Buffer | None:
        other = self._other(key)
        return await (other.get(key, prototype, byte_range) if other else super().get(key, prototype, byte_range))

    async def get_partial_values(self, prototype: Any, key_ranges: Any) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        other = self._other(*(key for key, _ in key_ranges))
        return await (other.get_partial_values(prototype, key_ranges) if other else super().get_partial_values(prototype, key_ranges))

    async def exists(self, key: str) -> bool:
        other = self._other(key)
        return await (other.exists(key) if other else super().exists(key))

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        other = self._other(key)
        if other is not None:
            return await other.set(key, value)
        await obstore.put_async(self.store, key, value.as_buffer_like(), use_multipart=False)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        self._check_writable()
        other = self._other(key)
        if other is not None:
            return await other.set_if_not_exists(key, value)
        with contextlib.suppress(AlreadyExistsError):
            await obstore.put_async(self.store, key, value.as_buffer_like(), mode="create", use_multipart=False)

    async def delete(self, key: str) -> None:
        other = self._other(key)
        await (other.delete(key) if other else super().delete(key))

    async def getsize(self, key: str) -> int:
        other = self._other(key)
        return await (other.getsize(key) if other else super().getsize(key))

    def list(self) -> Any:
        return self._listed("list")

    def list_prefix(self, prefix: str) -> Any:
        return self._listed("list_prefix", prefix)

    def list_dir(self, prefix: str) -> Any:
        return self._listed("list_dir", prefix)

    async def _listed(self, method: str, *prefix: str) -> Any:
        """A listing through obstore, or through the fallback when it meets a key obstore
        cannot parse (listed in full first, so nothing is yielded twice)."""
        other = self._other(*prefix)
        try:
            names = [] if other else [name async for name in getattr(super(), method)(*prefix)]
        except _PATH_ERRORS:
            other = self.fallback
            if other is None:
                raise
        if other is not None:
            names = [name async for name in getattr(other, method)(*prefix)]
        for name in names:
            yield name


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _or_fallback(method: _Method) -> _Method:
    """Send a call whose keys obstore cannot address, or whose listing meets such a key, to
    the fallback's method of the same name (the string arguments are the keys)."""

    @functools.wraps(method)
    def call(self: "ObstoreObjects", *args: Any) -> Any:
        if all(addressable(a) for a in args if isinstance(a, str)):
            try:
                return method(self, *args)
            except _PATH_ERRORS:  # a listing met a key obstore cannot parse
                pass
        return getattr(self.fallback, method.__name__)(*args)

    return call  # type: ignore[return-value]


class ObstoreObjects:
    """The small-object requests of a workspace root on S3 (the index, listings, deletes,
    copies) through obstore; keys obstore cannot address, and listings that meet one, go to
    ``fallback`` (:class:`~spikestore.fsspec_objects.FsspecObjects` over s3fs, whose client
    is made only then).

    Every method takes a root-relative key the workspace root has checked,
    and means what :class:`~spikestore.fsspec_objects.FsspecObjects`' method
    of the same name means.

    Parameters
    ----------
    store
        The obstore ``S3Store`` rooted at the workspace root.
    fallback
        The same root through fsspec.
    max_in_flight
        Requests :meth:`read_many` keeps in flight.
    """

    def __init__(self, store: Any, fallback: Any, *, max_in_flight: int = 64) -> None:
        self.store = store
        self.fallback = fallback
        self.max_in_flight = max_in_flight

    @_or_fallback
    def read(self, rel: str) -> bytes:
        return bytes(obstore.get(self.store, rel).bytes())

    def read_many(self, rels: list[str]) -> dict[str, bytes | BaseException]:
        import zarr.core.sync as zarr_sync

        if not all(addressable(r) for r in rels):
            return dict(self.fallback.read_many(rels))
        return dict(zarr_sync.sync(self._read_many(rels)))

    async def _read_many(self, rels: list[str]) -> list[tuple[str, bytes | BaseException]]:
        limit = asyncio.Semaphore(self.max_in_flight)

        async def one(rel: str) -> tuple[str, bytes | BaseException]:
            async with limit:
                try:
                    response = await obstore.get_async(self.store, rel)
                    return rel, bytes(await response.bytes_async())
                except Exception as exc:
                    return rel, exc

        return list(await asyncio.gather(*(one(r) for r in rels)))

    @_or_fallback
    def write(self, rel: str, data: bytes) -> None:
        obstore.put(self.store, rel, data, use_multipart=False)

    @_or_fallback
    def create(self, rel: str, data: bytes) -> bool:
        try:
            obstore.put(self.store, rel, data, mode="create", use_multipart=False)
            return True
        except AlreadyExistsError:
            return False

    @_or_fallback
    def listing(self, rel: str) -> dict[str, float | None]:
        found = obstore.list_with_delimiter(self.store, rel.rstrip("/") or None)
        out: dict[str, float | None] = {prefix.rsplit("/", 1)[-1]: None for prefix in found["common_prefixes"]}
        for meta in found["objects"]:
            out[meta["path"].rsplit("/", 1)[-1]] = meta["last_modified"].timestamp()
        return out

    @_or_fallback
    def modified_time(self, rel: str) -> float | None:
        try:
            return float(obstore.head(self.store, rel)["last_modified"].timestamp())
        except FileNotFoundError:
            if self.exists(rel):
                return None  # a folder: no time of its own (as s3fs says)
            raise

    @_or_fallback
    def sizes(self, rel: str) -> dict[str, int]:
        return {meta["path"]: int(meta["size"]) for batch in obstore.list(self.store, rel.rstrip("/") or None) for meta in batch}

    @_or_fallback
    def delete(self, rel: str) -> None:
        obstore.delete(self.store, rel)

    def delete_tree(self, rel: str) -> None:
        keys = list(self.sizes(rel))
        reachable = [k for k in keys if addressable(k)]
        if reachable:
            obstore.delete(self.store, reachable)  # batched: one request per 1,000 keys
        for key in keys:
            if not addressable(key):
                self.fallback.delete(key)

    @_or_fallback
    def copy(self, src: str, dst: str) -> None:
        obstore.copy(self.store, src, dst)

    @_or_fallback
    def exists(self, rel: str) -> bool:
        if rel.strip("/"):
            try:
                obstore.head(self.store, rel)
                return True
            except FileNotFoundError:
                pass
        found = obstore.list_with_delimiter(self.store, rel.rstrip("/") or None)
        return bool(found["common_prefixes"] or found["objects"])

    def container_exists(self) -> bool:
        try:
            obstore.list_with_delimiter(self.store, None)
            return True
        except Exception as exc:
            if "NoSuchBucket" in str(exc):
                return False
            raise
