"""The write-time codec trial (spikestore.containers.codec_choice): what it picks, and that it stays readable and safe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.core.sync import sync
from zarr.storage import MemoryStore

from spikestore import AnalysisWorkspace
from spikestore.containers import codec_choice, fast_chunks
from spikestore.containers.zarr_array import WRITTEN_CODECS, array_metadata, check_codec_configuration
from spikestore.entries import check_array_metadata
from spikestore.errors import FormatError
from spikestore.testing.compare import stored_array_documents

N = 200_000  # 1.6 MB of float64: above the trial threshold


def _spike_times(n: int = N, seed: int = 0) -> np.ndarray:
    """Sorted times (ms) on a 20 kHz grid, as a sorter writes them."""
    rng = np.random.default_rng(seed)
    return np.sort(np.round(rng.uniform(0, 600_000, n) * 20) / 20)


def _smooth_rates(seed: int = 0) -> np.ndarray:
    """Gaussian-smoothed step rates of 64 units x 4,000 bins (sigma 5 bins), 2 MB."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    steps = np.repeat(rng.gamma(2.0, 2.0, (64, 400)), 10, axis=1)
    return ndimage.gaussian_filter1d(steps, 5.0, axis=1)


def _chosen(data: np.ndarray, access: str | None = None) -> dict:
    from spikestore.containers.layout import apply_layout

    meta = apply_layout(array_metadata(data.shape, data.dtype, {}), access)
    return sync(codec_choice.choose_for_source(meta, data))


def _names(meta: dict) -> list[str]:
    codecs = meta["codecs"]
    if codecs[0]["name"] == "sharding_indexed":
        codecs = codecs[0]["configuration"]["codecs"]
    return [c["name"] for c in codecs]


def test_sorted_spike_times_get_pcodec_when_it_is_smaller() -> None:
    times = _spike_times()
    meta = _chosen(times)
    assert _names(meta) == ["numcodecs.pcodec", "crc32c"]
    default = array_metadata(times.shape, times.dtype, {})
    sample = sync(codec_choice.read_sample(times, default))
    trials = {t.candidate.name: t.size for t in codec_choice.run_trials(sample, times.dtype, default["codecs"])}
    fast = min(v for k, v in trials.items() if k != "pcodec")
    assert trials["pcodec"] * 100 <= fast * (100 - codec_choice.SLOW_GAIN_PERCENT)
    assert (fast - trials["pcodec"]) * 100 >= sum(b.nbytes for b in sample) * codec_choice.SLOW_RAW_PERCENT


def test_sorted_spike_times_in_a_shard_get_the_chain_inside_the_sharding_codec() -> None:
    times = _spike_times(400_000)
    meta = _chosen(times, "ranges")
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    assert _names(meta) == ["numcodecs.pcodec", "crc32c"]
    assert meta["codecs"][0]["configuration"]["index_codecs"][-1] == {"name": "crc32c"}


def test_sorted_integers_get_a_delta_or_pcodec_chain() -> None:
    offsets = np.cumsum(np.random.default_rng(1).poisson(30, 300_000)).astype(np.int64)
    assert _names(_chosen(offsets))[0] in ("numcodecs.delta", "numcodecs.pcodec")


def test_random_noise_keeps_the_fast_default() -> None:
    info = np.iinfo(np.int64)
    noise = np.random.default_rng(2).integers(info.min, info.max, (512, 512), dtype=np.int64)  # every bit random
    default = array_metadata(noise.shape, noise.dtype, {})
    assert _chosen(noise) == default


def test_smooth_rates_leave_plain_zstd() -> None:
    rates = _smooth_rates()
    assert _names(_chosen(rates)) != _names(array_metadata(rates.shape, rates.dtype, {}))


def test_small_arrays_skip_the_trial() -> None:
    times = _spike_times(codec_choice.MIN_TRIAL_BYTES // 8 - 1)
    default = array_metadata(times.shape, times.dtype, {})
    assert not codec_choice.wants_trial(default)
    assert _chosen(times) == default


def test_big_endian_arrays_never_get_pcodec_or_delta() -> None:
    times = _spike_times().astype(">f8")
    names = _names(_chosen(times))
    assert "numcodecs.pcodec" not in names and "numcodecs.delta" not in names
    assert names[0] == "bytes"


def test_the_choice_is_identical_on_repeated_writes(tmp_path: Path) -> None:
    items = {"times": _spike_times(), "rates": _smooth_rates(), "noise": np.random.default_rng(3).random(200_000)}
    documents = []
    for attempt in range(2):
        ws = AnalysisWorkspace()
        for name, data in items.items():
            ws.store("ns", name, data.copy())
        ws.save(str(tmp_path / f"ws{attempt}"))
        documents.append({name: _codecs_of(tmp_path / f"ws{attempt}" / "ns" / name) for name in items})
    assert documents[0] == documents[1]
    assert documents[0]["times"][0]["name"] == "numcodecs.pcodec" and documents[0]["noise"][0]["name"] == "bytes"


def _codecs_of(item_folder: Path) -> list:
    (document,) = stored_array_documents(item_folder).values()
    return document["codecs"]


def test_plain_zarr_reads_every_chosen_chain_back_exactly(tmp_path: Path) -> None:
    items = {
        "times": _spike_times(),
        "rates": _smooth_rates(),
        "offsets": np.cumsum(np.random.default_rng(4).poisson(30, 300_000)).astype(np.int64),
        "noise": np.random.default_rng(5).random(200_000),
        "big_endian": _smooth_rates().astype(">f8"),
    }
    ws = AnalysisWorkspace()
    for name, data in items.items():
        ws.store("ns", name, data)
    ws.save(str(tmp_path / "ws"))
    seen = set()
    for name, data in items.items():
        ((array_folder, document),) = stored_array_documents(tmp_path / "ws" / "ns" / name).items()
        seen.add(tuple(c["name"] for c in document["codecs"]))
        item_group, array_name = array_folder.rsplit("/", 1)
        got = zarr.open_group(item_group, mode="r")[array_name][...]  # the item group's consolidated metadata
        np.testing.assert_array_equal(got, data)
        assert AnalysisWorkspace.load_item(str(tmp_path / "ws"), "ns", name).dtype == data.dtype
    assert ("numcodecs.pcodec", "crc32c") in seen and any(names[0] == "bytes" for names in seen)


@pytest.mark.parametrize("candidate", [c.name for c in codec_choice.CANDIDATES])
def test_every_candidate_round_trips_through_zarr_and_the_fast_path(candidate: str) -> None:
    data = np.cumsum(np.random.default_rng(6).poisson(3, (300, 700)), axis=1).astype(np.int64)
    if candidate == "delta":
        data = data.ravel()
    meta = array_metadata(data.shape, data.dtype, {})
    chain = codec_choice.CANDIDATES[[c.name for c in codec_choice.CANDIDATES].index(candidate)].chain(data.dtype, data.ndim)
    meta = {**meta, "codecs": [*chain, {"name": "crc32c"}]}
    assert fast_chunks.supports(meta)
    store = MemoryStore()
    sync(fast_chunks.write_array(store, "a", meta, data))
    sync(store.set("a/zarr.json", zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(json.dumps(meta).encode())))
    np.testing.assert_array_equal(zarr.open_array(store, path="a", mode="r")[...], data)
    np.testing.assert_array_equal(sync(fast_chunks.read_array(store, "a", meta)), data)


def test_every_written_codec_name_is_registered_in_zarr() -> None:
    from zarr.registry import get_codec_class

    for name in WRITTEN_CODECS:
        assert get_codec_class(name) is not None, name


def test_a_store_naming_an_unknown_codec_is_still_refused() -> None:
    meta = array_metadata((10,), np.dtype("f8"), {})
    meta["codecs"] = [{"name": "numcodecs.pickle", "configuration": {}}, {"name": "crc32c"}]
    with pytest.raises(FormatError, match="numcodecs.pickle"):
        check_array_metadata(meta, "here")


@pytest.mark.parametrize(
    "codec",
    [
        {"name": "numcodecs.delta", "configuration": {"dtype": "|O"}},
        {"name": "numcodecs.delta", "configuration": {"dtype": "<i8", "astype": "<f8"}},
        {"name": "numcodecs.delta", "configuration": {"dtype": "<i8", "shell": "rm"}},
        {"name": "numcodecs.pcodec", "configuration": {"level": 99}},
        {"name": "numcodecs.pcodec", "configuration": {"level": True}},
        {"name": "numcodecs.pcodec", "configuration": {"equal_pages_up_to": 1 << 40}},
        {"name": "numcodecs.pcodec", "configuration": {"mode_spec": "try_float_mult"}},
        {"name": "blosc", "configuration": {"typesize": 8, "cname": "zstd", "clevel": 1, "shuffle": "shuffle", "blocksize": 1 << 40}},
    ],
    ids=["delta-object", "delta-astype", "delta-extra-key", "pcodec-level", "pcodec-bool-level", "pcodec-pages", "pcodec-mode", "blosc-block"],
)
def test_abusable_codec_configurations_are_refused(codec: dict) -> None:
    with pytest.raises(FormatError):
        check_codec_configuration(codec, "here")


def test_every_chain_the_trial_writes_passes_the_configuration_check() -> None:
    for dtype in (np.dtype("<f8"), np.dtype("<i4"), np.dtype(">f8"), np.dtype("<u2")):
        for candidate in codec_choice.CANDIDATES:
            for codec in candidate.chain(dtype, 1) or []:
                assert codec["name"] in WRITTEN_CODECS
                check_codec_configuration(codec, "here")


def test_a_pcodec_chunk_with_the_wrong_number_of_values_is_corrupt() -> None:
    from spikestore.errors import CorruptDataError

    times = _spike_times()
    meta = _chosen(times)
    store = MemoryStore()
    sync(fast_chunks.write_array(store, "a", meta, times))
    shorter = {**meta, "shape": [N * 2], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [meta["chunk_grid"]["configuration"]["chunk_shape"][0] * 2]}}}
    with pytest.raises(CorruptDataError):
        sync(fast_chunks.read_array(store, "a", shorter))


def test_the_sample_is_read_from_h5py_and_zarr_sources_alike(tmp_path: Path) -> None:
    import h5py

    times = _spike_times()
    default = array_metadata(times.shape, times.dtype, {})
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["times"] = times
    source = zarr.create_array(str(tmp_path / "z"), shape=times.shape, dtype=times.dtype, chunks=(50_000,))
    source[...] = times
    expected = _chosen(times)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert sync(codec_choice.choose_for_source(default, f["times"])) == expected
    assert sync(codec_choice.choose_for_source(default, zarr.open_array(str(tmp_path / "z"), mode="r"))) == expected


# -- PCodec must save a share of the raw bytes, not only of the fast chain's -----------


def _trial(name: str, size: int, raw: int) -> codec_choice.Trial:
    candidate = next(c for c in codec_choice.CANDIDATES if c.name == name)
    return codec_choice.Trial(candidate, [{"name": name}], size, raw)


@pytest.mark.parametrize(
    ("pcodec_size", "raw", "expected"),
    [
        (425, 1500, "pcodec"),  # 15 % below shuffle's 500, and 75 bytes saved = 5 % of raw
        (425, 1501, "shuffle"),  # the same gain, just under 5 % of a larger raw sample
        (426, 1000, "shuffle"),  # 14.8 % below shuffle: not enough however small the raw sample
        (100, 100_000, "shuffle"),  # 80 % below shuffle but 0.4 % of raw: the fast chain already got the gain
    ],
)
def test_pcodec_needs_both_its_relative_gain_and_a_share_of_the_raw_bytes(pcodec_size: int, raw: int, expected: str) -> None:
    trials = [_trial("default", 1000, raw), _trial("shuffle", 500, raw), _trial("pcodec", pcodec_size, raw)]
    assert codec_choice.pick(trials).candidate.name == expected
    assert codec_choice.pick(list(trials)).candidate.name == expected  # sizes decide: the same every time


@pytest.fixture(scope="module")
def sigma50_rates() -> np.ndarray:
    """ISI rates smoothed with sigma 50 ms (100 units x 2 min at 10 ms bins, 9.6 MB), as the benchmark's."""
    from spikestore.workload import make_workspace

    return make_workspace("small", sigma_ms=50.0, seed=0).get("rec1", "rates").inst_Frate_data


def test_rounded_rates_keep_the_fast_chain_when_pcodec_saves_little_of_the_raw_bytes(sigma50_rates: np.ndarray, tmp_path: Path) -> None:
    from spikestore.containers.layout import apply_layout
    from spikestore.containers.zarr_array import keep_bits, round_mantissa

    rates = sigma50_rates
    meta = apply_layout(array_metadata(rates.shape, rates.dtype, {}, precision=1e-6), "tiles")
    sample = sync(codec_choice.read_sample(rates, meta))
    sizes = {t.candidate.name: t.size for t in codec_choice.run_trials(sample, rates.dtype, codec_choice.chain_holder(meta)["codecs"])}
    raw = sum(b.nbytes for b in sample)
    fast = min(v for k, v in sizes.items() if k != "pcodec")
    # the case the raw-bytes share decides: PCodec clears the 15 % but the rounded values are already small
    assert sizes["pcodec"] * 100 <= fast * (100 - codec_choice.SLOW_GAIN_PERCENT)
    assert (fast - sizes["pcodec"]) * 100 < raw * codec_choice.SLOW_RAW_PERCENT
    chosen = sync(codec_choice.choose_for_source(meta, rates))
    assert _names(chosen) == ["numcodecs.bitround", "bytes", "blosc", "crc32c"]
    assert sync(codec_choice.choose_for_source(meta, rates.copy())) == chosen

    ws = AnalysisWorkspace()
    ws.store("ns", "rates", rates)
    ws.save(str(tmp_path / "ws"), precision={"ndarray": 1e-6})
    ((array_folder, document),) = stored_array_documents(tmp_path / "ws" / "ns" / "rates").items()
    assert _names(document) == ["numcodecs.bitround", "bytes", "blosc", "crc32c"]
    item_group, array_name = array_folder.rsplit("/", 1)
    expected = round_mantissa(rates, keep_bits(rates.dtype, 1e-6))
    np.testing.assert_array_equal(zarr.open_group(item_group, mode="r")[array_name][...], expected)
    np.testing.assert_array_equal(AnalysisWorkspace.load_item(str(tmp_path / "ws"), "ns", "rates"), expected)


def _unit_major_times(units: int = 400, seed: int = 3) -> np.ndarray:
    """Spike trains of ``units`` units one after another (each sorted), as ``spike_times`` holds them."""
    rng = np.random.default_rng(seed)
    return np.concatenate([np.sort(np.round(rng.uniform(0, 600_000, n) * 20) / 20) for n in rng.poisson(600, units)])


def _pcodec_level(meta: dict) -> int | None:
    codecs = meta["codecs"][0]["configuration"]["codecs"] if meta["codecs"][0]["name"] == "sharding_indexed" else meta["codecs"]
    return next((c["configuration"]["level"] for c in codecs if c["name"] == "numcodecs.pcodec"), None)


@pytest.mark.parametrize("times", [_spike_times(), _unit_major_times()], ids=["time-ordered", "unit-major"])
def test_pcodec_keeps_its_costlier_level_only_when_that_saves_its_share(times: np.ndarray) -> None:
    """PCodec is tried at level 8; when it wins, level 6 (cheaper to encode) is tried and kept
    unless level 8 is CHEAPER_LOSS_PERCENT smaller, checked here by encoding the sample at both."""
    from spikestore.containers.zarr_array import ChunkChain

    level = _pcodec_level(_chosen(times))
    default = array_metadata(times.shape, times.dtype, {})
    sample = sync(codec_choice.read_sample(times, default))
    size = {
        lv: sum(len(ChunkChain([{"name": "numcodecs.pcodec", "configuration": {"level": lv, "mode_spec": "auto", "delta_spec": "auto"}}, {"name": "crc32c"}], times.dtype).encode(b)) for b in sample)
        for lv in (codec_choice.PCODEC_CHEAPER_LEVEL, 8)
    }
    costlier_pays = size[8] * 100 <= size[codec_choice.PCODEC_CHEAPER_LEVEL] * (100 - codec_choice.CHEAPER_LOSS_PERCENT)
    assert level == (8 if costlier_pays else codec_choice.PCODEC_CHEAPER_LEVEL), size


def test_a_cheaper_setting_is_tried_only_after_its_candidate_won(monkeypatch) -> None:
    tried: list[str] = []
    trial = codec_choice._trial
    monkeypatch.setattr(codec_choice, "_trial", lambda candidate, *args: tried.append(candidate.name) or trial(candidate, *args))
    assert _pcodec_level(_chosen(_smooth_rates())) is None  # the fast chain wins on smooth rates
    assert "pcodec" in tried and "pcodec-6" not in tried
    tried.clear()
    assert _pcodec_level(_chosen(_unit_major_times())) == codec_choice.PCODEC_CHEAPER_LEVEL
    assert tried[-1] == "pcodec-6"
