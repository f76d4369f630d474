"""The jobs the shells run, on a small project of generated glands (tiny models)."""

from pathlib import Path

import numpy as np
import pytest
from qsa_testkit import TINY_SETTINGS

from qsa_gui.core.data.images import write_image, write_labels
from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.errors import Cancelled, QSAError
from qsa_gui.core.jobs import CancelToken, run_job
from qsa_gui.core.model.segmenter import is_not_worse, validation_split
from qsa_gui.core.project.store import Project
from qsa_gui.core.settings import Settings
from qsa_gui.core.workflow.predict import evaluate_job, segment_job
from qsa_gui.core.workflow.retrain import retrain_job
from qsa_gui.core.workflow.suggest import suggest_job

TINY = TINY_SETTINGS.updated(iterations=40, seed=1)


@pytest.fixture(scope="module")
def samples():
    return generate_dataset(12, seed=3, size=(128, 128))


@pytest.fixture
def project(tmp_path, samples):
    src = tmp_path / "src"
    paths, test_labels = [], {}
    for i, s in enumerate(samples):
        p = src / f"g{i:02d}.png"
        write_image(p, s.image)
        if i >= 10:
            lp = src / f"g{i:02d}_labels.tif"
            write_labels(lp, s.labels)
            test_labels[str(p)] = str(lp)
        else:
            paths.append(p)
    proj = Project.create(tmp_path / "proj", settings=TINY.to_dict())
    proj.import_images(paths)
    proj.import_images(list(test_labels), split="test", labels=test_labels)
    proj.truth = {r.id: samples[int(Path(r.name).stem[1:])].labels for r in proj.images}
    yield proj
    proj.close()


def _label(project, ids):
    for image_id in ids:
        project.save_labels(image_id, project.truth[image_id], done=True, user="test")


def test_cold_start_then_qsa_rounds_use_the_cache(project):
    first = run_job(suggest_job(project, TINY)).round
    assert first.strategy == "diverse" and len(first.image_ids) == 1  # 10% of a 10-image pool
    _label(project, [r.id for r in project.images if r.split == "pool"][:3])
    events = []
    res = run_job(suggest_job(project, TINY), events.append)
    rnd = res.round
    assert rnd.strategy == "qsa" and not res.reused_scores
    assert set(rnd.image_ids) <= set(project.unlabelled_ids())
    assert [rnd.scores[i]["rank"] for i in rnd.image_ids] == list(range(1, len(rnd.image_ids) + 1))
    assert all(rnd.scores[i]["uncertainty"] >= 0 for i in rnd.image_ids)
    assert events[-1].fraction == 1.0 and all(0 <= e.fraction <= 1 for e in events)
    assert any("suggestive" in e.stage for e in events)
    # labels unchanged -> the ensemble is not re-trained
    again = run_job(suggest_job(project, TINY))
    assert again.reused_scores and again.round.image_ids == rnd.image_ids
    assert project.image(rnd.image_ids[0]).suggestion["rank"] == 1


def test_qsa_strata_suggests_one_image_per_colour_stratum(project):
    """The strategy that stratifies by colour/texture gets the pool's appearance descriptors in
    the product's Suggest too (not only in the benchmark's simulation)."""
    from qsa_gui.core.active.scoring import appearance_descriptor
    from qsa_gui.core.active.selection import uncertain_per_stratum

    _label(project, [r.id for r in project.images if r.split == "pool"][:3])
    strata = TINY.updated(strategy="qsa_strata", k=3)
    events = []
    rnd = run_job(suggest_job(project, strata), events.append).round
    assert rnd.strategy == "qsa_strata" and len(rnd.image_ids) == 3
    assert any("colour and texture" in e.stage for e in events)
    pool = project.unlabelled_ids("pool")
    unc = {i: rnd.scores[i]["uncertainty"] for i in rnd.image_ids}
    assert list(unc.values()) == sorted(unc.values(), reverse=True)  # best first
    # the same picks as the selection rule on the same appearance descriptors
    looks = np.stack([appearance_descriptor(project.load_image(i)) for i in pool])
    cached = project.load_scores(rnd.model_key)
    order = [str(x) for x in cached["ids"]]
    u = np.asarray([cached["uncertainty"][order.index(i)] for i in pool])
    expected = uncertain_per_stratum(looks, u, 3, seed=strata.seed)  # the first round of the project
    assert rnd.image_ids == [pool[i] for i in expected]


def test_a_later_suggest_fine_tunes_the_previous_members(project, monkeypatch):
    import qsa_gui.core.workflow.suggest as suggest_mod

    inits = []
    real = suggest_mod.strategy_scores_job

    def spy(*args, init=None, **kwargs):
        inits.append(init)
        return real(*args, init=init, **kwargs)

    monkeypatch.setattr(suggest_mod, "strategy_scores_job", spy)
    pool = [r.id for r in project.images if r.split == "pool"]
    _label(project, pool[:3])
    run_job(suggest_job(project, TINY))
    stored = project.ensemble_folder(project.rounds[-1].model_key)  # the heat-map's members too
    kept = sorted(p.name for p in stored.glob("member_*.qsam"))
    assert kept == [f"member_{i}.qsam" for i in range(TINY.ensemble_size)]
    _label(project, pool[3:5])
    run_job(suggest_job(project, TINY))
    assert inits[0] is None and inits[1] is not None and len(inits[1]) == TINY.ensemble_size
    # members of another width do not fit: a cold start, not an error
    wider = TINY.updated(preset="compact", patch_size=64)
    _label(project, pool[5:6])
    run_job(suggest_job(project, wider))
    assert inits[2] is None
    (project.ensemble_folder(project.rounds[-1].model_key) / "member_0.qsam").write_bytes(b"not a model")
    _label(project, pool[6:7])
    run_job(suggest_job(project, wider))
    assert inits[3] is None  # a damaged file: trained from scratch
    _label(project, pool[7:8])
    run_job(suggest_job(project, wider.updated(ensemble_warm_start=False)))
    assert inits[4] is None  # asked for: members from scratch every round (more diverse)


def test_suggest_says_so_when_everything_is_labelled(project):
    _label(project, project.unlabelled_ids())
    with pytest.raises(QSAError, match="Every image is labelled"):
        run_job(suggest_job(project, TINY))


def test_retrain_segment_evaluate_and_regression_guard(project):
    with pytest.raises(QSAError, match="No labelled images"):
        run_job(retrain_job(project, TINY))
    _label(project, [r.id for r in project.images if r.split == "pool"][:6])
    good = run_job(retrain_job(project, TINY)).version
    assert good.accepted and project.current_model == good.version
    assert (project.folder / good.path / "member_0.qsam").is_file()
    # an untrained float model must be kept out by the guard
    bad_settings = TINY.updated(iterations=0, inq_iterations=0)
    bad_settings = Settings.from_dict({**bad_settings.to_dict(), "seg_bits": None})
    bad = run_job(retrain_job(project, bad_settings))
    assert bad.previous_metrics is not None, "the current model must be re-scored on the held-out images"
    assert bad.version.accepted is False, (bad.version.metrics, bad.previous_metrics)
    assert project.current_model == good.version
    assert "kept out" in bad.version.reason
    assert project.model(bad.version.version).accepted is False  # recorded, not current
    assert (
        is_not_worse({"object_f1": 0.5, "object_dice": 0.5}, {"object_f1": 0.6, "object_dice": 0.6}) is False
    )
    preds = run_job(segment_job(project, None, TINY))
    assert set(preds) == set(project.unlabelled_ids())
    some = next(iter(preds))
    assert np.array_equal(project.load_prediction(some), preds[some])
    metrics = run_job(evaluate_job(project, "test", TINY))
    assert set(metrics) >= {"object_f1", "object_dice", "object_hausdorff", "pixel_dice"}
    assert metrics["n_images"] == 2


def test_cancelled_retrain_leaves_model_and_labels_untouched(project):
    ids = [r.id for r in project.images if r.split == "pool"][:4]
    _label(project, ids)
    first = run_job(retrain_job(project, TINY)).version
    before = {i: project.load_labels(i).copy() for i in ids}
    models_before = sorted(p.name for p in (project.folder / "models").iterdir())
    token = CancelToken()
    seen = []

    def on(event):
        seen.append(event)
        if len(seen) == 5:
            token.cancel()

    with pytest.raises(Cancelled):
        run_job(retrain_job(project, TINY, token), on)
    assert project.current_model == first.version
    assert sorted(p.name for p in (project.folder / "models").iterdir()) == models_before
    reopened = Project.open(project.folder, read_only=True)
    assert reopened.current_model == first.version
    for i in ids:
        assert np.array_equal(reopened.load_labels(i), before[i])


def test_validation_split_is_stable_as_labels_grow():
    ids = [f"img_{i:04d}" for i in range(40)]
    _, val_small = validation_split(ids[:20])
    _, val_big = validation_split(ids)
    assert 1 <= len(val_big) <= 20
    assert set(val_small) <= set(val_big) or len(val_small) == 1
    assert validation_split(ids[:2]) == (ids[:2], [])


def test_retrain_survives_an_infinite_hausdorff(project, monkeypatch):
    """A held-out image predicted empty has an infinite Hausdorff; the model must still save."""
    import qsa_gui.core.workflow.retrain as wf

    def fake_eval(*args, **kwargs):
        yield from ()
        return {"object_f1": 0.0, "object_dice": 0.0, "object_hausdorff": float("inf"), "pixel_dice": 0.0}

    monkeypatch.setattr(wf, "evaluate_segmenter", fake_eval)
    _label(project, [r.id for r in project.images if r.split == "pool"][:5])
    v = run_job(retrain_job(project, TINY.updated(iterations=2, inq_iterations=1))).version
    assert v.metrics["object_hausdorff"] is None
    reopened = Project.open(project.folder, read_only=True)
    assert reopened.model(v.version).metrics["object_hausdorff"] is None


def test_model_folder_missing_a_member_is_refused(tmp_path):
    import torch

    from qsa_gui.core.errors import ModelFileError
    from qsa_gui.core.model.fcn import PRESETS, SAFCN
    from qsa_gui.core.model.segmenter import Segmenter

    torch.manual_seed(0)
    seg = Segmenter([SAFCN(PRESETS["tiny"]), SAFCN(PRESETS["tiny"])], tile=64, overlap=8)
    seg.save(tmp_path / "m", bits=None, meta={})
    assert len(Segmenter.load(tmp_path / "m").models) == 2
    (tmp_path / "m" / "member_1.qsam").unlink()
    with pytest.raises(ModelFileError, match="2 members but 1"):
        Segmenter.load(tmp_path / "m")
