"""Bad input gets a spikestore exception that says what to do, and the store is left as it was."""

from __future__ import annotations

import io

import numpy as np
import pytest
from spikelab.spikedata.spikedata import SpikeData

from spikestore import (
    AnalysisWorkspace,
    InvalidNameError,
    InvalidURLError,
    InvalidValueError,
    SpikestoreError,
    UnsupportedTypeError,
    WorkspaceNotFoundError,
)
from spikestore.errors import FormatError

from .objects import assert_same

BAD_NAMES = ["", "a/b", "a\\b", "nul\x00", ".", "..", "__hidden", "../escape", 3]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_before_storing(name) -> None:
    ws = AnalysisWorkspace()
    with pytest.raises(InvalidNameError) as err:
        ws.store(name, "k", np.arange(2))
    assert isinstance(err.value, ValueError)
    with pytest.raises(InvalidNameError):
        ws.store("ns", name, np.arange(2))
    assert ws.list_keys() == {}


@pytest.mark.parametrize("key", ["", "a/b", "..", "__x"])
def test_bad_dict_keys_are_refused_by_save(tmp_path, key) -> None:
    ws = AnalysisWorkspace()
    ws.store("ns", "d", {key: 1})
    with pytest.raises(InvalidNameError, match="dict key"):
        ws.save(tmp_path / "ws")
    assert not (tmp_path / "ws").exists()


class Custom:
    pass


@pytest.mark.parametrize(
    "obj",
    [lambda x: x, io.BytesIO(b"x"), Custom(), 3, "text", [1, 2], {"fine": 1, "bad": Custom()}, np.array([object(), 1], dtype=object)],
    ids=["lambda", "file", "custom", "int", "str", "list", "nested-custom", "object-array"],
)
def test_unsupported_objects_fail_save_naming_the_item_and_write_nothing(location, obj) -> None:
    good = AnalysisWorkspace(name="before")
    good.store("ns", "kept", np.arange(3))
    good.save(location.url, storage_options=location.storage_options)

    ws = AnalysisWorkspace()
    ws.store("ns", "fine", np.arange(3))
    ws.store("ns", "bad", obj)
    with pytest.raises(UnsupportedTypeError) as err:
        ws.save(location.url, storage_options=location.storage_options)
    assert "('ns', 'bad')" in str(err.value) and isinstance(err.value, TypeError)

    after = AnalysisWorkspace.load(location.url, storage_options=location.storage_options)
    assert after.name == "before" and after.list_keys() == {"ns": ["kept"]}


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"ragged": [[1, 2], [3]]}, "ragged"),
        ({"mixed": [1, "a"]}, "mixes strings"),
        ({"tuple": (1, [2, 3])}, "ragged"),
        ({"set": {1, "a"}}, "cannot be ordered"),
        (SpikeData([np.array([1.0])], length=5.0, metadata={"bad": Custom()}), "not JSON"),
        (SpikeData([np.array([1.0])], length=5.0, neuron_attributes=[{"w": Custom()}]), "neuron attribute"),
        (SpikeData([np.array([1.0]), np.array([2.0])], length=5.0, neuron_attributes=[{"w": [1, 2]}, {"w": [1]}]), "shape"),
        (SpikeData([np.array([1.0]), np.array([2.0])], length=5.0, neuron_attributes=[{"w": [1, 2]}, {"w": 1}]), "mixes arrays"),
    ],
    ids=["ragged-list", "mixed-list", "ragged-tuple", "mixed-set", "metadata", "attr-type", "attr-shape", "attr-mix"],
)
def test_invalid_values_fail_with_invalid_value_error(tmp_path, obj, match) -> None:
    ws = AnalysisWorkspace()
    ws.store("ns", "k", obj)
    with pytest.raises(InvalidValueError, match=match):
        ws.save(tmp_path / "ws")
    assert not (tmp_path / "ws").exists()


def test_loading_a_missing_store_raises_workspace_not_found(location) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="no spikestore workspace") as err:
        AnalysisWorkspace.load(location.url, storage_options=location.storage_options)
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(WorkspaceNotFoundError):
        AnalysisWorkspace.load_item(location.url, "a", "b", storage_options=location.storage_options)


@pytest.mark.parametrize("url", ["nosuchproto://x/y", "", "   "])
def test_bad_urls_raise_invalid_url(url) -> None:
    with pytest.raises(InvalidURLError):
        AnalysisWorkspace.load(url)
    ws = AnalysisWorkspace()
    with pytest.raises(InvalidURLError):
        ws.save(url)


def test_refuses_to_overwrite_a_folder_that_is_not_a_workspace(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(2))
    with pytest.raises(FormatError, match="not a spikestore workspace"):
        ws.save(tmp_path / "data")
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"


def test_names_cannot_escape_the_store_root(tmp_path) -> None:
    ws = AnalysisWorkspace()
    for ns, key in [("..", "x"), ("a", ".."), ("../../etc", "x"), ("a", "../../b")]:
        with pytest.raises(SpikestoreError):
            ws.store(ns, key, np.arange(1))
    ws.store("safe", "x", np.arange(1))
    ws.save(tmp_path / "root" / "ws")
    outside = [p for p in tmp_path.rglob("*") if "root" not in p.parts]
    assert outside == []
    assert_same(np.arange(1), AnalysisWorkspace.load_item(tmp_path / "root" / "ws", "safe", "x"))
