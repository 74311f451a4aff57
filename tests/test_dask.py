"""The distributed example: a 2-worker dask cluster, one task per recording,
every task storing its results into the same store."""

from __future__ import annotations

import numpy as np
import pytest

from spikestore import open_workspace, verify
from spikestore.distributed import StoreTask, run_and_store

from .objects import assert_same

distributed = pytest.importorskip("dask.distributed")


def firing_rates(seed: int, n_units: int = 20) -> dict:
    """A stand-in analysis: per-unit rates of a seeded synthetic recording."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(30, size=n_units)
    return {"rates_hz": counts / 10.0, "n_units": n_units, "seed": seed}


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_dask_cluster_tasks_store_into_one_workspace(kind, tmp_path, request) -> None:
    if kind == "folder":
        url, options = str(tmp_path / "cluster-ws"), None
    else:
        server = request.getfixturevalue("s3_server")
        url, options = "s3://spikestore-tests/dask-ws", server.storage_options
    recordings = [f"rec{i}" for i in range(6)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with open_workspace(url, "a", storage_options=options) as ws:
            tasks = [StoreTask(rec, "rates", firing_rates, (i,), note=f"task {i}") for i, rec in enumerate(recordings)]
            stored = run_and_store(client, ws, tasks)
            assert stored == [(rec, "rates") for rec in recordings]
            assert set(ws.list_namespaces()) == set(recordings)
    with open_workspace(url, "r", storage_options=options) as ws:
        for i, rec in enumerate(recordings):
            assert_same(firing_rates(i), ws.get(rec, "rates"))
            assert ws.get_info(rec, "rates")["note"] == f"task {i}"
    assert verify(url, storage_options=options).ok
