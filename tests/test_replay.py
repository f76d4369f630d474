"""`qsa replay`: QSA vs random on a project's own labelled images, paired over seeds."""

from __future__ import annotations

import numpy as np
import pytest
from qsa_testkit import TINY_SETTINGS, small_image_project

from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.errors import QSAError
from qsa_gui.core.jobs import run_job
from qsa_gui.core.workflow.replay import replay_job, replay_split


def _labelled_project(tmp_path, n: int = 8, n_labelled: int = 8):
    project = small_image_project(tmp_path, n, seed=3)
    project.set_settings(
        TINY_SETTINGS.updated(iterations=2, ensemble_iterations=2, inq_iterations=1).to_dict()
    )
    truth = generate_dataset(n, seed=3, size=(24, 32))
    for record, sample in list(zip(project.images, truth, strict=True))[:n_labelled]:
        project.save_labels(record.id, sample.labels.astype(np.int32), done=True)
    return project


def test_replay_split_holds_out_a_stable_share_or_uses_the_test_split(tmp_path):
    project = _labelled_project(tmp_path)
    try:
        pool, test, where = replay_split(project)
        assert where == "held-out pool images" and test and not set(pool) & set(test)
        assert replay_split(project) == (pool, test, where)  # stable: the id hash decides
        project.set_split(pool[0], "test")
        pool2, test2, where2 = replay_split(project)
        assert where2 == "test split" and test2 == [pool[0]] and len(pool2) == 7
    finally:
        project.close()


def test_replay_refuses_too_few_labels(tmp_path):
    project = _labelled_project(tmp_path, n=6, n_labelled=3)
    try:
        with pytest.raises(QSAError, match="at least 5 labelled pool images"):
            run_job(replay_job(project, TINY_SETTINGS), lambda e: None)
    finally:
        project.close()


def test_replay_cli_prints_a_paired_table_and_writes_a_plot(tmp_path, capsys):
    from qsa_gui.cli.main import main

    project = _labelled_project(tmp_path)
    folder = project.folder
    project.close()
    args = ["replay", str(folder), "--seeds", "0", "1", "--fractions", "0.2,0.5", "-q"]
    args += ["--plot", str(tmp_path / "r.png"), "--json", str(tmp_path / "r.json")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "qsa replay: " in out and "qsa − random" in out and "wins" in out
    assert "AULC 17%–50% qsa − random" in out
    assert (tmp_path / "r.png").stat().st_size > 5_000
    import json

    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert {(r["strategy"], r["seed"]) for r in rows} == {(s, n) for s in ("qsa", "random") for n in (0, 1)}
    first = {(r["strategy"], r["seed"]): r["n_labelled"] for r in rows if r["round"] == 1}
    assert first[("qsa", 0)] == first[("random", 0)]  # the same first set for both


def test_replay_in_processes_gives_the_same_rows(tmp_path):
    """(seed, strategy) runs in spawned processes open the project read-only by folder, beside
    this process's open (locked) project, and give the rows of one after the other."""
    project = _labelled_project(tmp_path)
    try:
        settings = TINY_SETTINGS.updated(iterations=2, ensemble_iterations=2, inq_iterations=1)
        kwargs = dict(seeds=(0, 1), fractions=(0.2, 0.5))
        one = run_job(replay_job(project, settings, workers=1, **kwargs))
        two = run_job(replay_job(project, settings, workers=2, **kwargs))
        key = ("seed", "strategy", "round", "n_labelled")
        assert [tuple(r[k] for k in key) for r in one.rows] == [tuple(r[k] for k in key) for r in two.rows]
        for a, b in zip(one.rows, two.rows, strict=True):
            assert a["object_dice"] == pytest.approx(b["object_dice"], abs=0.02)
    finally:
        project.close()
