"""Objects per item: what each item costs on object storage (every object is
a request), and that packed slice stacks read one slice alone."""

from __future__ import annotations

import re
import uuid

import fsspec
import numpy as np
import pytest
from spikelab.spikedata.spikedata import SpikeData
from spikelab.spikedata.spikeslicestack import SpikeSliceStack

from spikestore import AnalysisWorkspace, open_workspace, verify
from spikestore.errors import FormatError
from spikestore.index import INDEX_DIR, decode_index_object, encode_index_object

from .conftest import BUCKET
from .objects import assert_same


def _objects(url: str, options: dict | None, below: str = "") -> list[str]:
    fs, root = fsspec.core.url_to_fs(url, **(options or {}))
    fs.invalidate_cache()
    return [p for p in fs.find(f"{root}/{below}".rstrip("/")) if "/__spikestore__/" not in p]


def _stack(slices: int) -> SpikeSliceStack:
    rng = np.random.default_rng(slices)
    trains = [np.sort(rng.uniform(0, 100_000.0, 300)) for _ in range(8)]
    sd = SpikeData(trains, length=100_000.0)
    return SpikeSliceStack(sd, times_start_to_end=[(i * 1000.0, i * 1000.0 + 500.0) for i in range(slices)])


def test_a_small_dict_result_is_kept_in_the_index(location) -> None:
    """A small dict of results costs no object; a larger one at most four."""
    ws = AnalysisWorkspace()
    ws.store("runs", "first", {"x": 1.0})
    ws.save(location.url, storage_options=location.storage_options)
    assert _objects(location.url, location.storage_options, "runs") == []
    before = set(_objects(location.url, location.storage_options))
    small = {"score": 0.5, "n": 3, "ok": True, "label": "good", "curve": np.linspace(0, 1, 64), "names": np.array(["a", "bb"])}
    larger = {"score": 0.5, "n": 3, "ok": True, "label": "good", "curve": np.linspace(0, 1, 1000)}  # 8 kB: too large for the index
    with open_workspace(location.url, "r+", storage_options=location.storage_options) as lazy:
        lazy.store("runs", "second", small)
        lazy.rename("runs", "first", "renamed")  # nothing to copy: no object either
        assert set(_objects(location.url, location.storage_options)) == before
        lazy.store("runs", "third", larger)
    new = set(_objects(location.url, location.storage_options)) - before
    # the item's own objects, plus the namespace's group document (no item there had objects yet)
    assert len([p for p in new if "/third/" in p]) <= 4 and all("/third/" in p or p.endswith("runs/zarr.json") for p in new), sorted(new)
    opts = location.storage_options
    assert_same(small, AnalysisWorkspace.load_item(location.url, "runs", "second", storage_options=opts))
    assert_same(larger, AnalysisWorkspace.load_item(location.url, "runs", "third", storage_options=opts))
    with open_workspace(location.url, storage_options=opts) as lazy:
        view = lazy.get_lazy("runs", "second")
        assert_same(small["curve"], view["curve"][:])
    report = verify(location.url, storage_options=opts)
    assert report.ok and report.chunks_checked >= 2, str(report)


def test_an_item_kept_in_the_index_is_checked_like_stored_chunks(tmp_path) -> None:
    """verify decodes the chunks the index keeps and checks their digest; a
    damaged or misplaced one is found, and a reader gets our error."""
    url = str(tmp_path / "ws")
    ws = AnalysisWorkspace()
    ws.store("runs", "r", {"curve": np.linspace(0, 1, 64), "other": np.linspace(1, 2, 64)})  # alike: a swap decodes
    ws.save(url)
    path = next((tmp_path / "ws" / "__spikestore__" / "index").glob("snap-*.json"))
    doc = decode_index_object(path.read_bytes(), "snapshot", "test", legacy=False)[0]
    tree = doc["items"]["runs"]["r"]["tree"]
    chunks = {name: child["inline_chunks"]["data"] for name, child in tree["children"].items()}  # one ndarray each
    # swap the two arrays' chunks: each still decodes, but not to what was written there
    tree["children"]["curve"]["inline_chunks"]["data"], tree["children"]["other"]["inline_chunks"]["data"] = chunks["other"], chunks["curve"]
    path.write_bytes(encode_index_object("snapshot", doc))
    report = verify(url)
    assert not report.ok and "not the ones written" in str(report), str(report)
    tree["children"]["curve"]["inline_chunks"]["data"] = {"c/0": "not base64!"}
    tree["children"]["other"]["inline_chunks"]["data"] = chunks["other"]
    path.write_bytes(encode_index_object("snapshot", doc))
    with pytest.raises(FormatError, match="base64"):
        AnalysisWorkspace.load(url)
    for bad in ({"c/7": chunks["curve"]["c/0"]}, {"c/0/../x": "AA=="}):
        tree["children"]["curve"]["inline_chunks"]["data"] = bad
        path.write_bytes(encode_index_object("snapshot", doc))
        with pytest.raises(FormatError, match="not a chunk of its array"):
            open_workspace(url)
    tree["children"]["curve"]["inline_chunks"]["data"] = chunks["curve"]
    del tree["children"]["other"]["inline_chunks"]  # half in the index, half in (missing) objects
    path.write_bytes(encode_index_object("snapshot", doc))
    with pytest.raises(FormatError, match="not all its arrays are"):
        open_workspace(url)


@pytest.mark.parametrize("slices", [5, 60])
def test_a_slice_stack_costs_the_same_objects_whatever_its_slices(tmp_path, slices) -> None:
    ws = AnalysisWorkspace()
    ws.store("rec", "stack", _stack(slices))
    ws.save(tmp_path / "ws")
    count = len(_objects(str(tmp_path / "ws"), None))
    assert count <= 14, count  # root, namespace, key, item, times (2), slices group + 2 arrays (4) ...
    back = AnalysisWorkspace.load(tmp_path / "ws").get("rec", "stack")
    assert_same(_stack(slices), back)
    with open_workspace(tmp_path / "ws") as lazy:
        view = lazy.get_lazy("rec", "stack")
        assert len(view) == slices
        assert_same(_stack(slices).spike_stack[slices // 2], view.slice(slices // 2))


def test_one_slice_of_a_packed_stack_is_a_few_requests(s3_server) -> None:
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    ws = AnalysisWorkspace()
    ws.store("rec", "stack", _stack(60))
    ws.save(url, storage_options=s3_server.storage_options)
    with open_workspace(url, storage_options=s3_server.storage_options) as lazy:
        view = lazy.get_lazy("rec", "stack")
        s3_server.reset_counts()
        view.slice(7)
        assert s3_server.reset_counts().total <= 4


def test_packed_offsets_that_disagree_with_the_arrays_are_refused(tmp_path) -> None:
    url = str(tmp_path / "ws")
    ws = AnalysisWorkspace()
    ws.store("rec", "stack", _stack(5))
    ws.save(url)
    fs = fsspec.filesystem("file")
    path = sorted(fs.glob(f"{url}/{INDEX_DIR}/snap-*.json"))[-1]
    payload, _ = decode_index_object(fs.cat_file(path), "snapshot", path, legacy=False)
    packed = payload["items"]["rec"]["stack"]["tree"]["children"]["spike_stack"]["packed"]
    packed["offsets"]["spike_times"][-1] += 10**9  # would read past the array's end
    fs.pipe_file(path, encode_index_object("snapshot", payload))
    with pytest.raises(FormatError, match="offsets"):
        AnalysisWorkspace.load(url)


def test_a_copied_packed_stack_stays_packed_and_exact(tmp_path) -> None:
    from spikestore import copy_workspace

    ws = AnalysisWorkspace()
    ws.store("rec", "stack", _stack(30))
    ws.save(tmp_path / "a")
    copy_workspace(str(tmp_path / "a"), str(tmp_path / "b"))
    assert len(_objects(str(tmp_path / "b"), None)) == len(_objects(str(tmp_path / "a"), None))
    assert_same(_stack(30), AnalysisWorkspace.load(tmp_path / "b").get("rec", "stack"))
    assert verify(str(tmp_path / "b")).ok


def test_the_time_ordered_copy_is_kept_only_where_it_pays(tmp_path) -> None:
    """A SpikeData small enough to read whole in one request gets no derived arrays."""
    rng = np.random.default_rng(2)
    small = SpikeData([np.sort(rng.uniform(0, 1000.0, 50)) for _ in range(4)], length=1000.0)
    large = SpikeData([np.sort(rng.uniform(0, 60_000.0, 7_000)) for _ in range(10)], length=60_000.0)
    ws = AnalysisWorkspace()
    ws.store("ns", "small", small)
    ws.store("ns", "large", large)
    ws.save(tmp_path / "ws")
    with open_workspace(tmp_path / "ws") as lazy:
        index = lazy._require_open().index
        assert not index.entry("ns", "small")["tree"].get("derived")
        assert set(index.entry("ns", "large")["tree"]["derived"]) == {"by_time_times", "by_time_units", "by_time_offsets"}
        for name, sd in (("small", small), ("large", large)):
            assert_same(sd.subtime(100.0, 900.0), lazy.get_lazy("ns", name).subtime(100.0, 900.0))


def test_spikestore_info_says_an_item_is_kept_in_the_index(tmp_path, capsys) -> None:
    from spikestore.cli import main

    url = str(tmp_path / "ws")
    ws = AnalysisWorkspace()
    ws.store("runs", "small", {"a": 1, "curve": np.linspace(0, 1, 64)})
    ws.store("runs", "large", {"a": 1, "curve": np.linspace(0, 1, 1000)})
    ws.save(url)
    for key, kept in (("small", True), ("large", False)):
        with pytest.raises(SystemExit) as done:
            main(["info", url, "runs", key])
        out = capsys.readouterr().out
        assert done.value.code in (0, None), out
        assert ("kept in the index" in out) is kept, out
        assert re.search(r"curve/.*\n.*data .* [1-9][0-9.]* k?B / (512 B|8.0 kB) raw", out), out  # kept chunks have a size too


def _one_item_folder(tmp_path, obj):
    ws = AnalysisWorkspace()
    ws.store("rec", "item", obj)
    ws.save(tmp_path / "ws")
    (version,) = (tmp_path / "ws" / "rec" / "item").glob("v*")
    return version


def test_an_item_is_its_chunks_and_group_documents_only(tmp_path) -> None:
    """Arrays have no zarr.json object: the item's group document holds them (consolidated
    metadata); small neuron-attribute columns are kept in the index, their values shown in
    the group's attributes; zarr.open_group reads every array from the one document."""
    import json

    import zarr

    from spikestore.testing.samples import spike_data

    sd = spike_data(6, neuron_attributes=[{"channel": i, "snr": 1.5 + i, "region": f"CA{i % 3}"} for i in range(6)])
    version = _one_item_folder(tmp_path, sd)
    files = sorted(str(p.relative_to(version)) for p in version.rglob("*") if p.is_file())
    documents = [f for f in files if f.endswith("zarr.json")]
    assert documents == ["neuron_attributes/zarr.json", "zarr.json"], files
    root = json.loads((version / "zarr.json").read_text())
    consolidated = root["consolidated_metadata"]["metadata"]
    assert {"spike_times", "spike_times_index"} <= set(consolidated) and consolidated["spike_times"]["node_type"] == "array"
    group = zarr.open_group(str(version), mode="r")
    assert np.array_equal(group["spike_times"][...], np.concatenate([np.asarray(t) for t in sd.train]))
    kept = group["neuron_attributes"].attrs["spikestore:inline_arrays"]
    assert set(kept) == {"channel", "snr", "region"}
    for name, column in kept.items():
        assert [a[name] for a in sd.neuron_attributes] == np.asarray(column["values"], dtype=column["dtype"]).tolist()
    assert not any(f.startswith("neuron_attributes/") and f != "neuron_attributes/zarr.json" for f in files)  # kept columns: no chunks
    assert_same(sd, AnalysisWorkspace.load(tmp_path / "ws").get("rec", "item"))
    assert verify(tmp_path / "ws").ok


def test_verify_finds_an_array_document_that_differs_from_the_index(tmp_path) -> None:
    import json

    version = _one_item_folder(tmp_path, np.arange(300_000.0))
    doc = json.loads((version / "zarr.json").read_text())
    doc["consolidated_metadata"]["metadata"]["data"]["shape"] = [299_999]
    (version / "zarr.json").write_text(json.dumps(doc))
    report = verify(tmp_path / "ws")
    assert not report.ok and "consolidated metadata differs from the index entry" in str(report), str(report)


def test_verify_accepts_digests_recorded_before_crc32_fingerprints(tmp_path) -> None:
    """A store written when chunk digests used crc32c fingerprints still verifies clean."""
    import google_crc32c

    from spikestore.containers.zarr_group import chunk_digest, skeleton_arrays

    version = _one_item_folder(tmp_path, np.random.default_rng(0).random(400_000))
    path = next((tmp_path / "ws" / INDEX_DIR).glob("snap-*.json"))
    doc = decode_index_object(path.read_bytes(), "snapshot", "test", legacy=False)[0]
    tree = doc["items"]["rec"]["item"]["tree"]
    for rel, _, _, _ in skeleton_arrays(tree):
        chunks = sorted(p for p in (version / rel).rglob("*") if p.is_file())
        entries = [(str(p.relative_to(version / rel)), p.stat().st_size, google_crc32c.value(p.read_bytes())) for p in chunks]
        tree["digests"][rel] = chunk_digest(entries)
    path.write_bytes(encode_index_object("snapshot", doc))
    assert verify(tmp_path / "ws").ok
    # a chunk replaced is still found by its checksum
    first = sorted((version / "data").rglob("*"))[-1]
    first.write_bytes(first.read_bytes()[:-1] + bytes([first.read_bytes()[-1] ^ 1]))
    assert not verify(tmp_path / "ws").ok


def test_kept_columns_shown_to_plain_readers_are_strict_json(tmp_path) -> None:
    """A column with a missing unit (NaN) is repeated in the group's attributes with null, never NaN."""
    import json

    from spikestore.testing.samples import spike_data

    sd = spike_data(4, neuron_attributes=[{"snr": 1.0, "channel": 0}, {"channel": 1}, {"snr": 3.0, "channel": 2}, {"snr": 4.0, "channel": 3}])
    version = _one_item_folder(tmp_path, sd)
    text = (version / "neuron_attributes" / "zarr.json").read_text()
    shown = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in zarr.json"))
    assert shown["attributes"]["spikestore:inline_arrays"]["snr"]["values"] == [1.0, None, 3.0, 4.0]
    assert_same(sd, AnalysisWorkspace.load(tmp_path / "ws").get("rec", "item"))


def test_an_item_kept_in_the_index_is_decoded_without_zarr(tmp_path, monkeypatch) -> None:
    """Its chunks are in memory already: get() decodes them in the calling thread (no event loop,
    no zarr read), and a kept chunk that fails its checksum is still CorruptDataError."""
    from spikestore.containers import zarr_group
    from spikestore.errors import CorruptDataError

    result = {"curve": np.linspace(0, 1, 64), "counts": np.arange(12, dtype=np.int32).reshape(3, 4), "n": 3}
    ws = AnalysisWorkspace()
    ws.store("runs", "r", result)
    ws.save(tmp_path / "ws")
    monkeypatch.setattr(zarr_group, "read_whole", lambda *a, **k: pytest.fail("a kept array was read through zarr"))
    assert_same(result, AnalysisWorkspace.load_item(tmp_path / "ws", "runs", "r"), in_user_dict=True)
    path = next((tmp_path / "ws" / INDEX_DIR).glob("snap-*.json"))
    doc = decode_index_object(path.read_bytes(), "snapshot", "test", legacy=False)[0]
    import base64

    chunks = doc["items"]["runs"]["r"]["tree"]["children"]["curve"]["inline_chunks"]["data"]
    raw = bytearray(base64.b64decode(chunks["c/0"]))
    raw[5] ^= 0xFF
    chunks["c/0"] = base64.b64encode(bytes(raw)).decode()
    path.write_bytes(encode_index_object("snapshot", doc))
    with pytest.raises(CorruptDataError, match="crc32c"):
        AnalysisWorkspace.load_item(tmp_path / "ws", "runs", "r")
