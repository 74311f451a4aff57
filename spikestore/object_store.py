"""Chunk and document requests on S3 through obstore's Rust client, when the storage options allow.

s3fs sends every request through aiobotocore, which spends about 4 ms of
Python CPU on each one (request building, signing, its event hooks, a
user-agent string rebuilt twice per request), all of it in the one thread
of the event loop and under the GIL the encoding threads need too.  A save
of the ``small`` benchmark workspace is ~100 such requests; measured against
moto with 20 ms added per request, it took 0.95-1.28 s through s3fs and
0.71-0.95 s (half the CPU) through obstore.

Only the Zarr store of a workspace root (:attr:`WorkspaceRoot.zarr_store
<spikestore.workspace_root.WorkspaceRoot.zarr_store>`: chunks, shards and
group documents, nearly every request of a save or a load) goes through
obstore; listings, the index and the small objects of the workspace root
stay on fsspec.  obstore is used only where the options say exactly how to
reach the bucket, so that it reaches the same one s3fs would:

* the URL is ``s3://`` (or ``s3a://``);
* every option is one :func:`s3_object_store` understands (credentials,
  ``endpoint_url``, ``region_name``, ``anon`` and s3fs' cache settings);
  any other (a profile, ``config_kwargs`` …) keeps s3fs;
* credentials are given (``key``/``secret``, optionally ``token``), or
  ``anon=True``, or the environment holds ``AWS_ACCESS_KEY_ID`` and
  ``AWS_SECRET_ACCESS_KEY`` (and no ``AWS_PROFILE``);
* the region is known (``client_kwargs={"region_name": …}``, ``AWS_REGION``
  or ``AWS_DEFAULT_REGION``), or an ``endpoint_url`` (or ``AWS_ENDPOINT_URL``
  / ``AWS_ENDPOINT_URL_S3``, which botocore honours too) names the server
  (an S3-compatible store: path-style requests, ``us-east-1`` unless a
  region is given).  s3fs finds a bucket's region by itself; obstore does not.

``SPIKESTORE_S3_CLIENT=fsspec`` in the environment keeps s3fs for everything.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from zarr.abc.store import Store
from zarr.core.buffer import Buffer
from zarr.storage import ObjectStore

S3_PROTOCOLS = ("s3://", "s3a://")
_IGNORED = {"use_listings_cache", "listings_expiry_time", "skip_instance_cache", "max_paths", "asynchronous", "loop"}
_UNDERSTOOD = {"key", "secret", "token", "endpoint_url", "client_kwargs", "anon"} | _IGNORED
_CLIENT_KWARGS = {"endpoint_url", "region_name"}


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
    if not bucket:
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
    if endpoint:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            return None
        settings.update(endpoint=endpoint, virtual_hosted_style_request=False, region=region or "us-east-1")
        if endpoint.startswith("http://"):
            settings["client_options"] = {"allow_http": True}
    elif region:
        settings["region"] = region
    else:
        return None
    return settings


def s3_object_store(url: str, options: dict[str, Any], *, read_only: bool = False) -> Store | None:
    """A Zarr store over ``url`` through obstore, or ``None`` (keep fsspec)."""
    settings = s3_settings(url, options)
    if settings is None:
        return None
    from obstore.store import S3Store

    bucket = settings.pop("bucket")
    return SinglePutObjectStore(S3Store(bucket, **settings), read_only=read_only)


class SinglePutObjectStore(ObjectStore):
    """zarr's ``ObjectStore`` writing every object with one ``PUT``.

    obstore uploads a body over 5 MiB in parts (a multipart upload: two
    more requests); a shard is at most 64 MiB, well under a single ``PUT``'s
    5 GB, and one request per object is what the request budgets (and the
    write ledger) count on.
    """

    async def set(self, key: str, value: Buffer) -> None:
        import obstore

        self._check_writable()
        await obstore.put_async(self.store, key, value.as_buffer_like(), use_multipart=False)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        import obstore

        self._check_writable()
        with contextlib.suppress(obstore.exceptions.AlreadyExistsError):
            await obstore.put_async(self.store, key, value.as_buffer_like(), mode="create", use_multipart=False)
