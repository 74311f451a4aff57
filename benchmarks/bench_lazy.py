"""Lazy reads on S3: requests, bytes and time of partial reads, vs spikelab.

On the moto S3 server (:class:`spikestore.testing.CountingS3Server`) this
measures, for a workspace holding one large ``SpikeData`` (lognormal rates,
mean about 3 Hz), a ``PairwiseCompMatrix``, a ``RateSliceStack`` and many
small items:

* ``open_workspace`` (requests), ``get_info``/``list_keys`` after it;
* one unit's train, a one-minute window of all units, one matrix row, one
  event of the slice stack: requests, bytes downloaded, the fraction of the
  item's stored bytes, and wall time;

and, side by side, spikelab's ``load_item`` + slicing on local disk (its
``.h5``), as time ratios.  Run ``python -m benchmarks.bench_lazy --scale small``
(300 units x 10 min, seconds) or ``--scale full`` (1,000 units x 30 min,
the sizes of the targets in the task).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
import warnings
from typing import Any, Callable

import fsspec
import numpy as np

from benchmarks.common import record_figures

SIZES = {"tiny": (50, 2.0, 20, 30), "small": (300, 10.0, 50, 200), "medium": (1000, 30.0, 100, 200), "full": (1000, 30.0, 100, 200)}
"""scale -> (units, minutes, events, small items)."""

BUCKET = "bench-lazy"


def make_items(units: int, minutes: float, events: int, seed: int = 0) -> dict[str, Any]:
    """The measured items: a SpikeData, a PairwiseCompMatrix and a RateSliceStack."""
    from spikelab.spikedata.pairwise import PairwiseCompMatrix
    from spikelab.spikedata.rateslicestack import RateSliceStack
    from spikelab.spikedata.spikedata import SpikeData

    rng = np.random.default_rng(seed)
    length = minutes * 60_000.0
    bursts = np.sort(rng.uniform(1_000.0, length - 1_000.0, events))
    try:  # the shared workload generator, when present
        from spikestore.workload import _spike_trains

        flat, ends = _spike_trains(rng, units, length, bursts)
        trains = np.split(flat, ends[:-1])
    except ImportError:
        rates = rng.lognormal(np.log(3.0) - 0.5, 1.0, units)
        trains = [np.sort(rng.uniform(0, length, rng.poisson(r * length / 1e3))) for r in rates]
    sd = SpikeData(trains, N=units, length=length, metadata={"fs_Hz": 20000.0})
    corr = rng.uniform(-1, 1, (units, units))
    pcm = PairwiseCompMatrix(matrix=(corr + corr.T) / 2, labels=[f"unit_{i}" for i in range(units)])
    bins = 75
    rss = RateSliceStack(
        event_matrix=rng.gamma(2.0, 2.0, (units, bins, events)),
        times_start_to_end=[(float(b) - 250.0, float(b) + 500.0) for b in bursts],
        step_size=10.0,
    )
    return {"spikes": sd, "correlation": pcm, "burst_rates": rss}


def _stored_bytes(fs: fsspec.AbstractFileSystem, root: str, entry_path: str) -> int:
    return int(sum(fs.du(f"{root}/{entry_path}", total=False).values()))


def _timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[Any, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(scale: str = "small") -> dict[str, Any]:
    """Run the lazy-read benchmark at ``scale``; print a table and return the figures."""
    from spikelab.workspace.workspace import AnalysisWorkspace as SpikelabWorkspace

    from spikestore import AnalysisWorkspace, open_workspace
    from spikestore.testing import CountingS3Server

    warnings.filterwarnings("ignore", message=".*Zarr V3 specification.*")
    units, minutes, events, n_small = SIZES[scale]
    items = make_items(units, minutes, events)
    sd = items["spikes"]
    unit = int(np.argsort([len(t) for t in sd.train])[units // 2])  # the median-rate unit
    busiest = int(np.argmax([len(t) for t in sd.train]))
    w0 = min(10 * 60_000.0, sd.length / 2)
    window = (w0, min(w0 + 60_000.0, sd.length))

    server = CountingS3Server().start()
    tmp = tempfile.mkdtemp(prefix="bench-lazy-")
    results: dict[str, Any] = {"scale": scale, "units": units, "minutes": minutes, "spikes": int(sum(len(t) for t in sd.train))}
    try:
        server.create_bucket(BUCKET)
        so = server.storage_options
        url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
        ws = AnalysisWorkspace(name="bench-lazy")
        for key, obj in items.items():
            ws.store("rec", key, obj)
        for i in range(n_small):
            ws.store("small", f"item{i:04d}", np.arange(16.0) + i)
        ws.save(url, storage_options=so)

        # spikelab on local disk
        slw = SpikelabWorkspace(name="bench-lazy")
        for key, obj in items.items():
            slw.store("rec", key, obj)
        base = os.path.join(tmp, "spikelab")
        slw.save(base)
        spikelab_ops = {
            "one unit": lambda: SpikelabWorkspace.load_item(base, "rec", "spikes").train[unit],
            "1-min window": lambda: SpikelabWorkspace.load_item(base, "rec", "spikes").subtime(*window),
            "matrix row": lambda: SpikelabWorkspace.load_item(base, "rec", "correlation").matrix[units // 3],
            "one event": lambda: SpikelabWorkspace.load_item(base, "rec", "burst_rates").event_stack[:, :, events // 2],
            "whole spikes": lambda: SpikelabWorkspace.load_item(base, "rec", "spikes"),
        }
        local = os.path.join(tmp, "spikestore")
        ws.save(local)

        server.reset_counts()
        lazy = open_workspace(url, storage_options=so)
        open_counts = server.reset_counts()
        lazy.get_info("rec", "spikes"), lazy.list_keys(), lazy.describe()
        info_counts = server.reset_counts()
        results["open requests"] = open_counts.total
        results["info requests"] = info_counts.total

        fs, root = fsspec.core.url_to_fs(url, **so)
        index = lazy._require_open().index
        stored = {key: _stored_bytes(fs, root, index.entry("rec", key)["path"]) for key in items}
        server.reset_counts()

        def fresh(key: str) -> Any:
            return open_workspace(url, storage_options=so).get_lazy("rec", key)

        def fresh_local(key: str) -> Any:
            return open_workspace(local).get_lazy("rec", key)

        lazy_ops: dict[str, tuple[str, Callable[[Any], Any]]] = {
            "one unit": ("spikes", lambda v: v.train(unit)),
            "busiest unit": ("spikes", lambda v: v.train(busiest)),
            "1-min window": ("spikes", lambda v: v.subtime(*window)),
            "matrix row": ("correlation", lambda v: v.matrix[units // 3]),
            "one event": ("burst_rates", lambda v: v.event_stack[:, :, events // 2]),
            "whole spikes": ("spikes", lambda v: v.load()),
        }
        rows = []
        for name, (key, op) in lazy_ops.items():
            view = lazy.get_lazy("rec", key)
            server.reset_counts()
            op(view)  # counted: a fresh view, nothing cached
            counts = server.reset_counts()
            _, seconds = _timed(lambda: op(fresh(key)))
            _, local_seconds = _timed(lambda: op(fresh_local(key)))
            server.reset_counts()
            row = {
                "op": name,
                "requests": counts.total,
                "bytes": counts.total_bytes_out,
                "fraction": counts.total_bytes_out / stored[key],
                "seconds": seconds,
                "local_seconds": local_seconds,
            }
            if name in spikelab_ops:
                _, row["spikelab_seconds"] = _timed(spikelab_ops[name], repeat=2)
                row["ratio"] = seconds / row["spikelab_seconds"]
                row["local_ratio"] = local_seconds / row["spikelab_seconds"]
            rows.append(row)
        results["rows"] = rows
        results["stored_bytes"] = stored
        lazy.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"bench_lazy [{scale}]: {units} units x {minutes:g} min, {results['spikes']:,} spikes; "
          f"stored: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in results["stored_bytes"].items()))
    print(f"  open_workspace ({n_small + len(items)} items): {results['open requests']} requests; "
          f"get_info/list_keys/describe after open: {results['info requests']} requests")
    print("  S3 = moto on 127.0.0.1, each lazy time includes open_workspace; spikelab = load_item + slicing of its .h5 on local disk")
    print(f"  {'operation':<14}{'requests':>9}{'bytes':>12}{'% of item':>10}{'lazy S3 s':>11}{'lazy disk s':>12}"
          f"{'spikelab s':>11}{'S3/spikelab':>12}{'disk/spikelab':>14}")
    for r in rows:
        sl = f"{r['spikelab_seconds']:.3f}" if "spikelab_seconds" in r else "-"
        ratio = f"{r['ratio']:.3f}" if "ratio" in r else "-"
        local_ratio = f"{r['local_ratio']:.3f}" if "local_ratio" in r else "-"
        print(f"  {r['op']:<14}{r['requests']:>9}{r['bytes']:>12,}{100 * r['fraction']:>9.2f}%{r['seconds']:>11.3f}"
              f"{r['local_seconds']:>12.3f}{sl:>11}{ratio:>12}{local_ratio:>14}")
    figures = {}
    for r in rows:
        name = r["op"].replace(" ", "_")
        figures[f"{name}.requests"] = r["requests"]
        if "ratio" in r:
            figures[f"{name}.s3_vs_spikelab"] = r["ratio"]
            figures[f"{name}.disk_vs_spikelab"] = r["local_ratio"]
    record_figures("bench_lazy", scale, figures, f"{units} units x {minutes:g} min, {results['spikes']} spikes")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_lazy", description=__doc__)
    parser.add_argument("--scale", default="small", choices=sorted(SIZES))
    main(parser.parse_args().scale)
