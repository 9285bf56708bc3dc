"""Stand-alone trainings of many architectures in worker processes, their results in the order they were asked for.

A ground truth trains hundreds of independent networks, each on one CPU thread: on a machine with N cores,
N processes build it N times as fast. Workers are *spawned* (a fresh interpreter each), not forked, because a
process forked from one whose OpenMP pool has run can hang in its first parallel region; the price is that each
worker imports torch and evospace again, and the user code that registers operators or data sets
(``evospace --import``) is imported again in every worker. Each training is seeded by its architecture and seed
only, so a worker computes what the parent would: a build with ``jobs`` workers writes the same rows as one
without, in the same order.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from evospace.errors import EvospaceError
from evospace.user_code import import_user_code

__all__ = ["ordered_map"]

_TASK: Callable[[Any], Any] | None = None  # the worker's function, set by _setup


def _setup(task: Callable[[Any], Any], threads: int, imports: Sequence[str]) -> None:
    """Runs once in each worker: user code first (it may register what ``task`` needs), one torch pool size."""
    global _TASK
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt stops, and says it once
    for name in imports:
        import_user_code(name)
    torch.set_num_threads(threads)
    _TASK = task


def _run(item: Any) -> Any:
    assert _TASK is not None, "the worker was not set up"
    return _TASK(item)


def ordered_map(task: Callable[[Any], Any], items: Sequence[Any], jobs: int, *, threads: int = 1,
                imports: Sequence[str] = ()) -> Iterator[Any]:
    """``task(item)`` for every item, in up to ``jobs`` spawned processes of ``threads`` torch threads each (no more
    than there are items), yielded in the items' order as soon as each is known; with one process's worth of work
    (``jobs`` = 1, or a single item), in this process, one by one.

    ``task`` must be picklable (a module-level function or a :func:`functools.partial` of one) with everything
    it closes over. Stopping the iteration early, or an exception in the parent, terminates the workers; an
    exception in ``task`` is raised here.

    Raises:
        EvospaceError: ``jobs`` is below 1.
    """
    if jobs < 1:
        raise EvospaceError(f"--jobs must be ≥ 1 (worker processes), got {jobs}")
    workers = min(jobs, len(items))
    if workers <= 1:
        yield from map(task, items)
        return
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(workers, initializer=_setup, initargs=(task, threads, tuple(imports)))
    try:
        yield from pool.imap(_run, items, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
