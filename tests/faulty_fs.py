"""A fault-injecting fsspec filesystem for tests: an in-memory filesystem
that raises on the Nth write (or read) so we can prove a failed operation
leaves the store as it was.  Registered as the ``faulty://`` protocol."""

from __future__ import annotations

import threading
from typing import Any

import fsspec
from fsspec.implementations.memory import MemoryFileSystem


class InjectedFault(OSError):
    """The failure the filesystem was told to produce."""


class FaultyFileSystem(MemoryFileSystem):
    """Memory filesystem whose ``fail_write_at``-th write raises ``InjectedFault``."""

    protocol = ("faulty",)
    store: dict = {}  # its own namespace, separate from memory://
    pseudo_dirs = [""]
    _lock = threading.Lock()
    writes = 0
    fail_write_at: int | None = None

    @classmethod
    def arm(cls, fail_write_at: int | None) -> None:
        with cls._lock:
            cls.writes = 0
            cls.fail_write_at = fail_write_at

    def _count_write(self, path: str) -> None:
        with self._lock:
            type(self).writes += 1
            if self.fail_write_at is not None and type(self).writes == self.fail_write_at:
                raise InjectedFault(f"injected failure on write #{self.writes} ({path})")

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        # every write (pipe_file included) goes through _open
        if "w" in mode or "x" in mode or "a" in mode:
            self._count_write(path)
        return super()._open(path, mode=mode, **kwargs)


fsspec.register_implementation("faulty", FaultyFileSystem, clobber=True)
