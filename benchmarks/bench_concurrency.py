"""Concurrent writers and the cost of the commit protocol.

* Writers 1, 2 and 4 (separate processes) store items into one store, on a
  local folder and on moto's S3 server: items/s, scaling vs one writer, and
  the count of lost or corrupt items (must be 0).
* Cost of committing one small item (fresh version folder + journal record)
  vs a plain zarr write of the same arrays into a group (same codecs), in
  time and, on S3, requests: target <= 1.3x.

Run: ``python -m benchmarks.bench_concurrency --scale small``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
import time
import uuid
from typing import Any

import numpy as np

from benchmarks.common import fmt, ratio, table

LATENCY_MS = 20.0
ITEMS_PER_WRITER = {"tiny": 10, "small": 25, "medium": 50, "full": 50}


def _item(writer: int, i: int) -> dict[str, Any]:
    rng = np.random.default_rng(writer * 10_000 + i)
    return {"rates": rng.gamma(2.0, 2.0, size=(64, 512)), "unit": i, "label": f"w{writer}-{i}"}


def _writer(url: str, options: dict | None, writer: int, count: int) -> float:
    from spikestore import open_workspace

    t0 = time.perf_counter()
    with open_workspace(url, "a", storage_options=options) as ws:
        for i in range(count):
            ws.store(f"w{writer % 2}", f"w{writer}-i{i}", _item(writer, i))
    return time.perf_counter() - t0


def _check(url: str, options: dict | None, writers: int, count: int) -> tuple[int, int]:
    """(lost, corrupt) items after the run."""
    from spikestore import open_workspace, verify

    lost = corrupt = 0
    with open_workspace(url, "r", storage_options=options) as ws:
        for w in range(writers):
            for i in range(count):
                got = ws.get(f"w{w % 2}", f"w{w}-i{i}")
                if got is None:
                    lost += 1
                elif not np.array_equal(got["rates"], _item(w, i)["rates"]):
                    corrupt += 1
    corrupt += len(verify(url, storage_options=options).problems)
    return lost, corrupt


def writer_scaling(url_for: Any, options: dict | None, count: int) -> list[list[str]]:
    rows = []
    base_rate = None
    ctx = multiprocessing.get_context("spawn")
    for writers in (1, 2, 4):
        url = url_for()
        with ctx.Pool(writers) as pool:
            pool.apply(_noop)  # start the workers before timing
            t0 = time.perf_counter()
            pool.starmap(_writer, [(url, options, w, count) for w in range(writers)])
            wall = time.perf_counter() - t0
        rate = writers * count / wall
        base_rate = base_rate or rate
        lost, corrupt = _check(url, options, writers, count)
        rows.append([f"{writers} writer(s)", writers * count, fmt(wall), fmt(rate, 1), ratio(rate, base_rate), lost, corrupt])
    return rows


def _noop() -> None:
    import spikestore  # noqa: F401  (import cost paid before timing)


def commit_cost(url: str, options: dict | None, count: int, server: Any = None) -> list[list[str]]:
    """Per small item: spikestore store() vs a plain zarr group + array write."""
    import zarr
    from zarr.codecs import BloscCodec, Crc32cCodec

    from spikestore import open_workspace
    from spikestore.workspace_root import WorkspaceRoot

    items = [np.random.default_rng(i).gamma(2.0, 2.0, size=(64, 512)) for i in range(count)]
    rows = []
    results: dict[str, tuple[float, float]] = {}
    for rnd in range(3):
        for name in ("plain zarr", "spikestore"):
            target = f"{url}-{name.replace(' ', '')}-{rnd}"
            if server:
                server.reset_counts()
            t0 = time.perf_counter()
            if name == "plain zarr":
                store = WorkspaceRoot(target, options).zarr_store
                root = zarr.open_group(store, mode="w", zarr_format=3)
                for i, arr in enumerate(items):
                    group = root.create_group(f"item{i}")
                    group.create_array("data", data=arr, compressors=[BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"), Crc32cCodec()])
            else:
                with open_workspace(target, "a", storage_options=options) as ws:
                    if server:
                        server.reset_counts()
                    t0 = time.perf_counter()
                    for i, arr in enumerate(items):
                        ws.store("ns", f"item{i}", arr)
            seconds = (time.perf_counter() - t0) / count
            requests = server.reset_counts().total / count if server else float("nan")
            prev = results.get(name)
            results[name] = (min(prev[0], seconds), requests) if prev else (seconds, requests)
    plain, ours = results["plain zarr"], results["spikestore"]
    rows.append(["plain zarr (group + array)", fmt(plain[0] * 1000), fmt(plain[1], 1), "1.00x", "1.00x"])
    rows.append(["spikestore store()", fmt(ours[0] * 1000), fmt(ours[1], 1), ratio(ours[0], plain[0]), ratio(ours[1], plain[1]) if server else "-"])
    return rows


def main(scale: str = "small") -> None:
    from spikestore.testing import CountingS3Server

    count = ITEMS_PER_WRITER.get(scale, 25)
    tmp = tempfile.mkdtemp(prefix="spikestore-bench-conc-")
    server = CountingS3Server().start()
    server.create_bucket("bench")
    try:
        header = ["writers", "items", "wall s", "items/s", "scaling", "lost", "corrupt"]
        print(f"\nConcurrent writers, local folder ({count} items of 256 KiB per writer, 2 cores):")
        print(table(header, writer_scaling(lambda: f"{tmp}/{uuid.uuid4().hex}", None, count)))
        print(f"\nConcurrent writers, moto S3 on 127.0.0.1 ({count} items per writer; the server shares the 2 cores):")
        print(table(header, writer_scaling(lambda: f"s3://bench/{uuid.uuid4().hex}", server.storage_options, count)))
        server.latency_s = LATENCY_MS / 1000
        print(f"\nConcurrent writers, moto S3 with {LATENCY_MS:.0f} ms per request (latency-bound, like real S3):")
        print(table(header, writer_scaling(lambda: f"s3://bench/{uuid.uuid4().hex}", server.storage_options, count)))
        server.latency_s = 0.0
        cheader = ["per small item (64x512 float64)", "ms", "requests", "time ratio", "request ratio"]
        print("\nCommit protocol cost, local folder (best of 3):")
        print(table(cheader, commit_cost(f"{tmp}/commit", None, count)))
        print("\nCommit protocol cost, moto S3 (best of 3):")
        print(table(cheader, commit_cost(f"s3://bench/commit-{uuid.uuid4().hex}", server.storage_options, count, server)))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small")
    main(parser.parse_args().scale)
