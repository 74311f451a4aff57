"""The README's benchmark figures, tied to the latest recorded run.

A figure in ``README.md`` written as ``0.22×<!-- fig:bench_store-medium:sigma10.bytes -->``
is the figure ``sigma10.bytes`` of ``benchmarks/results/bench_store-medium.json``
(written by :func:`benchmarks.common.record_figures` at the end of a run),
shown with two decimals.  ``tests/test_readme_figures.py`` fails when a
stated figure differs from the recorded one;
``python -m benchmarks.readme_figures`` rewrites the README's figures from
the recorded runs.
"""

from __future__ import annotations

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")
MARKER = re.compile(r"(?P<value>\d+(?:\.\d+)?)×<!-- fig:(?P<run>[\w-]+):(?P<figure>[\w./-]+) -->")


def recorded(run: str, figure: str) -> float:
    """The figure ``figure`` of the recorded run ``run`` (e.g. ``bench_store-medium``).

    Raises
    ------
    KeyError
        If the run or the figure was not recorded.
    """
    path = os.path.join(RESULTS_DIR, f"{run}.json")
    if not os.path.exists(path):
        raise KeyError(f"no recorded run {run!r} ({os.path.relpath(path, ROOT)} is missing)")
    with open(path) as f:
        figures = json.load(f)["figures"]
    if figure not in figures:
        raise KeyError(f"{run} recorded no figure {figure!r}; it has {sorted(figures)}")
    return float(figures[figure])


def shown(value: float) -> str:
    """A ratio as the README shows it."""
    return f"{value:.2f}"


def stated_figures(text: str) -> list[tuple[str, str, str]]:
    """``(stated value, run, figure)`` of every marked figure in ``text``."""
    return [(m["value"], m["run"], m["figure"]) for m in MARKER.finditer(text)]


def rewrite(text: str) -> str:
    """``text`` with every marked figure replaced by its recorded value."""
    return MARKER.sub(lambda m: f"{shown(recorded(m['run'], m['figure']))}×<!-- fig:{m['run']}:{m['figure']} -->", text)


def main() -> int:
    with open(README) as f:
        text = f.read()
    new = rewrite(text)
    if new != text:
        with open(README, "w") as f:
            f.write(new)
    print(f"README.md: {len(stated_figures(new))} figures from benchmarks/results ({'rewritten' if new != text else 'already current'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
