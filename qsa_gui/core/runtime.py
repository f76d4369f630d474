"""Process-wide compute settings: how many CPU threads torch may use.

Measured on this project's 2-core machines: with two OpenMP threads and any other busy process
(the GUI thread, a second job, a test runner) torch's threads wait on each other and a training
step becomes up to 8x slower (`qsa demo --quick`: 28 s with one thread, 218 s with two under
load). So on small machines one thread, and elsewhere all cores but one, left for the GUI.
"""

from __future__ import annotations

import os

_configured = False


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
