"""The threads chunks are encoded, decoded and tried in, serving earlier items first.

Writing many items at once (:func:`spikestore.containers.zarr_group.write_records`)
queues the coding work of all of them.  In a first-in, first-out pool every
item's codec trial ran before any item's chunks were encoded, so nothing was
uploaded until nearly all the CPU work was done, and the network then waited
on nothing while the CPU waited on the network.  :class:`CodingPool` runs the
queued job of the earliest item first (:data:`ITEM_ORDER`, set per item by
the writer), so the first items' objects are on their way while later items
are still being encoded.  Jobs of one item keep their submission order.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from concurrent.futures import Executor, Future
from contextvars import ContextVar
from typing import Any, Callable

# the position of the item a job belongs to (lower runs first); set by the task writing the item
ITEM_ORDER: ContextVar[int] = ContextVar("spikestore_item_order", default=0)


class CodingPool(Executor):
    """A thread pool whose queue is ordered by :data:`ITEM_ORDER`, then by submission.

    Parameters
    ----------
    workers
        Threads (started when the first job arrives).
    name
        Prefix of the threads' names.
    """

    def __init__(self, workers: int, name: str) -> None:
        self.workers, self.name = workers, name
        self._reset()
        if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Future, Callable[..., Any], tuple, dict]] = queue.PriorityQueue()
        self._counter = itertools.count()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Queue ``fn(*args, **kwargs)`` behind the jobs of earlier items; return its future."""
        future: Future = Future()
        self._queue.put((ITEM_ORDER.get(), next(self._counter), future, fn, args, kwargs))
        if len(self._threads) < self.workers:
            with self._lock:
                if len(self._threads) < self.workers:
                    thread = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
        return future

    def _work(self) -> None:
        while True:
            _, _, future, fn, args, kwargs = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the waiting coroutine, as ThreadPoolExecutor does
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, fn, args, kwargs
