"""Cancellation and concurrency: a job cancelled at any of its progress events leaves the project
exactly as it was (previous model current and loadable, no stray files); jobs never write labels,
so painting during a job is never overwritten; one writer per project, enforced by the lock."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from qsa_testkit import TINY_SETTINGS
from rel_helpers import labels_for, make_project

from qsa_gui.core.data import images as qio
from qsa_gui.core.data.images import write_image
from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.errors import Cancelled, ProjectError
from qsa_gui.core.jobs import CancelToken, run_job
from qsa_gui.core.model.segmenter import Segmenter
from qsa_gui.core.project.store import Project
from qsa_gui.core.workflow.predict import segment_job
from qsa_gui.core.workflow.retrain import retrain_job
from qsa_gui.core.workflow.suggest import suggest_job

FAST = replace(
    TINY_SETTINGS,
    iterations=6,
    ensemble_iterations=4,
    inq_iterations=2,
    patch_size=32,
    tile=64,
    overlap=8,
    seed=1,
    device="cpu",
    seg_bits=5,
    ensemble_bits=5,
)


@pytest.fixture
def trained(tmp_path: Path) -> Project:
    """6 generated 64x64 images, 4 labelled, one accepted model: the state jobs start from."""
    samples = generate_dataset(6, seed=2, size=(64, 64))
    paths = []
    for i, s in enumerate(samples):
        p = tmp_path / f"g{i}.png"
        write_image(p, s.image)
        paths.append(p)
    proj = Project.create(tmp_path / "p", settings=FAST.to_dict())
    proj.import_images(paths)
    for i in range(4):
        proj.save_labels(proj.images[i].id, samples[i].labels, done=True)
    run_job(retrain_job(proj, FAST))
    run_job(segment_job(proj, [proj.images[5].id], FAST))
    yield proj
    proj.close()


def _snapshot(folder: Path, skip_scores: bool = False) -> dict[str, str]:
    """Every file of the project (hidden ones included) with its content hash; the scores cache
    (which a suggest job may fill before it is cancelled: it is only a cache) can be skipped."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
        and not (skip_scores and p.relative_to(folder).parts[0] == "scores")
    }


def _clear_scores(folder: Path) -> None:
    for f in (folder / "scores").iterdir():
        shutil.rmtree(f) if f.is_dir() else f.unlink()  # score files and stored members


def _count_events(factory) -> int:
    n = [0]
    run_job(factory(None), lambda _e: n.__setitem__(0, n[0] + 1))
    return n[0]


def _cancel_after(factory, r: int) -> bool:
    """Run the job, cancelling from the progress callback at its r-th event; True if cancelled."""
    cancel = CancelToken()
    seen = [0]

    def on_progress(_event) -> None:
        seen[0] += 1
        if seen[0] >= r:
            cancel.cancel()

    try:
        run_job(factory(cancel), on_progress)
    except Cancelled:
        return True
    return False


JOBS = {
    "retrain": lambda p: lambda c: retrain_job(p, FAST, c),
    "segment": lambda p: lambda c: segment_job(p, [r.id for r in p.images], FAST, c),
    "suggest": lambda p: lambda c: suggest_job(p, FAST, c),
}


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_cancel_at_every_progress_event_changes_nothing(trained: Project, kind: str) -> None:
    proj = trained
    factory = JOBS[kind](proj)
    skip = kind == "suggest"
    before = _snapshot(proj.folder, skip)
    model_before = proj.current_model
    n_events = _count_events(lambda c: JOBS[kind](proj)(c))  # a full run: changes the project
    assert _snapshot(proj.folder, skip) != before, "the uncancelled job should have changed something"
    reference = _snapshot(proj.folder, skip)
    model_now, n_rounds = proj.current_model, len(proj.rounds)
    cancelled = 0
    for r in range(1, n_events):  # the last event comes after the commit
        if skip:
            _clear_scores(proj.folder)  # else the cached scores shorten the job
        assert _cancel_after(factory, r), f"{kind}: not cancelled at event {r}/{n_events}"
        cancelled += 1
        assert _snapshot(proj.folder, skip) == reference, f"{kind}: cancel at event {r} changed files"
        assert proj.current_model == model_now and len(proj.rounds) == n_rounds
        with Project.open(proj.folder, read_only=True) as ro:
            assert ro.current_model == model_now and len(ro.models) == len(proj.models)
            assert len(ro.rounds) == n_rounds
    seg = Segmenter.load(proj.model_path(proj.current_model), device="cpu")  # previous model intact
    assert len(seg.models) >= 1
    assert model_before is not None
    print(f"\n{kind}: cancelled at all {cancelled} progress events, nothing changed")


def test_jobs_never_write_labels_while_the_expert_paints(trained: Project, monkeypatch) -> None:
    """Segment and retrain run on a worker thread while the main thread autosaves labels of an
    image the job is segmenting; the last saved labels win, predictions are separate files, and
    every labels/ write comes from the painting thread."""
    proj = trained
    painted = proj.images[4].id  # unlabelled: segmented by the job
    writers: list[tuple[str, int]] = []
    real_write = qio.write_labels

    def spy(path, labels):
        writers.append((str(path), threading.get_ident()))
        return real_write(path, labels)

    monkeypatch.setattr(qio, "write_labels", spy)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(2):
                run_job(segment_job(proj, [r.id for r in proj.images], FAST))
            run_job(retrain_job(proj, FAST))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    shape = proj.image(painted).shape
    t = threading.Thread(target=worker)
    t.start()
    v = 0
    while t.is_alive() or v < 5:
        v += 1
        lab = np.zeros(shape, np.int32)
        lab[: 1 + v % shape[0], :5] = v  # a stroke that grows
        proj.save_labels(painted, lab)
        time.sleep(0.002)
    t.join()
    assert not errors, errors
    main = threading.get_ident()
    label_writes = [(p, who) for p, who in writers if "/labels/" in p]
    assert label_writes and all(who == main for _p, who in label_writes)
    assert any("/predictions/" in p and who != main for p, who in writers)
    want = np.zeros(shape, np.int32)
    want[: 1 + v % shape[0], :5] = v
    np.testing.assert_array_equal(proj.load_labels(painted), want)
    rec = proj.image(painted)
    assert rec.label_path != rec.prediction_path and rec.prediction_path.startswith("predictions/")
    assert rec.status == "in_progress"
    with Project.open(proj.folder, read_only=True) as ro:
        np.testing.assert_array_equal(ro.load_labels(painted), want)
        assert ro.load_prediction(painted) is not None
    print(f"\npainted {v} versions during 2 segment runs and a retrain: the last one kept")


def test_second_writer_in_this_process_is_refused(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    with pytest.raises(ProjectError, match="open in another window"):
        Project.open(tmp_path / "p")
    with Project.open(tmp_path / "p", read_only=True) as ro:
        assert len(ro.images) == len(proj.images)
        with pytest.raises(ProjectError, match="read-only"):
            ro.save_labels(ro.images[0].id, labels_for(0, 1))
    proj.close()
    Project.open(tmp_path / "p").close()


def test_racing_writers_only_one_wins(tmp_path: Path) -> None:
    make_project(tmp_path / "p").close()
    barrier = threading.Barrier(8)
    results: list[object] = []

    def opener() -> None:
        barrier.wait()
        try:
            results.append(Project.open(tmp_path / "p"))
        except ProjectError as exc:
            results.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, Project)]
    assert len(winners) == 1, results
    winners[0].close()


def test_another_process_holding_the_project(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder)
    proj.save_labels(proj.images[0].id, labels_for(0, 1), done=True)
    proj.close()
    code = (
        "import sys, time\n"
        "from qsa_gui.core.project.store import Project\n"
        "p = Project.open(sys.argv[1])\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        with pytest.raises(ProjectError, match=f"pid {other.pid}"):
            Project.open(folder)
        with Project.open(folder, read_only=True) as ro:  # a second window may look
            np.testing.assert_array_equal(ro.load_labels(ro.images[0].id), labels_for(0, 1))
    finally:
        other.kill()
        other.wait(30)
    with Project.open(folder) as proj2:  # the dead holder's lock is taken over
        proj2.save_labels(proj2.images[0].id, labels_for(0, 2), done=True)


def test_a_lock_file_left_empty_by_a_crash_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    make_project(folder).close()
    lock = folder / ".lock"
    lock.write_bytes(b"")  # killed between creating and writing it: no process holds its flock
    Project.open(folder).close()
