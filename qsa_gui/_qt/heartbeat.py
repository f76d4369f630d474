"""Measure how long the GUI event loop goes without running (the "window freezes" metric).

A fast ``QTimer`` on the GUI thread records the wall-clock gap between consecutive ticks. While
the loop is free the gaps stay near ``interval_ms``; anything that blocks the GUI thread (a job
run in a button handler, a slow repaint) shows up as one long gap. The responsiveness test and
the benchmark assert that the longest gap while a training job runs stays small (< 100 ms).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from qtpy.QtCore import QObject, Qt, QTimer


def percentile(values: Sequence[float], q: float) -> float:
    """``q``-th percentile (0..100) with linear interpolation (numpy's default); 0.0 when empty."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    data = sorted(values)
    if not data:
        return 0.0
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


class EventLoopMonitor(QObject):
    """Records gaps (ms) between ticks of a ``interval_ms`` timer on the GUI thread.

    Create it on the GUI thread. ``stop()`` also records the gap from the last tick to the stop
    call, so a stall right before stopping is not missed. Usable as a context manager.
    """

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = int(interval_ms)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self._tick)
        self._gaps: list[float] = []
        self._last: float | None = None

    # -- control -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart) measuring; clears earlier gaps."""
        self.reset()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        """Stop measuring; the time since the last tick counts as a final gap."""
        if self._timer.isActive():
            self._timer.stop()
            self._record(time.perf_counter())
        self._last = None

    def reset(self) -> None:
        self._gaps.clear()
        if self._last is not None:
            self._last = time.perf_counter()

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def __enter__(self) -> EventLoopMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- results -----------------------------------------------------------------------------
    @property
    def gaps(self) -> list[float]:
        """Gaps between consecutive ticks in milliseconds (a copy)."""
        return list(self._gaps)

    @property
    def ticks(self) -> int:
        return len(self._gaps)

    @property
    def max_gap_ms(self) -> float:
        """Longest gap seen (0.0 before any tick)."""
        return max(self._gaps, default=0.0)

    @property
    def mean_gap_ms(self) -> float:
        return sum(self._gaps) / len(self._gaps) if self._gaps else 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of the gaps; 0.0 before any tick."""
        return percentile(self._gaps, q)

    def summary(self) -> dict[str, float]:
        """Numbers for a benchmark report."""
        return {
            "ticks": float(self.ticks),
            "interval_ms": float(self.interval_ms),
            "mean_gap_ms": self.mean_gap_ms,
            "p50_gap_ms": self.percentile(50),
            "p95_gap_ms": self.percentile(95),
            "p99_gap_ms": self.percentile(99),
            "max_gap_ms": self.max_gap_ms,
        }

    # -- internals ---------------------------------------------------------------------------
    def _record(self, now: float) -> None:
        if self._last is not None:
            self._gaps.append((now - self._last) * 1000.0)
        self._last = now

    def _tick(self) -> None:
        self._record(time.perf_counter())


__all__ = ["EventLoopMonitor", "percentile"]
