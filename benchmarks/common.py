"""Timing, memory and table helpers shared by every benchmark module.

Every measured operation runs in a fresh ``spawn``-ed child process
(:func:`run_isolated`): the child records its resident set size before the
operation, samples it every millisecond while the operation runs (and checks
``ru_maxrss``), and reports the wall time and the peak *extra* memory.
Medians over repetitions are taken by :func:`median_of`, and repetitions of
competing systems are interleaved by the callers so that a noisy neighbour
slows every system alike.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import statistics
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Iterable, Sequence

import psutil

MB = 1e6


class PeakRSS:
    """Context manager: the peak resident set size above the level at entry.

    Attributes
    ----------
    base : int
        RSS (bytes) when the block was entered.
    peak : int
        Highest RSS seen inside the block (sampled every ``interval`` s and
        cross-checked with ``ru_maxrss``).
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self.base = 0
        self.peak = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        gc.collect()
        self.base = self.peak = self._proc.memory_info().rss
        self._maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if maxrss > self._maxrss_before:  # the high-water mark rose inside the block
            self.peak = max(self.peak, maxrss)
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def extra(self) -> int:
        """Peak bytes above the level at entry."""
        return max(0, self.peak - self.base)


def measure(fn: Callable[..., Any], *args: Any) -> dict[str, float]:
    """Run ``fn(*args)`` once here; wall seconds and peak extra MB.

    Any ``setup`` a benchmark needs (unpickling an input) must happen before
    this call, so it is neither timed nor counted in memory.
    """
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        result = fn(*args)
        seconds = time.perf_counter() - t0
    del result
    return {"seconds": seconds, "peak_mb": mem.extra / MB}


def run_isolated(fn: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
    """Call module-level ``fn(*args)`` in a fresh spawned process and return its result."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def median_of(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per-key median of several result dicts."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def interleaved(cases: dict[str, Callable[[], dict[str, float]]], repeat: int) -> dict[str, dict[str, float]]:
    """Run every case once per round, ``repeat`` rounds; median of each case."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, case in cases.items():
            runs[name].append(case())
    return {name: median_of(r) for name, r in runs.items()}


def tree_bytes(path: str) -> int:
    """Bytes of all files under ``path`` (or of the file ``path``)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def remove(path: str) -> None:
    """Delete a file or folder if it exists."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def ratio(a: float, b: float) -> str:
    """``a / b`` formatted, or ``-`` when undefined."""
    return f"{a / b:.2f}x" if b else "-"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain aligned text table (first column left-aligned)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals."""
    return f"{value:.{digits}f}"


RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def record_figures(name: str, scale: str, figures: dict[str, float], workload: str) -> str:
    """Write the headline figures of a run to ``benchmarks/results/<name>-<scale>.json``.

    The README states some of them; ``tests/test_readme_figures.py`` checks
    every figure it states against these files, so the README cannot drift
    from the latest run (``python -m benchmarks.readme_figures`` rewrites
    the README's figures from them).  Returns the path written.
    """
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}-{scale}.json")
    doc = {"benchmark": name, "scale": scale, "workload": workload, "date": time.strftime("%Y-%m-%d"), "figures": {k: round(float(v), 4) for k, v in sorted(figures.items())}}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"[figures recorded in {os.path.relpath(path)}]")
    return path
