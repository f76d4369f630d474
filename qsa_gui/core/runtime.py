"""Process-wide compute settings: how many CPU threads torch may use, and at what priority.

Measured on this project's 2-core machines: with two OpenMP threads and any other busy process
(the GUI thread, a second job, a test runner) torch's threads wait on each other and a training
step becomes up to 8x slower (`qsa demo --quick`: 28 s with one thread, 218 s with two under
load). So on small machines one thread, and elsewhere all cores but one, left for the GUI.
"""

from __future__ import annotations

import os

_configured = False

#: Niceness of a GUI's job worker process (Unix; "below normal" on Windows).
WORKER_NICENESS = 10


def default_threads(cpu_count: int | None = None) -> int:
    """One thread on 1-2 cores; otherwise every core but one."""
    n = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return 1 if n <= 2 else n - 1


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads once per process; an explicit QSA_THREADS or n wins."""
    global _configured
    import torch

    env = os.environ.get("QSA_THREADS")
    if n is None and env:
        n = max(1, int(env))
    if n is None and _configured:
        return torch.get_num_threads()
    threads = n if n is not None else default_threads()
    torch.set_num_threads(threads)
    _configured = True
    return threads


def lower_priority(niceness: int = WORKER_NICENESS) -> bool:
    """Run this process (and the processes it starts) below normal priority; False if it cannot.

    Why: a GUI's job worker computes flat out, while the window's repaints need a core now and
    then: on a 2-core laptop the display server and the window's own GL threads queue behind the
    training step, and the window stutters. Niced, the job yields to them and loses nothing when
    the machine is otherwise idle. The CLI runs jobs in-process and keeps its normal priority.
    """
    if hasattr(os, "nice"):
        try:
            os.nice(niceness)
            return True
        except OSError:
            return False
    try:  # Windows
        import psutil

        psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        return True
    except Exception:  # noqa: BLE001 - no psutil, or not allowed: run at normal priority
        return False
