"""Running analyses on a dask cluster that store their results into one workspace.

A :class:`~spikestore.lazy.LazyAnalysisWorkspace` pickles as its URL,
storage options and mode, so a task receives a handle it can reopen on any
worker; every task commits its own items (see docs/concurrency.md for why no
two tasks can lose each other's results).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence


@dataclass(frozen=True)
class StoreTask:
    """One analysis: ``func(*args)`` is computed and stored under ``(namespace, key)``."""

    namespace: str
    key: str
    func: Callable[..., Any]
    args: Sequence[Any] = ()
    note: str | None = None


def _run_and_store(workspace: Any, task: StoreTask) -> tuple[str, str]:
    result = task.func(*task.args)
    workspace.store(task.namespace, task.key, result, note=task.note)
    return task.namespace, task.key


def run_and_store(client: Any, workspace: Any, tasks: Iterable[StoreTask]) -> list[tuple[str, str]]:
    """Run every task on ``client``'s cluster; each stores its result into ``workspace``.

    Parameters
    ----------
    client
        A ``dask.distributed.Client``.
    workspace
        A workspace opened for writing (``open_workspace(url, "a")``); only its
        URL and options travel to the workers.
    tasks
        The analyses to run.

    Returns
    -------
    list of (namespace, key)
        What was stored, in task order.  ``workspace`` is refreshed, so it
        lists the new items.
    """
    futures = [client.submit(_run_and_store, workspace, task, pure=False) for task in tasks]
    stored = client.gather(futures)
    workspace.refresh()
    return list(stored)
