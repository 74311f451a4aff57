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
from spikestore.errors import FormatError, StoreAccessError, WorkspaceNotFoundError

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
