"""The heat-map shows the quantity that ranked the suggestions, per pixel, without tile seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qsa_testkit import TINY_SETTINGS

from qsa_gui.core.active.scoring import disagreement_map, image_uncertainty
from qsa_gui.core.data.images import write_image
from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.jobs import run_job
from qsa_gui.core.model.fcn import SAFCN, predict_tiled, preset_config
from qsa_gui.core.project.store import Project
from qsa_gui.core.workflow.heatmap import (
    KIND_DISAGREEMENT,
    KIND_MODEL,
    HeatmapSource,
    heatmap_job,
    heatmap_source,
)
from qsa_gui.core.workflow.members import has_members, load_members, save_members
from qsa_gui.core.workflow.retrain import retrain_job
from qsa_gui.core.workflow.suggest import suggest_job

TINY = TINY_SETTINGS.updated(seed=2)


@pytest.fixture
def project(tmp_path):
    samples = generate_dataset(8, seed=5, size=(96, 96))
    paths = []
    for i, s in enumerate(samples):
        paths.append(tmp_path / "src" / f"g{i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        write_image(paths[-1], s.image)
    proj = Project.create(tmp_path / "proj", settings=TINY.to_dict())
    proj.import_images(paths)
    for rec, s in list(zip(proj.images, samples, strict=True))[:2]:
        proj.save_labels(rec.id, s.labels.astype(np.int32), done=True, user="test")
    yield proj
    proj.close()


def test_disagreement_map_is_the_pixelwise_std_whose_mean_is_u():
    rng = np.random.default_rng(0)
    probs = rng.random((3, 5, 7)).astype(np.float32)
    m = disagreement_map(probs)
    np.testing.assert_allclose(m, np.std(probs, axis=0), rtol=1e-6)
    assert image_uncertainty(probs) == pytest.approx(float(m.mean()), rel=1e-7)
    agree = np.repeat(probs[:1], 3, axis=0)
    assert disagreement_map(agree).max() < 1e-6  # float rounding only


def test_heatmap_mean_is_the_tables_u_of_the_latest_round(project):
    assert heatmap_source(project) is None  # no round, no model: nothing to show
    rnd = run_job(suggest_job(project, TINY)).round
    assert rnd.strategy == "qsa" and has_members(project, rnd.model_key)
    source = heatmap_source(project)
    assert source == HeatmapSource(KIND_DISAGREEMENT, rnd.model_key, rnd.index)
    assert source.title == "Ensemble disagreement"
    for image_id in rnd.image_ids[:2]:
        result = run_job(heatmap_job(project, image_id, None, TINY))
        assert result.heat.shape == project.image(image_id).shape and result.heat.dtype == np.float32
        assert result.mean == pytest.approx(rnd.scores[image_id]["uncertainty"], rel=1e-5, abs=1e-7)
        assert 0.0 <= result.heat.min() and result.heat.max() <= 0.5


def test_without_stored_members_the_model_fallback_is_named_differently(project):
    run_job(retrain_job(project, TINY))
    source = heatmap_source(project)
    assert source is not None and source.kind == KIND_MODEL and source.title == "Model unsure"
    result = run_job(heatmap_job(project, project.images[3].id, None, TINY))
    assert result.source.kind == KIND_MODEL and 0.0 <= result.heat.min() and result.heat.max() <= 1.0
    assert source.cache_key != HeatmapSource(KIND_DISAGREEMENT, source.key).cache_key


def test_members_round_trip_and_a_missing_folder_is_no_ensemble(project):
    torch.manual_seed(0)
    models = [SAFCN(preset_config("tiny")) for _ in range(2)]
    assert load_members(project, "ens-x") is None and not has_members(project, "")
    save_members(project, "ens-x", models, bits=None, tile=64, overlap=16)
    back = load_members(project, "ens-x", device="cpu")
    assert back is not None and (back.tile, back.overlap) == (64, 16) and len(back.models) == 2
    image = project.load_image(project.images[0].id)
    for a, b in zip(models, back.models, strict=True):
        np.testing.assert_allclose(predict_tiled(a, image).gland, predict_tiled(b, image).gland, atol=1e-6)
    save_members(project, "ens-x", models[:1], bits=None, tile=64, overlap=16)  # replaced whole
    assert len(load_members(project, "ens-x").models) == 1
    assert not [p for p in (project.folder / "scores").iterdir() if p.name.startswith(".")]


def test_no_step_at_tile_borders_on_a_smooth_input():
    """Tiled disagreement on a smooth ramp image: the jump across each tile border is no larger
    than the ordinary pixel-to-pixel change next to it (blended tiles, no seam)."""
    torch.manual_seed(1)
    models = [SAFCN(preset_config("tiny")) for _ in range(3)]
    size, tile, overlap = 224, 64, 16
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    image = np.stack([0.3 + 0.4 * xx, 0.2 + 0.5 * yy, 0.5 + 0.2 * (xx * yy)], axis=2)

    def heat(t: int, o: int) -> np.ndarray:
        return disagreement_map(np.stack([predict_tiled(m, image, tile=t, overlap=o).gland for m in models]))

    tiled, whole = heat(tile, overlap), heat(size, 0)
    step = np.abs(np.diff(tiled, axis=1))  # column-to-column change
    stride = tile - overlap
    starts = range(stride, size - 1, stride)
    borders = [x for x in starts] + [x + overlap - 1 for x in starts]
    inner = slice(8, size - 8)
    typical = np.percentile(np.abs(np.diff(whole, axis=1))[inner, inner], 99)
    for x in borders:
        if x + 1 < size:
            assert step[inner, x].max() <= 3 * typical + 1e-6, (x, step[inner, x].max(), typical)
    # the check can see a seam: unblended tiles (no overlap) jump at their borders
    hard = heat(tile, 0)
    jumps = np.abs(np.diff(hard, axis=1))[inner]
    assert max(jumps[:, x - 1].max() for x in range(tile, size, tile)) > 3 * typical
