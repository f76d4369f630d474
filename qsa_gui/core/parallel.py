"""Independent jobs in spawned processes at once: the seeds of `qsa demo` and `qsa replay`.

Why processes: on the small machines this runs on, torch gets one thread per process
(:mod:`qsa_gui.core.runtime`: two threads of one process wait on each other), so a second seed
in a second process is what uses the second core; measured side by side in docs/benchmarks.md.
Children are spawned (never forked: the caller may be a worker of a Qt process), each runs one
job to its end and returns its value; their Progress comes back through a queue and is merged
into one stream (the mean of their fractions). Cancel sets an Event every child's CancelToken
reads; a child that has not stopped after :data:`CANCEL_GRACE_S` is terminated. A failure in
one child is re-raised here once the others have stopped.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from .jobs import CancelToken, EventCancelToken, Job, Progress, check, run_job

CANCEL_GRACE_S = 2.0
POLL_S = 0.1
SEND_INTERVAL_S = 0.5  # a child reports at most this often (plus its last event)

_events: Any = None
_stop: Any = None
_threads = 1


def default_workers(n_jobs: int, cpu_count: int | None = None) -> int:
    """One process per core (each with one torch thread on small machines), at most ``n_jobs``."""
    return max(1, min(n_jobs, cpu_count if cpu_count is not None else (os.cpu_count() or 1)))


def _init(events: Any, stop: Any, threads: int) -> None:
    global _events, _stop, _threads
    _events, _stop, _threads = events, stop, threads


def _run(index: int, factory: Callable[..., Job[Any]], args: tuple) -> Any:
    from .runtime import configure_threads
    configure_threads(_threads)
    last = [0.0]

    def report(event: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= SEND_INTERVAL_S or event.fraction >= 1.0:
            last[0] = now
            _events.put((index, event))

    return run_job(factory(*args, cancel=EventCancelToken(_stop)), report)


def run_in_processes(
    factory: Callable[..., Job[Any]],
    calls: Sequence[tuple],
    *,
    workers: int | None = None,
    cancel: CancelToken | None = None,
    stage: str = "",
    names: Sequence[str] | None = None,
) -> Job[list[Any]]:
    """``factory(*args, cancel=token)`` for every ``args`` of ``calls`` (``factory`` a module-level
    job function), ``workers`` at a time; returns their values in the order of ``calls``.
    ``names`` prefix each job's stage in the merged progress ("seed 2: qsa round 3: …")."""
    n = len(calls)
    if n == 0:
        return []
    workers = default_workers(n) if workers is None else max(1, min(workers, n))
    ctx = multiprocessing.get_context("spawn")
    events, stop = ctx.Queue(), ctx.Event()
    fractions = [0.0] * n
    results: list[Any] = [None] * n
    threads = max(1, (os.cpu_count() or 1) // workers)  # the cores shared out, never oversubscribed
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(events, stop, threads))
    clean = False
    try:
        futures: dict[Future, int] = {pool.submit(_run, i, factory, tuple(a)): i for i, a in enumerate(calls)}
        pending = set(futures)
        yield Progress(stage, 0.0, f"{n} jobs in {workers} processes")
        while pending:
            if cancel is not None and cancel.cancelled:
                stop.set()
                wait(pending, timeout=CANCEL_GRACE_S)
                check(cancel)
            done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for f in done:
                i = futures[f]
                results[i] = f.result()  # a child's exception is raised here
                fractions[i] = 1.0
            latest = None
            while True:
                try:
                    i, event = events.get_nowait()
                except queue.Empty:
                    break
                fractions[i] = max(fractions[i], min(1.0, float(event.fraction)))
                latest = event if names is None else Progress(f"{names[i]}: {event.stage}", event.fraction)
            if done or latest is not None:
                finished = sum(f == 1.0 for f in fractions)
                message = f"{finished}/{n} done" + (f"; {latest.stage}" if latest is not None else "")
                yield Progress(stage, sum(fractions) / n, message)
        clean = True
        return results
    finally:
        stop.set()
        if not clean:  # cancelled or failed: do not wait for children still running
            for proc in list(getattr(pool, "_processes", {}).values()):
                if proc.is_alive():
                    proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        events.close()
