"""The suggestive ensemble: K FCNs, each trained on a bootstrap resample of the labelled set.

Bootstrap resampling (and, in QSA, INQ quantization) is what makes the members disagree where
the labelled data say little; that disagreement is the uncertainty signal. The members are
independent, so on a machine with several CUDA devices they train in parallel, one per device,
and with ``executor="ray"`` as Ray tasks on a cluster (one GPU per task where it has GPUs).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from qsa_gui.core.active.selection import bootstrap_indices
from qsa_gui.core.model.fcn import SAFCN
from qsa_gui.core.model.quantized_training import train_quantized
from qsa_gui.core.model.segmenter import ModelSetConfig
from qsa_gui.core.model.training import TrainConfig

from ..jobs import CancelToken, Job, Progress, check, run_job, sub_job


@dataclass(frozen=True)
class EnsembleConfig(ModelSetConfig):
    """How the K suggestive FCNs are built and trained (the shared fields, K = 5 by default)."""

    n_models: int = 5
    executor: str = "local"  # "local": this process (one member per GPU); "ray": Ray tasks
    ray_address: str | None = None  # the cluster to join; None: a local Ray instance


def _member_train_config(config: EnsembleConfig, member: int, device: str | None) -> TrainConfig:
    return replace(config.train, bits=config.bits, seed=config.seed * 1000 + member, device=device)


def _cuda_devices() -> list[str]:
    try:
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # pragma: no cover - broken CUDA installs
        n = 0
    return [f"cuda:{i}" for i in range(n)]


def _out_of_bag(
    images: Sequence[np.ndarray], labels: Sequence[np.ndarray], idx: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The images a bootstrap resample left out: a free held-out set for early stopping."""
    left = sorted(set(range(len(images))) - {int(i) for i in idx})
    return [images[i] for i in left], [labels[i] for i in left]


def _member_job(
    model: SAFCN,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    idx: np.ndarray,
    config: TrainConfig,
    quantizer: str,
    cancel: CancelToken | None,
) -> Job[object]:
    """One member trained on its bootstrap resample ``idx``, judged on the images it left out."""
    oob = _out_of_bag(images, labels, idx)
    return train_quantized(
        model, [images[i] for i in idx], [labels[i] for i in idx], config, quantizer, cancel, oob
    )


def train_ensemble(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    config: EnsembleConfig,
    cancel: CancelToken | None = None,
    init: Sequence[SAFCN] | None = None,
) -> Job[list[SAFCN]]:
    """Train ``config.n_models`` FCNs on bootstrap resamples of ``(images, labels)``.

    ``init``: members of an earlier round to continue from (member i from ``init[i]``), which
    lets a CPU-bound loop fine-tune instead of starting from scratch every round. With early
    stopping (``config.train.early_stop_patience``) each member is judged on its out-of-bag
    images (its own training patches when the resample left none out).
    """
    if len(images) == 0:
        raise ValueError("the suggestive ensemble needs at least one labelled image")
    if len(images) != len(labels):
        raise ValueError("images and labels differ in length")
    rng = np.random.default_rng(config.seed)
    resamples = bootstrap_indices(len(images), config.n_models, rng)
    if config.executor == "ray" and config.n_models > 1:
        return (yield from _train_ray(images, labels, config, resamples, cancel, init))
    devices = _cuda_devices()
    if len(devices) > 1 and config.n_models > 1 and config.train.device in (None, "cuda"):
        return (yield from _train_parallel(images, labels, config, resamples, devices, cancel, init))
    models: list[SAFCN] = []
    k = config.n_models
    for member, idx in enumerate(resamples):
        check(cancel)
        model = _new_member(config, member, init)
        tc = _member_train_config(config, member, config.train.device)
        yield from sub_job(
            _member_job(model, images, labels, idx, tc, config.quantizer, cancel),
            member / k,
            (member + 1) / k,
            stage_prefix=f"model {member + 1}/{k}: ",
        )
        models.append(model)
    return models


def _new_member(
    config: EnsembleConfig, member: int, init: Sequence[SAFCN] | dict[int, SAFCN] | None = None
) -> SAFCN:
    """Member ``member`` seeded from its index, starting from ``init[member]`` where given."""
    import torch

    torch.manual_seed(config.seed * 1000 + member)
    model = SAFCN(config.fcn_config())
    start = (
        init.get(member)
        if isinstance(init, dict)
        else (init[member] if init and member < len(init) else None)
    )
    if start is not None:
        model.load_state_dict(start.state_dict())
    return model


def _train_parallel(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    config: EnsembleConfig,
    resamples: list[np.ndarray],
    devices: list[str],
    cancel: CancelToken | None,
    init: Sequence[SAFCN] | None = None,
) -> Job[list[SAFCN]]:
    """One member per CUDA device at a time; progress merged into one stream."""
    k = config.n_models
    fractions = [0.0] * k
    events: queue.Queue[tuple[int, Progress | None, BaseException | None]] = queue.Queue()
    models: list[SAFCN | None] = [None] * k
    pending = list(range(k))
    lock = threading.Lock()

    def worker(device: str) -> None:
        while True:
            with lock:
                if not pending:
                    return
                member = pending.pop(0)
            try:
                model = _new_member(config, member, init)
                tc = _member_train_config(config, member, device)
                run_job(
                    _member_job(model, images, labels, resamples[member], tc, config.quantizer, cancel),
                    lambda ev, m=member: events.put((m, ev, None)),
                )
                models[member] = model.cpu()
                events.put((member, None, None))
            except BaseException as exc:  # noqa: BLE001 - forwarded to the driving generator
                events.put((member, None, exc))
                return

    threads = [threading.Thread(target=worker, args=(d,), daemon=True) for d in devices]
    for t in threads:
        t.start()
    finished = 0
    while finished < k:
        member, ev, exc = events.get()
        if exc is not None:
            if cancel is not None:
                cancel.cancel()  # stop the other devices too
            for t in threads:
                t.join()
            raise exc
        if ev is None:
            finished += 1
            fractions[member] = 1.0
        else:
            fractions[member] = ev.fraction
        yield Progress(
            stage=f"training {k} models on {len(devices)} GPUs",
            fraction=sum(fractions) / k,
            metrics=dict(ev.metrics) if ev is not None else {},
        )
    for t in threads:
        t.join()
    return [m for m in models if m is not None]


def _member_task(
    config: EnsembleConfig,
    member: int,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    idx: np.ndarray,
    start: SAFCN | None,
) -> SAFCN:
    """What a Ray worker runs: one member, from scratch or from ``start``, returned on the CPU."""
    from ..runtime import configure_threads

    configure_threads()
    model = _new_member(config, member, None if start is None else {member: start})
    tc = _member_train_config(config, member, config.train.device)
    run_job(_member_job(model, images, labels, idx, tc, config.quantizer, None))
    return model.cpu()


def _train_ray(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    config: EnsembleConfig,
    resamples: list[np.ndarray],
    cancel: CancelToken | None,
    init: Sequence[SAFCN] | None = None,
) -> Job[list[SAFCN]]:
    """Every member as one Ray task; the labelled images are put in Ray's object store once."""
    from ..errors import QSAError
    from ..ray_tasks import ray_session, run_tasks

    k = config.n_models
    yield Progress(f"training {k} models as Ray tasks", 0.0, "starting")
    with ray_session(config.ray_address) as ray:
        refs = ray.put(list(images)), ray.put(list(labels))
        calls = [
            (config, m, *refs, resamples[m], init[m] if init is not None and m < len(init) else None)
            for m in range(k)
        ]
        models: list[SAFCN | None] = [None] * k
        tasks = run_tasks(ray, _member_task, calls, device=config.train.device, cancel=cancel)
        for done, (member, model, error) in enumerate(tasks, 1):
            if error is not None:
                raise QSAError(f"suggestive model {member + 1}/{k} failed as a Ray task: {error}")
            models[member] = model
            yield Progress(f"training {k} models as Ray tasks", done / k, f"{done}/{k} trained")
    return [m for m in models if m is not None]
