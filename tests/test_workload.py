"""The benchmark workload: deterministic, the documented shapes, realistic rates."""

from __future__ import annotations

import numpy as np
import pytest

from spikestore.workload import SCALES, isi_rates, make_workspace, workspace_nbytes
from tests.objects import assert_same


@pytest.fixture(scope="module")
def small():
    return make_workspace("small", seed=3)


def test_same_seed_same_workspace(small) -> None:
    again = make_workspace("small", seed=3)
    assert again.describe() == small.describe()
    for ns in small.list_namespaces():
        for key in small.list_keys(ns):
            assert_same(small.get(ns, key), again.get(ns, key), f"{ns}/{key}")


def test_other_seed_differs(small) -> None:
    other = make_workspace("small", seed=4)
    assert not np.array_equal(other.get("rec1", "rates").inst_Frate_data, small.get("rec1", "rates").inst_Frate_data)


def test_layout_and_shapes(small) -> None:
    sc = SCALES["small"]
    length = sc.minutes * 60_000.0
    assert small.list_namespaces() == ["rec1", "rec2", "rec3", "C_rec1_rec2_rec3"]
    for ns in ("rec1", "rec2", "rec3"):
        sd = small.get(ns, "spikes")
        assert sd.N == sc.units and sd.length == length
        mean_hz = sum(len(t) for t in sd.train) / sd.N / (length / 1e3)
        assert 1.5 < mean_hz < 5.0
        flat = np.concatenate(sd.train)
        assert np.allclose(flat * 20.0, np.round(flat * 20.0))  # on the 20 kHz grid
        assert all(np.all(np.diff(t) >= 1.5 - 1e-9) for t in sd.train)  # refractory
        unit = sd.neuron_attributes[0]
        assert unit["template"].dtype == np.float32 and unit["template"].shape == (40,)
        assert isinstance(unit["channel"], int) and isinstance(unit["cluster_label"], str)
        assert small.get(ns, "rates").inst_Frate_data.shape == (sc.units, int(length / 10.0))
        assert small.get(ns, "burst_rates").event_stack.shape == (sc.units, 75, sc.events)
        assert len(small.get(ns, "burst_spikes").spike_stack) == sc.events
        m = small.get(ns, "correlation").matrix
        assert m.shape == (sc.units, sc.units) and np.allclose(m, m.T)
        assert isinstance(small.get(ns, "results"), dict)
    assert small.get("C_rec1_rec2_rec3", "correlation_stack").stack.shape == (sc.units, sc.units, 3)
    assert 30e6 < workspace_nbytes(small) < 60e6


def test_isi_rates_match_spikelab(small) -> None:
    sd = small.get("rec2", "spikes")
    times = np.arange(0.0, 20_000.0, 10.0)
    sub = sd.subtime(0.0, 20_000.0)
    flat = np.concatenate(sub.train)
    ends = np.cumsum([len(t) for t in sub.train])
    expected = sub.resampled_isi(times, 10.0).inst_Frate_data
    assert np.allclose(isi_rates(flat, ends, times), expected, rtol=1e-9, atol=1e-9)


def test_unknown_scale() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        make_workspace("huge")


def test_tiny_workload_saves_with_spec_codecs_only(tmp_path) -> None:
    """Every chunk codec is in the Zarr v3 spec, so plain zarr-python reads the store."""
    from spikestore.testing.compare import stored_array_documents

    ws = make_workspace("tiny")
    ws.save(str(tmp_path / "ws"))
    spec = {"bytes", "blosc", "zstd", "crc32c", "vlen-utf8", "sharding_indexed", "transpose", "gzip"}
    seen = set()
    for meta in stored_array_documents(tmp_path / "ws").values():
        stack = list(meta["codecs"])
        while stack:
            codec = stack.pop()
            seen.add(codec["name"])
            stack.extend(codec.get("configuration", {}).get("codecs", []))
            stack.extend(codec.get("configuration", {}).get("index_codecs", []))
    assert seen and seen <= spec, seen - spec
