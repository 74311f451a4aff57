"""The Zarr ecosystem reads spikestore items: views are zarr arrays, arrays carry
dimension names, items become xarray Datasets and dask arrays (real xarray,
dask and zarr-python, on a folder, memory:// and moto S3)."""

from __future__ import annotations

import json
import math
import sys
import uuid

import fsspec
import numpy as np
import pytest
import zarr

xr = pytest.importorskip("xarray")
da = pytest.importorskip("dask.array")

from spikelab.spikedata.ratedata import RateData  # noqa: E402
from spikelab.spikedata.rateslicestack import RateSliceStack  # noqa: E402

import spikestore  # noqa: E402
from spikestore import AnalysisWorkspace, MissingDependencyError, ReadOnlyError, UnsupportedTypeError, open_workspace, to_xarray  # noqa: E402
from spikestore import codecs  # noqa: E402
from spikestore.containers.zarr_group import skeleton_arrays  # noqa: E402
from spikestore.views import LazyArray  # noqa: E402
from spikestore.xarray_support import XARRAY_TYPES, item_url  # noqa: E402

from .conftest import BUCKET  # noqa: E402
from .objects import all_items, assert_same  # noqa: E402

ITEMS = all_items()
XARRAY_ITEMS = {name: obj for name, obj in ITEMS.items() if codecs.codec_for(obj).type_name in XARRAY_TYPES}

EXPECTED_DIMS = {
    ("spikedata_full", "spike_times"): ["spike"],
    ("spikedata_full", "spike_times_index"): ["unit"],
    ("spikedata_full", "raw_data"): ["channel", "sample"],
    ("spikedata_full", "raw_time"): ["sample"],
    ("spikedata_full", "neuron_attributes/snr"): ["unit"],
    ("spikedata_full", "neuron_attributes/template"): ["unit", None],
    ("ratedata", "inst_Frate_data"): ["unit", "time"],
    ("ratedata", "times"): ["time"],
    ("rateslicestack", "event_stack"): ["unit", "time", "slice"],
    ("rateslicestack", "times"): ["slice", None],
    ("pairwise", "matrix"): ["unit_i", "unit_j"],
    ("pairwise", "labels"): ["unit_i"],
    ("pairwise_stack", "stack"): ["unit_i", "unit_j", "slice"],
    ("pairwise_stack", "times"): ["slice", None],
    ("spikeslicestack", "times"): ["slice", None],
    ("array_float64", "data"): ["dim_0", "dim_1", "dim_2"],
    ("str_array", "data"): ["dim_0"],
}


@pytest.fixture
def saved(location):
    ws = AnalysisWorkspace()
    for name, obj in ITEMS.items():
        ws.store("ns", name, obj)
    ws.save(location.url, storage_options=location.storage_options)
    return location


def _open(location):
    return open_workspace(location.url, storage_options=location.storage_options)


def _array_documents(location, lazy, key, namespace="ns"):
    """``{relative path: zarr.json}`` of every array stored for the item: those in objects as
    plain zarr readers find them (the item group's consolidated metadata, checked equal to the
    index), those kept in the index from its skeleton (they have no objects)."""
    entry = lazy._require_open().index.entry(namespace, key)
    arrays = list(skeleton_arrays(entry["tree"]))
    docs = {rel: meta for rel, meta, _, _ in arrays}
    if not entry["tree"].get("in_index"):
        url = item_url(lazy, namespace, key)
        fs, root = fsspec.core.url_to_fs(url, **((location.storage_options if location is not None else None) or {}))
        consolidated = json.loads(fs.cat_file(root.rstrip("/") + "/zarr.json"))["consolidated_metadata"]["metadata"]
        for rel, meta, _, inline in arrays:
            assert (inline is not None) or consolidated[rel] == meta, rel
    assert docs
    return docs


def test_every_stored_array_has_dimension_names(saved) -> None:
    lazy = _open(saved)
    seen = set()
    for key in ("spikedata_full", "ratedata", "rateslicestack", "pairwise", "pairwise_stack", "spikeslicestack", "array_float64", "str_array", "dict"):
        documents = _array_documents(saved, lazy, key)
        assert documents, key
        for path, doc in documents.items():
            names = doc.get("dimension_names")
            assert names is not None and len(names) == len(doc["shape"]), (key, path, names)
            if (key, path) in EXPECTED_DIMS:
                assert names == EXPECTED_DIMS[(key, path)], (key, path, names)
                seen.add((key, path))
    assert seen == set(EXPECTED_DIMS)


def test_views_are_read_only_zarr_arrays(saved) -> None:
    lazy = _open(saved)
    rates = lazy.get_lazy("ns", "ratedata").inst_Frate_data
    stack = lazy.get_lazy("ns", "rateslicestack").event_stack
    for view, expected in [(rates, ITEMS["ratedata"].inst_Frate_data), (stack, ITEMS["rateslicestack"].event_stack),
                           (lazy.get_lazy("ns", "pairwise").matrix, ITEMS["pairwise"].matrix),
                           (lazy.get_lazy("ns", "pairwise_stack").stack, ITEMS["pairwise_stack"].stack)]:
        assert isinstance(view, zarr.Array) and isinstance(view, LazyArray) and view.read_only
        assert view.nchunks >= 1 and "Read-only          : True" in repr(view.info)
        assert_same(expected, da.from_zarr(view).compute())
        assert_same(expected, view.load())
        with pytest.raises(ReadOnlyError):
            view[0] = 1.0
    assert rates.dims == ("unit", "time") and stack.dims == ("unit", "time", "slice")
    for name, obj in ITEMS.items():
        if isinstance(obj, np.ndarray) and obj.size:
            view = lazy.get_lazy("ns", name)
            assert isinstance(view, zarr.Array) and view.dtype == obj.dtype, name
            assert_same(obj, da.from_zarr(view).compute(), name)
    assert isinstance(lazy.get_lazy("ns", "dict")["array"], zarr.Array)


def test_big_endian_and_string_views_keep_their_dtype(location) -> None:
    big = np.arange(12, dtype=">f8").reshape(3, 4)
    words = np.array(["alpha", "be", "c"])
    ws = AnalysisWorkspace()
    ws.store("a", "big", big)
    ws.store("a", "words", words)
    ws.save(location.url, storage_options=location.storage_options)
    lazy = _open(location)
    view = lazy.get_lazy("a", "big")
    assert view.dtype == big.dtype and view[1:].dtype == big.dtype and view.to_dask().compute().dtype == big.dtype
    assert_same(big[1:], view[1:])
    assert_same(big, lazy.to_xarray("a", "big").data.values)
    strings = lazy.get_lazy("a", "words")
    assert strings.dtype == words.dtype and type(strings[0]) is np.str_
    assert_same(words, strings.to_dask().compute())
    assert_same(words[[0, 2]], strings[np.array([0, 2])])  # zarr's fancy indexing, restored dtype


def test_to_xarray_of_a_stored_item_equals_the_in_memory_one(saved) -> None:
    lazy = _open(saved)
    assert {"ratedata", "rateslicestack", "pairwise", "pairwise_stack", "array_float64", "str_array", "empty"} <= set(XARRAY_ITEMS)
    for name in sorted(XARRAY_ITEMS):
        eager = to_xarray(ITEMS[name])
        stored = lazy.to_xarray("ns", name)
        for var in stored.data_vars.values():
            assert isinstance(var.data, da.Array), name
        xr.testing.assert_identical(eager, stored.compute())
        xr.testing.assert_identical(eager, to_xarray(lazy.get_lazy("ns", name)).compute())
        main = next(iter(eager.data_vars.values()))
        assert_same(np.asarray(codecs.encode_item(ITEMS[name], name).datasets[main.name].data), main.values, name)


def test_xarray_coordinates(saved) -> None:
    rd, rss, pcm = ITEMS["ratedata"], ITEMS["rateslicestack"], ITEMS["pairwise"]
    lazy = _open(saved)
    ds = lazy.to_xarray("ns", "ratedata")
    assert ds.inst_Frate_data.dims == ("unit", "time")
    assert_same(np.asarray(rd.times, dtype=float), ds.time.values)
    assert_same(np.arange(rd.N), ds.unit.values)
    for attr in ("snr", "region", "channel"):
        assert ds[attr].dims == ("unit",)
    assert [bool(v) for v in ds.good.values] == [u["good"] for u in rd.neuron_attributes]
    assert_same(rd.inst_Frate_data[2, 5:9], ds.inst_Frate_data.isel(unit=2, time=slice(5, 9)).values)
    assert "template" not in ds.coords  # an array per unit: not a unit coordinate

    ds = lazy.to_xarray("ns", "rateslicestack")
    assert ds.event_stack.dims == ("unit", "time", "slice")
    assert_same(np.array([t[0] for t in rss.times]), ds.slice_start.values)
    assert_same(np.array([t[1] for t in rss.times]), ds.slice_end.values)
    assert_same(np.arange(rss.event_stack.shape[1]) * rss.step_size, ds.time.values)
    assert_same(rss.event_stack[:, :, 1], ds.event_stack.isel(slice=1).values)

    ds = lazy.to_xarray("ns", "pairwise")
    assert list(ds.unit_i.values) == pcm.labels and list(ds.unit_j.values) == pcm.labels
    assert float(ds.matrix.sel(unit_i=pcm.labels[1], unit_j=pcm.labels[2])) == pcm.matrix[1, 2]
    assert lazy.to_xarray("ns", "array_float64").data.dims == ("dim_0", "dim_1", "dim_2")


def test_unsupported_items_and_missing_xarray(saved, monkeypatch) -> None:
    lazy = _open(saved)
    for name in ("spikedata_full", "spikeslicestack", "dict"):
        with pytest.raises(UnsupportedTypeError, match="to_xarray"):
            lazy.to_xarray("ns", name)
        with pytest.raises(UnsupportedTypeError):
            to_xarray(ITEMS[name])
    with pytest.raises(UnsupportedTypeError):
        lazy.to_dask("ns", "dict")
    with pytest.raises(spikestore.ItemNotFoundError):
        lazy.to_xarray("ns", "missing")
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install spikestore\[xarray\]") as info:
        lazy.to_xarray("ns", "ratedata")
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError):
        to_xarray(ITEMS["ratedata"])


def test_to_dask_is_chunked_as_stored(saved) -> None:
    lazy = _open(saved)
    rates = lazy.to_dask("ns", "ratedata")
    view = lazy.get_lazy("ns", "ratedata").inst_Frate_data
    assert tuple(c[0] for c in rates.chunks) == view.chunks
    assert_same(ITEMS["ratedata"].inst_Frate_data, rates.compute())
    assert_same(ITEMS["spikedata_full"].raw_data, lazy.to_dask("ns", "spikedata_full", "raw_data").compute())
    assert_same(np.asarray(ITEMS["ratedata"].times, dtype=float), lazy.to_dask("ns", "ratedata", "times").compute())
    assert_same(ITEMS["array_float64"], lazy.to_dask("ns", "array_float64").compute())


def test_dask_chunks_of_a_sharded_array_are_its_inner_chunks(location) -> None:
    rng = np.random.default_rng(5)
    rss = RateSliceStack(event_matrix=rng.random((200, 75, 12)), times_start_to_end=[(100.0 * i, 100.0 * i + 75.0) for i in range(12)], step_size=1.0)
    ws = AnalysisWorkspace()
    ws.store("a", "rss", rss)
    ws.save(location.url, storage_options=location.storage_options)
    lazy = _open(location)
    view = lazy.get_lazy("a", "rss").event_stack
    assert view.shards is not None and view.chunks == (200, 75, 1)
    arr = lazy.to_dask("a", "rss")
    assert arr.chunks == tuple((s,) * (n // s) for s, n in zip(view.chunks, view.shape))
    assert_same(rss.event_stack, arr.compute())
    assert lazy.to_dask("a", "rss", chunks=view.shards).numblocks[2] == 12 // view.shards[2]


def test_xarray_open_zarr_reads_an_item_folder(saved) -> None:
    lazy = _open(saved)
    so = saved.storage_options or {}
    ds = xr.open_zarr(item_url(lazy, "ns", "ratedata"), storage_options=so or None)
    rd = ITEMS["ratedata"]
    assert ds.inst_Frate_data.dims == ("unit", "time") and ds.times.dims == ("time",)
    assert_same(rd.inst_Frate_data, ds.inst_Frate_data.values)
    columns = zarr.open_group(item_url(lazy, "ns", "ratedata"), mode="r", storage_options=so or None)["neuron_attributes"]
    kept = columns.attrs["spikestore:inline_arrays"]  # small columns are kept in the index; their values are here
    assert_same(np.asarray([a["snr"] for a in rd.neuron_attributes]), np.asarray(kept["snr"]["values"], dtype=kept["snr"]["dtype"]))
    assert xr.open_zarr(item_url(lazy, "ns", "ratedata"), group="neuron_attributes", storage_options=so or None).attrs["spikestore:inline_arrays"] == kept
    ds = xr.open_zarr(item_url(lazy, "ns", "pairwise_stack"), storage_options=so or None)
    assert ds["stack"].dims == ("unit_i", "unit_j", "slice") and ds["labels"].dims == ("unit_i",)


# -- request counts on S3 ---------------------------------------------------------


def _counted(server, fn):
    server.reset_counts()
    out = fn()
    return out, server.reset_counts()


def test_no_request_until_data_is_computed(s3_server) -> None:
    rng = np.random.default_rng(2)
    units, bins = 300, 4000
    rates = RateData(rng.random((units, bins)), times=np.arange(bins) * 5.0,
                     neuron_attributes=[{"snr": float(i), "region": "CA1"} for i in range(units)])
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    so = s3_server.storage_options
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", rates)
    ws.save(url, storage_options=so)
    lazy = open_workspace(url, storage_options=so)
    _, counts = _counted(s3_server, lambda: (lazy.get_lazy("rec", "rates").inst_Frate_data, lazy.to_dask("rec", "rates")))
    assert counts.total == 0, counts
    view = lazy.get_lazy("rec", "rates").inst_Frate_data
    _, counts = _counted(s3_server, lambda: (da.from_zarr(view), view.info, view.nchunks, view.dims))
    assert counts.total == 0, counts
    ds, counts = _counted(s3_server, lambda: lazy.to_xarray("rec", "rates"))
    assert counts.total == 3, counts  # times and the two per-unit columns, nothing of the rates
    row, counts = _counted(s3_server, lambda: ds.inst_Frate_data.isel(unit=7).values)
    assert_same(rates.inst_Frate_data[7], row)
    # the index of each shard holding row 7, then the inner chunks holding it
    assert counts.total == -(-bins // view.shards[1]) + -(-bins // view.chunks[1]), (counts, view.chunks, view.shards)
    whole, counts = _counted(s3_server, lambda: lazy.to_dask("rec", "rates").compute())
    assert_same(rates.inst_Frate_data, whole)
    assert counts.total <= 2 * view.nchunks, counts  # one task per inner chunk: a shard index and the chunk
    whole, counts = _counted(s3_server, lambda: lazy.to_dask("rec", "rates", chunks=view.shards).compute())
    assert_same(rates.inst_Frate_data, whole)
    assert counts.total == math.prod(-(-s // c) for s, c in zip(view.shape, view.shards)), counts  # one GET per shard


def test_a_distributed_reduction_reads_through_pickled_views(s3_server) -> None:
    """On S3 (a cluster's workers share object storage; memory:// is per process)."""
    from .conftest import StoreLocation

    distributed = pytest.importorskip("distributed")
    location = StoreLocation("s3", f"s3://{BUCKET}/{uuid.uuid4().hex}", s3_server.storage_options, s3_server)
    rng = np.random.default_rng(4)
    rates = RateData(rng.random((40, 30_000)), times=np.arange(30_000) * 1.0)
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", rates)
    ws.save(location.url, storage_options=location.storage_options)
    lazy = _open(location)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, distributed.Client(cluster):
        mean = lazy.to_xarray("rec", "rates").inst_Frate_data.mean("time").compute()
        total = lazy.to_dask("rec", "rates").sum().compute()
    assert np.allclose(mean.values, rates.inst_Frate_data.mean(axis=1))
    assert np.isclose(total, rates.inst_Frate_data.sum())


def test_fill_hints_names_records_written_without_names() -> None:
    record = codecs.encode_item(ITEMS["rateslicestack"], "x")
    expected = {n: ds.dims for n, ds in record.datasets.items()}
    columns = {n: ds.dims for n, ds in record.children["neuron_attributes"].datasets.items()}
    for _, rec in record.walk():
        for ds in rec.datasets.values():
            ds.dims = None
    codecs.fill_hints(record)
    assert {n: ds.dims for n, ds in record.datasets.items()} == expected
    assert {n: ds.dims for n, ds in record.children["neuron_attributes"].datasets.items()} == columns


def test_the_time_ordered_copy_of_a_large_spikedata_has_dimension_names(tmp_path) -> None:
    from spikelab.spikedata.spikedata import SpikeData

    rng = np.random.default_rng(5)
    sd = SpikeData([np.sort(rng.uniform(0, 60_000.0, 7_000)) for _ in range(10)], length=60_000.0)  # 70,000 spikes
    ws = AnalysisWorkspace()
    ws.store("ns", "big", sd)
    ws.save(tmp_path / "ws")
    with open_workspace(tmp_path / "ws") as lazy:
        derived = lazy._require_open().index.entry("ns", "big")["tree"]["derived"]
    assert derived["by_time_times"]["dimension_names"] == ["spike"]
    assert derived["by_time_units"]["dimension_names"] == ["spike"]
    assert derived["by_time_offsets"]["dimension_names"] == ["time_block_edge"]


# -- layouts and codecs chosen at write time, dicts kept in the index ----------------


def _force_candidate(monkeypatch, name: str) -> None:
    """Make the write-time codec trial keep ``name`` wherever it applies (the default elsewhere)."""
    from spikestore.containers import codec_choice

    def pick(trials):
        return next((t for t in trials if t.candidate.name == name), trials[0])

    monkeypatch.setattr(codec_choice, "pick", pick)


def _codec_names(doc: dict) -> list[str]:
    """The codec chain of an array document (the inner chain for a sharded array), without
    ``bytes``; Blosc as ``blosc:<shuffle>``."""
    codecs_ = doc["codecs"]
    if codecs_[0]["name"] == "sharding_indexed":
        codecs_ = codecs_[0]["configuration"]["codecs"]
    return [c["name"] + (f":{c['configuration']['shuffle']}" if c["name"] == "blosc" else "") for c in codecs_ if c["name"] != "bytes"]


@pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3 specification")
@pytest.mark.parametrize("candidate", ["pcodec", "delta", "shuffle", "bitshuffle", "zstd"])
def test_chosen_codecs_and_tiles_are_read_by_zarr_xarray_and_dask(location, monkeypatch, candidate) -> None:
    """Rate matrices in tiles written by fast_shards and arrays with any chosen codec chain:
    plain zarr.open_group, xarray.open_zarr, da.from_zarr on views and to_xarray read them."""
    _force_candidate(monkeypatch, candidate)
    rng = np.random.default_rng(8)
    units, bins = 40, 4_200  # 1.3 MB: a codec trial, tiles of 32 units
    rates = RateData(np.round(rng.gamma(2.0, 3.0, (units, bins)), 2), times=np.arange(bins) * 10.0,
                     neuron_attributes=[{"snr": float(i), "region": "CA1"} for i in range(units)])
    offsets = np.cumsum(rng.poisson(3, 200_000)).astype(np.int64)  # 1.6 MB of 1-D integers
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", rates)
    ws.store("rec", "offsets", offsets)
    ws.save(location.url, storage_options=location.storage_options)
    lazy = _open(location)
    so = location.storage_options
    chain = {"pcodec": "numcodecs.pcodec", "delta": "numcodecs.delta", "shuffle": "blosc:shuffle", "bitshuffle": "blosc:bitshuffle", "zstd": "zstd"}[candidate]
    rate_doc = _array_documents(location, lazy, "rates", "rec")["inst_Frate_data"]
    assert rate_doc["codecs"][0]["name"] == "sharding_indexed" and rate_doc["dimension_names"] == ["unit", "time"]
    assert _codec_names(_array_documents(location, lazy, "offsets", "rec")["data"])[0] == chain
    if candidate != "delta":  # delta is tried on 1-D integers only
        assert _codec_names(rate_doc)[0] == chain

    for key, main, expected, dims in [("rates", "inst_Frate_data", rates.inst_Frate_data, ("unit", "time")),
                                      ("offsets", "data", offsets, ("dim_0",))]:
        url = item_url(lazy, "rec", key)
        array = zarr.open_group(url, mode="r", storage_options=so)[main]
        assert array.metadata.dimension_names == dims
        assert_same(expected, array[...])
        plain = xr.open_zarr(url, storage_options=so)
        assert plain[main].dims == dims
        assert_same(expected, plain[main].values)
        view = lazy.get_lazy("rec", key)
        view = view if key == "offsets" else view.inst_Frate_data
        assert isinstance(view, zarr.Array) and view.metadata.dimension_names == dims
        assert_same(expected, da.from_zarr(view).compute())
        assert_same(expected[7], view[7])
        xr.testing.assert_identical(to_xarray(rates if key == "rates" else offsets), lazy.to_xarray("rec", key).compute())


def test_a_dict_kept_in_the_index_has_named_zarr_arrays_but_no_group(location) -> None:
    few = {"n": 3, "values": np.arange(6.0), "grid": np.arange(6).reshape(2, 3)}
    ws = AnalysisWorkspace()
    ws.store("rec", "few", few)
    ws.save(location.url, storage_options=location.storage_options)
    lazy = _open(location)
    assert lazy._require_open().index.entry("rec", "few")["tree"]["in_index"] is True
    view = lazy.get_lazy("rec", "few")
    for name, dims in [("values", ("dim_0",)), ("grid", ("dim_0", "dim_1"))]:
        array = view[name]
        assert isinstance(array, zarr.Array) and array.read_only and array.metadata.dimension_names == dims
        assert_same(few[name], da.from_zarr(array).compute())
        assert_same(few[name], array.to_dask().compute())
    with pytest.raises(UnsupportedTypeError, match="kept wholly in the index"):
        item_url(lazy, "rec", "few")


def test_items_imported_from_hdf5_have_the_same_dimension_names(tmp_path) -> None:
    from spikestore import export_hdf5, import_hdf5

    ws = AnalysisWorkspace()
    for name in ("spikedata_full", "ratedata", "rateslicestack", "pairwise", "pairwise_stack", "array_float64", "dict"):
        ws.store("ns", name, ITEMS[name])
    ws.save(str(tmp_path / "ws"))
    export_hdf5(str(tmp_path / "ws"), str(tmp_path / "exported"))
    import_hdf5(str(tmp_path / "exported"), str(tmp_path / "imported"))
    with open_workspace(str(tmp_path / "ws")) as saved, open_workspace(str(tmp_path / "imported")) as imported:
        for name in ("spikedata_full", "ratedata", "rateslicestack", "pairwise", "pairwise_stack", "array_float64", "dict"):
            names = {}
            for lazy in (saved, imported):
                names[lazy is saved] = {path: doc.get("dimension_names") for path, doc in _array_documents(None, lazy, name).items()}
            assert names[True] == names[False] and all(v is not None for v in names[False].values()), name
        assert xr.open_zarr(item_url(imported, "ns", "ratedata")).inst_Frate_data.dims == ("unit", "time")
