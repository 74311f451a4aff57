"""The shipped contract suite (:class:`spikestore.testing.WorkspaceContract`)
on every real store: a folder, ``memory://`` and moto's S3 server."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from spikestore.testing import WorkspaceContract


class TestEveryStoreKeepsTheContract(WorkspaceContract):
    @pytest.fixture
    def contract_location(self, location: Any) -> Iterator[tuple[str, dict[str, Any] | None]]:
        yield location.url, location.storage_options
