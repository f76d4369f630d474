"""The job protocol shared by every front end (CLI, napari plugin, PySide6 window).

A job is a generator that yields :class:`Progress` events and *returns* its result. It checks a
:class:`CancelToken` between batches and raises :class:`Cancelled` when asked to stop; a job
commits its result atomically only at its very end, so a cancelled job leaves the previous
state untouched. Shells drive jobs with :func:`run_job` (CLI, tests) or on a worker thread
(Qt), and compute the ETA with :class:`EtaEstimator`; the core never knows who is watching.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One progress event. ``fraction`` is the whole job's completion in [0, 1]."""

    stage: str
    fraction: float
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


Job = Generator[Progress, None, T]


class CancelToken:
    """Thread-safe cancel flag checked by jobs between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


class EventCancelToken(CancelToken):
    """A CancelToken driven by a ``multiprocessing.Event`` another process sets (job processes)."""

    def __init__(self, event: Any) -> None:
        self._event = event


NEVER_CANCELLED = CancelToken()


def check(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set (``None`` never cancels)."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def sub_job(job: Job[T], start: float, end: float, stage_prefix: str = "") -> Job[T]:
    """Run ``job`` as the part [start, end] of a larger job, rescaling its fractions."""
    span = end - start
    try:
        event = next(job)
        while True:
            stage = f"{stage_prefix}{event.stage}" if stage_prefix else event.stage
            yield replace(event, stage=stage, fraction=start + span * min(max(event.fraction, 0.0), 1.0))
            event = next(job)
    except StopIteration as stop:
        return stop.value


class EtaEstimator:
    """Estimates seconds left from the fraction done so far (linear in elapsed time)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()

    def eta(self, fraction: float) -> float | None:
        elapsed = self._clock() - self._t0
        if fraction <= 0.01 or elapsed < 0.5:
            return None
        return max(0.0, elapsed * (1.0 - fraction) / fraction)

    @staticmethod
    def format(seconds: float | None) -> str:
        if seconds is None:
            return "estimating…"
        seconds = int(round(seconds))
        if seconds >= 3600:
            return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
        if seconds >= 60:
            return f"{seconds // 60}m {seconds % 60:02d}s"
        return f"{seconds}s"


def run_job(job: Job[T], on_progress: Callable[[Progress], Any] | None = None) -> T:
    """Drive ``job`` to completion on the calling thread and return its result."""
    try:
        while True:
            event = next(job)
            if on_progress is not None:
                on_progress(event)
    except StopIteration as stop:
        return stop.value


__all__ = [
    "CancelToken",
    "Cancelled",
    "EtaEstimator",
    "EventCancelToken",
    "Job",
    "NEVER_CANCELLED",
    "Progress",
    "check",
    "run_job",
    "sub_job",
]
