"""spikestore: spike-train analysis workspaces stored as Zarr v3 on any fsspec URL.

Switch from spikelab by changing one import::

    from spikestore import AnalysisWorkspace
"""

from .errors import (
    ConcurrentModificationError,
    CorruptDataError,
    FormatError,
    InvalidModeError,
    InvalidNameError,
    InvalidURLError,
    InvalidValueError,
    ItemNotFoundError,
    ReadOnlyError,
    SpikestoreError,
    UnsupportedTypeError,
    WorkspaceNotFoundError,
)
from .workspace import AnalysisWorkspace, WorkspaceManager, get_workspace_manager

__version__ = "0.1.0"

__all__ = [
    "AnalysisWorkspace",
    "WorkspaceManager",
    "get_workspace_manager",
    "SpikestoreError",
    "InvalidNameError",
    "UnsupportedTypeError",
    "InvalidValueError",
    "WorkspaceNotFoundError",
    "ItemNotFoundError",
    "InvalidURLError",
    "ReadOnlyError",
    "InvalidModeError",
    "CorruptDataError",
    "FormatError",
    "ConcurrentModificationError",
]
