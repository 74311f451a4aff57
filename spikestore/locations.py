"""What users pass to name a workspace or a spikelab save.

The ``URL`` type of every ``url`` parameter, and spikelab's base-path rule
for its ``.h5`` + ``.json`` pair (a trailing ``.h5`` is stripped): the one
copy of that rule, for loading, importing and exporting alike.  Depends on
nothing but :mod:`spikestore.errors`, so any module may use it.
"""

from __future__ import annotations

import os

from .errors import InvalidURLError

URL = str | os.PathLike[str]
"""A local path (``str`` or ``pathlib.Path``) or any fsspec URL."""

H5_SUFFIX = ".h5"


def hdf5_base_path(path: str) -> str:
    """spikelab's base path for ``path``: a trailing ``.h5`` stripped, anything else kept."""
    return path[: -len(H5_SUFFIX)] if path.endswith(H5_SUFFIX) else path


def hdf5_paths(base_path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(base.h5, base.json)`` for a base path; a trailing ``.h5`` is stripped (spikelab's rule).

    Raises
    ------
    InvalidURLError
        If ``base_path`` is empty or a URL: the HDF5 files are local files.
    """
    base = os.fspath(base_path)
    if not isinstance(base, str) or not base:
        raise InvalidURLError(f"HDF5 base path must be a non-empty path, got {base_path!r}")
    if "://" in base:
        raise InvalidURLError(
            f"{base!r}: spikelab's .h5/.json files are local files; give a local base path "
            f"(export there, then upload the two files if needed)."
        )
    base = hdf5_base_path(base)
    return f"{base}{H5_SUFFIX}", f"{base}.json"


__all__ = ["URL", "H5_SUFFIX", "hdf5_base_path", "hdf5_paths"]
