"""HDF5 exchange with spikelab: export and import time and peak memory.

Rows (every operation in a fresh spawned child, rounds interleaved, medians):

* ``export`` — :func:`spikestore.export_hdf5` of the in-memory workspace,
  against spikelab's own ``save`` of the same workspace (target <= 1.2x);
* ``export from store`` — the same export streamed from a saved Zarr
  workspace (what a user without the objects in memory does);
* ``import`` — :func:`spikestore.import_hdf5` of spikelab's save, against
  spikelab's ``load`` followed by spikestore's ``save`` (target <= 0.8x).

Peak memory is the child's peak RSS above its level before the operation
(:class:`benchmarks.common.PeakRSS`: psutil sampling + ``ru_maxrss``), for
the workspace of ``--scale`` and for one four times larger (four seeds of
the same scale side by side).  Target for the streaming paths: <= 300 MB
and not growing with the workspace.

Run: ``python -m benchmarks.bench_hdf5 --scale small``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
from typing import Any, Callable

from benchmarks.common import fmt, interleaved, measure, ratio, remove, run_isolated, table
from spikestore.workload import to_spikelab

EXPORT_TARGET = 1.2
IMPORT_TARGET = 0.8
MEMORY_TARGET_MB = 300.0


# -- workspaces ------------------------------------------------------------------------


def build_workspace(scale: str, copies: int) -> Any:
    """``make_workspace(scale)``, or ``copies`` seeds of it side by side (namespaces ``s<i>_…``)."""
    from spikestore import AnalysisWorkspace
    from spikestore.workload import make_workspace

    if copies == 1:
        return make_workspace(scale)
    out = AnalysisWorkspace(name=f"{scale} x{copies}")
    for seed in range(copies):
        ws = make_workspace(scale, seed=seed)
        for ns in ws.list_namespaces():
            for key in ws.list_keys(ns):
                out.store(f"s{seed}_{ns}", key, ws.get(ns, key), note=(ws.get_info(ns, key) or {}).get("note"))
    return out


# -- children (module level: they run in spawned processes) -------------------------------


def _unpickle(path: str) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def child_export(pickle_path: str, base: str) -> dict[str, float]:
    """(child) spikestore's export of the in-memory workspace."""
    from spikestore import export_hdf5

    ws = _unpickle(pickle_path)
    return measure(export_hdf5, ws, base)


def child_spikelab_save(pickle_path: str, base: str) -> dict[str, float]:
    """(child) spikelab's own save of the same workspace."""
    sl = to_spikelab(_unpickle(pickle_path))
    return measure(sl.save, base)


def child_export_store(url: str, base: str) -> dict[str, float]:
    """(child) spikestore's export streamed from a saved workspace."""
    from spikestore import export_hdf5

    return measure(export_hdf5, url, base)


def child_import(base: str, url: str) -> dict[str, float]:
    """(child) spikestore's import of spikelab's save."""
    from spikestore import import_hdf5

    return measure(import_hdf5, base, url)


def _spikelab_load_then_save(base: str, url: str) -> None:
    from spikelab.workspace.workspace import AnalysisWorkspace as SpikelabWorkspace

    from spikestore import AnalysisWorkspace

    sl = SpikelabWorkspace.load(base)
    ws = AnalysisWorkspace(name=sl.name)
    ws.workspace_id, ws.created_at = sl.workspace_id, sl.created_at
    for ns in sl.list_namespaces():
        for key in sl.list_keys(ns):
            ws.store(ns, key, sl.get(ns, key), note=(sl.get_info(ns, key) or {}).get("note"))
    ws.save(url)


def child_load_save(base: str, url: str) -> dict[str, float]:
    """(child) what a user does without import_hdf5: spikelab load + spikestore save."""
    return measure(_spikelab_load_then_save, base, url)


# -- the benchmark -------------------------------------------------------------------------


def _case(fn: Callable[..., dict[str, float]], *args: Any, clean: str | None = None) -> Callable[[], dict[str, float]]:
    def run() -> dict[str, float]:
        if clean is not None:
            remove(clean)
        return run_isolated(fn, *args)

    return run


def measure_scale(scale: str, copies: int, tmp: str, repeat: int) -> dict[str, dict[str, float]]:
    """All cases for one workspace size; medians over ``repeat`` interleaved rounds."""
    ws = build_workspace(scale, copies)
    tag = f"{scale}x{copies}"
    pkl = os.path.join(tmp, f"{tag}.pkl")
    with open(pkl, "wb") as f:
        pickle.dump(ws, f, protocol=pickle.HIGHEST_PROTOCOL)
    store_url = os.path.join(tmp, f"{tag}-zarr")
    ws.save(store_url)
    spikelab_base = os.path.join(tmp, f"{tag}-spikelab")
    to_spikelab(ws).save(spikelab_base)
    del ws
    out = os.path.join(tmp, f"{tag}-out")
    cases = {
        "spikelab save": _case(child_spikelab_save, pkl, out),
        "export": _case(child_export, pkl, out),
        "export from store": _case(child_export_store, store_url, out),
        "spikelab load + spikestore save": _case(child_load_save, spikelab_base, out + "-z", clean=out + "-z"),
        "import": _case(child_import, spikelab_base, out + "-z", clean=out + "-z"),
    }
    result = interleaved(cases, repeat)
    result["_size"] = {"h5_mb": os.path.getsize(spikelab_base + ".h5") / 1e6}
    os.remove(pkl)
    return result


def report(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """The results as a table, with the ratios the targets are about."""
    rows = []
    for tag, res in results.items():
        save, load_save = res["spikelab save"], res["spikelab load + spikestore save"]
        for name in ("spikelab save", "export", "export from store", "spikelab load + spikestore save", "import"):
            r = res[name]
            base = save if "export" in name or name == "spikelab save" else load_save
            rows.append([f"{tag} ({res['_size']['h5_mb']:.0f} MB .h5)", name, fmt(r["seconds"]), ratio(r["seconds"], base["seconds"]), fmt(r["peak_mb"], 0)])
    return table(["workspace", "operation", "seconds", "vs spikelab", "peak MB"], rows)


# -- memory growth per item size --------------------------------------------------------

ITEM_SIZES_MB = (160, 1600)
ITEM_MEMORY_TARGET_MB = 80.0


def build_single_item(kind: str, size_mb: int, url: str) -> None:
    """Save a workspace holding one item of ``size_mb`` MB: a 1-D ``ndarray`` or a 100-unit ``RateData``."""
    import numpy as np
    from spikelab.spikedata.ratedata import RateData

    from spikestore import AnalysisWorkspace

    n = int(size_mb * 1e6 / 8)
    ws = AnalysisWorkspace(name=f"{kind} {size_mb} MB")
    if kind == "ndarray":
        ws.store("ns", "big", np.arange(n, dtype=np.float64))
    else:
        bins = n // 100
        rates = np.random.default_rng(0).random((100, bins))
        ws.store("ns", "big", RateData(rates, np.arange(bins, dtype=np.float64)))
    ws.save(url)


def measure_item_growth(tmp: str, sizes: tuple[int, ...] = ITEM_SIZES_MB) -> list[list[str]]:
    """Peak RSS growth of export from a store URL and of import, per item kind and size."""
    rows = []
    for kind in ("ndarray", "RateData"):
        for size in sizes:
            url = os.path.join(tmp, f"item-{kind}-{size}")
            base = os.path.join(tmp, f"item-{kind}-{size}-h5")
            build_single_item(kind, size, url)
            export = run_isolated(child_export_store, url, base)
            remove(url)
            imported = run_isolated(child_import, base, url)
            rows.append([f"{kind} {size} MB", fmt(export["peak_mb"], 0), fmt(imported["peak_mb"], 0), fmt(export["seconds"]), fmt(imported["seconds"])])
            remove(url)
            for suffix in (".h5", ".json"):
                remove(base + suffix)
    return rows


def report_item_growth(rows: list[list[str]]) -> str:
    """The per-item memory table."""
    return table(["single item", "export from store: peak MB", "import: peak MB", "export s", "import s"], rows)


def main(scale: str = "small", repeat: int = 3) -> dict[str, Any]:
    """Measure export/import on ``scale`` and on four times ``scale``; print the table."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_hdf5_") as tmp:
        for copies in (1, 4):
            results[f"{scale} x{copies}"] = measure_scale(scale, copies, tmp, repeat)
    print(report(results))
    one, four = results[f"{scale} x1"], results[f"{scale} x4"]
    export_ratio = one["export"]["seconds"] / one["spikelab save"]["seconds"]
    import_ratio = one["import"]["seconds"] / one["spikelab load + spikestore save"]["seconds"]
    print(
        f"\nexport / spikelab save: {export_ratio:.2f}x (target <= {EXPORT_TARGET}x); "
        f"import / (spikelab load + spikestore save): {import_ratio:.2f}x (target <= {IMPORT_TARGET}x)"
    )
    for name in ("export from store", "import"):
        print(
            f"{name} peak: {one[name]['peak_mb']:.0f} MB -> {four[name]['peak_mb']:.0f} MB on the 4x workspace "
            f"(target <= {MEMORY_TARGET_MB:.0f} MB, not growing)"
        )
    print(f"\nmemory growth per item size (target < {ITEM_MEMORY_TARGET_MB:.0f} MB, independent of the item's size)")
    with tempfile.TemporaryDirectory(prefix="bench_hdf5_items_") as tmp:
        print(report_item_growth(measure_item_growth(tmp)))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_hdf5", description=__doc__)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "full"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--items-only", action="store_true", help="only the memory growth per item size")
    args = parser.parse_args()
    if args.items_only:
        with tempfile.TemporaryDirectory(prefix="bench_hdf5_items_") as folder:
            print(report_item_growth(measure_item_growth(folder)))
    else:
        main(args.scale, args.repeat)
