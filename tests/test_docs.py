"""Every example in README.md and docs/*.md runs.

For each Markdown file, its fenced blocks run in document order in a fresh
temporary working folder:

* ```` ```python ```` blocks are executed in one shared namespace (a later
  block sees the names of an earlier one); ```` ```python skip-test ```` blocks
  are not run (only for what truly cannot run here, e.g. a dask cluster);
* in ```` ```console ```` blocks, every ``$ spikestore …`` line runs as a real
  command and must exit 0 (other ``$`` lines, such as ``make`` or ``pip``, and
  output lines are not run).

S3 convention: examples use plain ``s3://bucket/…`` URLs with credentials
from the AWS environment, as users write them.  The test points that
environment at moto's S3 server (``AWS_ENDPOINT_URL`` and test credentials)
and creates every bucket the file names, so the examples run unchanged.

A block that uses a ``spikestore`` name this version does not have is
skipped with the name in the reason, never faked.
"""

from __future__ import annotations

import ast
import importlib
import json
import importlib.util
import os
import pathlib
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC_FILES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if p.is_file()]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
BUCKET = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])")
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class Block:
    """One fenced block: its language, flags, code and first line number."""

    lang: str
    flags: tuple[str, ...]
    code: str
    line: int


def blocks(path: pathlib.Path) -> list[Block]:
    """The ``python`` and ``console`` blocks of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        info = match.group(1).split()
        if info and info[0] in ("python", "console"):
            line = text.count("\n", 0, match.start()) + 2
            found.append(Block(info[0], tuple(info[1:]), match.group(2), line))
    return found


def missing_names(code: str) -> list[str]:
    """``spikestore`` names (modules or attributes) the code uses that do not exist."""
    import spikestore

    missing = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "spikestore":
            if importlib.util.find_spec(node.module) is None:
                missing.append(node.module)
                continue
            module = importlib.import_module(node.module)
            missing += [f"{node.module}.{a.name}" for a in node.names if not hasattr(module, a.name) and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
        elif isinstance(node, ast.Import):
            missing += [a.name for a in node.names if a.name.startswith("spikestore.") and importlib.util.find_spec(a.name) is None]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "spikestore":
            if not hasattr(spikestore, node.attr) and importlib.util.find_spec(f"spikestore.{node.attr}") is None:
                missing.append(f"spikestore.{node.attr}")
    return sorted(set(missing))


def test_every_markdown_file_is_collected() -> None:
    assert (ROOT / "README.md") in DOC_FILES
    for name in ("index.md", "quickstart.md", "cli.md", "migrating-from-spikelab.md"):
        assert ROOT / "docs" / name in DOC_FILES, f"docs/{name} is missing"


@pytest.mark.parametrize("path", DOC_FILES, ids=[str(p.relative_to(ROOT)) for p in DOC_FILES])
def test_examples_run(path: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    found = [b for b in blocks(path) if "skip-test" not in b.flags]
    runnable = [b for b in found if b.lang == "python" or any(_spikestore_commands(b))]
    if not runnable:
        pytest.skip(f"{path.name} has no runnable examples")
    for block in found:
        if block.lang == "python":
            gaps = missing_names(block.code)
            if gaps:
                pytest.skip(f"{path.name} line {block.line} uses {', '.join(gaps)}, not in this version of spikestore yet")

    env = dict(os.environ)
    # the commands run in a fresh process: make it import this checkout's spikestore, not the installed one
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    text = path.read_text(encoding="utf-8")
    buckets = sorted(set(BUCKET.findall(text)))
    if buckets:
        server = request.getfixturevalue("s3_server")
        for bucket in buckets:
            server.create_bucket(bucket)
        env.update(AWS_ENV, AWS_ENDPOINT_URL=server.endpoint_url)
        for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": server.endpoint_url}.items():
            monkeypatch.setenv(name, value)
        _forget_s3_instances()
    monkeypatch.chdir(tmp_path)

    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem}"}
    for block in found:
        where = f"{path.relative_to(ROOT)}:{block.line}"
        if block.lang == "python":
            code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
            try:
                exec(code, namespace)
            except Exception as exc:  # noqa: BLE001 - report which example failed
                pytest.fail(f"the python example at {where} failed: {type(exc).__name__}: {exc}\n\n{block.code}")
        else:
            commands = _spikestore_commands(block)
            if commands:
                # one process runs the block's commands in turn (each as `spikestore …` would:
                # cli.main, its exit status), so the interpreter starts once per block
                result = subprocess.run(
                    [sys.executable, "-c", _RUN_COMMANDS, json.dumps([args[1:] for args in commands])],
                    capture_output=True, text=True, env=env, timeout=600,
                )
                lines = result.stdout.strip().splitlines()
                failed = json.loads(lines[-1]) if lines else -1
                shown = shlex.join(commands[failed]) if isinstance(failed, int) and failed >= 0 else "; ".join(map(shlex.join, commands))
                assert result.returncode == 0 and failed is None, f"`{shown}` at {where} failed:\n{result.stderr}"


_RUN_COMMANDS = """
import json, sys
from spikestore.cli import main
for i, args in enumerate(json.loads(sys.argv[1])):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if code:
        print(json.dumps(i))
        sys.exit(0)
print("null")
"""


def _spikestore_commands(block: Block) -> list[list[str]]:
    if block.lang != "console":
        return []
    lines = [line[2:] for line in block.code.splitlines() if line.startswith("$ spikestore")]
    return [shlex.split(line, comments=True) for line in lines]


def _forget_s3_instances() -> None:
    """Drop cached s3fs instances so new ones read the moto environment."""
    try:
        import s3fs
    except ImportError:
        return
    s3fs.S3FileSystem.clear_instance_cache()
