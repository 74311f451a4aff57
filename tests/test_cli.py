"""The ``spikestore`` command on a folder and on moto's S3 server: every
command, the demo, and bad input (one error line on stderr, a non-zero exit
status, nothing written).

Most tests call the command's entry point, :func:`spikestore.cli.main`, in
this process with its own arguments, environment, working folder and
captured output (:func:`run`): a fresh interpreter per call cost two to four
seconds of imports, which made this file the slowest of the suite.  The
tests where the process boundary is the point run the real command in a
child process (:func:`run_process`): the installed console script and
``python -m spikestore``, the usage printed with no arguments, and progress
bars on a real terminal."""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import subprocess
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

import fsspec
import numpy as np
import pytest

import spikestore
import spikestore.cli
from spikestore import AnalysisWorkspace

from .conftest import BUCKET
from .objects import all_items, assert_same

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
ITEMS = ("spikedata_full", "ratedata", "pairwise", "dict", "str_array")


@dataclass
class Place:
    """Where the command works: a folder or a prefix on moto S3."""

    kind: str
    url: str
    args: list[str] = field(default_factory=list)  # storage options for the command
    storage_options: dict[str, Any] | None = None  # the same, for the library
    env: dict[str, str] = field(default_factory=dict)

    def sibling(self, name: str) -> str:
        return f"{self.url}-{name}"

    def exists(self, url: str) -> bool:
        fs, path = fsspec.core.url_to_fs(url, **(self.storage_options or {}))
        fs.invalidate_cache()
        return bool(fs.exists(path))


@dataclass
class Result:
    """What a run of the command left: exit status, standard output and standard error."""

    returncode: int
    stdout: str
    stderr: str


def run_process(*args: str, env: dict[str, str] | None = None, cwd: Any = None) -> subprocess.CompletedProcess:
    """``python -m spikestore ARGS`` in a fresh process (stdout is a pipe: no progress bars)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SPIKESTORE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "spikestore", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300
    )


def _set_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``env`` added and ``SPIKESTORE_DEBUG`` removed, restored afterwards."""
    changes: dict[str, str | None] = {**env, "SPIKESTORE_DEBUG": None}
    before = {name: os.environ.get(name) for name in changes}
    _set_environment(changes)
    try:
        yield
    finally:
        _set_environment(before)


def run(*args: str, env: dict[str, str] | None = None, cwd: Any = None) -> Result:
    """``spikestore ARGS`` in this process, as the console script runs it: ``main(ARGS)``.

    Standard output and error are captured (not a terminal: no progress
    bars), ``env`` is added to the environment and ``cwd`` is the working
    folder for the call, and the exit status is the one ``main`` passes to
    ``sys.exit``.  The listing caches of cached s3fs instances are emptied
    first, so that every call lists the store afresh, as a new process would
    (the instances themselves are kept: a new botocore session costs ~0.4 s;
    every S3 call here uses the same credentials, ``AWS_ENV``).
    """
    import s3fs

    for fs in list(s3fs.S3FileSystem._cache.values()):  # fsspec's instance cache
        fs.invalidate_cache()
    out, err = io.StringIO(), io.StringIO()
    with _environment(env or {}), contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            spikestore.cli.main(list(args))
        except SystemExit as exc:
            code = exc.code
        else:  # main always ends with sys.exit
            raise AssertionError(f"spikestore.cli.main{args} returned instead of exiting")
    if code is None:
        returncode = 0
    elif isinstance(code, int):
        returncode = code
    else:  # sys.exit("message"), as the interpreter does it
        err.write(f"{code}\n")
        returncode = 1
    return Result(returncode, out.getvalue(), err.getvalue())


def assert_one_error_line(result: Result | subprocess.CompletedProcess, *fragments: str) -> None:
    """A non-zero exit and exactly one stderr line ``spikestore: error: …``."""
    assert result.returncode != 0, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("spikestore: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def _place(kind: str, folder: pathlib.Path, request: pytest.FixtureRequest) -> Place:
    """An empty workspace location: ``folder/ws``, or a fresh prefix on moto S3."""
    if kind == "folder":
        return Place("folder", str(folder / "ws"))
    server = request.getfixturevalue("s3_server")
    return Place(
        "s3",
        f"s3://{BUCKET}/cli-{uuid.uuid4().hex}",
        ["--endpoint-url", server.endpoint_url],
        server.storage_options,
        dict(AWS_ENV),
    )


def _save_small_workspace(place: Place) -> Place:
    """Save a small workspace (a few item types, with notes) at ``place``."""
    ws = AnalysisWorkspace(name="cli-test")
    objects = all_items()
    for key in ITEMS:
        ws.store("rec1", key, objects[key], note=f"note of {key}")
    ws.store("rec2", "matrix", np.arange(12.0).reshape(3, 4))
    ws.save(place.url, storage_options=place.storage_options)
    return place


@pytest.fixture(params=["folder", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Place]:
    """An empty workspace location on a folder and on moto S3."""
    yield _place(request.param, tmp_path, request)


@pytest.fixture
def saved(place: Place) -> Place:
    """``place`` holding a small workspace, for a test that changes it."""
    return _save_small_workspace(place)


@pytest.fixture(scope="module", params=["folder", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Place:
    """The same small workspace as ``saved``, saved once per store for the
    tests that only read it (they write elsewhere: their ``tmp_path`` or a
    sibling location of their own)."""
    return _save_small_workspace(_place(request.param, tmp_path_factory.mktemp("cli-shared"), request))


def test_console_script_and_module_entry_point() -> None:
    script = pathlib.Path(sys.executable).parent / "spikestore"
    assert script.exists(), "the `spikestore` console script is not installed (pip install -e .)"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and spikestore.__version__ in out.stdout
    result = run_process("--help")
    assert result.returncode == 0
    for command in ("ls", "info", "export", "import", "copy", "verify", "gc", "demo"):
        assert command in result.stdout


# -- reading ---------------------------------------------------------------------


def test_ls_lists_items_with_type_shape_and_note(shared: Place) -> None:
    result = run("ls", shared.url, *shared.args, env=shared.env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ITEM", "TYPE", "SHAPE", "NOTE"]
    assert len(lines) == 1 + len(ITEMS) + 1
    text = result.stdout
    assert "rec1/spikedata_full" in text and "SpikeData" in text and "6 units, 2000 ms" in text
    assert "note of ratedata" in text and "(6, 40)" in text
    assert "rec2/matrix" in text and "(3, 4) float64" in text

    only = run("ls", shared.url, "rec2", *shared.args, env=shared.env)
    assert only.returncode == 0, only.stderr
    assert "rec2/matrix" in only.stdout and "rec1/" not in only.stdout


def test_info_shows_workspace_namespace_and_item_tree(shared: Place) -> None:
    ws = run("info", shared.url, *shared.args, env=shared.env)
    assert ws.returncode == 0, ws.stderr
    assert "cli-test" in ws.stdout and "items       6 in 2 namespace(s)" in ws.stdout
    assert "rec1/" in ws.stdout and "stored" in ws.stdout

    ns = run("info", shared.url, "rec1", *shared.args, env=shared.env)
    assert ns.returncode == 0, ns.stderr
    assert ns.stdout.splitlines()[1].split()[:7] == ["KEY", "TYPE", "SHAPE", "STORED", "DATA", "RAW", "DATA/RAW"]
    assert "ratedata" in ns.stdout and "× of raw" in ns.stdout

    item = run("info", shared.url, "rec1", "ratedata", *shared.args, env=shared.env)
    assert item.returncode == 0, item.stderr
    text = item.stdout
    assert text.startswith("rec1/ratedata  RateData  (6, 40)")
    assert "note        note of ratedata" in text
    # the arrays with dtype, shape, chunks, codecs, stored vs raw bytes and ratio
    line = next(l for l in text.splitlines() if "inst_Frate_data" in l)
    assert "float64" in line and "(6, 40)" in line and "chunks" in line and "crc32c" in line
    assert "raw" in line and line.rstrip().endswith("× of raw")
    assert "└── " in text

    nested = run("info", shared.url, "rec1", "dict", *shared.args, env=shared.env)
    assert nested.returncode == 0, nested.stderr
    assert "│   " in nested.stdout or "    └── " in nested.stdout


# -- writing ---------------------------------------------------------------------


def test_export_then_spikelab_loads_then_import_roundtrips(shared: Place, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("spikestore.transfer")
    base = tmp_path / "exported"
    result = run("export", shared.url, str(base), *shared.args, env=shared.env)
    assert result.returncode == 0, result.stderr
    assert "exported" in result.stdout and result.stderr == ""
    assert (tmp_path / "exported.h5").is_file() and (tmp_path / "exported.json").is_file()

    from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

    original = AnalysisWorkspace.load(shared.url, storage_options=shared.storage_options)
    by_spikelab = SpikelabWorkspace.load(str(base))
    assert by_spikelab.workspace_id == original.workspace_id
    assert_same(original.get("rec1", "ratedata"), by_spikelab.get("rec1", "ratedata"))

    gz = run("export", shared.url, str(tmp_path / "gz.h5"), "--compression", "gzip", *shared.args, env=shared.env)
    assert gz.returncode == 0, gz.stderr
    assert_same(original.get("rec2", "matrix"), SpikelabWorkspace.load(str(tmp_path / "gz")).get("rec2", "matrix"))

    target = shared.sibling("imported")
    imported = run("import", str(base), target, *shared.args, env=shared.env)
    assert imported.returncode == 0, imported.stderr
    back = AnalysisWorkspace.load(target, storage_options=shared.storage_options)
    assert back.describe() == original.describe()
    for ns in original.list_namespaces():
        for key in original.list_keys(ns):
            expected = original.get(ns, key)
            if key == "dict":
                # the export is the file spikelab writes: a numpy bool is a "bool" there,
                # and reads back (in spikelab and spikestore) as a Python bool
                assert type(expected["np_bool"]) is np.bool_
                expected = {**expected, "np_bool": bool(expected["np_bool"])}
            assert_same(expected, back.get(ns, key), f"{ns}/{key}")


def test_copy_between_stores(shared: Place, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("spikestore.transfer")
    original = AnalysisWorkspace.load(shared.url, storage_options=shared.storage_options)
    target = shared.sibling("copy")
    result = run("copy", shared.url, target, *shared.args, env=shared.env)
    assert result.returncode == 0, result.stderr
    assert "copied" in result.stdout
    copied = AnalysisWorkspace.load(target, storage_options=shared.storage_options)
    assert copied.workspace_id == original.workspace_id and copied.describe() == original.describe()
    assert_same(original.get("rec1", "spikedata_full"), copied.get("rec1", "spikedata_full"))

    # across stores: S3 -> folder (destination options: none) and folder -> folder
    folder = tmp_path / "copied-folder"
    args = [*shared.args, "--dst-storage-option", "auto_mkdir=true"] if shared.args else []
    local = run("copy", shared.url, str(folder), *args, env=shared.env)
    assert local.returncode == 0, local.stderr
    assert AnalysisWorkspace.load(str(folder)).describe() == original.describe()


def test_verify_and_gc(saved: Place) -> None:
    ok = run("verify", saved.url, *saved.args, env=saved.env)
    assert ok.returncode == 0, ok.stderr
    assert "no damage found" in ok.stdout

    cleaned = run("gc", saved.url, *saved.args, env=saved.env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert "removed" in cleaned.stdout
    assert AnalysisWorkspace.load(saved.url, storage_options=saved.storage_options).list_keys("rec2") == ["matrix"]

    # flip bytes in one chunk: verify must report it and exit non-zero
    fs, root = fsspec.core.url_to_fs(saved.url, **(saved.storage_options or {}))
    chunk = next(p for p in sorted(fs.find(root)) if "/rec2/matrix/" in p and "/c/" in p)
    data = bytearray(fs.cat_file(chunk))
    data[len(data) // 2] ^= 0xFF
    fs.pipe_file(chunk, bytes(data))
    damaged = run("verify", saved.url, *saved.args, env=saved.env)
    assert_one_error_line(damaged, "damaged")
    assert "rec2" in damaged.stdout and "matrix" in damaged.stdout


def _leftover_version(place: Place) -> str:
    """A fresh, unreferenced version folder of rec2/matrix, as a crashed write leaves it."""
    fs, root = fsspec.core.url_to_fs(place.url, **(place.storage_options or {}))
    folder = f"{root}/rec2/matrix/v{int(time.time() * 1000):013d}-deadbeef"
    fs.makedirs(folder, exist_ok=True)
    fs.pipe_file(f"{folder}/zarr.json", b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    fs.invalidate_cache()
    return folder


def test_gc_grace_option_is_passed_to_the_library(saved: Place) -> None:
    folder = _leftover_version(saved)
    fs, _ = fsspec.core.url_to_fs(saved.url, **(saved.storage_options or {}))
    kept = run("gc", saved.url, *saved.args, env=saved.env)
    assert kept.returncode == 0, kept.stderr
    assert "kept 1 younger than the grace period" in kept.stdout
    fs.invalidate_cache()
    assert fs.exists(f"{folder}/zarr.json"), "the default grace (one hour) keeps a fresh leftover"
    removed = run("gc", "--grace", "0", saved.url, *saved.args, env=saved.env)
    assert removed.returncode == 0, removed.stderr
    assert "removed 1 leftover folder(s)" in removed.stdout
    fs.invalidate_cache()
    assert not fs.exists(f"{folder}/zarr.json")
    assert AnalysisWorkspace.load(saved.url, storage_options=saved.storage_options).list_keys("rec2") == ["matrix"]


def test_gc_help_explains_the_grace_period() -> None:
    from spikestore.maintenance import DEFAULT_GRACE_SECONDS

    result = run("gc", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "--grace SECONDS" in text and f"default: {DEFAULT_GRACE_SECONDS:g}" in text
    assert "older than the grace period" in text and "longest time one item write takes" in text
    assert "Use --grace 0 only when no writer is active" in text
    assert_one_error_line(run("gc", "--grace", "-1", "x"), "--grace")


def test_ls_on_an_unfinished_workspace_says_so_and_suggests_gc(place: Place) -> None:
    fs, root = fsspec.core.url_to_fs(place.url, **(place.storage_options or {}))
    fs.makedirs(f"{root}/__spikestore__", exist_ok=True)
    fs.pipe_file(f"{root}/__spikestore__/zarr.json", b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    for command in ("ls", "info"):
        result = run(command, place.url, *place.args, env=place.env)
        assert_one_error_line(result, "unfinished workspace", f"spikestore gc --grace 0 {place.url}")
        assert result.returncode == 1


def test_demo_runs_end_to_end(place: Place, tmp_path: pathlib.Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = run("demo", place.url, "--scale", "tiny", *place.args, env=place.env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "spikestore demo: tiny workspace" in out
    assert "size on disk" in out and "spikelab .h5" in out and "save" in out
    if spikestore.__dict__.get("open_workspace") or _has("spikestore.lazy"):
        assert "equal to the in-memory data" in out and "spikes in" in out
    assert "19/19 items equal, index equal: all equal" in out
    assert AnalysisWorkspace.load(place.url, storage_options=place.storage_options).list_namespaces()
    assert list(cwd.iterdir()) == []  # nothing left behind in the working folder


def test_demo_defaults_to_a_local_folder(tmp_path: pathlib.Path) -> None:
    result = run("demo", "--scale", "tiny", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo-workspace" / "zarr.json").is_file()
    assert "building" not in result.stdout  # --quiet: no step lines


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- bad input -------------------------------------------------------------------


def test_missing_store_is_one_clear_error(place: Place) -> None:
    for command in (["ls"], ["info"], ["gc"]):
        result = run(*command, place.url, *place.args, env=place.env)
        assert_one_error_line(result, "no spikestore workspace")
    assert not place.exists(place.url)


def test_bad_url_is_one_clear_error(tmp_path: pathlib.Path) -> None:
    result = run("ls", "nosuchprotocol://bucket/ws")
    assert_one_error_line(result, "nosuchprotocol")
    result = run("copy", str(tmp_path / "missing"), "nosuchprotocol://x/y")
    assert_one_error_line(result)


def test_unknown_namespace_and_key(shared: Place) -> None:
    assert_one_error_line(run("ls", shared.url, "nope", *shared.args, env=shared.env), "nope")
    assert_one_error_line(run("info", shared.url, "nope", *shared.args, env=shared.env), "nope")
    assert_one_error_line(run("info", shared.url, "rec1", "nokey", *shared.args, env=shared.env), "nokey")


def test_no_arguments_prints_the_usage_as_click_does() -> None:
    result = run_process()
    assert result.returncode == 2, "click's convention for a group called without a command"
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Usage: spikestore [OPTIONS] COMMAND [ARGS]..."
    assert "Commands:" in lines and "spikestore: error" not in result.stderr
    assert any(line.split()[:1] == ["gc"] for line in lines)
    helped = run("--help")
    assert helped.returncode == 0 and helped.stdout.splitlines()[0] == lines[0]


def test_demo_scale_lists_its_choices_and_refuses_others_as_usage_errors() -> None:
    from spikestore.demo import DEMO_SCALES
    from spikestore.workload import SCALES

    assert list(DEMO_SCALES) == list(SCALES)
    helped = run("demo", "--help")
    assert "[tiny|small|medium|full]" in helped.stdout
    bad = run("demo", "--scale", "gigantic")
    assert_one_error_line(bad, "gigantic", "'tiny', 'small', 'medium', 'full'")
    assert bad.returncode == 2


def test_usage_errors_are_one_line(shared: Place) -> None:
    assert_one_error_line(run("ls", shared.url, "--storage-option", "novalue"), "KEY=VALUE")
    assert_one_error_line(run("frobnicate"), "frobnicate")
    assert_one_error_line(run("ls"), "URL")
    assert_one_error_line(run("export", shared.url, "x", "--compression", "zip"), "zip")
    assert_one_error_line(run("demo", "--scale", "gigantic"), "gigantic")


def test_debug_shows_the_traceback(tmp_path: pathlib.Path) -> None:
    result = run("ls", str(tmp_path / "missing"), "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("spikestore: error: ")


def test_export_of_missing_store_writes_nothing(place: Place, tmp_path: pathlib.Path) -> None:
    result = run("export", place.url, str(tmp_path / "out"), *place.args, env=place.env)
    assert_one_error_line(result, "no spikestore workspace")
    assert list(tmp_path.iterdir()) == [] or not any(p.name.startswith("out") for p in tmp_path.iterdir())


def test_import_of_missing_file_writes_nothing(place: Place, tmp_path: pathlib.Path) -> None:
    result = run("import", str(tmp_path / "nothing"), place.url, *place.args, env=place.env)
    assert_one_error_line(result)
    assert not place.exists(place.url)


def test_unwritable_destinations(shared: Place, tmp_path: pathlib.Path) -> None:
    # a destination below a regular file cannot be created, whoever runs the test
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    export = run("export", shared.url, str(blocker / "sub" / "out"), *shared.args, env=shared.env)
    assert_one_error_line(export)
    copy = run("copy", shared.url, str(blocker / "ws"), *shared.args, env=shared.env)
    assert_one_error_line(copy)
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_copy_refuses_to_overwrite_foreign_data(shared: Place, tmp_path: pathlib.Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    result = run("copy", shared.url, str(foreign), *shared.args, env=shared.env)
    assert_one_error_line(result, "not a spikestore workspace")
    assert [p.name for p in foreign.iterdir()] == ["precious.txt"]


def test_missing_bucket_is_one_clear_error(s3_server: Any, tmp_path: pathlib.Path) -> None:
    args = ["--endpoint-url", s3_server.endpoint_url]
    result = run("ls", "s3://no-such-bucket-here/ws", *args, env=AWS_ENV)
    assert_one_error_line(result)
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(3))
    ws.save(str(tmp_path / "src"))
    copy = run("copy", str(tmp_path / "src"), "s3://no-such-bucket-here/ws", *args, env=AWS_ENV)
    assert_one_error_line(copy)
    assert "no-such-bucket-here" not in [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]


# -- Python niceties ---------------------------------------------------------------


def test_reprs_paths_and_typing(tmp_path: pathlib.Path) -> None:
    ws = AnalysisWorkspace(name="nice")
    ws.store("rec1", "x", np.arange(3))
    assert repr(ws).startswith("AnalysisWorkspace 'nice'(") and "1 namespace(s), 1 item(s)" in repr(ws)
    ws.save(tmp_path / "ws")  # pathlib.Path
    assert AnalysisWorkspace.load(tmp_path / "ws").list_keys("rec1") == ["x"]
    open_workspace = getattr(spikestore, "open_workspace", None)
    if open_workspace is None:
        pytest.skip("spikestore.open_workspace is not available yet")
    lazy = open_workspace(tmp_path / "ws")
    try:
        text = repr(lazy)
        assert "LazyAnalysisWorkspace" in text and "ws" in text
    finally:
        lazy.close()
    assert (pathlib.Path(spikestore.__file__).parent / "py.typed").is_file()


def test_progress_bars_only_on_a_terminal(tmp_path: pathlib.Path) -> None:
    """With stdout on a terminal, export shows a tqdm bar on stderr; ``--quiet`` hides it."""
    pty = pytest.importorskip("pty")
    ws = AnalysisWorkspace()
    ws.store("rec1", "x", np.arange(1000.0))
    ws.save(str(tmp_path / "ws"))
    for extra, shown in (([], True), (["--quiet"], False)):
        master, slave = pty.openpty()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "spikestore", "export", str(tmp_path / "ws"), str(tmp_path / f"out{len(extra)}"), *extra],
                stdout=slave, stderr=subprocess.PIPE, text=True, timeout=120,
            )
        finally:
            os.close(slave)
            os.close(master)
        assert result.returncode == 0, result.stderr
        assert ("100%" in result.stderr) is shown, result.stderr


def _bytes(text: str) -> int:
    number, unit = text.split()
    return round(float(number) * {"B": 1, "kB": 1e3, "MB": 1e6}[unit])


def test_info_sizes_and_ratios_use_one_definition(tmp_path: pathlib.Path) -> None:
    """A tiny array stores more than its raw bytes: the ratio says so (above 1), from the same bytes."""
    ws = AnalysisWorkspace()
    ws.store("rec", "tiny", np.arange(3.0))
    ws.store("rec", "zeros", np.zeros((200, 300)))
    ws.save(str(tmp_path / "ws"))
    for key in ("tiny", "zeros"):
        item = run("info", str(tmp_path / "ws"), "rec", key)
        assert item.returncode == 0, item.stderr
        summary = next(l for l in item.stdout.splitlines() if l.startswith("  raw "))
        m = re.fullmatch(r"  raw +(.+?) of numeric data, stored in (.+?) of chunks \((.+)× of raw\)", summary)
        assert m, summary
        raw, data, ratio = _bytes(m[1]), _bytes(m[2]), m[3]
        assert raw == {"tiny": 24, "zeros": 480_000}[key]
        expected = f"{data / raw:.2f}" if data / raw >= 0.01 else "<0.01"
        assert ratio == expected
        array_line = next(l for l in item.stdout.splitlines() if "── data" in l)
        assert array_line.rstrip().endswith(f"{m[2]} / {m[1]} raw  {ratio}× of raw")
        stored = next(l for l in item.stdout.splitlines() if l.startswith("  stored "))
        assert _bytes(" ".join(stored.split()[1:3])) > data, "stored counts the zarr.json documents too"
        namespace = run("info", str(tmp_path / "ws"), "rec")
        row = next(l for l in namespace.stdout.splitlines() if l.startswith(key + " "))
        assert f"{ratio}× of raw" in row and m[1] in row
        # the row shows the bytes its ratio divides: DATA (chunks) before RAW
        assert f"  {m[2]}  " in row and row.index(f"  {m[2]}  ") < row.index(f"  {m[1]}  ") < row.index(f"{ratio}× of raw")
    assert float(ratio_of(run("info", str(tmp_path / "ws"), "rec", "tiny").stdout)) > 1


def ratio_of(text: str) -> str:
    return re.search(r"\(([^()]+)× of raw\)", text)[1]


def test_info_path_prints_the_item_group_that_zarr_and_xarray_open(place: Place) -> None:
    xr = pytest.importorskip("xarray")
    from spikestore.xarray_support import item_url

    rates = all_items()["ratedata"]
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", rates)
    ws.store("rec", "few", {"n": 3, "values": np.arange(4.0)})  # a small dict: kept in the index
    ws.save(place.url, storage_options=place.storage_options)
    result = run("info", place.url, "rec", "rates", "--path", *place.args, env=place.env)
    assert result.returncode == 0, result.stderr
    with spikestore.open_workspace(place.url, storage_options=place.storage_options) as lazy:
        assert result.stdout == item_url(lazy, "rec", "rates") + "\n"
    ds = xr.open_zarr(result.stdout.strip(), storage_options=place.storage_options)
    assert ds.inst_Frate_data.dims == ("unit", "time")
    assert_same(rates.inst_Frate_data, ds.inst_Frate_data.values)
    assert_one_error_line(run("info", place.url, "rec", "few", "--path", *place.args, env=place.env), "kept wholly in the index", "get_lazy")
    usage = run("info", place.url, "rec", "--path", *place.args, env=place.env)
    assert usage.returncode == 2 and "--path needs an item" in usage.stderr
