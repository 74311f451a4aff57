"""The ``spikestore`` command: a thin shell over the public library API.

Every command parses its arguments, calls one or two library functions and
prints the result.  Errors the library raises on purpose
(:class:`~spikestore.SpikestoreError`), file-system errors and usage errors
are printed as one line, ``spikestore: error: <message>``, with a non-zero
exit status (1 for a failed operation, 2 for a usage mistake); ``--debug``
adds the traceback.  ``spikestore`` without a command prints the help to
standard error and exits with status 2, as click does for a group called
without a command (``spikestore --help`` prints it to standard output, status 0).

Sizes printed by ``info`` follow one definition (see :func:`size_summary`):
*stored* is every object of an item (chunks and ``zarr.json`` documents),
*raw* the uncompressed bytes of its numeric arrays, and the ratio is the
bytes of those same arrays' chunks divided by their raw bytes, printed as
``0.39× of raw`` (smaller is better compression).

Storage options (credentials stay in the AWS environment or config files and
are never printed) come from ``--storage-option KEY=VALUE`` (repeatable,
values parsed as JSON when they are JSON), ``--endpoint-url`` and ``--anon``.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import importlib.util
import json
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import click
import numpy as np

from . import __version__
from .workspace_root import WorkspaceRoot
from .containers.skeleton import ARRAY_KINDS, INLINE_CHUNKS, Skeleton
from .containers.zarr_group import array_location, stores_objects
from .entries import skeleton_segment
from .demo import DEMO_SCALES
from .errors import SpikestoreError, WorkspaceNotFoundError
from .maintenance import DEFAULT_GRACE_SECONDS
from .paths import INTERNAL_DIR
from .store import WorkspaceStore
from .xarray_support import group_url

# -- errors -----------------------------------------------------------------------


class NotAvailableError(click.ClickException):
    """A command whose library function is missing from this version."""


def library_function(name: str, module: str) -> Callable[..., Any]:
    """The public function ``spikestore.<name>`` (or ``spikestore.<module>.<name>``).

    Raises
    ------
    NotAvailableError
        If this version of spikestore does not have it.
    """
    import spikestore

    func = getattr(spikestore, name, None)
    if func is None and importlib.util.find_spec(f"spikestore.{module}") is not None:
        func = getattr(importlib.import_module(f"spikestore.{module}"), name, None)
    if func is None:
        raise NotAvailableError(f"spikestore.{name} is not available in this version of spikestore ({__version__})")
    return func


# -- options ----------------------------------------------------------------------


@dataclass
class Settings:
    """Options shared by every command."""

    storage_options: Optional[dict[str, Any]]
    quiet: bool

    @property
    def progress(self) -> bool:
        """Show progress bars: only on a terminal and without ``--quiet``."""
        return not self.quiet and sys.stdout.isatty()


def parse_storage_options(pairs: Sequence[str], endpoint_url: Optional[str], anon: bool) -> Optional[dict[str, Any]]:
    """fsspec storage options from ``KEY=VALUE`` pairs, ``--endpoint-url`` and ``--anon``.

    Values are parsed as JSON when they are valid JSON (``true``, ``3``,
    ``{"region_name": "eu-west-1"}``) and kept as strings otherwise.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--storage-option expects KEY=VALUE, got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if anon:
        options["anon"] = True
    return options or None


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the storage, ``--quiet`` and ``--debug`` options; pass a :class:`Settings`."""

    @click.option("--storage-option", "-o", "pairs", multiple=True, metavar="KEY=VALUE", help="fsspec storage option (repeatable); VALUE is parsed as JSON when possible.")
    @click.option("--endpoint-url", metavar="URL", help="S3-compatible endpoint (sets storage option endpoint_url).")
    @click.option("--anon", is_flag=True, help="Anonymous access (public buckets).")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
    @click.option("--debug", is_flag=True, help="Show the traceback on errors.")
    def wrapper(pairs: tuple[str, ...], endpoint_url: Optional[str], anon: bool, quiet: bool, debug: bool, **kwargs: Any) -> Any:
        settings = Settings(parse_storage_options(pairs, endpoint_url, anon), quiet)
        return func(settings, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


# -- reading a workspace -------------------------------------------------------------


class UnfinishedWorkspaceError(WorkspaceNotFoundError):
    """The location holds only the start of a workspace (an interrupted save, import or copy)."""


def open_store(url: str, settings: Settings) -> WorkspaceStore:
    """Open the workspace at ``url`` read-only (root attributes + index).

    Raises
    ------
    UnfinishedWorkspaceError
        If ``url`` holds ``__spikestore__/`` but no root ``zarr.json`` with
        spikestore attributes: a save, import or copy that never finished.
    """
    backend = WorkspaceRoot(url, settings.storage_options, read_only=True)
    if WorkspaceStore.read_attrs(backend) is None and backend.exists(INTERNAL_DIR):
        raise UnfinishedWorkspaceError(
            f"{backend.url} holds an unfinished workspace: a save, import or copy was interrupted "
            f"before it wrote the workspace root, so there is nothing to read. Run it again, or "
            f"remove the leftovers with `spikestore gc --grace 0 {url}` once no writer is active."
        )
    return WorkspaceStore.open(backend)


def stored_sizes(store: WorkspaceStore, rel: str = "") -> dict[str, int]:
    """``{root-relative path: bytes}`` of every object under ``rel`` (one recursive listing)."""
    return store.backend.object_sizes(rel)


def _under(sizes: dict[str, int], prefix: str, *, skip_metadata: bool = False) -> int:
    prefix = prefix.rstrip("/") + "/"
    return sum(n for p, n in sizes.items() if p.startswith(prefix) and not (skip_metadata and p == prefix + "zarr.json"))


@dataclass
class SizeSummary:
    """An item's sizes, by the one definition ``info`` prints.

    Attributes
    ----------
    stored
        Bytes of every object of the item: array chunks and ``zarr.json``
        documents.
    objects
        How many objects that is.
    raw
        Uncompressed bytes of the numeric arrays (shape × item size).
        String arrays have no fixed raw size and are left out of ``raw``
        and ``data``.
    data
        Bytes of the numeric arrays' chunks (their ``zarr.json`` excluded).
    """

    stored: int
    objects: int
    raw: int
    data: int


def size_summary(rows: list[dict[str, Any]], sizes: dict[str, int]) -> SizeSummary:
    """The sizes of one item from its :func:`array_rows` and its objects' sizes."""
    numeric = [r for r in rows if not r["group"] and r["raw"] is not None]
    return SizeSummary(sum(sizes.values()), len(sizes), sum(r["raw"] for r in numeric), sum(r["stored"] for r in numeric))


def array_raw_bytes(meta: dict[str, Any]) -> Optional[int]:
    """Uncompressed bytes of an array from its ``zarr.json`` (``None`` for strings)."""
    try:
        dtype = np.dtype(meta["data_type"])
    except (TypeError, ValueError):
        return None
    return int(np.prod(meta["shape"], dtype=np.int64)) * dtype.itemsize


def codec_text(codec: dict[str, Any]) -> str:
    """One codec as short text: ``blosc(zstd:1,shuffle)``, ``crc32c``."""
    name, config = codec.get("name", "?"), codec.get("configuration") or {}
    if name == "blosc":
        return f"blosc({config.get('cname')}:{config.get('clevel')},{config.get('shuffle')})"
    if name == "sharding_indexed":
        inner = tuple(config.get("chunk_shape", ()))
        return f"sharding[inner {inner}: {codecs_text(config.get('codecs', []))}]"
    if name in ("zstd", "gzip") and "level" in config:
        return f"{name}({config['level']})"
    if name == "bytes":
        return name
    values = ",".join(f"{v}" for v in config.values() if not isinstance(v, (dict, list)))
    return f"{name}({values})" if values else name


def codecs_text(codecs: list[dict[str, Any]]) -> str:
    """A codec chain without the trivial ``bytes`` step."""
    shown = [codec_text(c) for c in codecs if c.get("name") != "bytes"]
    return " → ".join(shown) or "none"


def array_rows(skeleton: Skeleton, item_path: str, sizes: dict[str, int], prefix: str = "") -> list[dict[str, Any]]:
    """One row per array (and group) of an item skeleton, depth first.

    ``item_path`` is where the record of ``skeleton`` is stored; names shown
    are logical (``prefix`` + name), sizes are read at the stored locations.
    """
    rows: list[dict[str, Any]] = []
    for kind in ARRAY_KINDS:
        for name, meta in skeleton.get(kind, {}).items():
            rel = f"{prefix}{name}"
            stored_at = array_location(skeleton, item_path, name)
            kept = skeleton.get(INLINE_CHUNKS, {}).get(name)  # chunks kept in the index
            dtype = meta.get("data_type")
            numpy_dtype = meta.get("attributes", {}).get("spikestore:dtype")
            rows.append(
                {
                    "name": rel,
                    "depth": prefix.count("/"),
                    "group": False,
                    "derived": kind == "derived",
                    "shape": tuple(meta.get("shape", ())),
                    "dtype": f"{dtype} ({numpy_dtype})" if numpy_dtype else str(dtype),
                    "chunks": tuple(meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape", ())),
                    "codecs": codecs_text(meta.get("codecs", [])),
                    "stored": sum(len(c) * 3 // 4 for c in kept.values()) if kept is not None else _under(sizes, stored_at, skip_metadata=True),
                    "raw": array_raw_bytes(meta),
                }
            )
    for name, child in skeleton.get("children", {}).items():
        rows.append({"name": f"{prefix}{name}", "depth": prefix.count("/"), "group": True, "type": child.get("type")})
        rows.extend(array_rows(child, f"{item_path}/{skeleton_segment(skeleton, name)}", sizes, f"{prefix}{name}/"))
    return rows


# -- formatting ----------------------------------------------------------------------


def human_bytes(n: Optional[float]) -> str:
    """``1.2 MB`` style (decimal units)."""
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_seconds(s: float) -> str:
    """``12 ms`` or ``1.23 s``."""
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def ratio_text(raw: Optional[int], data: Optional[int]) -> str:
    """Chunk bytes over raw bytes of the same arrays: ``0.39× of raw`` (``-`` when unknown).

    Below 1 the data compressed; above 1 the chunks (with their checksums)
    take more room than the numbers themselves, as for very small arrays.
    """
    if not raw or data is None:
        return "-"
    ratio = data / raw
    return f"{ratio:.2f}× of raw" if ratio >= 0.01 or ratio == 0 else "<0.01× of raw"


def timestamp(value: Any) -> str:
    """A POSIX time as a UTC ISO timestamp."""
    try:
        return _dt.datetime.fromtimestamp(float(value), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError):
        return "-"


def shape_text(info: dict[str, Any]) -> str:
    """The shape part of a spikelab summary: ``(6, 40) float64``, ``6 units, 2000 ms``."""
    if "shape" in info:
        text = "(" + ", ".join(str(s) for s in info["shape"]) + ("," if len(info["shape"]) == 1 else "") + ")"
        return f"{text} {info['dtype']}" if "dtype" in info else text
    length = info.get("length_ms")
    length_text = f"{length:g} ms" if isinstance(length, (int, float)) else (f"{length[0]:g}–{length[1]:g} ms" if isinstance(length, (list, tuple)) else "")
    if "N_slices" in info:
        return f"{info['N_slices']} slices × {info.get('N_units')} units" + (f", {length_text}" if length_text else "")
    if "N" in info:
        return f"{info['N']} units" + (f", {length_text}" if length_text else "")
    return "-"


def table(rows: list[list[str]]) -> Iterator[str]:
    """Left-aligned columns (the last one unpadded)."""
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        yield "  ".join([c.ljust(w) for c, w in zip(row, widths)] + [row[-1]]).rstrip()


# -- commands ------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="spikestore")
@click.option("--debug", is_flag=True, help="Show the traceback on errors.")
def cli(debug: bool) -> None:
    """Inspect, copy and convert spikestore workspaces (Zarr v3 on any fsspec URL).

    URL is a folder path or an fsspec URL (s3://bucket/prefix, memory://…).
    S3 credentials come from the AWS environment or config files.
    """


@cli.command("ls")
@click.argument("url")
@click.argument("namespace", required=False)
@common_options
def ls_command(settings: Settings, url: str, namespace: Optional[str]) -> None:
    """List namespaces and keys with type, shape and note."""
    store = open_store(url, settings)
    spaces = store.describe()
    if namespace is not None:
        if namespace not in spaces:
            store.require(namespace, "")
        spaces = {namespace: spaces[namespace]}
    rows = [["ITEM", "TYPE", "SHAPE", "NOTE"]]
    for ns, keys in spaces.items():
        for key, info in keys.items():
            rows.append([f"{ns}/{key}", str(info.get("type", "?")), shape_text(info), str(info.get("note") or "")])
    if len(rows) == 1:
        click.echo("(empty workspace)")
        return
    for line in table(rows):
        click.echo(line)


@cli.command("info")
@click.argument("url")
@click.argument("namespace", required=False)
@click.argument("key", required=False)
@click.option("--path", "print_path", is_flag=True, help="Print only the URL of the item's Zarr group (for zarr.open_group, xarray.open_zarr).")
@common_options
def info_command(settings: Settings, url: str, namespace: Optional[str], key: Optional[str], print_path: bool) -> None:
    """Workspace metadata; a namespace's items; or one item's arrays as a tree."""
    if print_path:
        if namespace is None or key is None:
            raise click.UsageError("--path needs an item: spikestore info URL NAMESPACE KEY --path")
        click.echo(group_url(open_store(url, settings), namespace, key))
        return
    store = open_store(url, settings)
    if namespace is None:
        lines = workspace_info(store)
    elif key is None:
        lines = namespace_info(store, namespace)
    else:
        lines = item_info(store, namespace, key)
    for line in lines:
        click.echo(line)


def workspace_info(store: WorkspaceStore) -> list[str]:
    """Lines describing a whole workspace."""
    attrs, spaces = store.attrs, store.describe()
    sizes = stored_sizes(store)
    lines = [
        f"workspace  {store.backend.url}",
        f"  name        {attrs.get('name')}",
        f"  id          {attrs.get('workspace_id')}",
        f"  created     {timestamp(attrs.get('created_at'))}",
        f"  format      {attrs.get('format')} v{attrs.get('format_version')}",
        f"  index       snapshot generation {store.index.generation} + {store.index.pending_records} journal record(s)",
        f"  items       {sum(len(k) for k in spaces.values())} in {len(spaces)} namespace(s)",
        f"  stored      {human_bytes(sum(sizes.values()))} in {len(sizes)} object(s)",
    ]
    rows = [[f"  {ns}/", f"{len(keys)} item(s)", human_bytes(_under(sizes, ns))] for ns, keys in spaces.items()]
    rows.append(["  __spikestore__/", "(index)", human_bytes(_under(sizes, "__spikestore__"))])
    return lines + list(table(rows))


def namespace_info(store: WorkspaceStore, namespace: str) -> list[str]:
    """Lines describing one namespace's items with their stored sizes."""
    if namespace not in store.index.items:
        store.require(namespace, "")
    sizes = stored_sizes(store, namespace)
    # DATA: the chunk bytes the ratio divides, shown beside it (STORED also counts zarr.json documents)
    rows = [["KEY", "TYPE", "SHAPE", "STORED", "DATA", "RAW", "DATA/RAW", "NOTE"]]
    for key, entry in store.index.items[namespace].items():
        info, path = entry["info"], entry["path"]
        item_sizes = {p: n for p, n in sizes.items() if p.startswith(path.rstrip("/") + "/")}
        summary = size_summary(array_rows(entry["tree"], path, item_sizes), item_sizes)
        rows.append(
            [
                key,
                str(info.get("type")),
                shape_text(info),
                human_bytes(summary.stored),
                human_bytes(summary.data),
                human_bytes(summary.raw),
                ratio_text(summary.raw, summary.data),
                str(info.get("note") or ""),
            ]
        )
    return [f"namespace  {namespace}  ({len(rows) - 1} item(s)) in {store.backend.url}"] + list(table(rows))


def item_info(store: WorkspaceStore, namespace: str, key: str) -> list[str]:
    """Lines describing one item: its summary, then its arrays as a tree."""
    entry = store.require(namespace, key)
    info, path = entry["info"], entry["path"]
    sizes = stored_sizes(store, path)
    rows = array_rows(entry["tree"], path, sizes)
    arrays = [r for r in rows if not r["group"]]
    summary = size_summary(rows, sizes)
    lines = [f"{namespace}/{key}  {info.get('type')}  {shape_text(info)}"]
    for name, value in info.items():
        if name not in ("type", "created_at", "note"):
            lines.append(f"  {name:<10}  {json.dumps(value)}")
    lines += [
        f"  created     {timestamp(info.get('created_at'))}",
        f"  note        {info.get('note') or '-'}",
        f"  version     {path}" if stores_objects(entry["tree"]) else "  version     kept in the index: no object of its own (a small dict of results)",
        f"  stored      {human_bytes(summary.stored)} in {summary.objects} object(s), zarr.json documents included",
        f"  raw         {human_bytes(summary.raw)} of numeric data, stored in {human_bytes(summary.data)} of chunks "
        f"({ratio_text(summary.raw, summary.data)})",
        f"  arrays      {len(arrays)}",
    ]
    table_rows = []
    for i, row in enumerate(rows):
        last = _is_last(rows, i)
        indent = "".join("    " if _ancestor_last(rows, i, d) else "│   " for d in range(row["depth"]))
        branch = indent + ("└── " if last else "├── ")
        if row["group"]:
            table_rows.append([f"  {branch}{row['name'].rsplit('/', 1)[-1]}/", f"({row.get('type') or 'group'})", "", "", "", "", ""])
            continue
        name = row["name"].rsplit("/", 1)[-1] + (" (derived)" if row["derived"] else "")
        table_rows.append(
            [
                f"  {branch}{name}",
                row["dtype"],
                str(row["shape"]),
                f"chunks {row['chunks']}",
                row["codecs"],
                f"{human_bytes(row['stored'])} / {human_bytes(row['raw'])} raw",
                ratio_text(row["raw"], row["stored"] if row["raw"] is not None else None),
            ]
        )
    return lines + list(table(table_rows))


def _is_last(rows: list[dict[str, Any]], i: int) -> bool:
    """Whether row ``i`` is the last child of its parent in a depth-first list."""
    depth = rows[i]["depth"]
    for later in rows[i + 1 :]:
        if later["depth"] < depth:
            return True
        if later["depth"] == depth:
            return False
    return True


def _ancestor_last(rows: list[dict[str, Any]], i: int, depth: int) -> bool:
    """Whether the ancestor of row ``i`` at ``depth`` is the last of its siblings."""
    for j in range(i - 1, -1, -1):
        if rows[j]["depth"] == depth:
            return _is_last(rows, j)
    return True


@cli.command("export")
@click.argument("url")
@click.argument("base_path")
@click.option("--compression", type=click.Choice(["gzip", "lzf"]), default=None, help="HDF5 compression (default: none, as spikelab).")
@common_options
def export_command(settings: Settings, url: str, base_path: str, compression: Optional[str]) -> None:
    """Export a workspace as spikelab's BASE_PATH.h5 + BASE_PATH.json."""
    export_hdf5 = library_function("export_hdf5", "transfer")
    start = time.perf_counter()
    h5_path, json_path = export_hdf5(url, base_path, storage_options=settings.storage_options, compression=compression, progress=settings.progress)
    size = os.path.getsize(h5_path) if os.path.isfile(h5_path) else None
    click.echo(f"exported {url} -> {h5_path} + {json_path} ({human_bytes(size)}) in {human_seconds(time.perf_counter() - start)}")


@cli.command("import")
@click.argument("base_path")
@click.argument("url")
@common_options
def import_command(settings: Settings, base_path: str, url: str) -> None:
    """Import spikelab's BASE_PATH.h5 + .json as a workspace at URL."""
    import_hdf5 = library_function("import_hdf5", "transfer")
    start = time.perf_counter()
    import_hdf5(base_path, url, storage_options=settings.storage_options, progress=settings.progress)
    click.echo(f"imported {base_path} -> {url} in {human_seconds(time.perf_counter() - start)}")


@cli.command("copy")
@click.argument("src_url")
@click.argument("dst_url")
@click.option("--dst-storage-option", "dst_pairs", multiple=True, metavar="KEY=VALUE", help="Storage option for DST_URL only (then the common options apply to SRC_URL only).")
@click.option("--dst-endpoint-url", metavar="URL", help="Endpoint for DST_URL only.")
@click.option("--dst-anon", is_flag=True, help="Anonymous access to DST_URL.")
@common_options
def copy_command(settings: Settings, src_url: str, dst_url: str, dst_pairs: tuple[str, ...], dst_endpoint_url: Optional[str], dst_anon: bool) -> None:
    """Copy a workspace from SRC_URL to DST_URL (any two stores)."""
    copy_workspace = library_function("copy_workspace", "transfer")
    dst_options = parse_storage_options(dst_pairs, dst_endpoint_url, dst_anon)
    if dst_options is None and not (dst_pairs or dst_endpoint_url or dst_anon):
        dst_options = settings.storage_options
    start = time.perf_counter()
    copy_workspace(src_url, dst_url, src_storage_options=settings.storage_options, dst_storage_options=dst_options, progress=settings.progress)
    click.echo(f"copied {src_url} -> {dst_url} in {human_seconds(time.perf_counter() - start)}")


def _echo_report(report: Any) -> None:
    if isinstance(report, dict):
        for name, value in report.items():
            if isinstance(value, (list, tuple)) and value:
                click.echo(f"{name}:")
                for item in value:
                    click.echo(f"  {item}")
            else:
                click.echo(f"{name}: {value}")
    elif report is not None:
        click.echo(str(report))


def _report_ok(report: Any) -> bool:
    """Whether a verify report says the workspace is sound (``ok`` field or attribute)."""
    ok = report.get("ok") if isinstance(report, dict) else getattr(report, "ok", None)
    return ok is not False


@cli.command("verify")
@click.argument("url")
@common_options
def verify_command(settings: Settings, url: str) -> None:
    """Check every item's data against its checksums; exit 1 on damage."""
    verify = library_function("verify", "maintenance")
    report = verify(url, storage_options=settings.storage_options)
    _echo_report(report)
    if not _report_ok(report):
        raise click.ClickException(f"{url} is damaged (see above)")


@cli.command("gc")
@click.argument("url")
@click.option(
    "--grace",
    "grace_seconds",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE_SECONDS,
    metavar="SECONDS",
    help=f"Grace period: only leftovers older than this are removed (default: {DEFAULT_GRACE_SECONDS:g}). "
    f"Use 0 only when no writer is active.",
)
@common_options
def gc_command(settings: Settings, url: str, grace_seconds: float) -> None:
    """Remove data no committed item references (crashed or replaced writes).

    A write puts an item's data in place before the index names it, so data
    that nothing references yet may belong to a write still running.  Only
    leftovers older than the grace period (--grace, default one hour) are
    removed: it must exceed the longest time one item write takes on this
    store.  Use --grace 0 only when no writer is active, e.g. to clean up
    after an interrupted save, import or copy.
    """
    gc = library_function("gc", "maintenance")
    _echo_report(gc(url, storage_options=settings.storage_options, grace_seconds=grace_seconds))


@cli.command("demo")
@click.argument("url", default="demo-workspace")
@click.option("--scale", type=click.Choice(DEMO_SCALES), default="small", show_default=True, help="Workspace size: tiny is 12 units x 15 s per recording, small 100 units x 2 min, medium 1,000 units x 10 min.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the generated workspace.")
@common_options
def demo_command(settings: Settings, url: str, scale: str, seed: int) -> None:
    """Save a realistic workspace to URL, read it lazily, exchange it with spikelab."""
    from .demo import format_report, run_demo

    report = run_demo(url, scale=scale, seed=seed, storage_options=settings.storage_options, echo=None if settings.quiet else click.echo)
    for line in format_report(report):
        click.echo(line)
    lazy, hdf5 = report["lazy"], report["hdf5"]
    if not lazy.get("skipped") and not (lazy["train_equal"] and lazy["window_equal"]):
        raise click.ClickException("the lazy reads differ from the saved workspace")
    if not hdf5.get("skipped") and (hdf5["differing"] or not hdf5["index_equal"]):
        raise click.ClickException("spikelab's load of the export differs from its own save (see above)")


# -- entry point -------------------------------------------------------------------


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    line = " ".join(str(message).split()) or "unknown error"
    click.echo(f"spikestore: error: {line}", err=True)
    sys.exit(code)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the ``spikestore`` command (``argv`` defaults to ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("SPIKESTORE_DEBUG"))
    if not debug:
        warnings.simplefilter("ignore")
    try:
        code = cli.main(args=args, prog_name="spikestore", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        # no command: the whole help, as click prints it (standard error, status 2)
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail("interrupted", 130, debug)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "spikestore"
        _fail(f"{exc.format_message()} (see `{command} --help`)", exc.exit_code, debug)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code, debug)
    except SpikestoreError as exc:
        _fail(str(exc), 1, debug)
    except KeyboardInterrupt:
        _fail("interrupted", 130, debug)
    except OSError as exc:
        _fail(f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc) or type(exc).__name__, 1, debug)
    except Exception as exc:  # noqa: BLE001 - one line for users, traceback with --debug
        _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1, debug)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["main", "cli", "parse_storage_options", "library_function"]
