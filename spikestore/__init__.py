"""spikestore: spike-train analysis workspaces stored as Zarr v3 on any fsspec URL.

Switch from spikelab by changing one import::

    from spikestore import AnalysisWorkspace

Words used in the code (one meaning each):

* *workspace root* (:class:`~spikestore.workspace_root.WorkspaceRoot`): the
  folder or prefix a workspace lives in, and the gatekeeper of every key in it;
* *workspace store* (:class:`~spikestore.store.WorkspaceStore`): one opened
  workspace: its index and the commit protocols over a root;
* *zarr store*: zarr-python's key-value interface (``zarr.abc.store.Store``),
  which zarr reaches only through the root's ``GuardedStore`` (and, for
  reads, ``StrictStore``: a missing chunk raises);
* *container*: a format a record is written to (``containers.zarr_group``,
  ``containers.hdf5_file``); *codec*: a type's mapping to a record
  (``codecs``); *chunk codec*: a Zarr codec in an array's chain
  (``containers.zarr_array``);
* ``store(ns, key, obj)``: spikelab's verb, to put an item in a workspace.
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
