"""The terminal progress bar (a line redrawn on a TTY, a line per 10% in a log) and job driving."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..core.jobs import CancelToken, EtaEstimator, Job, Progress
from .plumbing import drive as _drive_job


class TerminalProgress:
    """A one-line progress bar with stage, message and ETA (plain lines when not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.eta = EtaEstimator()
        self.tty = self.stream.isatty()
        self._last_stage = ""
        self._last_pct = -10
        self._last_len = 0

    def __call__(self, event: Progress) -> None:
        frac = min(max(event.fraction, 0.0), 1.0)
        eta = EtaEstimator.format(self.eta.eta(frac))
        metrics = " ".join(f"{k} {v:.3g}" for k, v in list(event.metrics.items())[:3])
        text = (
            f"{event.stage}"
            + (f" — {event.message}" if event.message else "")
            + (f" [{metrics}]" if metrics else "")
        )
        if self.tty:
            filled = int(round(frac * self.width))
            bar = "█" * filled + "·" * (self.width - filled)
            cols = shutil.get_terminal_size((100, 20)).columns
            line = f"\r{bar} {frac:4.0%} ETA {eta:>8}  {text}"[: cols + 1]
            pad = max(0, self._last_len - len(line))
            self.stream.write(line + " " * pad)
            self._last_len = len(line)
            self.stream.flush()
        else:
            pct = int(frac * 100)
            if event.stage != self._last_stage or pct >= self._last_pct + 10:
                self.stream.write(f"[{pct:3d}%] ETA {eta}  {text}\n")
                self._last_stage, self._last_pct = event.stage, pct
                self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last_len:
            self.stream.write("\n")
            self.stream.flush()


def run_with_progress(job_factory: Callable[[CancelToken], Job[Any]], quiet: bool = False) -> Any:
    return _drive_job(job_factory, None if quiet else TerminalProgress())
