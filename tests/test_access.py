"""Access problems say what is missing: S3 without credentials, a missing
bucket, a file where a workspace folder should be."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

from spikestore import AnalysisWorkspace, open_workspace
from spikestore.errors import FormatError, InvalidURLError, StoreAccessError, WorkspaceNotFoundError

from .conftest import BUCKET


def test_s3_without_credentials_is_a_store_access_error(s3_server, tmp_path) -> None:
    """In a clean environment (no AWS variables, no config files), the error names the settings."""
    code = (
        "import sys\n"
        "from spikestore import open_workspace\n"
        "from spikestore.errors import StoreAccessError\n"
        "try:\n"
        f"    open_workspace('s3://{BUCKET}/nothing', storage_options={{'endpoint_url': '{s3_server.endpoint_url}'}})\n"
        "except StoreAccessError as exc:\n"
        "    print('ERR', exc); sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no credentials" in out.stdout and "AWS_ACCESS_KEY_ID" in out.stdout and "storage_options" in out.stdout


def test_a_missing_bucket_is_named(s3_server) -> None:
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/ws"
    with pytest.raises((WorkspaceNotFoundError, StoreAccessError), match="bucket"):
        open_workspace(url, storage_options=s3_server.storage_options)


def test_a_file_is_not_a_workspace(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(FormatError, match="is a file"):
        open_workspace(path)
    with pytest.raises(FormatError, match="is a file"):
        AnalysisWorkspace.load(path)
    assert path.read_text() == "hello"


def test_cli_s3_without_credentials_says_what_to_set(s3_server, tmp_path) -> None:
    """The command prints one error line naming the missing credentials and how to pass them (no traceback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    for args in (["ls", f"s3://{BUCKET}/nothing"], ["export", f"s3://{BUCKET}/nothing", str(tmp_path / "out")]):
        out = subprocess.run(
            [sys.executable, "-m", "spikestore", *args, "--endpoint-url", s3_server.endpoint_url],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 1, out.stdout + out.stderr
        lines = [line for line in out.stderr.splitlines() if line.strip() and "Warning" not in line and "super().__init__" not in line]
        assert len(lines) == 1 and lines[0].startswith("spikestore: error: "), out.stderr
        assert "no credentials" in lines[0] and "AWS_ACCESS_KEY_ID" in lines[0] and "-o key=" in lines[0], lines[0]
        assert "Traceback" not in out.stderr and "NoCredentialsError" not in out.stderr
    assert list(tmp_path.glob("out*")) == []


@pytest.mark.parametrize(
    "options",
    [{"endpoint_url": "http://[bad"}, {"endpoint_url": "localhost:9000"}, {"client_kwargs": {"endpoint_url": "ftp://x"}}, {"endpoint_url": 9000}],
    ids=["bad-ipv6", "no-scheme", "ftp-in-client-kwargs", "not-a-string"],
)
def test_an_endpoint_that_is_not_a_url_is_refused_before_any_request(options) -> None:
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(3.0))
    with pytest.raises(InvalidURLError, match="endpoint_url"):
        ws.save(f"s3://{BUCKET}/never", storage_options={"key": "k", "secret": "s", **options})


@pytest.mark.parametrize(
    "options, problem",
    [({"endpoint_url": "http://127.0.0.1:1"}, "could not be reached"), ({"client_kwargs": {"region_name": "no such region!"}}, "region name is not valid")],
    ids=["unreachable", "bad-region"],
)
def test_an_unreachable_endpoint_or_a_bad_region_is_a_store_access_error(options, problem) -> None:
    ws = AnalysisWorkspace()
    ws.store("a", "b", np.arange(3.0))
    with pytest.raises(StoreAccessError, match=problem):
        ws.save(f"s3://{BUCKET}/never", storage_options={"key": "k", "secret": "s", **options})
