"""HDF5 exchange with spikelab, the real peer: export, import, load, copy.

spikelab's format is lossy in a few documented spots, so "equal" means:

* spikelab reading our export must give exactly what spikelab reading its own
  save of the same workspace gives (spikelab's reader turns numpy scalars in
  dicts into Python numbers, lists in dicts into arrays);
* spikestore reading spikelab's save must give the original objects, except
  that spikelab writes ``__scalar_kind__ = "bool"`` for a numpy bool under
  numpy 2, which any reader can only return as a Python ``bool``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tracemalloc
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np
import pytest
from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

from spikestore.testing.compare import stored_array_documents
from spikestore import AnalysisWorkspace, copy_workspace, export_hdf5, import_hdf5
from spikestore.errors import (
    CorruptDataError,
    FormatError,
    ItemNotFoundError,
    SpikestoreError,
    UnsupportedTypeError,
    WorkspaceNotFoundError,
)

from .objects import all_items, assert_same, big_endian_items, uneven_slice_stack

NS = "rec1"


def spikelab_lossy(name: str, obj: Any) -> Any:
    """The original as any reader of spikelab's own file gets it back (see module docstring)."""
    if name == "dict":
        obj = dict(obj)
        obj["np_bool"] = bool(obj["np_bool"])
    return obj


def twin_workspaces(items: dict[str, Any]) -> tuple[AnalysisWorkspace, SpikelabWorkspace]:
    """The same workspace in spikestore and in spikelab (same ids and timestamps)."""
    ours = AnalysisWorkspace(name="twins")
    theirs = SpikelabWorkspace(name="twins")
    theirs.workspace_id, theirs.created_at = ours.workspace_id, ours.created_at
    for name, obj in items.items():
        note = None if name.startswith("array_") else f"note for {name}"
        ours.store(NS, name, obj, note=note)
        theirs.store(NS, name, obj, note=note)
        theirs._index[NS][name]["created_at"] = ours._index[NS][name]["created_at"]
    ours.store("other", "x", np.arange(3.0))
    theirs.store("other", "x", np.arange(3.0))
    theirs._index["other"]["x"]["created_at"] = ours._index["other"]["x"]["created_at"]
    return ours, theirs


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Our export and spikelab's save of twin workspaces, and spikelab's reading of both."""
    folder = tmp_path_factory.mktemp("hdf5")
    items = all_items()
    ours, theirs = twin_workspaces(items)
    export_hdf5(ours, str(folder / "ours"))
    theirs.save(str(folder / "theirs"))
    return {
        "folder": folder,
        "items": items,
        "ours_ws": ours,
        "ours": str(folder / "ours"),
        "theirs": str(folder / "theirs"),
        "spikelab_reads_ours": SpikelabWorkspace.load(str(folder / "ours")),
        "spikelab_reads_theirs": SpikelabWorkspace.load(str(folder / "theirs")),
    }


# ---------------------------------------------------------------------------
# export: spikelab reads what we write
# ---------------------------------------------------------------------------


def test_spikelab_loads_our_export_as_it_loads_its_own_save(saved) -> None:
    got, ref = saved["spikelab_reads_ours"], saved["spikelab_reads_theirs"]
    assert (got.workspace_id, got.name, got.created_at) == (ref.workspace_id, ref.name, ref.created_at)
    assert got.describe() == ref.describe()
    for name in saved["items"]:
        assert_same(ref.get(NS, name), got.get(NS, name), name)


def test_spikelab_round_trip_of_our_export_is_lossless_where_spikelab_is(saved) -> None:
    got = saved["spikelab_reads_ours"]
    for name, obj in saved["items"].items():
        if name != "dict":  # spikelab's reader turns numpy scalars in dicts into Python ones
            assert_same(obj, got.get(NS, name), name)


def test_spikelab_load_item_reads_our_export(saved) -> None:
    for name in ("spikedata_full", "spikeslicestack", "dict", "str_array", "zero_d", "pairwise_int_labels"):
        assert_same(saved["spikelab_reads_theirs"].get(NS, name), SpikelabWorkspace.load_item(saved["ours"], NS, name), name)


def test_json_index_is_spikelabs(saved) -> None:
    with open(saved["ours"] + ".json") as a, open(saved["theirs"] + ".json") as b:
        assert a.read() == b.read()


def _structure(path: str) -> dict[str, Any]:
    """Every group and dataset: names, dtypes, shapes, layout, attribute names/types/values."""
    out: dict[str, Any] = {}

    def attrs(obj: Any) -> dict[str, Any]:
        result = {}
        for name in obj.attrs:
            value = obj.attrs[name]
            value = value.tolist() if isinstance(value, np.ndarray) else value
            result[name] = (str(obj.attrs.get_id(name).dtype), value)
        return result

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            string = h5py.check_string_dtype(obj.dtype)
            dtype = f"str:{string.encoding}" if string else str(obj.dtype)
            out[name] = ("dataset", dtype, obj.shape, obj.chunks, obj.compression, attrs(obj))
        else:
            out[name] = ("group", attrs(obj))

    with h5py.File(path, "r") as f:
        out["/"] = ("root", attrs(f))
        f.visititems(visit)
    return out


def test_h5_structure_is_spikelabs(saved) -> None:
    ours, theirs = _structure(saved["ours"] + ".h5"), _structure(saved["theirs"] + ".h5")
    assert ours[f"{NS}/dict/np_bool"][1]["__scalar_kind__"][1] == "bool"  # as spikelab (numpy 2) writes it
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name] == theirs[name], name


def test_export_strips_h5_suffix_and_returns_paths(tmp_path) -> None:
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(4))
    h5, js = export_hdf5(ws, str(tmp_path / "out.h5"))
    assert (h5, js) == (str(tmp_path / "out.h5"), str(tmp_path / "out.json"))
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "out.json"]
    assert_same(np.arange(4), SpikelabWorkspace.load_item(str(tmp_path / "out"), "a", "b"))


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_compressed_export_is_read_by_spikelab(saved, tmp_path, compression) -> None:
    ws = saved["ours_ws"]
    export_hdf5(ws, str(tmp_path / "c"), compression=compression)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert f[f"{NS}/ratedata/inst_Frate_data"].compression == compression
        assert f[f"{NS}/zero_d/data"].compression is None  # scalars cannot be chunked
    got = SpikelabWorkspace.load(str(tmp_path / "c"))
    for name in saved["items"]:
        assert_same(saved["spikelab_reads_theirs"].get(NS, name), got.get(NS, name), name)


def test_export_from_a_store_url_streams_every_item(location, saved, tmp_path) -> None:
    ws = saved["ours_ws"]
    ws.save(location.url, storage_options=location.storage_options)
    export_hdf5(location.url, str(tmp_path / "from_store"), storage_options=location.storage_options)
    got = SpikelabWorkspace.load(str(tmp_path / "from_store"))
    ref = saved["spikelab_reads_theirs"]
    assert (got.workspace_id, got.name, got.created_at) == (ref.workspace_id, ref.name, ref.created_at)
    for name in saved["items"]:
        assert_same(ref.get(NS, name), got.get(NS, name), name)
    with open(tmp_path / "from_store.json") as a, open(saved["theirs"] + ".json") as b:
        assert json.load(a) == json.load(b)
    assert _structure(str(tmp_path / "from_store.h5")) == _structure(saved["ours"] + ".h5")


def test_export_from_a_lazy_workspace(tmp_path) -> None:
    from spikestore import open_workspace

    ws = open_workspace(str(tmp_path / "lazy"), mode="a")
    ws.store("a", "sd", all_items()["spikedata_full"], note="lazy")
    export_hdf5(ws, str(tmp_path / "lazy_export"))
    assert_same(all_items()["spikedata_full"], SpikelabWorkspace.load_item(str(tmp_path / "lazy_export"), "a", "sd"))
    assert SpikelabWorkspace.load(str(tmp_path / "lazy_export")).get_info("a", "sd")["note"] == "lazy"


def test_export_validates_every_item_before_creating_a_file(tmp_path) -> None:
    ws = AnalysisWorkspace()
    ws.store("a", "good", np.arange(3))
    ws.store("b", "bad", object())
    with pytest.raises(UnsupportedTypeError, match=r"\('b', 'bad'\)"):
        export_hdf5(ws, str(tmp_path / "x"))
    assert os.listdir(tmp_path) == []


def test_failed_export_keeps_the_previous_file(tmp_path) -> None:
    ws = AnalysisWorkspace()
    ws.store("a", "x", np.arange(3))
    export_hdf5(ws, str(tmp_path / "x"))
    before = (tmp_path / "x.h5").read_bytes()
    with pytest.raises(WorkspaceNotFoundError):
        export_hdf5(str(tmp_path / "no-such-workspace"), str(tmp_path / "x"))
    assert (tmp_path / "x.h5").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["x.h5", "x.json"]


# ---------------------------------------------------------------------------
# import and load: we read what spikelab writes
# ---------------------------------------------------------------------------


def test_import_spikelab_save_to_every_store(location, saved) -> None:
    import_hdf5(saved["theirs"], location.url, storage_options=location.storage_options)
    got = AnalysisWorkspace.load(location.url, storage_options=location.storage_options)
    ref = saved["ours_ws"]
    assert (got.workspace_id, got.name, got.created_at) == (ref.workspace_id, ref.name, ref.created_at)
    with open(saved["theirs"] + ".json") as fh:
        assert got.describe() == json.load(fh)["index"]
    for name, obj in saved["items"].items():
        assert_same(spikelab_lossy(name, obj), got.get(NS, name), name)


def test_load_and_load_item_read_a_spikelab_save_directly(saved) -> None:
    got = AnalysisWorkspace.load(saved["theirs"])
    ref = saved["spikelab_reads_theirs"]
    assert type(got) is AnalysisWorkspace
    assert (got.workspace_id, got.name, got.created_at) == (ref.workspace_id, ref.name, ref.created_at)
    assert got.describe() == ref.describe()
    for name, obj in saved["items"].items():
        assert_same(spikelab_lossy(name, obj), got.get(NS, name), name)
    assert_same(saved["items"]["spikeslicestack"], AnalysisWorkspace.load_item(saved["theirs"] + ".h5", NS, "spikeslicestack"))


def test_load_item_missing_names_raise_spikelabs_key_errors(saved) -> None:
    with pytest.raises(KeyError, match="Namespace 'nope' not found in workspace file.") as exc:
        AnalysisWorkspace.load_item(saved["theirs"], "nope", "x")
    assert isinstance(exc.value, ItemNotFoundError)
    with pytest.raises(ItemNotFoundError, match="Key 'nope' not found in namespace 'rec1'."):
        AnalysisWorkspace.load_item(saved["theirs"], NS, "nope")


def test_copy_workspace_between_stores(location, saved) -> None:
    src = f"memory://spikestore-tests/copy-src-{location.kind}"
    saved["ours_ws"].save(src)
    copy_workspace(src, location.url, dst_storage_options=location.storage_options)
    back = location.child("back")
    copy_workspace(location.url, back.url, src_storage_options=location.storage_options, dst_storage_options=back.storage_options)
    got = AnalysisWorkspace.load(back.url, storage_options=back.storage_options)
    ref = saved["ours_ws"]
    assert (got.workspace_id, got.name, got.created_at) == (ref.workspace_id, ref.name, ref.created_at)
    assert got.describe() == ref.describe()
    for name, obj in saved["items"].items():
        assert_same(obj, got.get(NS, name), name)


def test_export_from_s3_and_import_to_s3_round_trip(s3_server, saved, tmp_path) -> None:
    from .conftest import BUCKET

    so = s3_server.storage_options
    url = f"s3://{BUCKET}/hdf5-roundtrip"
    import_hdf5(saved["theirs"], url, storage_options=so)
    export_hdf5(url, str(tmp_path / "again"), storage_options=so)
    got = SpikelabWorkspace.load(str(tmp_path / "again"))
    for name in saved["items"]:
        assert_same(saved["spikelab_reads_theirs"].get(NS, name), got.get(NS, name), name)


# ---------------------------------------------------------------------------
# bad input: clear errors, destination untouched
# ---------------------------------------------------------------------------


@pytest.fixture()
def existing(tmp_path) -> tuple[str, AnalysisWorkspace]:
    """A destination that already holds a workspace."""
    ws = AnalysisWorkspace(name="keep me")
    ws.store("old", "rates", np.arange(12.0).reshape(3, 4), note="old")
    url = str(tmp_path / "dest")
    ws.save(url)
    return url, ws


def assert_unchanged(url: str, ws: AnalysisWorkspace) -> None:
    got = AnalysisWorkspace.load(url)
    assert (got.workspace_id, got.name, got.describe()) == (ws.workspace_id, ws.name, ws.describe())
    assert_same(ws.get("old", "rates"), got.get("old", "rates"))


def _copy_save(saved, tmp_path, name: str = "bad") -> str:
    base = str(tmp_path / name)
    shutil.copy(saved["theirs"] + ".h5", base + ".h5")
    shutil.copy(saved["theirs"] + ".json", base + ".json")
    return base


def test_import_missing_h5(tmp_path, existing) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="nothing.h5"):
        import_hdf5(str(tmp_path / "nothing"), existing[0])
    assert_unchanged(*existing)


def test_import_truncated_h5(saved, tmp_path, existing) -> None:
    base = _copy_save(saved, tmp_path)
    size = os.path.getsize(base + ".h5")
    with open(base + ".h5", "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(FormatError, match="bad.h5"):
        import_hdf5(base, existing[0])
    with pytest.raises(FormatError, match="bad.h5"):
        AnalysisWorkspace.load(base)
    assert_unchanged(*existing)


def test_import_text_file_named_h5(saved, tmp_path, existing) -> None:
    base = _copy_save(saved, tmp_path)
    with open(base + ".h5", "w") as fh:
        fh.write("this is not HDF5\n")
    with pytest.raises(FormatError, match="not a readable HDF5 file"):
        import_hdf5(base, existing[0])
    assert_unchanged(*existing)


def test_import_h5_that_is_not_a_workspace(tmp_path, existing) -> None:
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FormatError, match="not a spikelab workspace"):
        import_hdf5(str(tmp_path / "plain"), existing[0])
    assert_unchanged(*existing)


def test_import_missing_json(saved, tmp_path, existing) -> None:
    base = _copy_save(saved, tmp_path)
    os.remove(base + ".json")
    with pytest.raises(FormatError, match=r"bad\.json is missing"):
        import_hdf5(base, existing[0])
    assert_unchanged(*existing)


@pytest.mark.parametrize("change", ["workspace_id", "extra_key", "missing_key"])
def test_import_json_not_matching_h5(saved, tmp_path, existing, change) -> None:
    base = _copy_save(saved, tmp_path)
    with open(base + ".json") as fh:
        content = json.load(fh)
    if change == "workspace_id":
        content["workspace_id"] = "someone-else"
    elif change == "extra_key":
        content["index"][NS]["ghost"] = {"type": "ndarray"}
    else:
        del content["index"]["other"]
    with open(base + ".json", "w") as fh:
        json.dump(content, fh)
    with pytest.raises(FormatError) as exc:
        import_hdf5(base, existing[0])
    assert "bad.json" in str(exc.value) and "bad.h5" in str(exc.value)
    assert_unchanged(*existing)


@pytest.mark.parametrize("where", [f"{NS}/pairwise", f"{NS}/dict/nested/deeper"])
def test_import_unknown_type(saved, tmp_path, existing, where) -> None:
    base = _copy_save(saved, tmp_path)
    with h5py.File(base + ".h5", "r+") as f:
        f[where].attrs["__type__"] = "FancyNewType"
    with pytest.raises(FormatError, match="FancyNewType") as exc:
        import_hdf5(base, existing[0])
    assert "bad.h5" in str(exc.value)
    with pytest.raises(FormatError, match="FancyNewType"):
        AnalysisWorkspace.load(base)
    assert_unchanged(*existing)


def _damaged_save(tmp_path) -> tuple[str, dict[str, Any]]:
    """A spikelab-format save whose last item has a corrupt gzip chunk (found only when read)."""
    items = {"a_first": np.arange(1000.0), "z_last": np.arange(200_000.0)}
    ws = AnalysisWorkspace(name="damaged")
    for name, obj in items.items():
        ws.store("ns", name, obj)
    base = str(tmp_path / "damaged")
    export_hdf5(ws, base, compression="gzip")
    with h5py.File(base + ".h5", "r") as f:
        info = f["ns/z_last/data"].id.get_chunk_info(0)
    with open(base + ".h5", "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)
    return base, items


def test_import_failing_mid_copy_leaves_the_old_workspace(tmp_path, existing) -> None:
    base, _ = _damaged_save(tmp_path)
    with pytest.raises(CorruptDataError, match="damaged.h5"):
        import_hdf5(base, existing[0])
    assert_unchanged(*existing)


def test_import_failing_mid_copy_into_a_fresh_location_publishes_nothing(location, tmp_path) -> None:
    base, _ = _damaged_save(tmp_path)
    with pytest.raises(CorruptDataError):
        import_hdf5(base, location.url, storage_options=location.storage_options)
    try:
        got = AnalysisWorkspace.load(location.url, storage_options=location.storage_options)
    except WorkspaceNotFoundError:
        pass
    else:
        assert got.describe() == {}, "no item of the failed import is visible"
    ws = AnalysisWorkspace()
    ws.store("ns", "x", np.arange(3))
    ws.save(location.url, storage_options=location.storage_options)  # the location is usable again
    assert_same(np.arange(3), AnalysisWorkspace.load_item(location.url, "ns", "x", storage_options=location.storage_options))


def test_every_error_is_a_spikestore_error() -> None:
    for exc in (CorruptDataError, FormatError, ItemNotFoundError, WorkspaceNotFoundError):
        assert issubclass(exc, SpikestoreError)


# ---------------------------------------------------------------------------
# bounded memory
# ---------------------------------------------------------------------------


def _traced_peaks(*steps) -> list[int]:
    """The peak of Python allocations (tracemalloc) during each of ``steps``, run in turn."""
    peaks = []
    tracemalloc.start()
    try:
        for step in steps:
            tracemalloc.reset_peak()
            step()
            peaks.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    return peaks


def test_streaming_export_and_import_keep_memory_bounded(tmp_path) -> None:
    """A 200 MB item crosses Zarr -> HDF5 -> Zarr with well under 100 MB of Python allocations."""
    big = np.arange(25_000_000, dtype=np.float64)  # 200 MB
    ws = AnalysisWorkspace()
    ws.store("ns", "big", big)
    ws.save(str(tmp_path / "src"))
    del ws, big
    export_peak, import_peak = _traced_peaks(
        lambda: export_hdf5(str(tmp_path / "src"), str(tmp_path / "big")),
        lambda: import_hdf5(str(tmp_path / "big"), str(tmp_path / "dst")),
    )
    assert export_peak < 100e6, f"export peaked at {export_peak / 1e6:.0f} MB"
    assert import_peak < 100e6, f"import peaked at {import_peak / 1e6:.0f} MB"
    with h5py.File(tmp_path / "big.h5", "r") as f:
        data = f["ns/big/data"]
        assert data.shape == (25_000_000,) and data[-1] == 24_999_999.0
    got = AnalysisWorkspace.load_item(str(tmp_path / "dst"), "ns", "big")
    assert got.shape == (25_000_000,) and got[12_345_678] == 12_345_678.0


def test_streaming_import_and_copy_of_a_sharded_rate_matrix_keep_memory_bounded(tmp_path) -> None:
    """A 96 MB rate matrix (tiles layout, 64 MiB shards when saved from memory) is imported and copied
    in blocks of whole shards: memory stays near one block, not a shard rewritten per block."""
    from spikelab.spikedata.ratedata import RateData

    from spikestore.containers.zarr_group import STREAM_BLOCK_BYTES

    rates = np.random.default_rng(0).random((120, 100_000))  # 96 MB
    ws = AnalysisWorkspace()
    ws.store("ns", "rates", RateData(rates, np.arange(100_000, dtype=np.float64)))
    export_hdf5(ws, str(tmp_path / "big"))
    del ws
    import_peak, copy_peak = _traced_peaks(
        lambda: import_hdf5(str(tmp_path / "big"), str(tmp_path / "imported")),
        lambda: copy_workspace(str(tmp_path / "imported"), str(tmp_path / "copied")),
    )
    assert import_peak < 40e6, f"import peaked at {import_peak / 1e6:.0f} MB"
    assert copy_peak < 40e6, f"copy peaked at {copy_peak / 1e6:.0f} MB"
    for where in ("imported", "copied"):
        (document,) = [doc for folder, doc in stored_array_documents(tmp_path / where / "ns" / "rates").items() if folder.endswith("/inst_Frate_data")]
        shard = document["chunk_grid"]["configuration"]["chunk_shape"]
        assert int(np.prod(shard)) * 8 <= STREAM_BLOCK_BYTES, shard
        got = AnalysisWorkspace.load_item(str(tmp_path / where), "ns", "rates")
        assert np.array_equal(got.inst_Frate_data, rates), where


def test_import_keeps_notes_and_created_at_from_the_file(saved, tmp_path) -> None:
    ws = copy.deepcopy(saved["ours_ws"])
    import_hdf5(saved["ours"], str(tmp_path / "z"))
    got = AnalysisWorkspace.load(str(tmp_path / "z"))
    assert got.describe() == ws.describe()


# ---------------------------------------------------------------------------
# copy blocks: bounded whatever the shape
# ---------------------------------------------------------------------------


def test_blocks_of_a_huge_declared_shape_are_bounded() -> None:
    from spikestore.containers.blocks import block_selections as _blocks, block_shape
    from spikestore.containers.hdf5_file import STREAM_BLOCK_BYTES

    shape = (2**20, 2**20)  # 8 TiB of float64: one row (8 MiB) may exceed the block
    for budget in (STREAM_BLOCK_BYTES, 1 << 20, 4096):
        block = block_shape(shape, 8, None, budget)
        assert 0 < int(np.prod(block)) * 8 <= budget, (budget, block)
    first = next(_blocks(shape, 8, None, 4096))
    assert first == (slice(0, 1), slice(0, 512))
    # blocks are whole source chunks: a chunk spanning every row is cut along the columns
    assert block_shape((100, 2_000_000), 8, (100, 977), 8 << 20) == (100, 977 * 10)
    assert block_shape((3, 5), 8, (3, 5), 16) == (3, 5)  # one chunk larger than the budget is one block


def test_blocks_cover_the_array_exactly_once() -> None:
    from spikestore.containers.blocks import block_selections as _blocks

    shape, seen = (7, 5, 3), np.zeros((7, 5, 3), dtype=int)
    for block in _blocks(shape, 8, (2, 2, 3), budget=8 * 2 * 2 * 3):
        seen[block] += 1
    assert (seen == 1).all()


def test_export_from_a_store_reads_blocks_no_larger_than_the_budget(tmp_path, monkeypatch) -> None:
    from spikestore.containers import hdf5_file

    budget = 2 << 20
    wide = np.random.default_rng(1).random((2, 300_000))  # a row of 2.4 MB exceeds the budget
    ws = AnalysisWorkspace()
    ws.store("ns", "wide", wide)
    ws.save(str(tmp_path / "src"))
    monkeypatch.setattr(hdf5_file, "STREAM_BLOCK_BYTES", budget)
    sizes: list[int] = []
    read_ahead = hdf5_file._read_ahead

    def spy(data: Any, blocks: Any) -> Any:
        for block, values in read_ahead(data, blocks):
            sizes.append(values.nbytes)
            yield block, values

    monkeypatch.setattr(hdf5_file, "_read_ahead", spy)
    export_hdf5(str(tmp_path / "src"), str(tmp_path / "wide"))
    assert sizes and max(sizes) <= budget, sizes
    assert sum(sizes) == wide.nbytes
    assert_same(wide, SpikelabWorkspace.load_item(str(tmp_path / "wide"), "ns", "wide"))


# ---------------------------------------------------------------------------
# what import and copy return; progress bars; SIGTERM; a parent that is a file
# ---------------------------------------------------------------------------


def test_import_and_copy_return_the_destination_opened_read_only(saved, tmp_path) -> None:
    from spikestore import LazyAnalysisWorkspace
    from spikestore.errors import ReadOnlyError

    imported = import_hdf5(saved["theirs"], str(tmp_path / "imported"))
    copied = copy_workspace(str(tmp_path / "imported"), str(tmp_path / "copied"))
    for got in (imported, copied):
        assert type(got) is LazyAnalysisWorkspace
        assert got.describe() == saved["ours_ws"].describe()
        assert_same(spikelab_lossy("dict", saved["items"]["dict"]), got.get(NS, "dict"))
        with pytest.raises(ReadOnlyError):
            got.store("new", "x", np.arange(2))


class _FakeBar:
    """Stands in for tqdm: records the total, the label and every update."""

    made: list["_FakeBar"] = []

    def __init__(self, total: int, unit: str, unit_scale: bool, desc: str) -> None:
        self.total, self.desc, self.updates = total, desc, []
        self.initial = total  # ``total`` may be raised later; the bar needs it from the start
        _FakeBar.made.append(self)

    def set_postfix_str(self, label: str, refresh: bool = False) -> None:
        pass

    def update(self, n: int) -> None:
        self.updates.append(n)

    def close(self) -> None:
        pass


@pytest.fixture()
def fake_tqdm(monkeypatch) -> list[_FakeBar]:
    import tqdm.auto

    _FakeBar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _FakeBar)
    return _FakeBar.made


def test_export_bar_knows_its_total_before_the_first_item(saved, tmp_path, fake_tqdm) -> None:
    ws = saved["ours_ws"]
    ws.save(str(tmp_path / "src"))
    export_hdf5(ws, str(tmp_path / "from_memory"), progress=True)
    export_hdf5(str(tmp_path / "src"), str(tmp_path / "from_store"), progress=True)
    assert len(fake_tqdm) == 2
    for bar in fake_tqdm:
        assert bar.initial > 0 and bar.initial == bar.total == sum(bar.updates), (bar.desc, bar.initial, sum(bar.updates))
        assert len(bar.updates) == sum(len(keys) for keys in ws.describe().values())


def test_copy_bar_label_is_short(tmp_path, fake_tqdm) -> None:
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(10))
    src = tmp_path / ("a-rather-long-folder-name-" * 4) / "my-workspace-with-a-long-name"
    ws.save(str(src))
    copy_workspace(str(src), str(tmp_path / "dst"), progress=True)
    (bar,) = fake_tqdm
    assert bar.desc.startswith("copy my-workspace") and len(bar.desc) <= len("copy ") + 20, bar.desc
    assert bar.initial == sum(bar.updates) == 80


def test_export_into_a_path_whose_parent_is_a_file(tmp_path) -> None:
    from spikestore.errors import InvalidURLError

    (tmp_path / "notes.txt").write_text("a file")
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(3))
    with pytest.raises(InvalidURLError, match=r"notes\.txt is a file, not a folder"):
        export_hdf5(ws, str(tmp_path / "notes.txt" / "sub" / "out"))
    with pytest.raises(InvalidURLError, match="does not exist"):
        export_hdf5(ws, str(tmp_path / "missing" / "out"))


_SLOW_EXPORT = """
import faulthandler, signal, sys, time
faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks if this hangs
import numpy as np
import spikestore.transfer as transfer
from spikestore import AnalysisWorkspace, export_hdf5

write_record = transfer.write_record
def slow(*args, **kwargs):
    write_record(*args, **kwargs)
    time.sleep(0.2)
transfer.write_record = slow
ws = AnalysisWorkspace()
for i in range(300):
    ws.store("ns", f"k{i}", np.arange(1000.0))
ws.save(sys.argv[2])
print("exporting", flush=True)
export_hdf5(sys.argv[2], sys.argv[1])
"""


def test_sigterm_during_export_removes_the_temporary_file(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import time

    base = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_EXPORT, str(base), str(tmp_path / "src")],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdout=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("out.h5.tmp-*")):
            assert child.poll() is None, "the export ended before it could be interrupted"
            assert time.monotonic() < deadline, "the temporary file never appeared"
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)  # every thread's stack to stderr, shown with the failure
            time.sleep(2)
            raise
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_zero_slice_stack_exports_spikelabs_times_shape(tmp_path) -> None:
    """spikelab writes the times of no slices with shape (0,), not (0, 2)."""
    from spikelab.spikedata.spikeslicestack import SpikeSliceStack

    empty = SpikeSliceStack.__new__(SpikeSliceStack)
    empty.spike_stack, empty.times, empty.N, empty.neuron_attributes = [], [], 3, None
    ours, theirs = twin_workspaces({"empty_stack": empty})
    export_hdf5(ours, str(tmp_path / "ours"))
    theirs.save(str(tmp_path / "theirs"))
    assert _structure(str(tmp_path / "ours.h5")) == _structure(str(tmp_path / "theirs.h5"))


def _values(path: str) -> dict[str, Any]:
    """Every dataset's values (as nested lists, NaN-safe through their bytes for numbers)."""
    out: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            value = obj[...]
            out[name] = value.tobytes() if value.dtype.kind in "biufc" else value.tolist()

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def test_importing_a_spikelab_file_and_exporting_it_again_gives_the_same_file(tmp_path) -> None:
    """Through a Zarr store and through a direct load: same .json text, .h5 structure and values."""
    from spikelab.spikedata.spikeslicestack import SpikeSliceStack

    empty = SpikeSliceStack.__new__(SpikeSliceStack)
    empty.spike_stack, empty.times, empty.N, empty.neuron_attributes = [], [], 3, None
    items = {**all_items(), **big_endian_items(), "empty_stack": empty, "uneven_stack": uneven_slice_stack()}
    theirs = SpikelabWorkspace(name="theirs")
    for name, obj in items.items():
        theirs.store(NS, name, obj, note=f"note for {name}")
    theirs.save(str(tmp_path / "theirs"))
    import_hdf5(str(tmp_path / "theirs"), str(tmp_path / "zarr"))
    export_hdf5(str(tmp_path / "zarr"), str(tmp_path / "via_zarr"))
    export_hdf5(AnalysisWorkspace.load(str(tmp_path / "theirs")), str(tmp_path / "via_load"))
    # what spikelab writes when it loads its file and saves it again (its index comes back sorted by key)
    SpikelabWorkspace.load(str(tmp_path / "theirs")).save(str(tmp_path / "spikelab_again"))
    expected = str(tmp_path / "theirs")
    for again in (str(tmp_path / "via_zarr"), str(tmp_path / "via_load")):
        with open(expected + ".json") as a, open(again + ".json") as b:
            assert json.load(a) == json.load(b), again
        with open(str(tmp_path / "spikelab_again.json")) as a, open(again + ".json") as b:
            assert a.read() == b.read(), again
        ours, want = _structure(again + ".h5"), _structure(expected + ".h5")
        assert sorted(ours) == sorted(want), again
        for name in want:
            assert ours[name] == want[name], (again, name)
        assert _values(again + ".h5") == _values(expected + ".h5"), again


def test_a_sigterm_swallowed_where_it_landed_is_delivered_when_the_export_block_ends() -> None:
    """A signal handler's exception raised inside a ``__del__`` (or any code catching
    ``BaseException``) is dropped by Python; the latch delivers it anyway."""
    import signal

    from spikestore import transfer

    delivered: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: delivered.append(signum))
    try:
        with pytest.raises(SystemExit) as exit_info:
            with transfer._sigterm_as_exception() as latch:
                try:
                    signal.raise_signal(signal.SIGTERM)
                except BaseException:
                    pass  # swallowed, as a __del__ or a weakref callback would
                assert latch.arrived
                after_signal = True
        assert after_signal and delivered == [signal.SIGTERM]
        assert exit_info.value.code == 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_export_stops_between_items_once_sigterm_arrived(tmp_path, monkeypatch) -> None:
    """The latch is checked after every item: no file is renamed into place after a signal."""
    from spikestore import transfer

    ws = AnalysisWorkspace()
    for i in range(3):
        ws.store("ns", f"k{i}", np.arange(10.0))
    written: list[str] = []
    real_write_record = transfer.write_record

    def write_then_signal(group, record, **kwargs):  # type: ignore[no-untyped-def]
        real_write_record(group, record, **kwargs)
        written.append(group.name)
        latch_holder[0].arrived = True  # as if SIGTERM had been dropped inside this item's write

    latch_holder: list[Any] = []

    @contextmanager
    def capturing():  # type: ignore[no-untyped-def]
        latch = transfer._TerminationLatch()
        latch_holder.append(latch)
        yield latch  # no handler: the test checks only that _write_h5 honours the latch

    monkeypatch.setattr(transfer, "write_record", write_then_signal)
    monkeypatch.setattr(transfer, "_sigterm_as_exception", capturing)
    with pytest.raises(transfer._Terminated):
        export_hdf5(ws, str(tmp_path / "out"))
    assert written == ["/ns/k0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
