"""``WorkspaceManager``: spikelab's registry of the workspaces of one process.

It creates in-memory (:class:`~spikestore.workspace.AnalysisWorkspace`) and
store-backed (:class:`~spikestore.lazy.LazyAnalysisWorkspace`) workspaces,
saves and loads them by URL; :func:`get_workspace_manager` gives the
process-wide instance.
"""

from __future__ import annotations

import threading
import warnings
from typing import Optional

from .lazy import LazyAnalysisWorkspace
from .locations import URL
from .workspace import AnalysisWorkspace


class WorkspaceManager:
    """Registry of workspaces in one process (spikelab's API; paths are URLs)."""

    def __init__(self) -> None:
        self._workspaces: dict[str, AnalysisWorkspace] = {}
        self._lock = threading.Lock()

    def create_workspace(self, name: Optional[str] = None, lazy: bool = False) -> str:
        """Create and register a workspace (``lazy=True``: a store-backed one)."""
        if lazy:
            ws: AnalysisWorkspace = LazyAnalysisWorkspace(name=name)
        else:
            ws = AnalysisWorkspace(name=name)
        with self._lock:
            self._workspaces[ws.workspace_id] = ws
        return ws.workspace_id

    def get_workspace(self, workspace_id: str) -> Optional[AnalysisWorkspace]:
        """The workspace with this id, or ``None``."""
        with self._lock:
            return self._workspaces.get(workspace_id)

    def delete_workspace(self, workspace_id: str) -> None:
        """Forget a workspace (closing a lazy one); ``KeyError`` if unknown."""
        with self._lock:
            if workspace_id not in self._workspaces:
                raise KeyError(f"workspace not found: {workspace_id!r}")
            ws = self._workspaces.pop(workspace_id)
        close = getattr(ws, "close", None)
        if callable(close):
            close()

    def list_workspaces(self) -> list[dict]:
        """One summary dict per registered workspace."""
        with self._lock:
            return [
                {
                    "workspace_id": ws.workspace_id,
                    "name": ws.name,
                    "created_at": ws.created_at,
                    "namespace_count": len(ws.list_namespaces()),
                    "item_count": sum(len(keys) for keys in ws.describe().values()),
                }
                for ws in self._workspaces.values()
            ]

    def save_workspace(self, workspace_id: str, path: URL, *, storage_options: Optional[dict] = None) -> None:
        """Save a registered workspace to ``path`` (a URL)."""
        with self._lock:
            ws = self._workspaces[workspace_id]
        ws.save(path, storage_options=storage_options)

    def load_workspace(self, path: URL, *, storage_options: Optional[dict] = None) -> str:
        """Load a workspace and register it (warns when its id is already registered)."""
        ws = AnalysisWorkspace.load(path, storage_options=storage_options)
        with self._lock:
            if ws.workspace_id in self._workspaces:
                warnings.warn(
                    f"load_workspace: workspace_id={ws.workspace_id!r} is already registered; the "
                    "in-memory workspace will be overwritten by the loaded version. Any pending "
                    "mutations on the in-memory instance are lost.",
                    UserWarning,
                    stacklevel=2,
                )
            self._workspaces[ws.workspace_id] = ws
        return ws.workspace_id

    def load_workspace_item(self, path: URL, namespace: str, key: str, workspace_id: str, *, storage_options: Optional[dict] = None) -> None:
        """Load one item from ``path`` into a registered workspace."""
        with self._lock:
            ws = self._workspaces[workspace_id]
        ws.store(namespace, key, AnalysisWorkspace.load_item(path, namespace, key, storage_options=storage_options))


_manager: Optional[WorkspaceManager] = None
_manager_lock = threading.Lock()


def get_workspace_manager() -> WorkspaceManager:
    """The process-wide :class:`WorkspaceManager`."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = WorkspaceManager()
        return _manager


__all__ = ["WorkspaceManager", "get_workspace_manager"]
