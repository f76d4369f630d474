"""Ray as the executor: slides of a batch and members of the suggestive ensemble as tasks on a
local Ray instance of 2 CPUs (CI installs the ``ray`` extra; elsewhere these skip)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from qsa_testkit import TINY_SETTINGS
from slide_testkit import tiny_model_folder, write_painted

from qsa_gui.cli.main import main
from qsa_gui.core.active.ensemble import train_ensemble
from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.errors import Cancelled
from qsa_gui.core.jobs import CancelToken, run_job

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'qsa-gui[ray]')")


@pytest.fixture(scope="module")
def local_ray():
    """One local instance for the module (starting Ray costs seconds); the jobs join it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_segment_slides_as_ray_tasks_from_the_cli(local_ray, tmp_path: Path, capsys) -> None:
    for i in range(2):
        write_painted(tmp_path / "in" / f"r{i}.ome.tif", (256, 384), seed=40 + i)
    model = tiny_model_folder(tmp_path)
    argv = ["segment-slides", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model", str(model)]
    assert main([*argv, "--executor", "ray", "-q"]) == 0
    assert all((tmp_path / "out" / s / "summary.json").is_file() for s in ("r0", "r1"))
    out = capsys.readouterr().out
    assert "r0.ome.tif" in out and "r1.ome.tif" in out
    assert ray.is_initialized()  # the batch joined the running instance and left it running


def _labelled(n: int = 3):
    data = generate_dataset(n, seed=11, size=(64, 64))
    return [d.image.astype(np.float32) / 255.0 for d in data], [d.labels for d in data]


def test_ensemble_members_train_as_ray_tasks_like_they_do_locally(local_ray) -> None:
    """Same seeds, same resamples, same recipe: a member trained on a Ray worker is the member
    this process would have trained (up to float reordering between thread counts)."""
    images, labels = _labelled()
    settings = replace(TINY_SETTINGS, ensemble_size=3, ensemble_patience=None)
    local = run_job(train_ensemble(images, labels, settings.ensemble_config()))
    events = []
    remote = run_job(
        train_ensemble(images, labels, replace(settings, executor="ray").ensemble_config()), events.append
    )
    assert len(remote) == len(local) == 3
    assert any("Ray tasks" in e.stage for e in events) and events[-1].fraction == 1.0
    for a, b in zip(local, remote, strict=True):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.allclose(x.float(), y.float(), atol=1e-4), name
    # members differ from each other: each saw its own bootstrap resample and seed
    w = [next(iter(m.state_dict().values())) for m in remote]
    assert not torch.equal(w[0], w[1])


def test_cancel_stops_the_ray_tasks(local_ray) -> None:
    images, labels = _labelled()
    # no early stopping: the members would stop on their own within the 3 s before the cancel
    slow = replace(
        TINY_SETTINGS, executor="ray", iterations=20000, ensemble_iterations=20000, ensemble_patience=None
    )
    config = slow.ensemble_config()
    cancel = CancelToken()
    threading.Timer(3.0, cancel.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        run_job(train_ensemble(images, labels, config, cancel))
    assert time.monotonic() - t0 < 60  # 2000 iterations x 2 members would take minutes
