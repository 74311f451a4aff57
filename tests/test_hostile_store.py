"""Hostile and damaged stores: paths read from the index cannot reach outside
the workspace, damaged index objects are our errors, gc deletes nothing while
the index is damaged, and names that look like our own files are ordinary.

Every attack runs on a folder and on moto S3 with a *victim* workspace beside
the attacked one (and, on S3, in another bucket); after each attack the victim
is unchanged, the error is a spikestore error, and the attacked workspace can
still be saved to and loaded from."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any, Callable

import fsspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikestore import AnalysisWorkspace, gc, open_workspace, verify
from spikestore.errors import CorruptDataError, FormatError, InvalidNameError, SpikestoreError, UnsafePathError
from spikestore.index import INDEX_DIR, decode_index_object, encode_index_object

from .conftest import BUCKET
from .objects import assert_same

VICTIM_BUCKET = "spikestore-victim"


@pytest.fixture(params=["folder", "s3"])
def site(request: pytest.FixtureRequest, tmp_path: Any) -> dict[str, Any]:
    """An attacked workspace URL, victims beside it (and in another bucket on S3), and fsspec access."""
    if request.param == "folder":
        base = str(tmp_path)
        opts: dict[str, Any] = {}
        victims = [f"{base}/victim"]
        url = f"{base}/ws"
    else:
        server = request.getfixturevalue("s3_server")
        opts = server.storage_options
        try:
            server.create_bucket(VICTIM_BUCKET)
        except Exception:
            pass
        prefix = uuid.uuid4().hex
        url = f"s3://{BUCKET}/{prefix}/ws"
        victims = [f"s3://{BUCKET}/{prefix}/victim", f"s3://{VICTIM_BUCKET}/{prefix}/exp"]
    for victim in victims:
        ws = AnalysisWorkspace(name="victim")
        ws.store("v", "data", np.arange(100.0))
        ws.save(victim, storage_options=opts)
    fs, _ = fsspec.core.url_to_fs(url, **opts)
    return {"url": url, "opts": opts, "victims": victims, "fs": fs, "kind": request.param}


def _snapshot(site: dict[str, Any]) -> dict[str, Any]:
    """All objects under every victim, to compare before and after an attack."""
    out = {}
    for victim in site["victims"]:
        fs, root = fsspec.core.url_to_fs(victim, **site["opts"])
        fs.invalidate_cache()
        for path in fs.find(root):
            out[path] = fs.cat_file(path)
    return out


def _saved(site: dict[str, Any]) -> AnalysisWorkspace:
    ws = AnalysisWorkspace(name="attacked")
    ws.store("rec", "a", np.arange(10))
    ws.store("rec", "b", {"x": 1.5, "nested": {"y": np.ones(3)}})
    ws.save(site["url"], storage_options=site["opts"])
    return ws


def _index_path(site: dict[str, Any], prefix: str) -> str:
    fs, root = site["fs"], fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    fs.invalidate_cache()
    names = sorted(p for p in fs.ls(f"{root}/{INDEX_DIR}", detail=False) if p.rsplit("/", 1)[-1].startswith(prefix))
    return names[-1]


def _forge(site: dict[str, Any], mutate: Callable[[dict[str, Any]], None], kind: str = "snapshot") -> None:
    """Rewrite the newest snapshot (or record) with a *valid* checksum: an attacker who knows the format."""
    fs = site["fs"]
    path = _index_path(site, "snap-" if kind == "snapshot" else "log-")
    payload, _ = decode_index_object(fs.cat_file(path), kind, path, legacy=False)
    mutate(payload)
    fs.pipe_file(path, encode_index_object(kind, payload))


def _victim_path(site: dict[str, Any], which: int) -> str:
    victim = site["victims"][which]
    if site["kind"] == "folder":
        return "../victim"
    return "/" + victim.split("://", 1)[1]  # an absolute key: another prefix or another bucket


def _assert_still_usable(site: dict[str, Any]) -> None:
    ws = AnalysisWorkspace(name="again")
    ws.store("rec", "a", np.arange(3))
    ws.save(site["url"], storage_options=site["opts"])
    assert_same(np.arange(3), AnalysisWorkspace.load_item(site["url"], "rec", "a", storage_options=site["opts"]))


ACTIONS = ["load", "store-over", "delete", "gc", "verify", "save-over"]  # save-over last: it replaces the content


@pytest.mark.parametrize("victim", [0, 1])
def test_an_index_path_outside_the_root_is_refused_before_any_io(site, victim) -> None:
    if victim >= len(site["victims"]):
        pytest.skip("the other bucket exists only on S3")
    _saved(site)
    before = _snapshot(site)
    _forge(site, lambda p: p["items"]["rec"]["a"].__setitem__("path", _victim_path(site, victim)))
    url, opts = site["url"], site["opts"]
    for action in ACTIONS:
        with pytest.raises(SpikestoreError) as err:
            if action == "load":
                AnalysisWorkspace.load(url, storage_options=opts)
            elif action == "store-over":
                with open_workspace(url, "r+", storage_options=opts) as ws:
                    ws.store("rec", "a", np.zeros(2))
            elif action == "delete":
                with open_workspace(url, "r+", storage_options=opts) as ws:
                    ws.delete("rec", "a")
            elif action == "gc":
                gc(url, storage_options=opts, grace_seconds=0)
            elif action == "verify":
                report = verify(url, storage_options=opts)
                assert not report.ok
                raise FormatError(str(report))
            else:  # replacing the content works; the hostile path is never followed
                with pytest.warns(UserWarning, match="damaged"):
                    AnalysisWorkspace().save(url, storage_options=opts)
                assert AnalysisWorkspace.load(url, storage_options=opts).list_namespaces() == []
                raise FormatError("saved over it")
        assert isinstance(err.value, (UnsafePathError, FormatError)), (action, err.value)
        assert _snapshot(site) == before, f"the victim changed after {action}"


def test_an_entry_pointing_at_another_items_version_is_refused(site) -> None:
    _saved(site)

    def point_b_at_a(p: dict[str, Any]) -> None:
        p["items"]["rec"]["b"]["path"] = p["items"]["rec"]["a"]["path"]

    _forge(site, point_b_at_a)
    with pytest.raises(UnsafePathError, match="not a version folder of that item"):
        open_workspace(site["url"], storage_options=site["opts"])
    with pytest.raises(SpikestoreError):
        gc(site["url"], storage_options=site["opts"], grace_seconds=0)


def test_load_item_checks_only_its_own_entry(site) -> None:
    """``load_item`` reads one entry of the index: a hostile entry of another item is neither
    followed nor checked, and still refused when asked for or when the workspace is opened."""
    _saved(site)
    before = _snapshot(site)
    _forge(site, lambda p: p["items"]["rec"]["b"].__setitem__("path", _victim_path(site, 0)))
    url, opts = site["url"], site["opts"]
    assert_same(np.arange(10), AnalysisWorkspace.load_item(url, "rec", "a", storage_options=opts))
    with pytest.raises(UnsafePathError):
        AnalysisWorkspace.load_item(url, "rec", "b", storage_options=opts)
    with pytest.raises(UnsafePathError):
        open_workspace(url, storage_options=opts)
    with pytest.raises(UnsafePathError):  # a missing item: the whole index (checked) says what is there
        AnalysisWorkspace.load_item(url, "rec", "c", storage_options=opts)
    assert _snapshot(site) == before


def test_load_item_of_a_missing_item_names_what_is_there(site) -> None:
    _saved(site)
    with pytest.raises(KeyError, match="Key 'aa' not found in namespace 'rec'.*'a'"):
        AnalysisWorkspace.load_item(site["url"], "rec", "aa", storage_options=site["opts"])
    with pytest.raises(KeyError, match="Namespace 'recc' not found.*'rec'"):
        AnalysisWorkspace.load_item(site["url"], "recc", "a", storage_options=site["opts"])


CLIMBING = ["..", "../../victim", "", "a/../../x", "zarr.json"]


# every name on a folder, one on S3 (the same check runs before any request on either)
@pytest.mark.parametrize("site, name", [("folder", n) for n in CLIMBING] + [("s3", "../../victim")], indirect=["site"])
def test_skeleton_names_that_climb_out_are_refused(site, name) -> None:
    _saved(site)
    before = _snapshot(site)

    def plant(p: dict[str, Any]) -> None:
        tree = p["items"]["rec"]["b"]["tree"]
        tree["children"][name] = tree["children"].pop("nested")

    _forge(site, plant)
    with pytest.raises(FormatError):
        AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    from spikestore import copy_workspace

    with pytest.raises(FormatError):
        copy_workspace(site["url"], site["url"] + "-copy", src_storage_options=site["opts"], dst_storage_options=site["opts"])
    assert _snapshot(site) == before
    _assert_still_usable(site)


@pytest.mark.parametrize("codec", ["numcodecs.pickle", "vlen-bytes", "gzip"])
def test_unknown_codecs_are_a_format_error_naming_the_array(site, codec) -> None:
    _saved(site)

    def plant(p: dict[str, Any]) -> None:
        p["items"]["rec"]["a"]["tree"]["datasets"]["data"]["codecs"][1] = {"name": codec, "configuration": {}}

    _forge(site, plant)
    with pytest.raises(FormatError, match=re.escape(f"data: codec '{codec}'")):
        AnalysisWorkspace.load_item(site["url"], "rec", "a", storage_options=site["opts"])


@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_chunk_key_encoding_we_never_write_is_refused(site) -> None:
    """Chunks named ``c.0.0`` would all be missing: a lazy reader said the item had been replaced."""
    _saved(site)

    def plant(p: dict[str, Any]) -> None:
        p["items"]["rec"]["a"]["tree"]["datasets"]["data"]["chunk_key_encoding"] = {"name": "default", "configuration": {"separator": "."}}

    _forge(site, plant)
    with pytest.raises(FormatError, match="chunk key encoding"):
        open_workspace(site["url"], storage_options=site["opts"])


@pytest.mark.parametrize(
    "codec",
    [
        {"name": "numcodecs.delta", "configuration": {"dtype": "|O", "astype": "|O"}},  # bytes read as pointers
        {"name": "numcodecs.pcodec", "configuration": {"level": 99}},
        {"name": "blosc", "configuration": {"typesize": 8, "cname": "zstd", "clevel": 1, "shuffle": "shuffle", "blocksize": 1 << 40}},
    ],
)
@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_written_codec_with_a_configuration_we_never_write_is_refused(site, codec) -> None:
    _saved(site)

    def plant(p: dict[str, Any]) -> None:
        p["items"]["rec"]["a"]["tree"]["datasets"]["data"]["codecs"][1] = codec

    _forge(site, plant)
    with pytest.raises(FormatError, match=re.escape(codec["name"])):
        AnalysisWorkspace.load_item(site["url"], "rec", "a", storage_options=site["opts"])


@pytest.mark.parametrize("sharded", [False, True], ids=["chunks", "shards"])
@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_forged_shape_is_corrupt_data_before_allocating_and_verify_stops_early(site, sharded) -> None:
    """A re-checksummed snapshot declaring 2**46 values (512 TiB, 2**29 chunks) where a few are stored."""
    from spikelab.spikedata.spikedata import SpikeData

    ws = AnalysisWorkspace()
    rng = np.random.default_rng(2)
    ws.store("rec", "x", SpikeData([np.sort(rng.uniform(0, 1e6, 150_000))], length=1e6) if sharded else np.arange(1000.0))
    ws.save(site["url"], storage_options=site["opts"])
    name = "spike_times" if sharded else "data"
    _forge(site, lambda p: p["items"]["rec"]["x"]["tree"]["datasets"][name].__setitem__("shape", [2**46]))
    with pytest.raises(CorruptDataError, match="missing"):
        AnalysisWorkspace.load_item(site["url"], "rec", "x", storage_options=site["opts"])
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok and "stopped reading" in str(report) and report.chunks_checked < 100, str(report)


SMALL_DICT = {"curve": np.linspace(0, 1, 64), "n": 3}


def _inline_data(p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metadata and index-kept chunks of SMALL_DICT's ``curve`` in a snapshot payload."""
    curve = p["items"]["rec"]["d"]["tree"]["children"]["curve"]
    return curve["datasets"]["data"], curve["inline_chunks"]["data"]


@pytest.mark.parametrize(
    "forge, match",
    [
        # a 2**40-value array "kept in the index" with its one chunk: would allocate terabytes on read
        (lambda meta, chunks: (meta.__setitem__("shape", [2**40]), meta["chunk_grid"]["configuration"].__setitem__("chunk_shape", [2**40])), "at most 2048 elements"),
        # a grid of 64 chunks with one present: the rest would read as fill values
        (lambda meta, chunks: meta["chunk_grid"]["configuration"].__setitem__("chunk_shape", [1]), "at most 2048 elements"),
        (lambda meta, chunks: chunks.clear(), "at most 2048 elements"),
    ],
    ids=["huge", "chunks-missing-from-grid", "no-chunks"],
)
@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_arrays_kept_in_the_index_are_small_and_whole(site, forge, match) -> None:
    ws = AnalysisWorkspace()
    ws.store("rec", "d", SMALL_DICT)
    ws.save(site["url"], storage_options=site["opts"])
    _forge(site, lambda p: forge(*_inline_data(p)))
    with pytest.raises(FormatError, match=match):
        AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok
    _assert_still_usable(site)


@pytest.mark.parametrize(
    "change",
    [
        lambda config, shard: config.__setitem__("chunk_shape", [0]),
        lambda config, shard: config.__setitem__("chunk_shape", [shard[0] - 1]),  # does not divide the shard
        lambda config, shard: config.__setitem__("chunk_shape", [1, 1]),
        lambda config, shard: config.__setitem__("codecs", [{"name": "sharding_indexed", "configuration": dict(config)}]),
        lambda config, shard: config.__setitem__("index_codecs", [{"name": "sharding_indexed", "configuration": dict(config)}]),
    ],
    ids=["zero", "not-dividing", "wrong-rank", "nested", "nested-index"],
)
@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_sharding_configuration_we_never_write_is_refused(site, change) -> None:
    from spikelab.spikedata.spikedata import SpikeData

    rng = np.random.default_rng(2)
    ws = AnalysisWorkspace()
    ws.store("rec", "sd", SpikeData([np.sort(rng.uniform(0, 1e6, 150_000)) for _ in range(2)], length=1e6))
    ws.save(site["url"], storage_options=site["opts"])

    def plant(p: dict[str, Any]) -> None:
        meta = p["items"]["rec"]["sd"]["tree"]["datasets"]["spike_times"]
        assert meta["codecs"][0]["name"] == "sharding_indexed"
        change(meta["codecs"][0]["configuration"], meta["chunk_grid"]["configuration"]["chunk_shape"])

    _forge(site, plant)
    with pytest.raises(FormatError, match="sharding"):
        open_workspace(site["url"], storage_options=site["opts"])


def _stack_workspace(site: dict[str, Any]) -> None:
    from spikelab.spikedata.spikedata import SpikeData
    from spikelab.spikedata.spikeslicestack import SpikeSliceStack

    rng = np.random.default_rng(0)
    sd = SpikeData([np.sort(rng.uniform(0, 1000, 50)) for _ in range(3)], length=1000.0)
    ws = AnalysisWorkspace()
    ws.store("rec", "stack", SpikeSliceStack(sd, times_start_to_end=[(i * 100.0, i * 100.0 + 50) for i in range(5)]))
    ws.save(site["url"], storage_options=site["opts"])


@pytest.mark.parametrize(
    "change",
    [
        lambda packed: packed["types"].__setitem__(0, 123),
        lambda packed: packed["attrs"].__setitem__(0, [1, 2]),
        lambda packed: packed["names"].__setitem__(1, packed["names"][0]),
        lambda packed: [attrs.__setitem__(0, "x") for attrs in packed["dataset_attrs"].values()],
        lambda packed: [bounds.__setitem__(1, True) for bounds in packed["offsets"].values()],
        lambda packed: packed["names"].__setitem__(0, "not-a-slice"),  # well formed, but no slice '0'
    ],
    ids=["type-not-str", "attrs-not-mapping", "names-repeat", "dataset-attrs-not-mapping", "offset-bool", "slice-missing"],
)
@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_hostile_packed_description_is_a_format_error(site, change) -> None:
    _stack_workspace(site)

    def plant(p: dict[str, Any]) -> None:
        change(p["items"]["rec"]["stack"]["tree"]["children"]["spike_stack"]["packed"])

    _forge(site, plant)
    with pytest.raises(FormatError):
        AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    with pytest.raises(FormatError):
        with open_workspace(site["url"], storage_options=site["opts"]) as lazy:
            lazy.get_lazy("rec", "stack").slice(0)


@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_record_missing_what_its_type_needs_is_a_format_error_naming_the_item(site) -> None:
    from spikelab.spikedata.spikedata import SpikeData

    ws = AnalysisWorkspace()
    ws.store("rec", "sd", SpikeData([np.array([1.0, 2.0]), np.array([3.0])], length=10.0))
    ws.save(site["url"], storage_options=site["opts"])

    def plant(p: dict[str, Any]) -> None:
        tree = p["items"]["rec"]["sd"]["tree"]
        del tree["datasets"]["spike_times_index"], tree["digests"]["spike_times_index"]

    _forge(site, plant)
    for load in (AnalysisWorkspace.load, lambda url, **kw: AnalysisWorkspace.load_item(url, "rec", "sd", **kw)):
        with pytest.raises(FormatError, match=r"\('rec', 'sd'\).*malformed"):
            load(site["url"], storage_options=site["opts"])


def test_an_edited_snapshot_fails_its_checksum(site) -> None:
    _saved(site)
    path = _index_path(site, "snap-")
    raw = site["fs"].cat_file(path)
    site["fs"].pipe_file(path, raw.replace(b'"shape": [10]', b'"shape": [1]'))
    with pytest.raises(CorruptDataError, match="SHA-256"):
        AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    with pytest.raises(CorruptDataError):
        gc(site["url"], storage_options=site["opts"], grace_seconds=0)
    assert not verify(site["url"], storage_options=site["opts"]).ok


@pytest.mark.parametrize("damage", [b"", b"{not json", b"\x00\xff" * 10])
def test_a_garbage_journal_record_is_corrupt_data(site, damage) -> None:
    _saved(site)
    with open_workspace(site["url"], "r+", storage_options=site["opts"]) as ws:
        ws.store("rec", "c", np.arange(4))
        ws._store = None  # leave the record uncompacted (as a crashed writer would)
    site["fs"].pipe_file(_index_path(site, "log-"), damage)
    for call in (
        lambda: open_workspace(site["url"], storage_options=site["opts"]),
        lambda: AnalysisWorkspace.load(site["url"], storage_options=site["opts"]),
    ):
        with pytest.raises(CorruptDataError):
            call()
    assert not verify(site["url"], storage_options=site["opts"]).ok


def test_a_vanished_journal_record_is_reported_and_gc_deletes_nothing(site) -> None:
    _saved(site)
    ws = open_workspace(site["url"], "r+", storage_options=site["opts"])
    ws.store("rec", "c", np.arange(4))
    ws.store("rec", "d", np.arange(5))
    ws._store = None
    fs = site["fs"]
    root = fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    records = sorted(p for p in fs.ls(f"{root}/{INDEX_DIR}", detail=False) if "/log-" in p)
    assert len(records) == 2
    fs.rm_file(records[0])
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok and "vanished" in str(report), str(report)
    before = sorted(fs.find(root))
    with pytest.raises(CorruptDataError, match="deleted nothing"):
        gc(site["url"], storage_options=site["opts"], grace_seconds=0)
    fs.invalidate_cache()
    assert sorted(fs.find(root)) == before


@pytest.mark.parametrize("which", ["newest", "previous", "all"])
def test_a_deleted_snapshot_is_detected_and_gc_deletes_nothing(site, which) -> None:
    _saved(site)
    with open_workspace(site["url"], "r+", storage_options=site["opts"]) as ws:
        ws.store("rec", "c", np.arange(4))  # close() compacts: generations 2 and 3 exist
    fs = site["fs"]
    root = fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    snaps = sorted(p for p in fs.ls(f"{root}/{INDEX_DIR}", detail=False) if "/snap-" in p)
    assert len(snaps) == 2
    for path in {"newest": snaps[-1:], "previous": snaps[:1], "all": snaps}[which]:
        fs.rm_file(path)
    before = sorted(fs.find(root))
    with pytest.raises(CorruptDataError):
        AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    with pytest.raises(CorruptDataError):
        gc(site["url"], storage_options=site["opts"], grace_seconds=0)
    fs.invalidate_cache()
    assert sorted(fs.find(root)) == before
    assert not verify(site["url"], storage_options=site["opts"]).ok


def test_a_new_workspace_has_no_head_marker_and_losing_its_only_snapshot_is_detected(site) -> None:
    """Generation 1 is written without a head (nothing for it to guard): deleting
    snapshot 1 leaves an index with no snapshot, which is refused all the same."""
    _saved(site)
    fs = site["fs"]
    root = fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{root}/{INDEX_DIR}", detail=False))
    assert names == ["snap-000000000001.json"], names
    fs.rm_file(f"{root}/{INDEX_DIR}/snap-000000000001.json")
    before = sorted(fs.find(root))
    with pytest.raises(CorruptDataError, match="holds no snapshot"):
        AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    with pytest.raises(CorruptDataError):
        gc(site["url"], storage_options=site["opts"], grace_seconds=0)
    fs.invalidate_cache()
    assert sorted(fs.find(root)) == before


def test_a_stray_newer_snapshot_is_reported_and_gc_deletes_nothing(site) -> None:
    _saved(site)
    fs = site["fs"]
    path = _index_path(site, "snap-")
    payload, _ = decode_index_object(fs.cat_file(path), "snapshot", path, legacy=False)
    generation = payload["generation"] + 1
    stray = {**payload, "generation": generation, "items": {}, "previous": "0" * 64}
    fs.pipe_file(path.replace(f"{generation - 1:012d}", f"{generation:012d}"), encode_index_object("snapshot", stray))
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok and "does not follow" in str(report)
    with pytest.raises(CorruptDataError):
        gc(site["url"], storage_options=site["opts"], grace_seconds=0)


def _rates_chunks(site: dict[str, Any]) -> list[str]:
    """Save a 400 x 2000 rate matrix; the paths of its chunk objects."""
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", np.random.default_rng(1).random((400, 2000)))
    ws.save(site["url"], storage_options=site["opts"])
    root = fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    return sorted(p for p in site["fs"].find(root) if "/data/c/" in p)


def test_swapped_chunks_are_found_by_verify(site) -> None:
    fs, chunks = site["fs"], _rates_chunks(site)
    assert len(chunks) >= 2
    a, b = fs.cat_file(chunks[0]), fs.cat_file(chunks[1])
    fs.pipe_file(chunks[0], b)
    fs.pipe_file(chunks[1], a)
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok and "not the ones written" in str(report), str(report)


def test_chunks_of_equal_size_swapped_are_found_by_verify(site) -> None:
    """Incompressible chunks all have one size; each still passes its crc32c after a swap."""
    ws = AnalysisWorkspace()
    ws.store("rec", "noise", np.random.default_rng(0).integers(0, 2**63, 1_000_000))
    ws.save(site["url"], storage_options=site["opts"])
    fs, root = site["fs"], fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    chunks = sorted(p for p in fs.find(root) if "/data/c/" in p)
    a, b = fs.cat_file(chunks[0]), fs.cat_file(chunks[1])
    assert len(a) == len(b) and a != b
    fs.pipe_file(chunks[0], b)
    fs.pipe_file(chunks[1], a)
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok and "not the ones written" in str(report), str(report)


def _stored_array_document(fs, root: str, name: str) -> dict:
    """The zarr.json of the one stored array called ``name``, from its item group's consolidated metadata."""
    for path in fs.find(root):
        if path.endswith("/zarr.json"):
            documents = (json.loads(fs.cat_file(path)).get("consolidated_metadata") or {}).get("metadata") or {}
            if name in documents:
                return documents[name]
    raise AssertionError(f"no stored array {name!r} under {root}")


def _rewrite_spike_shard_index(site, edit) -> None:
    """Save a SpikeData whose spike times are one shard, then rewrite that shard's index
    (``edit(index) -> index``, rows of (offset, size)) with its crc32c recomputed."""
    import google_crc32c
    from spikelab.spikedata.spikedata import SpikeData

    rng = np.random.default_rng(2)
    ws = AnalysisWorkspace()
    ws.store("rec", "sd", SpikeData([np.sort(rng.uniform(0, 1e6, 150_000)) for _ in range(2)], length=1e6))
    ws.save(site["url"], storage_options=site["opts"])
    fs, root = site["fs"], fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    meta = _stored_array_document(fs, root, "spike_times")
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    slots = meta["chunk_grid"]["configuration"]["chunk_shape"][0] // meta["codecs"][0]["configuration"]["chunk_shape"][0]
    shard = next(p for p in fs.find(root) if "/spike_times/c/" in p)
    raw = bytearray(fs.cat_file(shard))
    index = edit(np.frombuffer(bytes(raw[: 16 * slots]), "<u8").reshape(slots, 2).copy())
    raw[: 16 * slots] = index.tobytes()
    raw[16 * slots : 16 * slots + 4] = google_crc32c.value(index.tobytes()).to_bytes(4, "little")
    fs.pipe_file(shard, bytes(raw))


@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_rewritten_shard_index_is_found_by_verify(site) -> None:
    """Two inner chunks' places swapped in a shard index whose crc32c is recomputed: every check passes but the digest."""
    _rewrite_spike_shard_index(site, lambda index: index[[1, 0, *range(2, len(index))]])
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok and "not the ones written" in str(report), str(report)


@pytest.mark.parametrize(
    "slot, match", [((2**64 - 1, 2**64 - 1), "marked empty"), (None, "past its end")], ids=["marked-empty", "size-2**62"]
)
@pytest.mark.parametrize("site", ["folder", "s3"], indirect=True)
def test_a_hostile_shard_index_is_corrupt_data_on_every_read_path(site, slot, match) -> None:
    """Inner chunk 0 marked empty (zarr reads fill values) or 2**62 bytes long (a 4 EiB
    allocation), the index crc32c recomputed: lazy reads, loads and copies are our error."""
    from spikestore import copy_workspace

    def edit(index: np.ndarray) -> np.ndarray:
        index[0] = slot if slot is not None else (index[0, 0], 2**62)
        return index

    _rewrite_spike_shard_index(site, edit)
    with open_workspace(site["url"], storage_options=site["opts"]) as lazy:
        with pytest.raises(CorruptDataError, match=match):
            lazy.get_lazy("rec", "sd").train(0)
    with pytest.raises(CorruptDataError):
        AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    with pytest.raises(CorruptDataError):
        copy_workspace(site["url"], site["url"] + "-copy", src_storage_options=site["opts"], dst_storage_options=site["opts"])
    assert not verify(site["url"], storage_options=site["opts"]).ok


@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_chunk_declaring_a_terabyte_is_corrupt_data_not_a_memory_error(site) -> None:
    """A valid Zstandard frame whose header declares 1 TiB, behind a correct crc32c."""
    import struct

    import google_crc32c
    from numcodecs import Zstd

    ws = AnalysisWorkspace()
    ws.store("rec", "x", np.random.default_rng(0).random((300, 300)))
    ws.save(site["url"], storage_options=site["opts"])
    fs, root = site["fs"], fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    chunk = next(p for p in fs.find(root) if "/c/" in p)
    assert fs.cat_file(chunk)[:4] == b"\x28\xb5\x2f\xfd"  # a Zstandard frame
    frame = bytes(Zstd(level=1).encode(np.zeros(1000).tobytes()))
    assert frame[4] == 0x60  # single segment, 2-byte content size: rewritten as an 8-byte one
    body = frame[:4] + b"\xe0" + struct.pack("<Q", 2**40) + frame[7:]
    fs.pipe_file(chunk, body + google_crc32c.value(body).to_bytes(4, "little"))
    with pytest.raises(CorruptDataError, match="declare"):
        AnalysisWorkspace.load_item(site["url"], "rec", "x", storage_options=site["opts"])
    report = verify(site["url"], storage_options=site["opts"])
    assert not report.ok and "is corrupt" in str(report), str(report)


@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_chunk_declaring_a_terabyte_is_corrupt_data_on_lazy_reads_copies_and_exports(site, tmp_path) -> None:
    """The same bomb read through zarr's own codecs (a lazy row, a copy's source, an export's blocks)."""
    import struct

    import google_crc32c
    from numcodecs import Zstd

    from spikestore import copy_workspace, export_hdf5

    ws = AnalysisWorkspace()
    ws.store("rec", "x", np.random.default_rng(0).random((300, 300)))
    ws.save(site["url"], storage_options=site["opts"])
    fs, root = site["fs"], fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    chunk = next(p for p in fs.find(root) if "/c/" in p)
    frame = bytes(Zstd(level=1).encode(np.zeros(1000).tobytes()))
    body = frame[:4] + b"\xe0" + struct.pack("<Q", 2**40) + frame[7:]
    fs.pipe_file(chunk, body + google_crc32c.value(body).to_bytes(4, "little"))
    with open_workspace(site["url"], storage_options=site["opts"]) as lazy:
        with pytest.raises(CorruptDataError, match="declare"):  # read by region_reads: its own decoder's words
            lazy.get_lazy("rec", "x")[0]
    with pytest.raises(CorruptDataError, match="declares more data"):
        copy_workspace(site["url"], str(tmp_path / "copy"), src_storage_options=site["opts"])
    with pytest.raises(CorruptDataError, match="declares more data"):
        export_hdf5(site["url"], str(tmp_path / "export"), storage_options=site["opts"])


@pytest.mark.parametrize("site", ["folder"], indirect=True)
def test_a_forged_shape_backed_by_a_planted_last_chunk_is_refused_before_allocating(site) -> None:
    """2**40 values declared, the last chunk of that grid planted: loading would allocate 8 TiB."""
    from spikestore.errors import ArrayTooLargeError

    ws = AnalysisWorkspace()
    ws.store("rec", "x", np.arange(1000.0))
    ws.save(site["url"], storage_options=site["opts"])
    entry: dict[str, Any] = {}
    _forge(site, lambda p: entry.update(p["items"]["rec"]["x"]) or p["items"]["rec"]["x"]["tree"]["datasets"]["data"].__setitem__("shape", [2**40]))
    fs, root = site["fs"], fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    meta = entry["tree"]["datasets"]["data"]
    last = 2**40 // meta["chunk_grid"]["configuration"]["chunk_shape"][0]
    chunk = next(p for p in fs.find(root) if "/data/c/" in p)
    fs.pipe_file(chunk.rsplit("/c/", 1)[0] + f"/c/{last}", fs.cat_file(chunk))
    with pytest.raises(ArrayTooLargeError, match="more than this machine's"):
        AnalysisWorkspace.load_item(site["url"], "rec", "x", storage_options=site["opts"])
    assert issubclass(ArrayTooLargeError, SpikestoreError) and issubclass(ArrayTooLargeError, MemoryError)


def test_a_memory_error_is_corrupt_data_only_for_an_array_that_fits_in_memory() -> None:
    from spikestore.containers.read_errors import physical_memory, read_error

    assert isinstance(read_error(MemoryError(), "item", "a", array_bytes=8_000), CorruptDataError)
    assert read_error(MemoryError(), "item", "a", array_bytes=physical_memory()) is None  # could be honest
    assert read_error(MemoryError(), "item", "a") is None


def test_a_flipped_byte_read_lazily_is_corrupt_data(site) -> None:
    fs, chunk = site["fs"], _rates_chunks(site)[0]
    data = bytearray(fs.cat_file(chunk))
    data[len(data) // 2] ^= 0x10
    fs.pipe_file(chunk, bytes(data))
    with open_workspace(site["url"], storage_options=site["opts"]) as lazy:
        view = lazy.get_lazy("rec", "rates")
        with pytest.raises(CorruptDataError, match="rates"):
            view[0]


@pytest.mark.parametrize("kept_in_index", [False, True], ids=["chunk-object", "chunk-in-index"])
def test_copy_and_export_of_a_damaged_chunk_are_corrupt_data(site, kept_in_index, tmp_path) -> None:
    """copy_workspace and export_hdf5 read through zarr: its bare checksum ValueError becomes ours."""
    from spikestore import copy_workspace, export_hdf5

    ws = AnalysisWorkspace()
    ws.store("rec", "x", {"curve": np.linspace(0, 1, 64)} if kept_in_index else np.random.default_rng(0).random((300, 300)))
    ws.save(site["url"], storage_options=site["opts"])
    fs, root = site["fs"], fsspec.core.url_to_fs(site["url"], **site["opts"])[1]
    if kept_in_index:

        def flip(p: dict[str, Any]) -> None:
            chunks = p["items"]["rec"]["x"]["tree"]["children"]["curve"]["inline_chunks"]["data"]
            raw = bytearray(base64.b64decode(chunks["c/0"]))
            raw[len(raw) // 2] ^= 0x10
            chunks["c/0"] = base64.b64encode(bytes(raw)).decode()

        _forge(site, flip)
    else:
        chunk = next(p for p in fs.find(root) if "/c/" in p)
        raw = bytearray(fs.cat_file(chunk))
        raw[len(raw) // 2] ^= 0x10
        fs.pipe_file(chunk, bytes(raw))
    with pytest.raises(CorruptDataError, match=r"rec/x/v\d+-[0-9a-f]+/"):
        copy_workspace(site["url"], site["url"] + "-copy", src_storage_options=site["opts"], dst_storage_options=site["opts"])
    with pytest.raises(CorruptDataError, match=r"rec/x/v\d+-[0-9a-f]+/"):
        export_hdf5(site["url"], str(tmp_path / "out"), storage_options=site["opts"])
    assert not (tmp_path / "out.h5").exists()


# -- names --------------------------------------------------------------------

ODD_NAMES = ["zarr.json", "zarr.json~", "a.tmp-b", "ns.tmp-1", ".tmp-" + "0" * 32, "c", "~", "é" * 100]


# every name on a folder; on S3 the two that collided with our own objects before
@pytest.mark.parametrize("site, name", [("folder", n) for n in ODD_NAMES] + [("s3", "zarr.json"), ("s3", "a.tmp-b")], indirect=["site"])
def test_names_like_our_own_files_round_trip_everywhere(site, name) -> None:
    from spikelab.spikedata.spikedata import SpikeData

    sd = SpikeData([np.array([1.0, 2.0]), np.array([3.0])], length=10.0, neuron_attributes=[{name: 1.0}, {name: 2.0}])
    obj = {name: {name: np.arange(3)}, "plain": 1}
    ws = AnalysisWorkspace()
    ws.store(name, name, obj)
    ws.store(name, "spikes", sd)
    ws.save(site["url"], storage_options=site["opts"])
    ws.save(site["url"], storage_options=site["opts"])  # saving again over it works too
    back = AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    assert_same(obj, back.get(name, name))
    assert_same(sd, back.get(name, "spikes"))
    with open_workspace(site["url"], "r+", storage_options=site["opts"]) as lazy:
        assert lazy.rename(name, name, name + ".tmp-x")
        lazy.store("n", name, np.arange(2))
    back = AnalysisWorkspace.load(site["url"], storage_options=site["opts"])
    assert_same(obj, back.get(name, name + ".tmp-x"))
    assert verify(site["url"], storage_options=site["opts"]).ok


def test_a_workspace_url_containing_tmp_marker_renames_safely(tmp_path) -> None:
    url = str(tmp_path / "results.tmp-2024" / "ws")
    with open_workspace(url, "a") as ws:
        ws.store("ns.tmp-1", "a.tmp-b", np.arange(50.0))
        ws.rename("ns.tmp-1", "a.tmp-b", "c.tmp-d")
    assert_same(np.arange(50.0), AnalysisWorkspace.load_item(url, "ns.tmp-1", "c.tmp-d"))
    assert gc(url, grace_seconds=0).removed == []
    assert verify(url).ok


@pytest.mark.parametrize("bad", [None, 3, b"bytes", "x" * 300, "é" * 200])
def test_names_that_cannot_be_stored_are_refused_before_writing(tmp_path, bad) -> None:
    url = str(tmp_path / "ws")
    with open_workspace(url, "a") as lazy:
        lazy.store("rec", "ok", np.arange(3))
        with pytest.raises(InvalidNameError):
            lazy.store("rec", bad, np.arange(3))
        with pytest.raises(InvalidNameError):
            lazy.store(bad, "k", np.arange(3))
        with pytest.raises(InvalidNameError):
            lazy.store("rec", "d", {bad: 1} if isinstance(bad, str) else {"k": {bad: 1}})
        with pytest.raises(InvalidNameError):
            lazy.rename("rec", "ok", bad)
    assert AnalysisWorkspace.load(url).list_keys("rec") == ["ok"]
    ws = AnalysisWorkspace()
    with pytest.raises(InvalidNameError):
        ws.store("rec", bad, 1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.text(min_size=0, max_size=300), st.sampled_from(ODD_NAMES), st.integers(), st.none()))
def test_any_name_round_trips_or_is_refused(tmp_path_factory, name) -> None:
    url = str(tmp_path_factory.mktemp("names") / "ws")
    ws = AnalysisWorkspace()
    ws.store("rec", "keep", np.arange(2))
    try:
        ws.store("rec", name, {name: 1} if isinstance(name, str) else 1)
    except InvalidNameError:
        assert not isinstance(name, str) or not name or name.startswith("__") or "/" in name or len(name.encode("utf-8", "surrogatepass")) > 200 or any(c in name for c in "\\\x00") or name in (".", "..") or any(0xD800 <= ord(c) <= 0xDFFF for c in name)
        ws.save(url)
        assert AnalysisWorkspace.load(url).list_keys("rec") == ["keep"]
        return
    ws.save(url)
    back = AnalysisWorkspace.load(url)
    assert back.get("rec", name) == {name: 1}


# -- stale spikelab files -------------------------------------------------------


def test_a_workspace_is_read_even_when_an_older_h5_sits_beside_it(tmp_path) -> None:
    from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

    base = str(tmp_path / "analysis")
    old = SpikelabWorkspace(name="old")
    old.store("rec", "old", np.arange(3))
    old.save(base)
    new = AnalysisWorkspace(name="new")
    new.store("rec", "new", np.arange(4))
    new.save(base)
    with pytest.warns(UserWarning, match="older"):
        loaded = AnalysisWorkspace.load(base)
    assert loaded.name == "new" and loaded.list_keys("rec") == ["new"]
    assert_same(np.arange(4), AnalysisWorkspace.load_item(base, "rec", "new"))
    assert AnalysisWorkspace.load(base + ".h5").name == "old"  # the .h5 is still reachable by its name
    with pytest.raises(FormatError, match="spikestore import"):
        open_workspace(base + ".h5")
