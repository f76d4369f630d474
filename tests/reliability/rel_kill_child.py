"""Children of the kill tests: endless save loops that acknowledge every durable save.

Each worker writes ``begin ...`` before an operation and ``saved ...`` after it returns, both
fsync'ed before going on, so the parent knows exactly which saves were acknowledged and which one
at most was in flight when it sent SIGKILL. ``crash_at`` (deterministic mode) makes the child
SIGKILL itself just before or just after its n-th ``os.fsync`` / ``os.replace`` / ``os.rename``.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

from rel_helpers import fsync_append, labels_for, micro_segmenter


def _install_crash_point(crash_at: int) -> None:
    """SIGKILL this process at file-system step ``crash_at`` (1-based; two steps per call:
    before it and after it), to hit every point of an atomic write and a manifest save."""
    state = {"n": 0}

    def step() -> None:
        state["n"] += 1
        if state["n"] == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    for name in ("fsync", "replace", "rename"):
        real = getattr(os, name)

        def wrapped(*args, _real=real, **kwargs):
            step()
            out = _real(*args, **kwargs)
            step()
            return out

        setattr(os, name, wrapped)


def _ack(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def label_worker(folder: str, ack_path: str, start: int, crash_at: int | None = None) -> None:
    """Autosave-like loop: labels of image ``v % n`` at version v, done every third time, and a
    prediction now and then (manifest written by every operation)."""
    from qsa_gui.core.project.store import Project

    fd = _ack(ack_path)
    if crash_at is not None:
        _install_crash_point(crash_at)
    proj = Project.open(folder)
    ids = [r.id for r in proj.images]
    fsync_append(fd, f"ready {start}")
    v = start
    while True:
        i = v % len(ids)
        done = v % 3 == 0
        fsync_append(fd, f"begin {i} {v} {int(done)}")
        proj.save_labels(ids[i], labels_for(i, v), done=done, user="kill-test")
        fsync_append(fd, f"saved {i} {v} {int(done)}")
        if v % 4 == 1:
            j = (i + 1) % len(ids)
            fsync_append(fd, f"pbegin {j} {v}")
            proj.save_prediction(ids[j], labels_for(j, v + 50000), f"seg-v{v:04d}")
            fsync_append(fd, f"psaved {j} {v}")
        v += 1


def model_worker(folder: str, ack_path: str, start: int, crash_at: int | None = None) -> None:
    """Retrain-like loop: a two-member model folder committed exactly as workflow.retrain_job
    does (temp folder, rename, add_model), then a single-file model (inq.save_model)."""
    from qsa_gui.core.model.fcn import save_fcn
    from qsa_gui.core.project.store import ModelVersion, Project
    from qsa_gui.core.workflow.retrain import _commit_model_folder

    fd = _ack(ack_path)
    if crash_at is not None:
        _install_crash_point(crash_at)
    proj = Project.open(folder)
    fsync_append(fd, f"ready {start}")
    v = start
    while True:
        bits = None if v % 2 else 5
        seg = micro_segmenter(v, n_members=2, bits=bits)
        final = proj.new_model_path("seg")
        final = final.with_suffix("")
        tmp = final.parent / f".{final.name}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        fsync_append(fd, f"begin {final.name} {v}")
        seg.save(tmp, bits=bits, meta={"v": v})
        _commit_model_folder(tmp, final)
        proj.add_model(
            ModelVersion(version=final.name, path=str(final.relative_to(proj.folder)), bits=bits),
            make_current=True,
        )
        fsync_append(fd, f"saved {final.name} {v}")
        single = Path(proj.models_dir) / f"single-{v:05d}.qsam"
        save_fcn(single, seg.models[0], bits=bits, meta={"v": v})
        fsync_append(fd, f"file {single.name} {v}")
        v += 1


WORKERS = {"labels": label_worker, "models": model_worker}


def run(mode: str, folder: str, ack_path: str, start: int, crash_at: int | None = None) -> None:
    """Process target (module-level so the forkserver child can find it)."""
    try:
        WORKERS[mode](folder, ack_path, start, crash_at)
    except BaseException as exc:  # visible in the parent's failure message
        with open(ack_path, "a") as fh:
            fh.write(f"error {type(exc).__name__}: {exc}\n")
        sys.exit(3)
