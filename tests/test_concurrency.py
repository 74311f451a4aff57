"""Many writer processes on one store: nothing lost, nothing half-written,
crash-safe (real processes, a folder and moto's S3 server).

The writers are separate processes forked from multiprocessing's fork
server, which imports spikestore once: each writer starts in milliseconds
instead of spending seconds on imports as a spawned interpreter does, and
still shares no memory, file handle or cache with the test or with the
other writers."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

import numpy as np
import pytest

import spikestore
from spikestore import gc, open_workspace, verify

from .concurrency_worker import big_item, item_name, make_item, overwrite_items, parse_name, write_items, write_same_key, write_then_big
from .objects import assert_same

# a fork server with the writers' imports done (no threads are running there, so forking is safe)
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload([__name__.rsplit(".", 1)[0] + ".concurrency_worker", "spikestore", "s3fs"])


@pytest.fixture(params=["folder", "s3"])
def shared_store(request, tmp_path):
    if request.param == "folder":
        return str(tmp_path / "shared"), None
    server = request.getfixturevalue("s3_server")
    return f"s3://spikestore-tests/{uuid.uuid4().hex}", server.storage_options


def _pool(n: int):
    return CONTEXT.Pool(n)


def test_four_writers_lose_nothing_and_a_polling_reader_never_sees_partial_items(shared_store) -> None:
    url, options = shared_store
    writers, per_writer = 4, 8
    seen, errors, stop = set(), [], threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                with open_workspace(url, "r", storage_options=options) as ws:
                    for ns in ws.list_namespaces():
                        for key in ws.list_keys(ns):
                            assert_same(make_item(*parse_name(key)), ws.get(ns, key), key)
                            seen.add(key)
            except spikestore.WorkspaceNotFoundError:
                pass  # no writer has created the store yet
            except Exception as exc:  # noqa: BLE001 - any failure is a test failure
                errors.append(exc)
                return

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        with _pool(writers) as pool:
            counts = pool.starmap(write_items, [(url, options, w, per_writer) for w in range(writers)])
    finally:
        stop.set()
        reader.join()
    assert counts == [per_writer] * writers
    assert not errors, f"the polling reader failed: {errors[0]!r}"
    assert seen, "the reader observed items while writers were running"

    with open_workspace(url, "r", storage_options=options) as ws:
        keys = {(ns, k) for ns in ws.list_namespaces() for k in ws.list_keys(ns)}
        expected = {item_name(w, i) for w in range(writers) for i in range(per_writer)}
        assert keys == expected
        for ns, key in expected:
            assert_same(make_item(*parse_name(key)), ws.get(ns, key), key)
            assert ws.get_info(ns, key)["note"] == f"by writer {parse_name(key)[0]}"
        assert len({ws.workspace_id}) == 1
    assert verify(url, storage_options=options).ok


def test_two_writers_on_one_key_leave_one_complete_version(shared_store) -> None:
    url, options = shared_store
    with _pool(2) as pool:
        pool.starmap(write_same_key, [(url, options, w, 8) for w in range(2)])
    with open_workspace(url, "r", storage_options=options) as ws:
        final = ws.get("race", "same")
        candidates = [make_item(w, 0, size=5000) for w in range(2)]
        assert any(np.array_equal(final, c) for c in candidates), "a mix of both writers' versions"
    assert verify(url, storage_options=options).ok
    report = gc(url, storage_options=options, grace_seconds=0)
    with open_workspace(url, "r", storage_options=options) as ws:
        assert any(np.array_equal(ws.get("race", "same"), c) for c in candidates)
    assert verify(url, storage_options=options).ok
    assert isinstance(report.removed, list)


def test_every_open_handle_sees_one_workspace_identity(shared_store) -> None:
    url, options = shared_store
    with _pool(4) as pool:
        pool.starmap(write_items, [(url, options, w, 1) for w in range(4)])
    with open_workspace(url, "r", storage_options=options) as ws:
        assert len(ws.list_keys("shared")) == 4


def test_a_writer_killed_mid_item_leaves_committed_items_and_no_partial_item(shared_store) -> None:
    url, options = shared_store
    interrupted_and_cleaned = 0
    for attempt, delay in enumerate([0.0, 0.05, 0.3, 1.0]):  # on a busy machine the first object may take a while
        run_url = f"{url}-{attempt}"
        ready = CONTEXT.Event()
        proc = CONTEXT.Process(target=write_then_big, args=(run_url, options, ready))
        proc.start()
        try:
            while not ready.wait(timeout=0.1):
                assert proc.is_alive(), f"writer failed before the big item (exit code {proc.exitcode})"
            time.sleep(delay)
            proc.kill()  # SIGKILL: no cleanup code runs
            proc.join(timeout=30)
        finally:
            if proc.is_alive():
                proc.kill()
                proc.join()
        with open_workspace(run_url, "r", storage_options=options) as ws:
            for i in range(3):
                assert_same(make_item(9, i), ws.get("small", f"s{i}"))
            big = ws.get("big", "item")
            if big is not None:
                assert_same(big_item(), big)
        assert verify(run_url, storage_options=options).ok
        report = gc(run_url, storage_options=options, grace_seconds=0)
        if big is None and report.removed:
            interrupted_and_cleaned += 1
        assert verify(run_url, storage_options=options).ok
        assert gc(run_url, storage_options=options, grace_seconds=0).removed == [], "gc left nothing behind"
        with open_workspace(run_url, "r", storage_options=options) as ws:
            assert sorted(ws.list_keys("small")) == ["s0", "s1", "s2"]
            assert ws.list_keys("big") in ([], ["item"])
    assert interrupted_and_cleaned >= 1, "no kill landed in the middle of the big item"


def test_gc_beside_live_writers_and_readers_deletes_no_live_version(shared_store) -> None:
    """gc loops with a grace longer than one item write while two writers
    overwrite their items and a reader reads them: nothing committed is lost,
    and every read sees a complete version (old or new)."""
    url, options = shared_store
    writers, keys, rounds = 2, 3, 4
    errors: list[BaseException] = []
    passes = 0
    done = threading.Event()

    def collect() -> None:
        nonlocal passes
        while not done.is_set():
            try:
                gc(url, storage_options=options, grace_seconds=2.5)  # above one item write, even on a loaded machine
                passes += 1
                with open_workspace(url, "r", storage_options=options) as ws:
                    for ns in ws.list_namespaces():
                        for key in ws.list_keys(ns):
                            assert ws.get(ns, key) is not None
            except spikestore.WorkspaceNotFoundError:
                time.sleep(0.05)
            except Exception as exc:  # noqa: BLE001 - any failure is a test failure
                errors.append(exc)
                return

    open_workspace(url, "a", storage_options=options).close()
    collector = threading.Thread(target=collect)
    collector.start()
    try:
        with _pool(writers) as pool:
            pool.starmap(overwrite_items, [(url, options, w, keys, rounds) for w in range(writers)])
    finally:
        done.set()
        collector.join()
    assert not errors, f"gc or a reader failed beside the writers: {errors[0]!r}"
    assert passes >= 2, "gc ran while the writers were writing"
    with open_workspace(url, "r", storage_options=options) as ws:
        for w in range(writers):
            for k in range(keys):
                assert_same(make_item(w, rounds - 1), ws.get(f"w{w}", f"k{k}"), f"w{w}/k{k}")
    report = verify(url, storage_options=options)
    assert report.ok, str(report)
