"""Chunk requests on S3 go through obstore only when the storage options say exactly how to
reach the bucket (spikestore.object_store); either client reads what the other wrote."""

from __future__ import annotations

import numpy as np
import pytest
from zarr.storage import FsspecStore

from spikestore import AnalysisWorkspace, open_workspace
from spikestore.object_store import SinglePutObjectStore, s3_settings
from spikestore.testing.compare import assert_same
from spikestore.testing.samples import all_items
from spikestore.workspace_root import WorkspaceRoot

CREDENTIALS = {"key": "k", "secret": "s"}
ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
       "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "SPIKESTORE_S3_CLIENT")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_explicit_credentials_and_an_endpoint_give_path_style_requests(clean_env) -> None:
    settings = s3_settings("s3://lab/exp/ws/", {**CREDENTIALS, "token": "t", "endpoint_url": "http://127.0.0.1:9000", "use_listings_cache": False})
    assert settings == {
        "bucket": "lab", "prefix": "exp/ws", "access_key_id": "k", "secret_access_key": "s", "session_token": "t",
        "endpoint": "http://127.0.0.1:9000", "virtual_hosted_style_request": False, "region": "us-east-1",
        "client_options": {"allow_http": True},
    }
    https = s3_settings("s3://lab", {**CREDENTIALS, "client_kwargs": {"endpoint_url": "https://minio.lab", "region_name": "eu-west-1"}})
    assert https is not None and https["region"] == "eu-west-1" and "client_options" not in https and https["prefix"] is None


def test_the_environment_is_read_as_botocore_reads_it(clean_env) -> None:
    assert s3_settings("s3://lab/ws", {}) is None  # no credentials: s3fs finds them (instance roles, config files)
    clean_env.setenv("AWS_ACCESS_KEY_ID", "k")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert s3_settings("s3://lab/ws", {}) is None  # no region: s3fs asks the bucket for it
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert s3_settings("s3://lab/ws", {})["region"] == "eu-central-1"  # type: ignore[index]
    clean_env.setenv("AWS_ENDPOINT_URL", "http://localhost:9000")
    assert s3_settings("s3://lab/ws", {})["endpoint"] == "http://localhost:9000"  # type: ignore[index]
    clean_env.setenv("AWS_PROFILE", "lab")
    assert s3_settings("s3://lab/ws", {}) is None  # a profile may name other credentials


@pytest.mark.parametrize(
    "url, options",
    [
        ("s3://lab/ws", {**CREDENTIALS, "profile": "lab"}),
        ("s3://lab/ws", {**CREDENTIALS, "config_kwargs": {"retries": {"max_attempts": 1}}}),
        ("s3://lab/ws", {**CREDENTIALS, "client_kwargs": {"region_name": "us-east-1", "verify": False}}),
        ("s3://lab/ws", {**CREDENTIALS, "endpoint_url": "ftp://x"}),
        ("s3://lab/ws", {"key": "k"}),
        ("gs://lab/ws", {**CREDENTIALS, "endpoint_url": "http://x"}),
        ("memory://lab/ws", {}),
        ("s3:///ws", {**CREDENTIALS, "endpoint_url": "http://x"}),
    ],
    ids=["profile", "config_kwargs", "client-verify", "ftp-endpoint", "key-only", "gcs", "memory", "no-bucket"],
)
def test_options_it_cannot_translate_keep_fsspec(clean_env, url, options) -> None:
    assert s3_settings(url, options) is None


def test_anonymous_access_skips_signing(clean_env) -> None:
    settings = s3_settings("s3://open-data/ws", {"anon": True, "client_kwargs": {"region_name": "us-west-2"}})
    assert settings is not None and settings["skip_signature"] is True and "access_key_id" not in settings


def test_the_environment_can_keep_fsspec(clean_env) -> None:
    clean_env.setenv("SPIKESTORE_S3_CLIENT", "fsspec")
    assert s3_settings("s3://lab/ws", {**CREDENTIALS, "endpoint_url": "http://x"}) is None


@pytest.mark.parametrize("writer", ["obstore", "fsspec"])
def test_either_client_reads_what_the_other_wrote(s3_server, clean_env, writer) -> None:
    url, options = f"s3://spikestore-tests/objects-{writer}", s3_server.storage_options
    reader = "fsspec" if writer == "obstore" else "obstore"
    original = AnalysisWorkspace()
    for key, obj in all_items().items():
        original.store("rec", key, obj)
    original.store("rec", "big", np.arange(300_000.0).reshape(600, 500))  # sharded, a ranged read below
    if writer == "fsspec":
        clean_env.setenv("SPIKESTORE_S3_CLIENT", "fsspec")
    assert isinstance(WorkspaceRoot(url, options).zarr_store._store, FsspecStore if writer == "fsspec" else SinglePutObjectStore)
    original.save(url, storage_options=options)
    clean_env.setenv("SPIKESTORE_S3_CLIENT", "fsspec" if reader == "fsspec" else "")
    assert isinstance(WorkspaceRoot(url, options).zarr_store._store, FsspecStore if reader == "fsspec" else SinglePutObjectStore)
    loaded = AnalysisWorkspace.load(url, storage_options=options)
    for ns in original.list_namespaces():
        for key in original.list_keys(ns):
            assert_same(original.get(ns, key), loaded.get(ns, key))
    with open_workspace(url, storage_options=options) as lazy:
        assert_same(original.get("rec", "big")[170:173, 5:9], np.asarray(lazy.get_lazy("rec", "big")[170:173, 5:9]))
