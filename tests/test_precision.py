"""Opt-in lossy precision (``save(..., precision=...)``): off by default, within the stated error, readable by plain zarr."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from numcodecs.bitround import BitRound

from spikestore import AnalysisWorkspace, open_workspace
from spikestore.codecs.precision import ROUNDED_TYPES, check_precision
from spikestore.containers.zarr_array import MANTISSA_BITS, check_codec_configuration, keep_bits, round_mantissa
from spikestore.errors import FormatError, InvalidValueError
from spikestore.testing.compare import assert_same, stored_array_documents
from spikestore.testing.samples import all_items


def _rates(seed: int = 0, units: int = 40, bins: int = 20_000) -> np.ndarray:
    """Smooth positive rates with exact zeros, 6.4 MB: big enough for several chunks and the codec trial."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rates = ndimage.gaussian_filter1d(np.repeat(rng.gamma(2.0, 2.0, (units, bins // 50)), 50, axis=1), 20.0, axis=1)
    rates[:, :100] = 0.0
    return rates


def _rate_data(rates: np.ndarray):
    from spikelab import RateData

    return RateData(rates, np.arange(rates.shape[1], dtype=float), neuron_attributes=[{"channel": i} for i in range(rates.shape[0])])


def _codec_names(folder: Path) -> set[str]:
    names = set()
    for meta in stored_array_documents(folder).values():
        stack = list(meta.get("codecs", []))
        while stack:
            codec = stack.pop()
            names.add(codec["name"])
            stack.extend(codec.get("configuration", {}).get("codecs", []) if isinstance(codec.get("configuration"), dict) else [])
    return names


def _stored_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _max_relative_error(exact: np.ndarray, stored: np.ndarray) -> float:
    nonzero = exact != 0
    return float(np.max(np.abs(stored[nonzero] - exact[nonzero]) / np.abs(exact[nonzero])))


def test_the_default_rounds_nothing(tmp_path: Path) -> None:
    items = {**all_items(), "big_rates": _rate_data(_rates())}
    ws = AnalysisWorkspace()
    for key, obj in items.items():
        ws.store("ns", key, obj)
    ws.save(tmp_path / "ws")
    assert "numcodecs.bitround" not in _codec_names(tmp_path / "ws")
    back = AnalysisWorkspace.load(tmp_path / "ws")
    for key, obj in items.items():
        assert_same(obj, back.get("ns", key))


@pytest.mark.parametrize("error", [1e-3, 1e-6, 2.0**-40])
def test_rates_stay_within_the_stated_relative_error_and_take_fewer_bytes(tmp_path: Path, error: float) -> None:
    rates = _rates()
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", _rate_data(rates))
    ws.save(tmp_path / "exact")
    ws.save(tmp_path / "rounded", precision={"RateData": error})
    back = AnalysisWorkspace.load(tmp_path / "rounded").get("rec", "rates")
    assert back.inst_Frate_data.dtype == np.float64 and back.inst_Frate_data.shape == rates.shape
    assert 0 < _max_relative_error(rates, back.inst_Frate_data) <= error
    assert np.array_equal(back.inst_Frate_data == 0, rates == 0)
    assert np.array_equal(back.times, np.arange(rates.shape[1], dtype=float))  # the time axis is exact
    assert back.neuron_attributes == ws.get("rec", "rates").neuron_attributes
    assert _stored_bytes(tmp_path / "rounded") < _stored_bytes(tmp_path / "exact")


def test_the_rounding_is_recorded_in_the_chain_and_plain_zarr_reads_the_same_values(tmp_path: Path) -> None:
    rates = _rates()
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", _rate_data(rates))
    ws.save(tmp_path / "ws", precision={"RateData": 1e-6})
    ((folder, meta),) = [(f, d) for f, d in stored_array_documents(tmp_path / "ws").items() if f.endswith("/inst_Frate_data")]
    chain = meta["codecs"][0]["configuration"]["codecs"] if meta["codecs"][0]["name"] == "sharding_indexed" else meta["codecs"]
    assert chain[0] == {"name": "numcodecs.bitround", "configuration": {"keepbits": keep_bits(np.dtype("f8"), 1e-6)}}
    plain = zarr.open_group(folder.rsplit("/", 1)[0], mode="r")["inst_Frate_data"][...]
    assert np.array_equal(plain, AnalysisWorkspace.load(tmp_path / "ws").get("rec", "rates").inst_Frate_data)
    assert np.array_equal(plain, round_mantissa(rates, chain[0]["configuration"]["keepbits"]))


def test_only_the_named_types_value_arrays_are_rounded(tmp_path: Path) -> None:
    from spikelab import PairwiseCompMatrix

    rates = _rates(units=8, bins=4_000)
    noise = np.random.default_rng(1).normal(size=(300, 300))
    ints = np.arange(10_000, dtype=np.int64)
    ws = AnalysisWorkspace()
    ws.store("a", "rates", _rate_data(rates))
    ws.store("a", "nested", {"rates": _rate_data(rates), "floats": noise})
    ws.store("a", "floats", noise)
    ws.store("a", "ints", ints)
    ws.store("a", "matrix", PairwiseCompMatrix(noise))
    ws.save(tmp_path / "ws", precision={"RateData": 1e-3, "ndarray": 1e-3})
    back = AnalysisWorkspace.load(tmp_path / "ws")
    assert 0 < _max_relative_error(rates, back.get("a", "rates").inst_Frate_data) <= 1e-3
    assert 0 < _max_relative_error(rates, back.get("a", "nested")["rates"].inst_Frate_data) <= 1e-3  # found inside a dict
    assert 0 < _max_relative_error(noise, back.get("a", "floats")) <= 1e-3
    assert 0 < _max_relative_error(noise, back.get("a", "nested")["floats"]) <= 1e-3
    assert_same(ints, back.get("a", "ints"))  # integers are never rounded
    assert_same(PairwiseCompMatrix(noise), back.get("a", "matrix"))  # not named: exact


def test_store_on_an_open_workspace_takes_precision_and_lazy_reads_see_the_rounded_values(tmp_path: Path) -> None:
    rates = _rates()
    with open_workspace(tmp_path / "ws", mode="w") as ws:
        ws.store("rec", "rates", _rate_data(rates), precision={"RateData": 1e-4})
        ws.store("rec", "exact", _rate_data(rates))
        full = ws.get("rec", "rates").inst_Frate_data
        row = np.asarray(ws.get_lazy("rec", "rates").inst_Frate_data[7])
        assert np.array_equal(row, full[7])
        assert 0 < _max_relative_error(rates, full) <= 1e-4
        assert_same(_rate_data(rates), ws.get("rec", "exact"))


@pytest.mark.parametrize(
    "precision",
    [
        {"SpikeData": 1e-6},  # spike times are never rounded
        {"Rates": 1e-6},
        {"RateData": 0.0},
        {"RateData": -1e-6},
        {"RateData": 0.5},
        {"RateData": float("nan")},
        {"RateData": True},
        {"RateData": "1e-6"},
        [("RateData", 1e-6)],
    ],
)
def test_bad_precision_is_refused_before_anything_is_written(tmp_path: Path, precision) -> None:
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", _rate_data(_rates(units=2, bins=1_000)))
    with pytest.raises(InvalidValueError, match="precision"):
        ws.save(tmp_path / "ws", precision=precision)
    assert not (tmp_path / "ws").exists()
    with open_workspace(tmp_path / "open", mode="w") as lazy:
        with pytest.raises(InvalidValueError, match="precision"):
            lazy.store("rec", "rates", _rate_data(_rates(units=2, bins=1_000)), precision=precision)
        assert lazy.list_namespaces() == []


def test_the_rounded_types_are_those_whose_codecs_declare_values() -> None:
    assert set(ROUNDED_TYPES) == {"RateData", "RateSliceStack", "PairwiseCompMatrix", "PairwiseCompMatrixStack", "ndarray"}
    assert check_precision(None) == {}
    assert check_precision({"RateSliceStack": 1e-5}) == {"RateSliceStack": 1e-5}


@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<f4", "<f2"])
@pytest.mark.parametrize("keepbits", [1, 7, 19, 22])
def test_round_mantissa_is_numcodecs_bitround_on_finite_values_and_within_its_bound(dtype: str, keepbits: int) -> None:
    keepbits = min(keepbits, MANTISSA_BITS[np.dtype(dtype).itemsize] - 1)
    rng = np.random.default_rng(keepbits)
    values = (rng.normal(size=5_000) * 10.0 ** rng.integers(-3, 4, 5_000)).astype(dtype)
    values = values[np.abs(values) >= np.finfo(values.dtype).tiny]  # the bound is for normal numbers
    rounded = round_mantissa(values, keepbits)
    assert rounded.dtype == values.dtype
    native = values.astype(values.dtype.newbyteorder("="))
    assert np.array_equal(rounded.astype(native.dtype).view(np.uint8), np.asarray(BitRound(keepbits).encode(native)).view(np.uint8))
    bound = 2.0 ** -(keepbits + 1)
    exact = values.astype(np.float64)
    assert np.all(np.abs(rounded.astype(np.float64) - exact) <= bound * np.abs(exact))


def test_round_mantissa_keeps_nan_infinity_and_the_largest_float() -> None:
    values = np.array([np.nan, np.inf, -np.inf, np.finfo(np.float64).max, -np.finfo(np.float64).max, 0.0, -0.0, 5e-324])
    rounded = round_mantissa(values, 1)
    assert np.isnan(rounded[0]) and rounded[1] == np.inf and rounded[2] == -np.inf
    assert np.all(np.isfinite(rounded[3:]))  # rounding up would carry the largest float to infinity
    assert np.array_equal(rounded[5:7], values[5:7]) and np.signbit(rounded[6])


@pytest.mark.parametrize(
    "codec",
    [
        {"name": "numcodecs.bitround", "configuration": {"keepbits": 0}},
        {"name": "numcodecs.bitround", "configuration": {"keepbits": 52}},
        {"name": "numcodecs.bitround", "configuration": {"keepbits": "19"}},
        {"name": "numcodecs.bitround", "configuration": {"keepbits": 19, "other": 1}},
        {"name": "numcodecs.bitround", "configuration": {}},
    ],
)
def test_a_bitround_configuration_we_never_write_is_refused(codec: dict) -> None:
    with pytest.raises(FormatError, match="bitround"):
        check_codec_configuration(codec, "here")


def test_keep_bits_follows_the_error_bound() -> None:
    f8 = np.dtype("f8")
    for error in (0.25, 1e-2, 1e-6, 1e-12):
        keep = keep_bits(f8, error)
        assert keep is not None and 2.0 ** -(keep + 1) <= error < 2.0 ** -keep
    assert keep_bits(f8, 2.0**-52) == 51
    assert keep_bits(np.dtype("f4"), 1e-9) is None  # finer than float32 itself: nothing to round
    assert keep_bits(np.dtype("i8"), 1e-3) is None


def test_saving_an_open_workspace_elsewhere_rounds_the_copy_and_never_in_place(tmp_path: Path) -> None:
    rates = _rates()
    with open_workspace(tmp_path / "ws", mode="w") as ws:
        ws.store("rec", "rates", _rate_data(rates))
        ws.save(tmp_path / "copy", precision={"RateData": 1e-5})
        with pytest.raises(InvalidValueError, match="precision"):
            ws.save(tmp_path / "ws", precision={"RateData": 1e-5})
        assert_same(_rate_data(rates), ws.get("rec", "rates"))  # the original stays exact
    copied = AnalysisWorkspace.load(tmp_path / "copy").get("rec", "rates").inst_Frate_data
    assert 0 < _max_relative_error(rates, copied) <= 1e-5
    assert "numcodecs.bitround" in _codec_names(tmp_path / "copy")
    # the copy is written through zarr's own pipeline (a sharded array streamed block by block)
    (folder,) = [f for f in stored_array_documents(tmp_path / "copy") if f.endswith("/inst_Frate_data")]
    plain = zarr.open_group(folder.rsplit("/", 1)[0], mode="r")["inst_Frate_data"][...]
    assert plain.dtype == np.float64 and np.array_equal(plain, copied)
