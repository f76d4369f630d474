"""The loop at interactive speed: early stopping, out-of-bag judging, scaled scoring, bench_loop."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from qsa_gui.core.active import ensemble as ens_mod
from qsa_gui.core.active.ensemble import EnsembleConfig, train_ensemble
from qsa_gui.core.active.scoring import downscale, scaled_tile, score_pool
from qsa_gui.core.jobs import run_job
from qsa_gui.core.model.fcn import PRESETS, SAFCN
from qsa_gui.core.model.training import EarlyStopping, TrainConfig, train_fcn

ROOT = Path(__file__).resolve().parents[1]


def _discs(n: int, size: int = 64, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, labels = [], []
    for _ in range(n):
        lab = np.zeros((size, size), np.int32)
        for k in (1, 2):
            cy, cx = rng.integers(12, size - 12, 2)
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 < int(rng.integers(6, 11)) ** 2] = k
        img = np.where(lab[..., None] > 0, [0.5, 0.2, 0.6], [0.9, 0.7, 0.8]).astype(np.float32)
        images.append(np.clip(img + 0.05 * rng.standard_normal(img.shape).astype(np.float32), 0, 1))
        labels.append(lab)
    return images, labels


def test_early_stopping_rule_waits_for_patience_checks_without_gain():
    stop = EarlyStopping(patience=2, min_rel_gain=0.01)
    assert not stop.update(1.0)
    assert not stop.update(0.5)  # a gain resets the count
    assert not stop.update(0.499)  # under 1%: no gain, 1 of 2
    assert not stop.update(0.40)  # gain again
    assert not stop.update(0.41)
    assert stop.update(0.40)  # two checks in a row without a 1% gain
    with pytest.raises(ValueError):
        EarlyStopping(0)


def _fit(config: TrainConfig, images, labels, held_out=None):
    torch.manual_seed(0)
    model = SAFCN(PRESETS["tiny"])
    result = run_job(train_fcn(model, images, labels, config, held_out=held_out))
    return model, result


def test_training_stops_when_the_held_out_loss_plateaus_and_never_after_the_cap():
    images, labels = _discs(3)
    base = TrainConfig(iterations=60, batch_size=2, patch_size=32, lr=1e-2, device="cpu")
    # lr ~0 -> the held-out loss cannot improve: stops after the first check + patience checks
    flat = replace(base, lr=1e-9, early_stop_patience=2, early_stop_every=5)
    _, r = _fit(flat, images, labels)
    assert r.float_iterations == 15 and len(r.held_out_history) == 3
    assert r.iterations_done == 15
    # a patience that never runs out: the cap decides, and the last check is before the cap
    _, capped = _fit(replace(base, early_stop_patience=1000, early_stop_every=5), images, labels)
    assert capped.float_iterations == 60 and len(capped.held_out_history) == 11
    # off: no held-out checks at all, exactly the fixed count
    _, off = _fit(base, images, labels)
    assert off.float_iterations == 60 and off.held_out_history == []


def test_early_stopping_is_deterministic_and_keeps_inq_after_it():
    images, labels = _discs(4)
    cfg = TrainConfig(
        iterations=40, batch_size=2, patch_size=32, lr=1e-2, device="cpu", bits=5, inq_iterations=2,
        early_stop_patience=1, early_stop_every=4,
    )  # fmt: skip
    held = (images[3:], labels[3:])
    m1, r1 = _fit(cfg, images[:3], labels[:3], held)
    m2, r2 = _fit(cfg, images[:3], labels[:3], held)
    assert r1.held_out_history == r2.held_out_history and r1.float_iterations == r2.float_iterations
    assert r1.iterations_done == r1.float_iterations + 3 * 2  # the INQ steps still run
    for (name, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert all(p.is_contiguous() for p in m1.parameters())  # channels-last only while training


def test_the_held_out_patches_are_those_of_the_held_out_images():
    images, labels = _discs(4)
    cfg = TrainConfig(iterations=10, batch_size=2, patch_size=32, device="cpu", early_stop_patience=50,
                      early_stop_every=5)  # fmt: skip
    _, own = _fit(cfg, images[:2], labels[:2])
    _, other = _fit(cfg, images[:2], labels[:2], held_out=(images[2:], labels[2:]))
    assert own.loss_history == other.loss_history  # the probe does not touch the training RNG
    assert own.held_out_history != other.held_out_history


def test_each_member_is_judged_on_its_out_of_bag_images(monkeypatch):
    images, labels = _discs(5)
    seen = []
    real = ens_mod.train_quantized

    def spy(model, imgs, labs, config, quantizer="inq", cancel=None, held_out=None):
        seen.append(({id(x) for x in imgs}, {id(x) for x in held_out[0]}, config.early_stop_patience))
        return real(model, imgs, labs, config, quantizer, cancel, held_out)

    monkeypatch.setattr(ens_mod, "train_quantized", spy)
    config = EnsembleConfig(
        n_models=3, preset="tiny", bits=None, seed=2,
        train=TrainConfig(iterations=4, batch_size=2, patch_size=32, device="cpu", early_stop_patience=2,
                          early_stop_every=2),
    )  # fmt: skip
    run_job(train_ensemble(images, labels, config))
    all_ids = {id(x) for x in images}
    assert len(seen) == 3
    for train_ids, oob_ids, patience in seen:
        assert patience == 2
        assert not train_ids & oob_ids and train_ids | oob_ids == all_ids


def test_downscale_averages_areas_and_scaled_scoring_keeps_the_shape_of_the_scores():
    img = np.zeros((4, 6, 3), np.float32)
    img[:2, :2] = 1.0
    half = downscale(img, 0.5)
    assert half.shape == (2, 3, 3) and half[0, 0, 0] == pytest.approx(1.0) and half[1, 1, 0] == 0.0
    assert downscale(img, 1.0) is not None and downscale(img, 1.0).shape == img.shape
    with pytest.raises(ValueError):
        downscale(img, 0)
    images, labels = _discs(4, size=64)
    torch.manual_seed(0)
    models = [SAFCN(PRESETS["tiny"]).eval() for _ in range(2)]
    pool = {f"i{k}": im for k, im in enumerate(images)}
    full = run_job(score_pool(models, list(pool), pool.__getitem__, tile=64, overlap=8))
    scaled = run_job(score_pool(models, list(pool), pool.__getitem__, tile=64, overlap=8, scale=0.5))
    assert scaled.uncertainty.shape == full.uncertainty.shape == (4,)
    assert scaled.descriptors.shape == full.descriptors.shape
    assert not np.allclose(scaled.uncertainty, full.uncertainty)  # it really scored something else
    assert scaled_tile(256, 0.5) == 512 and scaled_tile(256, 1.0) == 256


@pytest.mark.slow
def test_bench_loop_quick_runs_every_stage(tmp_path):
    out = tmp_path / "loop.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_loop.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["seconds"]) == {
        "first_suggest", "label_8_more", "later_suggest", "retrain", "segment_unlabelled"
    }  # fmt: skip
    assert result["labelled_at_end"] > result["labelled_at_start"]
    assert result["segmented"] > 0 and out.with_suffix(".png").is_file()
