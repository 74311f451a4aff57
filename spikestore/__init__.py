"""spikestore: spike-train analysis workspaces stored as Zarr v3 on any fsspec URL.

Switch from spikelab by changing one import::

    from spikestore import AnalysisWorkspace
"""

from .errors import (
    ArrayTooLargeError,
    CorruptDataError,
    FormatError,
    InvalidModeError,
    InvalidNameError,
    InvalidURLError,
    InvalidValueError,
    ItemNotFoundError,
    ReadOnlyError,
    SpikestoreError,
    StoreWriteError,
    UnsupportedTypeError,
    WorkspaceNotFoundError,
)
from .lazy import LazyAnalysisWorkspace, open_workspace
from .maintenance import gc, verify
from .transfer import copy_workspace, export_hdf5, import_hdf5
from .workspace import AnalysisWorkspace
from .workspace_manager import WorkspaceManager, get_workspace_manager
from .xarray_support import MissingDependencyError, to_xarray

__version__ = "0.1.0"

__all__ = [
    "AnalysisWorkspace",
    "LazyAnalysisWorkspace",
    "open_workspace",
    "to_xarray",
    "WorkspaceManager",
    "get_workspace_manager",
    "export_hdf5",
    "import_hdf5",
    "copy_workspace",
    "gc",
    "verify",
    "SpikestoreError",
    "StoreWriteError",
    "InvalidNameError",
    "UnsupportedTypeError",
    "InvalidValueError",
    "WorkspaceNotFoundError",
    "ItemNotFoundError",
    "InvalidURLError",
    "ReadOnlyError",
    "InvalidModeError",
    "ArrayTooLargeError",
    "CorruptDataError",
    "FormatError",
    "MissingDependencyError",
]
