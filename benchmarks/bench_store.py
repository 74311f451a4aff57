"""spikestore vs spikelab vs the raw floor: save, load, load_item, bytes, memory, S3 requests.

All three systems get the same in-memory workspace from
:func:`spikestore.workload.make_workspace` (pickled once, unpickled in each
child before the clock starts).  Every operation runs in a fresh spawned
process; rounds are interleaved and medians reported.  The *raw floor*
writes every numeric array with ``ndarray.tofile`` into a plain folder and
reads it back with ``np.fromfile``: no objects, no compression, no metadata.

The local-disk section runs once per rate smoothing (``sigmas``, by
default spikelab's 10 ms and 50 ms: how compressible the rates are depends
on it) and ends with the ratios of every smoothing side by side.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import tempfile
import time
from typing import Any, Callable, Iterator

import numpy as np

from benchmarks.common import fmt, interleaved, measure, ratio, record_figures, remove, run_isolated, table, tree_bytes
from spikestore.workload import to_spikelab

SYSTEMS = ("spikestore", "spikelab", "raw")
SIGMAS_MS = (10.0, 50.0)
SMALL_ITEMS = (("rec1", "results"), ("rec2", "correlation"))
# Items stored alike into the workspace of every scale for the scaling table:
# ``rec1/results`` holds one rate per unit, so it is itself 10x larger on
# ``medium`` (and leaves the index for objects of its own); these do not change.
PROBE_NAMESPACE = "probe"


def probe_items() -> dict[str, Any]:
    """Small items, identical on every scale: a result kept in the index and one with an 8 kB array in objects."""
    rng = np.random.default_rng(7)
    return {
        "result": {"n_bursts": 12, "mean_ibi_ms": 2500.0, "label": "probe", "values": np.linspace(0.0, 1.0, 64)},
        "per_unit": {"n_units": 1000, "mean_rate_hz": rng.lognormal(1.0, 1.0, 1000)},
    }


def probe_addresses() -> list[tuple[str, str]]:
    """``(namespace, key)`` of every probe item."""
    return [(PROBE_NAMESPACE, key) for key in probe_items()]
# opt-in lossy precision (save(..., precision=...)): relative errors shown beside the exact store
PRECISIONS = (1e-6, 1e-4)
ROUNDED = ("RateData", "RateSliceStack")
S3_SCALE = "small"


# -- the raw floor --------------------------------------------------------------


def _arrays(obj: Any, name: str, seen: set[int]) -> Iterator[tuple[str, np.ndarray]]:
    if id(obj) in seen:
        return
    if isinstance(obj, np.ndarray):
        seen.add(id(obj))
        if obj.dtype.kind in "biufc":
            yield name, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _arrays(v, f"{name}.{k}", seen)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _arrays(v, f"{name}.{i}", seen)
    elif hasattr(obj, "__dict__"):
        seen.add(id(obj))
        for k, v in vars(obj).items():
            yield from _arrays(v, f"{name}.{k}", seen)


def raw_save(ws: Any, folder: str) -> None:
    """Write every numeric array of ``ws`` with ``tofile``: per item and dtype, one file.

    The arrays of an item that share a dtype are concatenated and written
    with one ``tofile`` (their sizes go to a second file), so a ragged list
    of spike trains costs one write, as it does in spikelab's layout.  No
    objects, no compression, no per-array metadata: a floor.
    """
    os.makedirs(folder)
    manifest = []
    seen: set[int] = set()
    for ns in ws.list_namespaces():
        for key in ws.list_keys(ns):
            groups: dict[str, list[np.ndarray]] = {}
            for _, arr in _arrays(ws.get(ns, key), "", seen):
                groups.setdefault(arr.dtype.str, []).append(arr.ravel())
            for dtype, parts in groups.items():
                stem = f"{len(manifest)}"
                np.concatenate(parts).tofile(os.path.join(folder, stem + ".bin"))
                np.fromiter((p.size for p in parts), dtype=np.int64, count=len(parts)).tofile(os.path.join(folder, stem + ".sizes"))
                manifest.append({"ns": ns, "key": key, "stem": stem, "dtype": dtype})
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f)


def raw_load(folder: str, item: tuple[str, str] | None = None) -> list[np.ndarray]:
    """Read back the arrays of :func:`raw_save` (all, or one item's), as flat arrays."""
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    if item is not None:
        manifest = [m for m in manifest if (m["ns"], m["key"]) == item]
    out: list[np.ndarray] = []
    for m in manifest:
        data = np.fromfile(os.path.join(folder, m["stem"] + ".bin"), dtype=m["dtype"])
        sizes = np.fromfile(os.path.join(folder, m["stem"] + ".sizes"), dtype=np.int64)
        out.extend(np.split(data, np.cumsum(sizes)[:-1]))
    return out


# -- the systems ------------------------------------------------------------------


def _location(system: str, dest: str) -> str:
    return dest if system != "spikelab" else os.path.join(dest, "ws")


def child_save(system: str, pickle_path: str, dest: str) -> dict[str, float]:
    """(child) Unpickle the workspace, then time ``system``'s save to ``dest``."""
    _import_libraries()
    with open(pickle_path, "rb") as f:
        ws = pickle.load(f)
    if system == "spikestore":
        return measure(ws.save, dest)
    if system.startswith("spikestore@"):  # rates kept to a stated relative error
        error = float(system.split("@", 1)[1])
        return measure(functools.partial(ws.save, precision={t: error for t in ROUNDED}), dest)
    if system == "spikelab":
        sl = to_spikelab(ws)
        del ws
        os.makedirs(dest)
        return measure(sl.save, _location(system, dest))
    return measure(raw_save, ws, dest)


def _import_libraries() -> None:
    """Import what every system needs, so no one-time import is timed.

    spikestore imports spikelab lazily, on the first decode: without this,
    that second of import time would land in the first timed operation.
    """
    import spikelab.spikedata  # noqa: F401
    import spikelab.workspace.hdf5_io  # noqa: F401
    import spikestore  # noqa: F401


def child_load(system: str, dest: str, item: tuple[str, str] | None = None) -> dict[str, float]:
    """(child) Time ``system``'s load (whole workspace, or one item) from ``dest``."""
    _import_libraries()
    if system == "spikestore":
        from spikestore import AnalysisWorkspace

        return measure(AnalysisWorkspace.load, dest) if item is None else measure(AnalysisWorkspace.load_item, dest, *item)
    if system == "spikelab":
        from spikelab.workspace.workspace import AnalysisWorkspace as SpikelabWorkspace

        loc = _location(system, dest)
        return measure(SpikelabWorkspace.load, loc) if item is None else measure(SpikelabWorkspace.load_item, loc, *item)
    return measure(raw_load, dest, item)


# -- sections -------------------------------------------------------------------------


def _prepare(scale: str, tmp: str, sigma_ms: float) -> tuple[str, int, Any]:
    from spikestore.workload import SCALES, make_workspace, workspace_nbytes

    ws = make_workspace(scale, sigma_ms=sigma_ms)
    path = os.path.join(tmp, f"{scale}-sigma{sigma_ms:g}.pkl")
    with open(path, "wb") as f:
        pickle.dump(ws, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path, workspace_nbytes(ws), SCALES[scale]


def local_section(scale: str, tmp: str, repeat: int, sigma_ms: float = SIGMAS_MS[0]) -> dict[str, Any]:
    """Save, load, load_item and bytes of the three systems on local disk (rates smoothed with ``sigma_ms``)."""
    pkl, raw_bytes, sc = _prepare(scale, tmp, sigma_ms)
    dests = {s: os.path.join(tmp, f"{scale}-sigma{sigma_ms:g}-{s}") for s in SYSTEMS}

    def saver(system: str) -> Any:
        def run() -> dict[str, float]:
            remove(dests[system])
            return run_isolated(child_save, system, pkl, dests[system])

        return run

    def loader(system: str, item: tuple[str, str] | None = None) -> Any:
        return lambda: run_isolated(child_load, system, dests[system], item)

    res: dict[str, Any] = {"scale": scale, "raw_mb": raw_bytes / 1e6, "units": sc.units, "minutes": sc.minutes, "sigma_ms": sigma_ms}
    res["save"] = interleaved({s: saver(s) for s in SYSTEMS}, repeat)
    res["bytes"] = {s: tree_bytes(dests[s]) for s in SYSTEMS}
    res["load"] = interleaved({s: loader(s) for s in SYSTEMS}, repeat)
    for item in SMALL_ITEMS:
        res["/".join(item)] = interleaved({s: loader(s, item) for s in SYSTEMS}, repeat)
    res["precision"] = {}
    for error in PRECISIONS:  # the same workspace with rates rounded: one isolated save and load each
        dest = os.path.join(tmp, f"{scale}-sigma{sigma_ms:g}-precision{error:g}")
        saved = interleaved({"save": lambda: (remove(dest), run_isolated(child_save, f"spikestore@{error!r}", pkl, dest))[1]}, repeat)["save"]
        loaded = interleaved({"load": lambda: run_isolated(child_load, "spikestore", dest)}, repeat)["load"]
        res["precision"][error] = {"bytes": tree_bytes(dest), "save": saved["seconds"], "load": loaded["seconds"]}
        remove(dest)
    res["dests"] = dests
    os.remove(pkl)
    return res


def print_local(res: dict[str, Any]) -> None:
    """The local-disk table: absolute numbers and ratios."""
    print(
        f"\n== local disk, scale {res['scale']}: 3 recordings x {res['units']} units x {res['minutes']:g} min, "
        f"rates smoothed with sigma {res['sigma_ms']:g} ms, raw arrays {res['raw_mb']:.1f} MB; "
        f"median of fresh processes, rounds interleaved =="
    )
    rows = []
    for op in ["save", "load", *("/".join(i) for i in SMALL_ITEMS)]:
        label = op if op in ("save", "load") else f"load_item {op}"
        t = {s: res[op][s]["seconds"] for s in SYSTEMS}
        m = {s: res[op][s]["peak_mb"] for s in SYSTEMS}
        unit, k = ("s", 1.0) if op in ("save", "load") else ("ms", 1e3)
        rows.append([f"{label} time ({unit})", *(fmt(t[s] * k, 3 if k == 1 else 1) for s in SYSTEMS), ratio(t["spikestore"], t["spikelab"]), ratio(t["spikestore"], t["raw"])])
        rows.append([f"{label} peak extra RSS (MB)", *(fmt(m[s], 0) for s in SYSTEMS), ratio(m["spikestore"], m["spikelab"]), ratio(m["spikestore"], m["raw"])])
    b = res["bytes"]
    rows.append(["bytes on disk (MB)", *(fmt(b[s] / 1e6, 1) for s in SYSTEMS), ratio(b["spikestore"], b["spikelab"]), ratio(b["spikestore"], b["raw"])])
    print(table(["operation", *SYSTEMS, "ss/spikelab", "ss/raw"], rows))
    print_precision(res)


def print_precision(res: dict[str, Any]) -> None:
    """Opt-in lossy precision on the same workspace: bytes, save and load against spikelab's and the exact store's."""
    b, save, load = res["bytes"], res["save"], res["load"]
    print(f"  opt-in precision ({', '.join(ROUNDED)} values kept to a relative error; spike times and everything else exact):")
    rows = [["exact (default)", fmt(b["spikestore"] / 1e6, 1), ratio(b["spikestore"], b["spikelab"]), ratio(save["spikestore"]["seconds"], save["spikelab"]["seconds"]), ratio(load["spikestore"]["seconds"], load["spikelab"]["seconds"])]]
    for error, p in res["precision"].items():
        rows.append([f"relative error {error:g}", fmt(p["bytes"] / 1e6, 1), ratio(p["bytes"], b["spikelab"]), ratio(p["save"], save["spikelab"]["seconds"]), ratio(p["load"], load["spikelab"]["seconds"])])
    print(table(["spikestore", "bytes (MB)", "bytes/spikelab", "save/spikelab", "load/spikelab"], rows))


def item_scaling_section(scales: list[str], tmp: str, repeat: int, saved: dict[str, dict[str, str]]) -> dict[str, Any]:
    """load_item time of the same small items on workspaces of different sizes."""
    from spikestore.workload import make_workspace

    for scale in scales:
        if scale in saved:
            continue
        ws = make_workspace(scale)
        dests = {s: os.path.join(tmp, f"{scale}-{s}") for s in ("spikestore", "spikelab")}
        ws.save(dests["spikestore"])
        os.makedirs(dests["spikelab"])
        to_spikelab(ws).save(_location("spikelab", dests["spikelab"]))
        saved[scale] = dests
    from spikestore import open_workspace

    for scale in scales:  # after every other figure of that store was measured
        with open_workspace(saved[scale]["spikestore"], "r+") as ws:
            for key, value in probe_items().items():
                ws.store(PROBE_NAMESPACE, key, value)
    cases: dict[tuple[str, str, tuple[str, str]], Callable[[], Any]] = {}
    for item in SMALL_ITEMS:
        for scale in scales:
            for system in ("spikestore", "spikelab"):
                cases[(system, scale, item)] = (lambda s=system, d=saved[scale][system], i=item: run_isolated(child_load, s, d, i))
    for item in probe_addresses():
        for scale in scales:
            cases[("spikestore", scale, item)] = (lambda d=saved[scale]["spikestore"], i=item: run_isolated(child_load, "spikestore", d, i))
    named = {f"{k[0]}|{k[1]}|{'/'.join(k[2])}": v for k, v in cases.items()}
    return interleaved(named, repeat)


def print_item_scaling(res: dict[str, Any], scales: list[str]) -> None:
    """load_item time by workspace size."""
    print(f"\n== load_item time (ms) vs workspace size ({' vs '.join(scales)}), median of fresh processes ==")
    rows = []
    for item in [*SMALL_ITEMS, *probe_addresses()]:
        name = "/".join(item)
        for system in ("spikestore", "spikelab"):
            if f"{system}|{scales[0]}|{name}" not in res:
                continue
            t = [res[f"{system}|{s}|{name}"]["seconds"] * 1e3 for s in scales]
            rows.append([f"{system} {name}", *(fmt(x, 1) for x in t), ratio(t[-1], t[0])])
    print(table(["item", *scales, f"{scales[-1]}/{scales[0]}"], rows))
    print(f"  ({PROBE_NAMESPACE}/* are the same items on every scale; rec1/results holds one rate per unit, so it grows with the units)")


def scaling_figures(res: dict[str, Any], scales: list[str]) -> dict[str, float]:
    """``load_item_scaling.<item>``: spikestore's load_item time on the largest scale over the smallest."""
    figures = {}
    for item in [SMALL_ITEMS[0], *probe_addresses()]:
        name = "/".join(item)
        t = [res[f"spikestore|{s}|{name}"]["seconds"] for s in (scales[0], scales[-1])]
        figures[f"load_item_scaling.{name}"] = t[1] / t[0]
    return figures


def s3_section(tmp: str) -> dict[str, Any]:
    """Requests and bytes of spikestore's save/load/load_item against moto S3."""
    from spikestore import AnalysisWorkspace
    from spikestore.testing import CountingS3Server
    from spikestore.workload import make_workspace

    ws = make_workspace(S3_SCALE)
    server = CountingS3Server().start()
    try:
        server.create_bucket("bench")
        url, opts = "s3://bench/ws", server.storage_options
        out: dict[str, Any] = {}
        server.reset_counts()
        t0 = time.perf_counter()
        ws.save(url, storage_options=opts)
        out["save"] = (time.perf_counter() - t0, server.reset_counts())
        t0 = time.perf_counter()
        AnalysisWorkspace.load(url, storage_options=opts)
        out["load"] = (time.perf_counter() - t0, server.reset_counts())
        for item in SMALL_ITEMS:
            t0 = time.perf_counter()
            AnalysisWorkspace.load_item(url, *item, storage_options=opts)
            out["load_item " + "/".join(item)] = (time.perf_counter() - t0, server.reset_counts())
        return out
    finally:
        server.stop()


def print_s3(res: dict[str, Any]) -> None:
    """The S3 request table."""
    print(f"\n== moto S3 (127.0.0.1), scale {S3_SCALE}, spikestore only (spikelab cannot write to a URL); single run ==")
    rows = []
    for op, (seconds, counts) in res.items():
        methods = ", ".join(f"{m} {n}" for m, n in sorted(counts.requests.items()))
        rows.append([op, fmt(seconds, 2), counts.total, methods, fmt(counts.total_bytes_out / 1e6, 2), fmt(sum(counts.bytes_in.values()) / 1e6, 2)])
    print(table(["operation", "time (s)", "requests", "by method", "MB down", "MB up"], rows))


def _local_rows(res: dict[str, Any]) -> list[tuple[str, float, float, float]]:
    """(operation, spikestore, spikelab, raw) of the figures the targets are stated on."""
    b = res["bytes"]
    rows = [("bytes on disk", b["spikestore"], b["spikelab"], b["raw"])]
    rows += [(f"bytes, precision {e:g} (opt-in)", p["bytes"], b["spikelab"], b["raw"]) for e, p in res.get("precision", {}).items()]
    for op in ["save", "load", *("/".join(i) for i in SMALL_ITEMS)]:
        label = f"{op} time" if op in ("save", "load") else f"load_item {op} time"
        rows.append((label, *(res[op][s]["seconds"] for s in SYSTEMS)))
    return rows


def print_side_by_side(results: list[dict[str, Any]]) -> None:
    """The ratios of every smoothing side by side: spikestore / spikelab and / the raw floor, and raw / spikelab."""
    print(
        f"\n== side by side, scale {results[0]['scale']}, by rate smoothing sigma (ms): "
        "spikestore / spikelab, spikestore / raw floor, raw floor / spikelab =="
    )
    header = ["operation"]
    for res in results:
        sigma = f"sigma {res['sigma_ms']:g}"
        header += [f"{sigma}: ss/spikelab", "ss/raw", "raw/spikelab"]
    rows = []
    for i, (label, *_) in enumerate(_local_rows(results[0])):
        row = [label]
        for res in results:
            _, ss, sl, raw = _local_rows(res)[i]
            row += [ratio(ss, sl), ratio(ss, raw), ratio(raw, sl)]
        rows.append(row)
    print(table(header, rows))


def main(scale: str = "small", repeat: int = 3, sigmas: tuple[float, ...] = SIGMAS_MS) -> dict[str, Any]:
    """Run every section at ``scale`` (the local one once per smoothing in ``sigmas``) and print the tables."""
    with tempfile.TemporaryDirectory(prefix="spikestore-bench-") as tmp:
        runs = []
        for n, sigma in enumerate(sigmas):
            local = local_section(scale, tmp, repeat, sigma)
            print_local(local)
            runs.append(local)
            for s in SYSTEMS:  # free disk: only the first smoothing's stores are used again
                if n > 0 or s == "raw":
                    remove(local["dests"][s])
        if len(runs) > 1:
            print_side_by_side(runs)
        local = runs[0]
        local["by_sigma"] = runs
        scales = ["small", scale] if scale != "small" else ["small"]
        saved = {scale: {s: local["dests"][s] for s in ("spikestore", "spikelab")}}
        if len(scales) > 1 and sigmas[0] == SIGMAS_MS[0]:
            scaling = item_scaling_section(scales, tmp, repeat, saved)
            print_item_scaling(scaling, scales)
            local["item_scaling"] = scaling
        s3 = s3_section(tmp)
        print_s3(s3)
        local["s3"] = s3
    figures = headline_figures(runs)
    if "item_scaling" in local:
        figures.update(scaling_figures(local["item_scaling"], scales))
    record_figures("bench_store", scale, figures, f"make_workspace({scale!r}, sigma_ms in {list(sigmas)})")
    return local


def headline_figures(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The ratios the README states, per smoothing: ``sigma<ms>.<figure>`` (spikestore / spikelab unless named ``raw``)."""
    figures: dict[str, float] = {}
    for res in runs:
        tag = f"sigma{res['sigma_ms']:g}"
        for label, ss, sl, raw in _local_rows(res):
            key = label.replace(" time", "").replace("load_item ", "load_item.").replace(" on disk", "").replace(", precision ", ".precision").replace(" (opt-in)", "")
            figures[f"{tag}.{key}"] = ss / sl
            figures[f"{tag}.{key}.raw_vs_spikelab"] = raw / sl
    return figures
