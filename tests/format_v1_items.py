"""The items of the committed format-version-1 fixture (``tests/fixtures/format-v1``).

The fixture was written once by spikestore's version-1 code (commit a96964b)
from exactly these objects; ``tests/test_format_v1.py`` checks that today's
reader opens, loads and lazily reads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def expected_items() -> dict[tuple[str, str], Any]:
    """``{(namespace, key): object}`` stored in the fixture (deterministic)."""
    from spikelab.spikedata.pairwise import PairwiseCompMatrix
    from spikelab.spikedata.ratedata import RateData
    from spikelab.spikedata.spikedata import SpikeData
    from spikelab.spikedata.spikeslicestack import SpikeSliceStack

    rng = np.random.default_rng(20261126)
    trains = [np.sort(rng.uniform(0, 5000.0, size=int(rng.integers(5, 60)))) for _ in range(8)]
    attrs = [{"region": "CA1" if i % 2 else "CA3", "snr": float(i) + 0.5} for i in range(8)]
    spikes = SpikeData(trains, length=5000.0, neuron_attributes=attrs, metadata={"probe": "np1", "fs": 30000})
    rates = RateData(rng.random((8, 50)), np.arange(50, dtype=float) * 100.0)
    matrix = PairwiseCompMatrix(rng.random((8, 8)), labels=[f"u{i}" for i in range(8)], metadata={"kind": "corr"})
    stack = SpikeSliceStack(spikes, times_start_to_end=[(0.0, 1000.0), (2000.0, 3000.0)])
    return {
        ("rec1", "spikes"): spikes,
        ("rec1", "rates"): rates,
        ("rec1", "corr"): matrix,
        ("rec1", "bursts"): stack,
        ("rec2", "array"): rng.integers(0, 100, size=(20, 3)).astype(np.int32),
        ("rec2", "result"): {"score": 0.75, "n": 3, "label": "good", "missing": None,
                              "curve": np.linspace(0.0, 1.0, 64), "pair": (1, 2)},
    }


NOTES = {("rec1", "spikes"): "sorted with KS4"}
WORKSPACE_NAME = "format-v1-fixture"
