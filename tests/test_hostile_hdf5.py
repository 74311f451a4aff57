"""Hostile and damaged spikelab saves: import and load refuse them before writing.

Every attack is built with h5py in ``tmp_path`` from a real spikelab save.
Beside the destination lives a *victim* workspace: after every attack it must
be byte-for-byte unchanged, the destination too (a refusal comes before the
first write), and the destination must still save and load normally.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest
from spikelab.spikedata.ratedata import RateData
from spikelab.spikedata.spikedata import SpikeData
from spikelab.spikedata.spikeslicestack import SpikeSliceStack
from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

from spikestore import AnalysisWorkspace, import_hdf5
from spikestore.errors import FormatError, SpikestoreError

from .objects import assert_same

NS = "rec"


def _spike_data() -> SpikeData:
    return SpikeData([np.array([1.0, 5.0, 9.0]), np.array([]), np.array([2.0])], length=10.0, N=3)


def spikelab_items() -> dict[str, Any]:
    """A small workspace with every layout the attacks need."""
    base = SpikeData([np.array([10.0, 150.0, 320.0]), np.array([5.0, 260.0])], length=400.0)
    return {
        "arr": np.arange(12.0).reshape(3, 4),
        "sd": _spike_data(),
        "rates": RateData(np.ones((2, 5)), np.arange(5.0), neuron_attributes=[{"ch": 1}, {"ch": 2}]),
        "sss": SpikeSliceStack(data_obj=base, times_start_to_end=[(0.0, 100.0), (200.0, 300.0)]),
        "d": {"x": 1.5, "s": "text", "nested": {"y": np.arange(3)}},
    }


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> str:
    """spikelab's own save of :func:`spikelab_items` (never modified)."""
    folder = tmp_path_factory.mktemp("hostile")
    ws = SpikelabWorkspace(name="src")
    for key, obj in spikelab_items().items():
        ws.store(NS, key, obj, note=f"note {key}")
    ws.save(str(folder / "orig"))
    return str(folder / "orig")


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Arena:
    """A destination workspace, a victim workspace beside it, and a copy of the save to attack."""

    def __init__(self, tmp_path: Path, original: str) -> None:
        self.tmp = tmp_path
        self.base = str(tmp_path / "attack")
        shutil.copy(original + ".h5", self.base + ".h5")
        shutil.copy(original + ".json", self.base + ".json")
        self.dest, self.victim = tmp_path / "dest", tmp_path / "victim"
        self.dest_ws = AnalysisWorkspace(name="dest")
        self.dest_ws.store("old", "x", np.arange(5))
        self.dest_ws.save(str(self.dest))
        victim = AnalysisWorkspace(name="victim")
        victim.store("precious", "data", np.arange(7.0))
        victim.save(str(self.victim))
        self.dest_bytes, self.victim_bytes = _tree_bytes(self.dest), _tree_bytes(self.victim)

    @property
    def h5(self) -> str:
        return self.base + ".h5"

    def edit_h5(self, change: Callable[[h5py.File], None]) -> None:
        with h5py.File(self.h5, "r+") as f:
            change(f)

    def edit_json(self, change: Callable[[dict], None]) -> None:
        with open(self.base + ".json") as fh:
            content = json.load(fh)
        change(content)
        with open(self.base + ".json", "w") as fh:
            json.dump(content, fh)

    def assert_untouched(self) -> None:
        assert _tree_bytes(self.victim) == self.victim_bytes, "the victim workspace was modified"
        assert _tree_bytes(self.dest) == self.dest_bytes, "the destination was modified"

    def assert_usable(self) -> None:
        """The destination still takes a save and loads back."""
        ws = AnalysisWorkspace(name="after")
        ws.store("new", "y", np.arange(3.0))
        ws.save(str(self.dest))
        got = AnalysisWorkspace.load(str(self.dest))
        assert got.describe() == ws.describe()
        assert_same(ws.get("new", "y"), got.get("new", "y"))
        assert _tree_bytes(self.victim) == self.victim_bytes

    def refused(self, match: str, *, key: str | None = "arr", load: bool = True, error: type = FormatError) -> str:
        """Import (and load, load_item of ``key``) raise ``error`` naming the file; nothing written."""
        with pytest.raises(error, match=match) as exc:
            import_hdf5(self.base, str(self.dest))
        assert "attack.h5" in str(exc.value) or "attack.json" in str(exc.value), str(exc.value)
        self.assert_untouched()
        if load:
            with pytest.raises(error, match=match):
                AnalysisWorkspace.load(self.base)
            if key is not None:
                with pytest.raises(error, match=match):
                    AnalysisWorkspace.load_item(self.base, NS, key)
        self.assert_untouched()
        self.assert_usable()
        return str(exc.value)


@pytest.fixture()
def arena(tmp_path: Path, original: str) -> Arena:
    return Arena(tmp_path, original)


def test_the_untouched_save_imports_and_loads(arena: Arena) -> None:
    got = import_hdf5(arena.base, str(arena.dest))
    direct = AnalysisWorkspace.load(arena.base)
    assert got.describe() == direct.describe()
    for key, obj in spikelab_items().items():
        assert_same(direct.get(NS, key), got.get(NS, key), key)
    assert _tree_bytes(arena.victim) == arena.victim_bytes


# ---------------------------------------------------------------------------
# A1: names that are not one path segment
# ---------------------------------------------------------------------------


def test_dotdot_chain_cannot_reach_the_sibling_workspace(arena: Arena) -> None:
    def climb(f: h5py.File) -> None:
        group = f[f"{NS}/arr"]
        for _ in range(4):  # <version>/.. -> arr, ns, dest, tmp_path
            group = group.create_group("..")
        group.create_group("victim").attrs["owned"] = "yes"
        group["victim"].create_dataset("zarr.json", data=np.arange(3))

    arena.edit_h5(climb)
    message = arena.refused(r"'\.\.'")
    assert "/rec/arr/.." in message


@pytest.mark.parametrize("name", ["a\\b", "..", "x" * 300])
def test_bad_names_in_untyped_groups(arena: Arena, name: str) -> None:
    arena.edit_h5(lambda f: f[f"{NS}/rates/neuron_attributes"].create_dataset(name, data=np.arange(2.0)))
    arena.refused("name", key="rates")


def test_zarr_json_is_an_ordinary_name_in_the_file(arena: Arena) -> None:
    arena.edit_h5(lambda f: f[f"{NS}/rates/neuron_attributes"].create_dataset("zarr.json", data=np.arange(2.0)))
    ws = AnalysisWorkspace.load(arena.base)
    assert ws.get(NS, "rates").neuron_attributes[1]["zarr.json"] == 1.0


# ---------------------------------------------------------------------------
# A3: links
# ---------------------------------------------------------------------------


def _hard_cycle(f: h5py.File) -> None:
    f[f"{NS}/d/nested/loop"] = f[f"{NS}/d"]


def _soft_cycle(f: h5py.File) -> None:
    f[f"{NS}/d/nested/loop"] = h5py.SoftLink(f"/{NS}/d")


def _soft_to_data(f: h5py.File) -> None:
    del f[f"{NS}/arr/data"]
    f[f"{NS}/arr/data"] = h5py.SoftLink(f"/{NS}/d/nested/y/data")


@pytest.mark.parametrize(
    "attack, key, match",
    [(_hard_cycle, "d", "hard links"), (_soft_cycle, "d", "soft link"), (_soft_to_data, "arr", "soft link")],
)
def test_link_cycles_and_soft_links_are_refused(arena: Arena, attack: Callable, key: str, match: str) -> None:
    arena.edit_h5(attack)
    arena.refused(match, key=key)


def test_external_links_are_never_followed(arena: Arena) -> None:
    secret = arena.tmp / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.full((3, 4), 42.0)

    def link(f: h5py.File) -> None:
        del f[f"{NS}/arr/data"]
        f[f"{NS}/arr/data"] = h5py.ExternalLink(str(secret), "/data")

    arena.edit_h5(link)
    message = arena.refused("external link")
    assert "secret.h5" in message


def test_external_link_as_a_namespace_is_refused(arena: Arena) -> None:
    secret = arena.tmp / "secret.h5"
    with h5py.File(secret, "w") as f:
        f.create_group("k").attrs["__type__"] = "ndarray"
        f["k/data"] = np.arange(3)
    arena.edit_h5(lambda f: f.__setitem__("evil", h5py.ExternalLink(str(secret), "/")))
    arena.edit_json(lambda c: c["index"].update({"evil": {"k": {"type": "ndarray"}}}))
    arena.refused("external link", key=None)
    with pytest.raises(FormatError, match="external link"):
        AnalysisWorkspace.load_item(arena.base, "evil", "k")


# ---------------------------------------------------------------------------
# A4: a .json that contradicts the .h5
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, field, value",
    [
        ("arr", "type", "RateData"),
        ("arr", "shape", [4, 3]),
        ("rates", "shape", [2, 6]),
        ("sd", "N", 10**12),
        ("sd", "length_ms", 11.0),
        ("sss", "N_slices", 3),
        ("sss", "N_units", 5),
        ("sss", "length_ms", 50.0),
    ],
)
def test_json_summary_contradicting_the_h5(arena: Arena, key: str, field: str, value: Any) -> None:
    arena.edit_json(lambda c: c["index"][NS][key].__setitem__(field, value))
    message = arena.refused(field, load=False)
    assert "attack.json" in message and "attack.h5" in message


@pytest.mark.parametrize("bad", [["arr", "sd"], "arr", 3])
def test_json_namespace_that_is_not_a_mapping(arena: Arena, bad: Any) -> None:
    arena.edit_json(lambda c: c["index"].__setitem__(NS, bad))
    arena.refused("not a mapping", load=False)


def test_json_entry_that_is_not_a_mapping(arena: Arena) -> None:
    arena.edit_json(lambda c: c["index"][NS].__setitem__("arr", ["ndarray"]))
    arena.refused("not a mapping", load=False)


# ---------------------------------------------------------------------------
# A5: declared sizes the file does not hold
# ---------------------------------------------------------------------------


def _replace_data(f: h5py.File, **kwargs: Any) -> None:
    del f[f"{NS}/arr/data"]
    f[f"{NS}/arr"].create_dataset("data", **kwargs)


def test_terabyte_sparse_chunked_dataset(arena: Arena) -> None:
    arena.edit_h5(lambda f: _replace_data(f, shape=(2**37,), dtype="f8", chunks=(2**20,)))
    arena.edit_json(lambda c: c["index"][NS]["arr"].__setitem__("shape", [2**37]))
    assert os.path.getsize(arena.h5) < 100_000
    arena.refused("chunks hold data")


def test_partly_written_chunked_dataset(arena: Arena) -> None:
    def partial(f: h5py.File) -> None:
        _replace_data(f, shape=(3, 4000), dtype="f8", chunks=(3, 1000))
        f[f"{NS}/arr/data"][:, :1000] = 1.0

    arena.edit_h5(partial)
    arena.edit_json(lambda c: c["index"][NS]["arr"].__setitem__("shape", [3, 4000]))
    arena.refused("1 of its 4 chunks")


def test_huge_fill_value_dataset_is_refused_without_memory_error(arena: Arena) -> None:
    arena.edit_h5(lambda f: _replace_data(f, shape=(2**20, 2**20), dtype="f8", fillvalue=3.0))
    arena.edit_json(lambda c: c["index"][NS]["arr"].__setitem__("shape", [2**20, 2**20]))
    arena.refused("holds only 0 bytes")


@pytest.mark.parametrize(
    "key, change, match",
    [
        ("sd", lambda f: f[f"{NS}/sd"].attrs.__setitem__("N", 10**12), "N=1000000000000"),
        ("sd", lambda f: f[f"{NS}/sd/spike_times_index"].__setitem__(2, 10**9), "offsets"),
        ("sd", lambda f: f[f"{NS}/sd/spike_times_index"].__setitem__(1, 1), "offsets"),
        ("sd", lambda f: f[f"{NS}/sd/spike_times"].__setitem__(1, np.nan), "not finite"),
        ("sd", lambda f: f[f"{NS}/sd"].attrs.__setitem__("length_ms", -1.0), "length"),
        ("sss", lambda f: f[f"{NS}/sss/spike_stack/1"].attrs.__setitem__("N", 7), "N=7"),
        ("sss", lambda f: f[f"{NS}/sss/spike_stack"].move("1", "5"), "slices named"),
    ],
)
def test_self_contradicting_spike_trains(arena: Arena, key: str, change: Callable, match: str) -> None:
    arena.edit_h5(change)
    arena.refused(match, key=key)


def test_rates_with_a_wrong_time_axis(arena: Arena) -> None:
    def shorten(f: h5py.File) -> None:
        del f[f"{NS}/rates/times"]
        f[f"{NS}/rates/times"] = np.arange(3.0)

    arena.edit_h5(shorten)
    arena.refused("3 times", key="rates")


# ---------------------------------------------------------------------------
# A6: datatypes spikelab never writes
# ---------------------------------------------------------------------------


def _reference(f: h5py.File) -> None:
    _replace_data(f, data=np.array([f[NS].ref] * 12).reshape(3, 4), dtype=h5py.ref_dtype)


def _region_reference(f: h5py.File) -> None:
    ref = f[f"{NS}/sd/spike_times"].regionref[0:2]
    _replace_data(f, data=np.array([ref] * 12).reshape(3, 4), dtype=h5py.regionref_dtype)


def _vlen_ints(f: h5py.File) -> None:
    ds = f[f"{NS}/arr"].create_dataset("tmp", shape=(3, 4), dtype=h5py.vlen_dtype(np.int32))
    for i in range(3):
        for j in range(4):
            ds[i, j] = np.arange(i + j + 1, dtype=np.int32)
    del f[f"{NS}/arr/data"]
    f[f"{NS}/arr"].move("tmp", "data")


@pytest.mark.parametrize(
    "attack, match",
    [
        (_reference, "references"),
        (_region_reference, "references"),
        (lambda f: _replace_data(f, data=np.zeros((3, 4), dtype=[("a", "i4"), ("b", "f8")])), "compound"),
        (lambda f: _replace_data(f, data=np.zeros((3, 4), dtype="V8")), "opaque"),
        (_vlen_ints, "variable-length"),
        (lambda f: _replace_data(f, data=np.zeros((3, 4), dtype="i1"), dtype=h5py.enum_dtype({"a": 0, "b": 1}, basetype="i1")), "enum"),
        (lambda f: _replace_data(f, shape=(3,), dtype=np.dtype(("f8", (4,)))), "array datatype"),
        (lambda f: f[f"{NS}/arr"].attrs.__setitem__("evil", np.zeros(2, dtype=[("a", "i4")])), "evil"),
        (lambda f: f[f"{NS}/arr/data"].attrs.__setitem__("evil", f[NS].ref), "evil"),
    ],
)
def test_datatypes_spikelab_never_writes(arena: Arena, attack: Callable, match: str) -> None:
    arena.edit_h5(attack)
    message = arena.refused(match)
    assert "/rec/arr" in message


def test_export_and_import_agree_on_opaque_dtypes(tmp_path: Path) -> None:
    from spikestore import export_hdf5
    from spikestore.errors import UnsupportedTypeError

    ws = AnalysisWorkspace()
    ws.store("a", "b", np.zeros(3, dtype="V8"))
    with pytest.raises(UnsupportedTypeError, match="V8"):
        export_hdf5(ws, str(tmp_path / "x"))


def test_unknown_filter_and_external_storage(arena: Arena) -> None:
    raw = arena.tmp / "raw.bin"
    raw.write_bytes(np.arange(12.0).tobytes())
    arena.edit_h5(lambda f: _replace_data(f, shape=(3, 4), dtype="<f8", external=[(str(raw), 0, 96)]))
    message = arena.refused("outside this file")
    assert "/rec/arr/data" in message


# ---------------------------------------------------------------------------
# A2: damaged files: every outcome is a round trip or a spikestore error
# ---------------------------------------------------------------------------


def _mutations(data: bytes, count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` deterministic mutations: byte flips at random offsets, and truncations."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        if i % 5 == 4:
            cut = int(rng.integers(0, len(data)))
            out.append((f"truncate to {cut}", data[:cut]))
            continue
        mutated = bytearray(data)
        offsets = sorted(int(o) for o in rng.integers(0, len(data), size=int(rng.integers(1, 9))))
        for o in offsets:
            mutated[o] ^= int(rng.integers(1, 256))
        out.append((f"flip bytes at {offsets}", bytes(mutated)))
    return out


def _outcome(fn: Callable[[], Any], what: str) -> Any:
    """``fn()``'s value, or the spikestore error it raised; any other exception fails the test."""
    try:
        return fn()
    except SpikestoreError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{what}: raised {type(exc).__name__}: {exc}")


def test_byte_mutations_give_a_round_trip_or_a_spikestore_error(arena: Arena, original: str) -> None:
    with open(original + ".h5", "rb") as fh:
        data = fh.read()
    before = AnalysisWorkspace.load(str(arena.dest))
    outcomes = {"imported": 0, "refused": 0}
    for label, mutated in _mutations(data, 60, seed=20240611):
        with open(arena.h5, "wb") as fh:
            fh.write(mutated)
        imported = _outcome(lambda: import_hdf5(arena.base, str(arena.dest)), f"import after {label}")
        direct = _outcome(lambda: AnalysisWorkspace.load(arena.base), f"load after {label}")
        for key in spikelab_items():
            _outcome(lambda: AnalysisWorkspace.load_item(arena.base, NS, key), f"load_item {key} after {label}")
        assert _tree_bytes(arena.victim) == arena.victim_bytes, label
        if isinstance(imported, SpikestoreError):
            outcomes["refused"] += 1
            got = AnalysisWorkspace.load(str(arena.dest))
            assert (got.workspace_id, got.describe()) == (before.workspace_id, before.describe()), label
            assert_same(before.get("old", "x"), got.get("old", "x"))
            continue
        outcomes["imported"] += 1
        stored = _outcome(lambda: AnalysisWorkspace.load(str(arena.dest)), f"loading the import after {label}")
        assert isinstance(direct, SpikestoreError) == isinstance(stored, SpikestoreError), (label, direct, stored)
        if not isinstance(direct, SpikestoreError):
            assert (stored.workspace_id, stored.name) == (direct.workspace_id, direct.name), label
            for key in spikelab_items():
                assert_same(direct.get(NS, key), stored.get(NS, key), f"{label}: {key}")
        arena.dest_ws.save(str(arena.dest))  # back to the starting point
        before = AnalysisWorkspace.load(str(arena.dest))
    assert outcomes["refused"] > 10 and outcomes["imported"] > 0, outcomes
