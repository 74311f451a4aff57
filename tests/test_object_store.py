"""Chunk requests on S3 go through obstore only when the storage options say exactly how to
reach the bucket (spikestore.object_store); either client reads what the other wrote."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from zarr.storage import FsspecStore

from spikestore import AnalysisWorkspace, open_workspace
from spikestore.fsspec_objects import FsspecObjects
from spikestore.object_store import CLIENT_TIMEOUTS, ObstoreObjects, SinglePutObjectStore, s3_settings
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
        "client_options": {**CLIENT_TIMEOUTS, "allow_http": True},
    }
    https = s3_settings("s3://lab", {**CREDENTIALS, "client_kwargs": {"endpoint_url": "https://minio.lab", "region_name": "eu-west-1"}})
    assert https is not None and https["region"] == "eu-west-1" and https["client_options"] == CLIENT_TIMEOUTS and https["prefix"] is None


def test_a_request_has_no_overall_time_limit_but_a_stall_is_caught(clean_env) -> None:
    """obstore's default 30 s per request would fail every attempt of a large save on a slow
    uplink (many shards of up to 64 MiB in flight share it): no overall limit, as botocore;
    a connection silent for two minutes is retried."""
    from obstore.store import S3Store

    settings = s3_settings("s3://lab/ws", {**CREDENTIALS, "client_kwargs": {"region_name": "eu-west-1"}})
    assert settings is not None
    store = S3Store(settings.pop("bucket"), **settings)
    assert store.client_options == {"timeout": "24h", "read_timeout": "120s", "connect_timeout": "10s"}


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
        ("s3://lab/ws", {**CREDENTIALS, "client_kwargs": {"region_name": "no such region!"}}),
        ("s3://lab lab/ws", {**CREDENTIALS, "endpoint_url": "http://x"}),
        ("s3://lab/w\x01s", {**CREDENTIALS, "endpoint_url": "http://x"}),
    ],
    ids=["profile", "config_kwargs", "client-verify", "ftp-endpoint", "key-only", "gcs", "memory", "no-bucket", "bad-region",
         "odd-bucket", "control-in-prefix"],
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


@pytest.fixture(params=["obstore", "fsspec"])
def s3_root(request, s3_server, clean_env) -> WorkspaceRoot:
    """An empty root on moto S3, its small objects through obstore or through s3fs."""
    if request.param == "fsspec":
        clean_env.setenv("SPIKESTORE_S3_CLIENT", "fsspec")
    root = WorkspaceRoot(f"s3://spikestore-tests/objects-{uuid.uuid4().hex}", s3_server.storage_options)
    assert isinstance(root._objects, ObstoreObjects if request.param == "obstore" else FsspecObjects)
    return root


def test_both_clients_answer_every_object_request_alike(s3_root) -> None:
    """The index, listings, deletes and copies mean the same through obstore as through s3fs
    (keys with a control character, which obstore cannot address, included)."""
    root, version = s3_root, "a/k/v1795695990636-abcdef01"
    before = time.time() - 60
    assert root.read_bytes("a/x") is None and root.list_details("a") == {} and not root.exists("a")
    root.write_bytes("a/x", b"one")
    assert root.create_bytes("a/y", b"two") and not root.create_bytes("a/y", b"three")
    root.write_bytes(f"{version}/d/zarr.json", b"{}")
    root.write_bytes("a/t\x01b", b"tab")
    assert root.read_bytes("a/y") == b"two" and root.read_bytes("a/t\x01b") == b"tab"
    assert root.read_many(["a/x", "a/y", "a/none", "a/t\x01b"]) == {"a/x": b"one", "a/y": b"two", "a/none": None, "a/t\x01b": b"tab"}
    details = root.list_details("a")
    assert set(details) == {"x", "y", "k", "t\x01b"} and details["k"] is None
    assert all(before < details[name] < time.time() + 60 for name in ("x", "y", "t\x01b"))  # type: ignore[operator]
    assert before < root.modified_time("a/x") < time.time() + 60  # type: ignore[operator]
    assert root.modified_time("a") is None and root.modified_time("a/none") is None
    assert root.exists("a") and root.exists("a/x") and root.exists(version) and not root.exists("b")
    root.copy_tree(version, version.replace("a/", "b/"))
    assert root.object_sizes() == {"a/x": 3, "a/y": 3, f"{version}/d/zarr.json": 2, "a/t\x01b": 3, f"b/k/{version[4:]}/d/zarr.json": 2}
    root.delete_version(version)
    root.delete("a/x")
    root.delete("a/x")  # missing is fine
    assert set(root.object_sizes()) == {"a/y", "a/t\x01b", f"b/k/{version[4:]}/d/zarr.json"}
    assert root.missing_location_hint() == ""
    elsewhere = WorkspaceRoot(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/ws", root.storage_options)
    assert "does not exist" in elsewhere.missing_location_hint()


def test_names_with_control_characters_round_trip_on_s3(s3_server, clean_env) -> None:
    """obstore cannot address a key with a control character: those keys, and listings that
    meet one, go through s3fs, and the workspace saves, loads, reads lazily and collects
    garbage as any other."""
    url, options = f"s3://spikestore-tests/control-{uuid.uuid4().hex}", s3_server.storage_options
    original = AnalysisWorkspace()
    original.store("ns\x01", "k\tx", np.arange(5.0))
    original.store("plain", "k", {"field\x7f": np.arange(3), "note": "ok"})
    original.save(url, storage_options=options)
    assert isinstance(WorkspaceRoot(url, options)._objects, ObstoreObjects)
    loaded = AnalysisWorkspace.load(url, storage_options=options)
    assert sorted(loaded.list_namespaces()) == sorted(original.list_namespaces())
    assert_same(original.get("ns\x01", "k\tx"), loaded.get("ns\x01", "k\tx"))
    assert_same(original.get("plain", "k"), loaded.get("plain", "k"))
    with open_workspace(url, "r+", storage_options=options) as ws:
        assert_same(np.arange(5.0)[1:3], np.asarray(ws.get_lazy("ns\x01", "k\tx")[1:3]))
        ws.store("ns\x01", "k\tx", np.arange(7.0))  # the old version becomes garbage
        report = ws.gc(grace_seconds=0)
    assert report is not None
    assert_same(np.arange(7.0), AnalysisWorkspace.load(url, storage_options=options).get("ns\x01", "k\tx"))
    assert len([k for k in WorkspaceRoot(url, options).object_sizes() if k.startswith("ns\x01/")]) <= 4


def test_a_save_to_s3_through_obstore_builds_no_botocore_client(s3_server, clean_env) -> None:
    """Building botocore's client parses its S3 service description (~0.25 s of CPU): a save,
    an open and a load whose options obstore understands never build one."""
    import s3fs

    url, options = f"s3://spikestore-tests/noboto-{uuid.uuid4().hex}", s3_server.storage_options
    s3fs.S3FileSystem.clear_instance_cache()
    original = AnalysisWorkspace()
    for key, obj in all_items().items():
        original.store("rec", key, obj)
    original.save(url, storage_options=options)
    with open_workspace(url, "r+", storage_options=options) as ws:
        ws.store("rec", "extra", np.arange(4))
    AnalysisWorkspace.load(url, storage_options=options)
    clients = [fs._s3 for fs in s3fs.S3FileSystem._cache.values()]
    assert clients and all(client is None for client in clients)
