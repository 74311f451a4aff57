"""Code run in child processes by the concurrency tests: deterministic items
and writer loops (importable by the fork server that starts the writers)."""

from __future__ import annotations

from typing import Any

import numpy as np
from spikelab.spikedata.spikedata import SpikeData


def make_item(writer: int, i: int, size: int = 2000) -> Any:
    """The item writer ``writer`` stores as its ``i``-th: content depends on both."""
    rng = np.random.default_rng(writer * 1000 + i)
    kind = i % 3
    if kind == 0:
        return rng.normal(size=size + i)
    if kind == 1:
        return {"writer": writer, "i": i, "values": rng.integers(0, 100, size=50 + i), "label": f"w{writer}-{i}"}
    trains = [np.sort(rng.uniform(0, 1000.0, rng.integers(1, 40))) for _ in range(5)]
    return SpikeData(trains, length=1000.0, metadata={"writer": writer, "i": i})


def item_name(writer: int, i: int) -> tuple[str, str]:
    """Half the items go to a namespace all writers share, half to the writer's own."""
    return ("shared" if i % 2 == 0 else f"w{writer}"), f"w{writer}-i{i}"


def parse_name(key: str) -> tuple[int, int]:
    w, i = key.split("-")
    return int(w[1:]), int(i[1:])


def write_items(url: str, storage_options: dict | None, writer: int, count: int) -> int:
    """Open the store in append mode and store ``count`` items."""
    from spikestore import open_workspace

    with open_workspace(url, "a", storage_options=storage_options) as ws:
        for i in range(count):
            ns, key = item_name(writer, i)
            ws.store(ns, key, make_item(writer, i), note=f"by writer {writer}")
    return count


def write_same_key(url: str, storage_options: dict | None, writer: int, rounds: int) -> int:
    """Store the same key over and over with this writer's content."""
    from spikestore import open_workspace

    with open_workspace(url, "a", storage_options=storage_options) as ws:
        for r in range(rounds):
            ws.store("race", "same", make_item(writer, 0, size=5000))
    return rounds


def overwrite_items(url: str, storage_options: dict | None, writer: int, keys: int, rounds: int) -> int:
    """Store each of ``keys`` keys ``rounds`` times; round ``r`` stores ``make_item(writer, r)``."""
    from spikestore import open_workspace

    with open_workspace(url, "a", storage_options=storage_options) as ws:
        for r in range(rounds):
            for k in range(keys):
                ws.store(f"w{writer}", f"k{k}", make_item(writer, r))
    return rounds


def big_item() -> np.ndarray:
    """~96 MB of incompressible values: about a hundred 1 MiB chunks."""
    return np.random.default_rng(1).normal(size=12_000_000)


def write_then_big(url: str, storage_options: dict | None, ready: Any) -> None:
    """Commit three small items, set ``ready``, then write one large item (to be killed)."""
    from spikestore import open_workspace

    ws = open_workspace(url, "a", storage_options=storage_options)
    for i in range(3):
        ws.store("small", f"s{i}", make_item(9, i))
    big = big_item()
    ready.set()
    ws.store("big", "item", big)
