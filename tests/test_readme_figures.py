"""Every benchmark figure the README states equals the latest recorded run (benchmarks/results)."""

from __future__ import annotations

import pytest

from benchmarks import readme_figures


def _readme() -> str:
    with open(readme_figures.README) as f:
        return f.read()


def test_the_readme_states_its_figures_with_markers() -> None:
    assert len(readme_figures.stated_figures(_readme())) >= 6


@pytest.mark.parametrize("value, run, figure", readme_figures.stated_figures(_readme()))
def test_a_stated_figure_is_the_recorded_one(value: str, run: str, figure: str) -> None:
    assert value == readme_figures.shown(readme_figures.recorded(run, figure)), (
        f"README states {value}× for {run}:{figure}; the latest run recorded "
        f"{readme_figures.recorded(run, figure):.4f}. Run `python -m benchmarks.readme_figures`."
    )


def test_an_unmarked_or_unrecorded_figure_is_caught() -> None:
    with pytest.raises(KeyError):
        readme_figures.recorded("bench_store-medium", "no-such-figure")
    with pytest.raises(KeyError):
        readme_figures.recorded("no-such-run", "sigma10.bytes")
    assert readme_figures.stated_figures("1.50×<!-- fig:a-b:c.d -->") == [("1.50", "a-b", "c.d")]
