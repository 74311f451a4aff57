"""Object storage at real latency: spikestore on S3 against spikelab's save +
upload (and download + load), on moto's S3 server with 0, 20 and 50 ms added
to every request (requests overlap, as on S3).

For each workload (``results200``: 200 small dict results; the ``small`` and
``medium`` benchmark workspaces) it prints seconds, requests and objects for:

* save: ``ws.save("s3://…")`` vs spikelab ``save(local)`` + ``fs.put`` of the
  ``.h5`` and ``.json``;
* open + one small item: ``open_workspace`` + ``get`` vs downloading both
  files + spikelab ``load_item``;
* append one item: ``store()`` on a workspace opened ``r+`` vs download +
  spikelab ``load`` + ``store`` + ``save`` + upload;
* full load: ``AnalysisWorkspace.load("s3://…")`` vs download + spikelab ``load``.

The server runs in this process and every client in a fresh child process,
so the two do not share a GIL.  Each operation runs ``--repeat`` times (3),
the systems interleaved; seconds are medians.  Run::

    python -m benchmarks.bench_latency --workloads results200 small --latency 0 20 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

import numpy as np

from spikestore.testing import CountingS3Server

from .common import fmt, ratio, record_figures, run_isolated, table

BUCKET = "bench-latency"
OPERATION_NAMES = {"save": "save", "open + 1 small item": "open_one", "append 1 item": "append", "full load": "load"}


def results200() -> Any:
    """200 small results: each a dict of 3 scalars, a string and a 64-float array."""
    from spikestore import AnalysisWorkspace

    rng = np.random.default_rng(0)
    ws = AnalysisWorkspace(name="results200")
    for i in range(200):
        ws.store(f"run{i // 50}", f"result{i}", {"score": float(rng.random()), "n": int(i), "ok": bool(i % 2), "label": f"cond-{i % 7}", "curve": rng.random(64)})
    return ws


def build(workload: str) -> Any:
    """The spikestore workspace of a workload (deterministic)."""
    if workload == "results200":
        return results200()
    from spikestore.workload import make_workspace

    return make_workspace(workload, seed=0)


def small_item(ws: Any) -> tuple[str, str]:
    """The (namespace, key) of the smallest item of a workspace."""
    best = None
    for ns in ws.list_namespaces():
        for key in ws.list_keys(ns):
            obj = ws.get(ns, key)
            size = getattr(obj, "nbytes", None) or (1 if isinstance(obj, dict) else 10**12)
            if best is None or size < best[0]:
                best = (size, ns, key)
    return best[1], best[2]


# -- client work, each in a fresh process -----------------------------------------


def _import_libraries() -> None:
    """Import what either system needs before its clock starts, so no one-time import is timed.

    A child of either system would otherwise pay for importing s3fs (and
    aiohttp, aiobotocore: ~0.4 s) inside its timed call; the spikelab
    children build their ``s3fs`` filesystem before timing, so the
    spikestore children import it too.  Connections are not made here:
    both sides open their first S3 connection inside the timed call.
    """
    import s3fs  # noqa: F401
    import spikelab.spikedata  # noqa: F401
    import spikelab.workspace  # noqa: F401

    import spikestore  # noqa: F401


def _fs(options: dict[str, Any]) -> Any:
    import s3fs

    return s3fs.S3FileSystem(key=options["key"], secret=options["secret"], client_kwargs={"endpoint_url": options["endpoint_url"], "region_name": "us-east-1"}, use_listings_cache=False)


def spikestore_save(workload: str, url: str, options: dict[str, Any]) -> dict[str, float]:
    ws = build(workload)
    _import_libraries()
    t0 = time.perf_counter()
    ws.save(url, storage_options=options)
    return {"seconds": time.perf_counter() - t0}


def spikelab_save_upload(workload: str, prefix: str, options: dict[str, Any]) -> dict[str, float]:
    from spikestore.workload import to_spikelab

    ws = to_spikelab(build(workload))
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "ws")
        fs = _fs(options)
        _import_libraries()
        t0 = time.perf_counter()
        ws.save(base)
        fs.put([base + ".h5", base + ".json"], prefix + "/")
        return {"seconds": time.perf_counter() - t0}


def spikestore_open_one(url: str, options: dict[str, Any], ns: str, key: str) -> dict[str, float]:
    from spikestore import open_workspace

    _import_libraries()

    t0 = time.perf_counter()
    with open_workspace(url, storage_options=options) as ws:
        ws.get(ns, key)
    return {"seconds": time.perf_counter() - t0}


def spikelab_download_one(prefix: str, options: dict[str, Any], ns: str, key: str) -> dict[str, float]:
    from spikelab.workspace import AnalysisWorkspace

    with tempfile.TemporaryDirectory() as tmp:
        fs = _fs(options)
        _import_libraries()
        t0 = time.perf_counter()
        fs.get([prefix + "/ws.h5", prefix + "/ws.json"], tmp + "/")
        AnalysisWorkspace.load_item(os.path.join(tmp, "ws"), ns, key)
        return {"seconds": time.perf_counter() - t0}


def _new_item() -> dict[str, Any]:
    return {"score": 0.5, "n": 1, "ok": True, "label": "appended", "curve": np.linspace(0, 1, 64)}


def spikestore_append(url: str, options: dict[str, Any]) -> dict[str, float]:
    from spikestore import open_workspace

    ws = open_workspace(url, "r+", storage_options=options)
    _import_libraries()
    t0 = time.perf_counter()
    ws.store("appended", uuid.uuid4().hex[:8], _new_item())
    seconds = time.perf_counter() - t0
    ws._store = None  # measured: the store() call; the journal stays for the next writer to compact
    return {"seconds": seconds}


def spikelab_append(prefix: str, options: dict[str, Any]) -> dict[str, float]:
    from spikelab.workspace import AnalysisWorkspace

    with tempfile.TemporaryDirectory() as tmp:
        fs = _fs(options)
        base = os.path.join(tmp, "ws")
        _import_libraries()
        t0 = time.perf_counter()
        fs.get([prefix + "/ws.h5", prefix + "/ws.json"], tmp + "/")
        ws = AnalysisWorkspace.load(base)
        ws.store("appended", "item", _new_item())
        ws.save(base)
        fs.put([base + ".h5", base + ".json"], prefix + "/")
        return {"seconds": time.perf_counter() - t0}


def spikestore_load(url: str, options: dict[str, Any]) -> dict[str, float]:
    from spikestore import AnalysisWorkspace

    _import_libraries()

    t0 = time.perf_counter()
    AnalysisWorkspace.load(url, storage_options=options)
    return {"seconds": time.perf_counter() - t0}


def spikelab_download_load(prefix: str, options: dict[str, Any]) -> dict[str, float]:
    from spikelab.workspace import AnalysisWorkspace

    with tempfile.TemporaryDirectory() as tmp:
        fs = _fs(options)
        _import_libraries()
        t0 = time.perf_counter()
        fs.get([prefix + "/ws.h5", prefix + "/ws.json"], tmp + "/")
        AnalysisWorkspace.load(os.path.join(tmp, "ws"))
        return {"seconds": time.perf_counter() - t0}


# -- the run -----------------------------------------------------------------------


def _counted(server: CountingS3Server, fn: Any, *args: Any) -> tuple[float, int]:
    server.reset_counts()
    seconds = run_isolated(fn, *args)["seconds"]
    return seconds, server.reset_counts().total


def _objects(server: CountingS3Server, prefix: str) -> int:
    client = server.client()
    paginator = client.get_paginator("list_objects_v2")
    return sum(page.get("KeyCount", 0) for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix + "/"))


def run(workloads: list[str], latencies: list[float], repeat: int = 3) -> tuple[list[list[str]], dict[str, float]]:
    """Measure every workload at every latency; return the table rows and the figures
    (``<workload>.<latency>ms.<operation>``: spikestore / spikelab, ``….requests``: spikestore's requests).

    Each operation runs ``repeat`` times, the two systems interleaved, each
    run on a fresh location (an append or a load reads the save of its own
    round); the seconds are medians, the request counts those of the first
    round (they do not vary).
    """
    server = CountingS3Server().start()
    server.create_bucket(BUCKET)
    options = server.storage_options
    rows = []
    figures: dict[str, float] = {}
    try:
        for workload in workloads:
            ns, key = small_item(build(workload))
            for latency in latencies:
                server.latency_s = latency / 1000.0
                measured: dict[str, list[tuple[float, int, float, int]]] = {}
                objects = ""
                for round_ in range(repeat):
                    run_id = uuid.uuid4().hex[:8]
                    ours = f"{BUCKET}/{run_id}/spikestore"
                    theirs = f"{BUCKET}/{run_id}/spikelab"
                    url = f"s3://{ours}"
                    cases = [
                        ("save", (spikestore_save, workload, url, options), (spikelab_save_upload, workload, theirs, options)),
                        ("open + 1 small item", (spikestore_open_one, url, options, ns, key), (spikelab_download_one, theirs, options, ns, key)),
                        ("append 1 item", (spikestore_append, url, options), (spikelab_append, theirs, options)),
                        ("full load", (spikestore_load, url, options), (spikelab_download_load, theirs, options)),
                    ]
                    for name, mine, other in cases:
                        s_sec, s_req = _counted(server, *mine)
                        l_sec, l_req = _counted(server, *other)
                        measured.setdefault(name, []).append((s_sec, s_req, l_sec, l_req))
                        if name == "save" and not round_:
                            objects = str(_objects(server, f"{run_id}/spikestore"))
                for name, runs in measured.items():
                    s_sec, l_sec = statistics.median(r[0] for r in runs), statistics.median(r[2] for r in runs)
                    s_req, l_req = runs[0][1], runs[0][3]
                    rows.append([workload, f"{latency:g} ms", name, fmt(s_sec), str(s_req), objects if name == "save" else "", fmt(l_sec), str(l_req), ratio(s_sec, l_sec)])
                    print("  ".join(rows[-1]), flush=True)
                    figure = f"{workload}.{latency:g}ms.{OPERATION_NAMES[name]}"
                    figures[figure], figures[f"{figure}.requests"] = s_sec / l_sec, float(s_req)
    finally:
        server.stop()
    return rows, figures


def main(argv: list[str] | str | None = None) -> None:
    """Command line entry; ``python -m benchmarks --scale S`` passes the scale name instead."""
    if isinstance(argv, str):  # from benchmarks/__main__.py
        argv = ["--workloads", "results200", argv if argv in ("tiny", "small", "medium") else "small"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=["results200", "small"], choices=["results200", "tiny", "small", "medium"])
    parser.add_argument("--latency", nargs="+", type=float, default=[0.0, 20.0, 50.0], help="ms added to every request")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds per operation; medians are reported (default 3)")
    args = parser.parse_args(argv)
    rows, figures = run(args.workloads, args.latency, args.repeat)
    print()
    print(table(["workload", "latency", "operation", "spikestore s", "requests", "objects", "spikelab s", "requests", "ratio"], rows))
    record_figures("bench_latency", "-".join(args.workloads), figures, f"moto S3 server on 127.0.0.1, medians of {args.repeat} interleaved rounds")


if __name__ == "__main__":
    main()
