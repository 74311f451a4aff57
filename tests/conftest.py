"""Shared fixtures: the three real stores every round-trip test runs against
(a temp folder, ``memory://``, and S3 served by moto's HTTP server on
127.0.0.1), plus whole-object equality helpers."""

from __future__ import annotations

import uuid
import warnings
from typing import Any, Iterator

import fsspec
import pytest

from spikestore.testing import CountingS3Server

from .objects import assert_same  # noqa: F401  (re-exported for tests)

BUCKET = "spikestore-tests"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[CountingS3Server]:
    """moto's S3 server on 127.0.0.1, one per test session, with a bucket."""
    server = CountingS3Server().start()
    server.create_bucket(BUCKET)
    yield server
    server.stop()


class StoreLocation:
    """A fresh, empty workspace location on one kind of store."""

    def __init__(self, kind: str, url: str, storage_options: dict[str, Any] | None, server: CountingS3Server | None = None) -> None:
        self.kind, self.url, self.storage_options, self.server = kind, url, storage_options, server

    def child(self, name: str) -> "StoreLocation":
        """Another location beside this one."""
        return StoreLocation(self.kind, f"{self.url}-{name}", self.storage_options, self.server)

    def fs(self) -> fsspec.AbstractFileSystem:
        fs, _ = fsspec.core.url_to_fs(self.url, **(self.storage_options or {}))
        return fs

    def __repr__(self) -> str:
        return f"<{self.kind} {self.url}>"


@pytest.fixture(params=["folder", "memory", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[StoreLocation]:
    """An empty location on each real store: folder, memory:// and moto S3."""
    kind = request.param
    if kind == "folder":
        yield StoreLocation(kind, str(tmp_path / "ws"), None)
    elif kind == "memory":
        url = f"memory://spikestore-tests/{uuid.uuid4().hex}"
        yield StoreLocation(kind, url, None)
        fs = fsspec.filesystem("memory")
        for path in list(fs.store):
            if path.startswith(url[len("memory:/"):]):
                fs.store.pop(path, None)
    else:
        server = request.getfixturevalue("s3_server")
        yield StoreLocation(kind, f"s3://{BUCKET}/{uuid.uuid4().hex}", server.storage_options, server)


@pytest.fixture(autouse=True)
def _no_unstable_dtype_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        yield
