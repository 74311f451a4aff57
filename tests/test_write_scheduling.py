"""How writes are scheduled: the coding pool serves earlier items first and hands back results and errors; large records in flight share a byte budget."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from spikestore.containers.coding_pool import ITEM_ORDER, CodingPool


def test_queued_jobs_of_earlier_items_run_first() -> None:
    pool = CodingPool(1, "test-pool")
    gate, ran = threading.Event(), []
    blocker = pool.submit(gate.wait)  # holds the only thread while the others queue up

    def submit(order: int, name: str):
        def job() -> str:
            ran.append(name)
            return name

        return contextvars.copy_context().run(lambda: (ITEM_ORDER.set(order), pool.submit(job))[1])

    futures = [submit(5, "late-a"), submit(1, "early-a"), submit(5, "late-b"), submit(1, "early-b")]
    gate.set()
    assert blocker.result(timeout=10) is True
    assert [f.result(timeout=10) for f in futures] == ["late-a", "early-a", "late-b", "early-b"]
    assert ran == ["early-a", "early-b", "late-a", "late-b"]  # by item, then in submission order


def test_errors_and_results_reach_the_awaiting_coroutine() -> None:
    pool = CodingPool(2, "test-pool")

    def fail() -> None:
        raise ValueError("bad chunk")

    async def main() -> int:
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="bad chunk"):
            await loop.run_in_executor(pool, fail)
        ITEM_ORDER.set(3)
        return await loop.run_in_executor(pool, sum, [1, 2, 3])

    assert asyncio.run(main()) == 6


def test_large_records_share_a_byte_budget_beyond_a_floor_of_two() -> None:
    """Two large records are always let in flight together (a medium workspace's
    500 MB rate matrices keep both cores busy); more only within the byte budget."""
    from spikestore.containers.zarr_group import LARGE_BYTES_IN_FLIGHT, LARGE_ITEMS_IN_FLIGHT, _room_for_large

    huge = 10 * LARGE_BYTES_IN_FLIGHT
    assert LARGE_ITEMS_IN_FLIGHT == 2
    assert _room_for_large([], huge) and _room_for_large([huge, 0, 0], huge)
    assert not _room_for_large([huge, huge], 2 << 20)
    small_large = [4 << 20] * 10  # ten 4 MiB records: 40 MiB in flight
    assert _room_for_large(small_large, 4 << 20)
    assert not _room_for_large(small_large, LARGE_BYTES_IN_FLIGHT)


def test_records_are_prepared_in_the_coding_pool_and_errors_surface() -> None:
    """``prepare`` (the store adds derived arrays with it: a sort of every spike) runs
    in the coding pool, beside other items' writes, not in the event loop's thread;
    what it or the job generator raises reaches the caller."""
    import numpy as np
    from zarr.storage import MemoryStore

    from spikestore.containers.zarr_group import write_records
    from spikestore.record import Dataset, Record

    prepared_in: list[str] = []

    def prepare(record: Record) -> None:
        prepared_in.append(threading.current_thread().name)
        if record.attrs.get("broken"):
            raise LookupError("cannot derive from item 1")

    def jobs(broken: int | None = None):  # type: ignore[no-untyped-def]
        for i in range(3):
            attrs = {"broken": True} if i == broken else {}
            yield i, f"ns/k{i}/v1", Record("ndarray", attrs=attrs, datasets={"data": Dataset(np.arange(10.0 + i))}), []

    written = write_records(MemoryStore(), jobs(), prepare=prepare)
    assert [tag for tag, _ in written] == [0, 1, 2]
    assert len(prepared_in) == 3 and all(name.startswith("spikestore-encode") for name in prepared_in), prepared_in
    with pytest.raises(LookupError, match="item 1"):
        write_records(MemoryStore(), jobs(broken=1), prepare=prepare)
