"""Pausing Python's cyclic garbage collector while many acyclic objects are built.

Decoding a workspace or parsing an index snapshot creates 10^4-10^5 small
dicts, lists and strings, none of them in a reference cycle; each allocation
burst can trigger a full collection that walks every live object of the
process (a notebook's too), which cost ~30 % of a load and turned a 2 ms
snapshot parse into 70-200 ms now and then.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block (restored after; reference counting still frees)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
