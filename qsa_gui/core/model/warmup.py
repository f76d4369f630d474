"""Pay torch's one-time start-up costs on the GUI thread, once, before any job runs.

Why: the first optimizer a process builds makes torch import a large part of itself
(``torch._dynamo``, sympy, ...) and load native kernels. Done on the worker thread by the first
Retrain, parts of that hold the GIL long enough to freeze the window for about half a second in
the middle of the user's work. Done here, while the panel is being built (the user is waiting
for it to appear anyway), the first Retrain is as smooth as every later one.

The warm-up builds the tiny preset network, runs one forward/backward pass on zeros and one Adam
step. It forks torch's random state, so seeded jobs give the same results with or without it.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_seconds: float | None = None


def torch_warmed_up() -> bool:
    """True once :func:`warm_up_torch` has run in this process."""
    return _seconds is not None


def warm_up_torch(*, force: bool = False) -> float:
    """Run torch's first optimizer step once per process; returns the seconds it took (0.0 if done).

    Never raises: a failed warm-up only means the first job pays the cost itself.
    """
    global _seconds
    with _lock:
        if _seconds is not None and not force:
            return 0.0
        t0 = time.perf_counter()
        try:
            import torch

            from qsa_gui.core.model.fcn import PRESETS, SAFCN
            from qsa_gui.core.runtime import configure_threads

            configure_threads()  # both GUI shells build the assistant, which warms up here

            with torch.random.fork_rng(devices=[]):
                model = SAFCN(PRESETS["tiny"])
                model.train()
                m = model.size_multiple
                x = torch.zeros(2, 3, 2 * m, 2 * m)  # batch norm needs > 1 value per channel
                out = model(x)
                loss = out.gland.float().mean() + out.contour.float().mean()
                opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        except Exception:  # noqa: BLE001 - an optimisation only, never a reason to fail start-up
            logger.warning("torch warm-up failed; the first job will be slower to start", exc_info=True)
        _seconds = time.perf_counter() - t0
        logger.debug("torch warm-up took %.2f s", _seconds)
        return _seconds


__all__ = ["torch_warmed_up", "warm_up_torch"]
