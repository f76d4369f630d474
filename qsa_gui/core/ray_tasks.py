"""Running independent units of work as Ray tasks: slides of a batch, members of an ensemble.

Why Ray and not a scheduler of our own: Ray already runs on the clusters pathology groups have
(start-up on SLURM / Kubernetes in docs/slides.md), ships arguments and results between
machines, and places a task on a GPU when one is asked for. This module is the one place that
starts or joins a Ray instance, asks for a GPU per task where the cluster has GPUs, and turns
Cancel into ``ray.cancel``; callers see a generator of finished tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import QSAError
from .jobs import CancelToken, check

EXECUTORS = ("local", "ray")  # "local": this process; "ray": Ray tasks
POLL_S = 0.5  # how often a wait looks at the cancel token


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise QSAError("the ray executor needs Ray: pip install 'qsa-gui[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, init: dict | None = None) -> Iterator[Any]:
    """Join the cluster at ``address`` (None: start a local instance), or reuse a running one;
    shuts down only what it started."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init or {}))
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def task_resources(ray: Any, device: str | None) -> dict[str, float]:
    """One CPU per task, and one GPU where the cluster has GPUs and CPU was not asked for."""
    gpus = float(ray.cluster_resources().get("GPU", 0))
    if gpus >= 1 and device != "cpu":
        return {"num_cpus": 1, "num_gpus": 1}
    return {"num_cpus": 1}


def run_tasks(
    ray: Any,
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    *,
    device: str | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Submit ``fn(*args)`` for each args of ``calls``; yield (index, result, error) as each
    finishes (error: the task's own exception where Ray kept it). Cancel cancels every pending
    task and raises :class:`~qsa_gui.core.errors.Cancelled`."""
    task = ray.remote(**task_resources(ray, device))(fn)
    pending = {task.remote(*args): i for i, args in enumerate(calls)}
    while pending:
        if cancel is not None and cancel.cancelled:
            for ref in pending:
                ray.cancel(ref, force=True)
            check(cancel)
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
        for ref in ready:
            i = pending.pop(ref)
            try:
                yield i, ray.get(ref), None
            except Exception as e:  # noqa: BLE001 - the caller decides what a failed task means
                yield i, None, getattr(e, "cause", None) or e
