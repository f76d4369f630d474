"""Jobs in a spawned worker process, without Qt: commit by the lock holder, kill, cancel, lock.

One pool (one warm worker) serves the module; a test that kills it pays one respawn (~4 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from qsa_testkit import TINY_SETTINGS

from qsa_gui.core.data.images import write_image
from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.errors import Cancelled, ProjectError, QSAError
from qsa_gui.core.jobs import CancelToken, run_job
from qsa_gui.core.jobspec import JobSpec, start_spec
from qsa_gui.core.project.delegated import DelegatedProject
from qsa_gui.core.project.lock import verify_held_by
from qsa_gui.core.project.store import Project
from qsa_gui.core.worker import WorkerDied, WorkerPool, describe_exit, run_in_worker

SIZE = 96
LONG = TINY_SETTINGS.updated(iterations=3000)  # never ends on its own within a test


@pytest.fixture(scope="module")
def pool():
    p = WorkerPool()
    p.prestart()
    yield p
    p.shutdown()


@pytest.fixture
def project(tmp_path):
    samples = generate_dataset(6, seed=3, size=(SIZE, SIZE))
    paths = []
    for i, s in enumerate(samples):
        paths.append(tmp_path / "src" / f"g{i}.png")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        write_image(paths[-1], s.image)
    proj = Project.create(tmp_path / "proj", settings=TINY_SETTINGS.to_dict())
    proj.import_images(paths)
    proj.truth = {r.id: s.labels.astype(np.int32) for r, s in zip(proj.images, samples, strict=True)}
    for r in proj.images[:3]:
        proj.save_labels(r.id, proj.truth[r.id], done=True, user="test")
    yield proj
    proj.close()


def disk_state(project: Project) -> dict[str, bytes]:
    """Every non-hidden file of the project (manifest, labels, predictions, models) by path."""
    out = {}
    for path in sorted(project.folder.rglob("*")):
        rel = path.relative_to(project.folder)
        if path.is_file() and rel.parts[0] not in ("scores",) and rel.name != ".lock":
            out[rel.as_posix()] = path.read_bytes()
    return out


def hidden_leftovers(project: Project) -> list[str]:
    found = []
    for sub in ("predictions", "models", "scores"):
        found += [p.name for p in (project.folder / sub).glob(".*")]
    return found


def run_until(job, stop_when, action, fired=None):
    """Drive ``job``; call ``action()`` once, at the first event for which ``stop_when`` holds
    (its time goes into ``fired``)."""
    fired = [] if fired is None else fired

    def on(event):
        if not fired and stop_when(event):
            fired.append(time.monotonic())
            action()

    return run_job(job, on), fired


def training(event) -> bool:
    return "train" in event.stage


def test_retrain_in_worker_commits_to_the_parent_and_keeps_its_own_saves(project, pool):
    """The parent autosaves during the job; the worker's commit must not drop that save."""
    draft_id = project.images[4].id
    draft = project.truth[draft_id]
    spec = JobSpec.make("retrain", project, TINY_SETTINGS)
    result, fired = run_until(
        run_in_worker(spec, project, None, pool),
        training,
        lambda: project.save_labels(draft_id, draft, done=False),
    )
    assert fired, "no training progress came from the worker"
    assert project.current_model == result.version.version == "seg-v0001"  # the parent is current
    assert project.image(draft_id).status == "in_progress"
    with Project.open(project.folder, read_only=True) as on_disk:  # and so is project.json
        assert on_disk.current_model == "seg-v0001"
        assert on_disk.image(draft_id).status == "in_progress"
        assert np.array_equal(on_disk.load_labels(draft_id), draft)
    assert pool.idle_workers(), "a worker that finished its job is kept warm"
    # the next jobs reuse it: suggest records a round, segment adopts the predictions
    rnd = run_job(run_in_worker(JobSpec.make("suggest", project, TINY_SETTINGS), project, None, pool)).round
    assert project.rounds[-1].image_ids == rnd.image_ids
    ids = project.unlabelled_ids()
    preds = run_job(
        run_in_worker(JobSpec.make("segment", project, TINY_SETTINGS, image_ids=ids), project, None, pool)
    )
    for image_id in ids:
        assert np.array_equal(project.load_prediction(image_id), preds[image_id])
    assert hidden_leftovers(project) == []


def test_sigkill_mid_job_is_one_clear_line_and_changes_nothing(project, pool):
    before = disk_state(project)
    worker = pool.prestart()
    assert worker.wait_ready(120)
    job = run_in_worker(JobSpec.make("retrain", project, LONG), project, None, pool)
    with pytest.raises(WorkerDied) as err:
        run_until(job, training, lambda: os.kill(worker.pid, signal.SIGKILL))
    text = str(err.value)
    assert "SIGKILL" in text and "signal 9" in text and "\n" not in text
    assert text.startswith("Retrain stopped: The job process was killed")
    assert disk_state(project) == before
    assert hidden_leftovers(project) == []
    assert project.current_model is None
    # the parent still holds the lock and can write; a fresh worker runs the next job
    project.save_labels(project.images[4].id, project.truth[project.images[4].id], done=False)
    result = run_job(run_in_worker(JobSpec.make("retrain", project, TINY_SETTINGS), project, None, pool))
    assert project.current_model == result.version.version


def test_cancel_stops_within_a_second_and_commits_nothing(project, pool):
    before = disk_state(project)
    token = CancelToken()
    job = run_in_worker(JobSpec.make("retrain", project, LONG), project, token, pool)
    t0: list[float] = []
    with pytest.raises(Cancelled):
        run_until(job, training, token.cancel, t0)
    elapsed = time.monotonic() - t0[0]
    assert elapsed < 1.0, f"cancel took {elapsed:.2f} s"
    assert disk_state(project) == before
    assert hidden_leftovers(project) == []


def test_a_second_writer_cannot_take_the_lock_during_a_job(project, pool):
    code = (
        "import sys\n"
        "from qsa_gui.core.project.store import Project\n"
        "from qsa_gui.core.errors import ProjectError\n"
        "try:\n    Project.open(sys.argv[1])\n"
        "except ProjectError as e:\n    print('REFUSED', e); sys.exit(0)\n"
        "print('OPENED'); sys.exit(1)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    outputs = []

    def second_writer():
        outputs.append(
            subprocess.run(
                [sys.executable, "-c", code, str(project.folder)], capture_output=True, text=True, env=env
            )
        )

    run_until(
        run_in_worker(JobSpec.make("retrain", project, TINY_SETTINGS), project, None, pool),
        training,
        second_writer,
    )
    assert outputs[0].returncode == 0, outputs[0].stdout + outputs[0].stderr
    assert "REFUSED" in outputs[0].stdout and f"pid {os.getpid()}" in outputs[0].stdout


def test_delegated_open_checks_the_lock_is_held_by_the_holder(project, tmp_path):
    verify_held_by(project.folder, os.getpid())
    with pytest.raises(ProjectError, match="not by pid"):
        DelegatedProject.open_delegated(project.folder, os.getpid() + 1)
    delegated = DelegatedProject.open_delegated(project.folder, os.getpid())
    before = project.manifest_path.read_bytes()
    delegated.set_split(project.images[5].id, "test")  # in memory only: never the manifest
    assert project.manifest_path.read_bytes() == before
    delegated.close()
    project.close()
    with pytest.raises(ProjectError, match="not locked|no longer open"):
        DelegatedProject.open_delegated(project.folder, os.getpid())


def test_errors_in_the_worker_come_back_as_one_line(project, pool):
    spec = JobSpec.make("heatmap", project, TINY_SETTINGS, image_id="img_9999", model_version="seg-v0001")
    with pytest.raises(QSAError, match="img_9999|seg-v0001") as err:
        run_job(run_in_worker(spec, project, None, pool))
    assert not isinstance(err.value, WorkerDied)
    assert pool.idle_workers(), "a job that failed cleanly keeps its worker"


def test_describe_exit_names_the_signal_or_code():
    assert describe_exit(-9) == "was killed (out of memory, or by another program): signal 9 (SIGKILL)"
    assert describe_exit(-11).startswith("crashed (segmentation fault)")
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(None) == "stopped answering"


def test_the_same_spec_runs_in_process_for_thread_mode(project):
    """``QSA_JOBS=thread`` (and any shell without a worker) runs the very same spec here."""
    import pickle

    spec = JobSpec.make("retrain", project, TINY_SETTINGS)
    assert pickle.loads(pickle.dumps(spec)) == spec
    result = run_job(start_spec(spec, project))
    assert project.current_model == result.version.version
    with Project.open(project.folder, read_only=True) as on_disk:
        assert on_disk.current_model == result.version.version
    with pytest.raises(ValueError, match="unknown job"):
        JobSpec.make("train-everything", project, TINY_SETTINGS)


def test_results_reach_the_gui_process_without_importing_torch(project):
    """Unpickling a result imports its class's module. Results defined beside their jobs made the
    GUI process import torch on the job thread (shared libraries loaded under the GIL) the first
    time a Retrain or Suggest finished: a 200-250 ms freeze of the window. A fresh interpreter
    (as the GUI process is) unpickles every verb's real result and must not import torch."""
    import pickle

    from qsa_gui.core.jobspec import VERBS
    from qsa_gui.core.workflow.results import ReplayResult

    blobs = []
    for verb in ("retrain", "suggest"):
        result = run_job(start_spec(JobSpec.make(verb, project, TINY_SETTINGS), project))
        blobs.append(pickle.dumps(VERBS[verb].pack(result)))
    replay = ReplayResult([{"seed": 0}], ("qsa", "random"), (0,), (0.1,), 4, 2, "test split")
    blobs.append(pickle.dumps(replay))
    code = (
        "import pickle, sys\n"
        "results = [pickle.loads(b) for b in pickle.load(sys.stdin.buffer)]\n"
        "print([type(r).__name__ for r in results], sorted(m for m in sys.modules if m.startswith('torch')))"
    )
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, input=pickle.dumps(blobs), capture_output=True, check=True)
    assert out.stdout.decode().strip() == "['RetrainResult', 'SuggestResult', 'ReplayResult'] []"


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="Unix niceness")
def test_the_worker_runs_below_the_gui_priority(pool):
    """The window's repaints (and the display server's) must win the CPU over a training step."""
    from qsa_gui.core.runtime import WORKER_NICENESS

    worker = pool.prestart()
    assert worker.wait_ready(120)
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, mine + WORKER_NICENESS)
