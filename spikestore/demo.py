"""The demo behind ``spikestore demo``: one realistic round trip, measured.

:func:`run_demo` builds a realistic workspace
(:func:`spikestore.workload.make_workspace`), saves it to a URL, reopens it
lazily and reads one unit's train and a one-minute window, exports it to
spikelab's ``.h5`` + ``.json`` and checks that spikelab itself loads the
export and finds every item equal to what it reads from its own save of the
same workspace.  It returns a small report dict; :func:`format_report` turns
it into the lines the command prints.  Nothing here is faked: a step whose
library function is missing from this version is reported as skipped.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from typing import Any, Callable, Optional

import numpy as np

from .workspace_root import WorkspaceRoot
from .errors import InvalidValueError
from .workspace import AnalysisWorkspace

WINDOW_MS = 60_000.0
# The names of spikestore.workload.SCALES, smallest first (that module imports
# scipy and spikelab, too slow for the command line's start-up; a test keeps
# the two in step).
DEMO_SCALES = ("tiny", "small", "medium", "full")


def _public(name: str, module: str) -> Optional[Callable[..., Any]]:
    """``spikestore.<name>``, else ``spikestore.<module>.<name>``, else ``None``."""
    import spikestore

    func = getattr(spikestore, name, None)
    if func is None:
        try:
            func = getattr(importlib.import_module(f"spikestore.{module}"), name, None)
        except ModuleNotFoundError as exc:
            if exc.name != f"spikestore.{module}":
                raise
    return func


def _timed(func: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = func()
    return value, time.perf_counter() - start


def same(a: Any, b: Any) -> bool:
    """Whether two loaded objects are equal: types, dtypes, shapes, values, attributes."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and np.isnan(a):
        return bool(np.isnan(b))
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return same(vars(a), vars(b))
    return bool(a == b)


def _stored_bytes(url: str, storage_options: Optional[dict]) -> int:
    return sum(WorkspaceRoot(url, storage_options, read_only=True).object_sizes().values())


def _first_spike_item(ws: AnalysisWorkspace) -> Optional[tuple[str, str]]:
    for namespace, keys in ws.describe().items():
        for key, info in keys.items():
            if info.get("type") == "SpikeData" and info.get("N"):
                return namespace, key
    return None


def _lazy_reads(url: str, storage_options: Optional[dict], ws: AnalysisWorkspace, spikelab_base: str) -> dict[str, Any]:
    open_workspace = _public("open_workspace", "lazy")
    if open_workspace is None:
        return {"skipped": "spikestore.open_workspace is not available in this version"}
    address = _first_spike_item(ws)
    if address is None:
        return {"skipped": "the workspace holds no SpikeData item"}
    namespace, key = address
    lazy, open_s = _timed(lambda: open_workspace(url, mode="r", storage_options=storage_options))
    try:
        info = ws.get_info(namespace, key) or {}
        view = lazy.get_lazy(namespace, key)
        unit = 0
        train, train_s = _timed(lambda: np.asarray(view.train(unit)))
        start = float(info.get("start_time", 0.0))
        length = float(info.get("length_ms", WINDOW_MS))
        t0 = start + max(0.0, length - WINDOW_MS) / 2
        t1 = min(start + length, t0 + WINDOW_MS)
        window, window_s = _timed(lambda: view.subtime(t0, t1))
        window_spikes = int(sum(len(t) for t in window.train))
        item = ws.get(namespace, key)
        assert item is not None  # found by _first_spike_item
        expected = item.subtime(t0, t1)
        window_equal = all(np.array_equal(a, b) for a, b in zip(window.train, expected.train)) and window.N == expected.N
        train_equal = bool(np.array_equal(train, item.train[unit]))
    finally:
        close = getattr(lazy, "close", None)
        if callable(close):
            close()
    from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

    # spikelab has no partial read: one unit costs loading the whole item
    _, spikelab_item_s = _timed(lambda: SpikelabWorkspace.load_item(spikelab_base, namespace, key))
    return {
        "item": f"{namespace}/{key}",
        "open_s": open_s,
        "unit": unit,
        "unit_spikes": int(train.size),
        "train_s": train_s,
        "train_equal": train_equal,
        "window_ms": (t0, t1),
        "window_spikes": window_spikes,
        "window_s": window_s,
        "window_equal": bool(window_equal),
        "spikelab_item_s": spikelab_item_s,
    }


def _exchange(url: str, storage_options: Optional[dict], folder: str, spikelab_base: str) -> dict[str, Any]:
    export_hdf5 = _public("export_hdf5", "transfer")
    if export_hdf5 is None:
        return {"skipped": "spikestore.export_hdf5 is not available in this version"}
    from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

    base = os.path.join(folder, "export")
    _, export_s = _timed(lambda: export_hdf5(url, base, storage_options=storage_options))
    loaded, load_s = _timed(lambda: SpikelabWorkspace.load(base))
    reference = SpikelabWorkspace.load(spikelab_base)
    addresses = [(ns, k) for ns in reference.list_namespaces() for k in reference.list_keys(ns)]
    differing = [f"{ns}/{k}" for ns, k in addresses if not same(reference.get(ns, k), loaded.get(ns, k))]
    return {
        "path": base + ".h5",
        "bytes": os.path.getsize(base + ".h5"),
        "export_s": export_s,
        "spikelab_load_s": load_s,
        "items": len(addresses),
        "items_equal": len(addresses) - len(differing),
        "differing": differing,
        "index_equal": loaded.describe() == reference.describe(),
    }


def run_demo(
    url: str | os.PathLike[str] = "demo-workspace",
    *,
    scale: str = "small",
    seed: int = 0,
    storage_options: Optional[dict] = None,
    echo: Optional[Callable[[str], None]] = None,
) -> dict[str, Any]:
    """Run the demo and return what it measured.

    Parameters
    ----------
    url
        Where to save the workspace (replaced if it is a spikestore workspace).
    scale
        Passed to :func:`spikestore.workload.make_workspace` (``tiny``,
        ``small``, ``medium``, ``full``).
    seed
        Seed of the generated workspace.
    storage_options
        fsspec options for ``url``.
    echo
        Called with a short line before each step (progress), or ``None``.

    Returns
    -------
    dict
        ``url``, ``scale``, ``namespaces``, ``items``, ``raw_bytes``,
        ``spikestore`` and ``spikelab`` (``save_s``, ``load_s``, ``bytes``),
        ``lazy`` (one unit's train and a one-minute window) and ``hdf5``
        (export and spikelab's load of it).  A step that could not run holds
        ``{"skipped": reason}``.
    """
    from .workload import SCALES, make_workspace, to_spikelab, workspace_nbytes

    if scale not in SCALES:
        raise InvalidValueError(f"unknown demo scale {scale!r}; choose one of {', '.join(SCALES)}")
    say = echo or (lambda line: None)
    url = os.fspath(url)
    say(f"building a {scale} workspace …")
    ws, build_s = _timed(lambda: make_workspace(scale, seed))
    report: dict[str, Any] = {
        "url": url,
        "scale": scale,
        "namespaces": len(ws.list_namespaces()),
        "items": sum(len(k) for k in ws.describe().values()),
        "raw_bytes": workspace_nbytes(ws),
        "build_s": build_s,
    }
    say(f"saving to {url} …")
    _, save_s = _timed(lambda: ws.save(url, storage_options=storage_options))
    _, load_s = _timed(lambda: AnalysisWorkspace.load(url, storage_options=storage_options))
    report["spikestore"] = {"save_s": save_s, "load_s": load_s, "bytes": _stored_bytes(url, storage_options)}
    with tempfile.TemporaryDirectory(prefix="spikestore-demo-") as folder:
        from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

        say("saving the same workspace with spikelab …")
        reference = to_spikelab(ws)
        spikelab_base = os.path.join(folder, "spikelab")
        _, sl_save_s = _timed(lambda: reference.save(spikelab_base))
        _, sl_load_s = _timed(lambda: SpikelabWorkspace.load(spikelab_base))
        report["spikelab"] = {
            "save_s": sl_save_s,
            "load_s": sl_load_s,
            "bytes": os.path.getsize(spikelab_base + ".h5") + os.path.getsize(spikelab_base + ".json"),
        }
        say("reading lazily …")
        report["lazy"] = _lazy_reads(url, storage_options, ws, spikelab_base)
        say("exporting to HDF5 and loading it with spikelab …")
        report["hdf5"] = _exchange(url, storage_options, folder, spikelab_base)
    return report


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def format_report(report: dict[str, Any]) -> list[str]:
    """The lines ``spikestore demo`` prints for a :func:`run_demo` report."""
    ss, sl = report["spikestore"], report["spikelab"]
    lines = [
        f"spikestore demo: {report['scale']} workspace, {report['items']} items in {report['namespaces']} namespaces, "
        f"{_mb(report['raw_bytes'])} in memory (built in {_s(report['build_s'])})",
        f"saved to {report['url']}",
        "",
        f"  {'':22}{'spikestore':>14}{'spikelab .h5':>14}",
        f"  {'size on disk':22}{_mb(ss['bytes']):>14}{_mb(sl['bytes']):>14}   ({ss['bytes'] / sl['bytes']:.2f}× spikelab)",
        f"  {'save':22}{_s(ss['save_s']):>14}{_s(sl['save_s']):>14}",
        f"  {'load everything':22}{_s(ss['load_s']):>14}{_s(sl['load_s']):>14}",
        "",
    ]
    lazy = report["lazy"]
    if "skipped" in lazy:
        lines.append(f"lazy reads: skipped ({lazy['skipped']})")
    else:
        t0, t1 = lazy["window_ms"]
        check = "equal to the in-memory data" if lazy["train_equal"] and lazy["window_equal"] else "DIFFERENT from the in-memory data"
        lines += [
            f"lazy reads (open_workspace), {check}:",
            f"  open the workspace                 {_s(lazy['open_s'])}",
            f"  {lazy['item']} unit {lazy['unit']}: {lazy['unit_spikes']:,} spikes in {_s(lazy['train_s'])}",
            f"  {lazy['item']} {t0 / 1000:.0f}–{t1 / 1000:.0f} s: {lazy['window_spikes']:,} spikes in {_s(lazy['window_s'])}",
            f"  (spikelab reads the whole item for either: load_item takes {_s(lazy['spikelab_item_s'])})",
        ]
    lines.append("")
    hdf5 = report["hdf5"]
    if "skipped" in hdf5:
        lines.append(f"HDF5 exchange: skipped ({hdf5['skipped']})")
    else:
        verdict = "all equal" if not hdf5["differing"] and hdf5["index_equal"] else f"DIFFERENT: {', '.join(hdf5['differing']) or 'index'}"
        lines += [
            "HDF5 exchange with spikelab:",
            f"  export_hdf5 -> {os.path.basename(hdf5['path'])}          {_mb(hdf5['bytes'])} in {_s(hdf5['export_s'])}",
            f"  spikelab AnalysisWorkspace.load    {hdf5['items']} items in {_s(hdf5['spikelab_load_s'])}",
            f"  compared with spikelab's own save  {hdf5['items_equal']}/{hdf5['items']} items equal, index "
            f"{'equal' if hdf5['index_equal'] else 'different'}: {verdict}",
        ]
    return lines


__all__ = ["run_demo", "format_report", "same"]
