"""Training loop: targets, sampling, learning on synthetic discs, INQ schedule, determinism, cancel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from qsa_gui.core.errors import Cancelled
from qsa_gui.core.jobs import CancelToken, Progress, run_job
from qsa_gui.core.model.fcn import PRESETS, SAFCN, load_fcn, predict_tiled, save_fcn
from qsa_gui.core.model.training import PatchSampler, TrainConfig, TrainResult, make_targets, train_fcn
from qsa_gui.core.quant import inq


def discs(seed: int, size: int = 96, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Bright purple discs ("glands", one instance each) on noisy pink background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    lab = np.zeros((size, size), np.int32)
    for k in range(1, n + 1):
        cy, cx = rng.integers(8, size - 8, 2)
        r = rng.integers(6, 14)
        lab[((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (lab == 0)] = k
    img = rng.normal(0.3, 0.1, (size, size, 3))
    img[lab > 0] += np.array([0.35, 0.1, 0.3])
    return np.clip(img, 0, 1).astype(np.float32), lab


def _dataset(n: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    pairs = [discs(s) for s in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _fresh(seed: int = 0) -> SAFCN:
    torch.manual_seed(seed)
    return SAFCN(PRESETS["tiny"])


FAST = {"batch_size": 4, "patch_size": 48, "lr": 1e-2, "device": "cpu"}


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


def test_make_targets_marks_the_boundary_between_touching_glands() -> None:
    lab = np.zeros((20, 30), np.int32)
    lab[4:16, 3:15] = 1
    lab[4:16, 15:27] = 2  # touches object 1 along the column boundary 14|15
    gland, contour = make_targets(lab)
    assert gland.dtype == contour.dtype == np.float32
    np.testing.assert_array_equal(gland, (lab > 0).astype(np.float32))
    assert contour[6:14, 13:17].all()  # the shared edge, both sides, dilated
    assert not contour[8:12, 7:11].any() and not contour[8:12, 19:23].any()  # object interiors
    assert not contour[0:2].any() and not contour[18:].any()  # far background
    assert contour[3, 5:25].all()  # outer boundary too (dilated one pixel into background)
    # Removing the contour splits the touching pair into two components.
    _, n = ndi.label((gland > 0) & (contour == 0))
    assert n == 2
    # Nothing labelled -> nothing to learn but background.
    g0, c0 = make_targets(np.zeros((5, 7), np.int32))
    assert not g0.any() and not c0.any() and g0.shape == (5, 7)
    with pytest.raises(ValueError):
        make_targets(np.zeros((2, 3, 4), np.int32))


# ---------------------------------------------------------------------------------------------
# Config and sampler
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"iterations": -1},
        {"batch_size": 0},
        {"lr": 0.0},
        {"bits": 1},
        {"bits": 4.0},
        {"inq_portions": (0.5, 0.9)},  # must end at 1.0
        {"inq_portions": (0.75, 0.5, 1.0)},
        {"inq_portions": ()},
        {"foreground_fraction": 1.5},
    ],
)
def test_train_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_sampler_keeps_image_and_targets_aligned_under_augmentation() -> None:
    lab = np.zeros((40, 40), np.int32)
    lab[5:30, 5:12] = 1  # an asymmetric L: any misaligned flip/rotation would show
    lab[23:30, 12:25] = 1
    img = np.repeat((lab > 0).astype(np.float32)[..., None], 3, axis=2)  # white gland, black else
    sampler = PatchSampler([img], [lab], 32, np.random.default_rng(0), augment=True)
    seen_first_pixels = set()
    for _ in range(10):
        x, g, c = sampler.sample(4)
        assert x.shape == (4, 3, 32, 32) and g.shape == c.shape == (4, 1, 32, 32)
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        # Stain jitter is mild: thresholding the image recovers the (augmented) gland target.
        torch.testing.assert_close((x[:, 0:1] > 0.5).float(), g, rtol=0, atol=0)
        seen_first_pixels.update(int(m) for m in g.flatten(1).argmax(1))
    assert len(seen_first_pixels) > 1  # crops and augmentation vary


def test_sampler_prefers_glands_and_pads_small_images() -> None:
    lab = np.zeros((100, 100), np.int32)
    lab[80:90, 80:90] = 1  # one small gland in a corner: uniform sampling would often miss it
    img = np.zeros((100, 100, 3), np.float32)
    sampler = PatchSampler([img], [lab], 32, np.random.default_rng(1), foreground_fraction=1.0)
    _, g, _ = sampler.sample(32)
    assert bool((g.flatten(1).sum(1) > 0).all())
    small = PatchSampler(
        [np.zeros((10, 20, 3), np.uint8)], [np.ones((10, 20), np.int32)], 32, np.random.default_rng(2)
    )
    x, g, _ = small.sample(2)
    assert x.shape == (2, 3, 32, 32) and bool((g == 1).all())  # reflect padding of labels too
    with pytest.raises(ValueError):
        PatchSampler([img], [lab[:50]], 32, np.random.default_rng(0))
    with pytest.raises(ValueError):
        PatchSampler([], [], 32, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> tuple[SAFCN, TrainResult, list[Progress]]:
    images, labels = _dataset()
    model = _fresh()
    events: list[Progress] = []
    result = run_job(
        train_fcn(model, images, labels, TrainConfig(iterations=150, seed=0, **FAST)), events.append
    )
    return model, result, events


def test_loss_decreases(trained) -> None:
    _, result, _ = trained
    hist = result.loss_history
    assert len(hist) == result.iterations_done == 150
    assert np.mean(hist[-10:]) < 0.5 * np.mean(hist[:10])
    assert result.final_loss == pytest.approx(float(np.mean(hist[-10:])))
    assert result.bits is None and result.seconds > 0


def test_tiny_model_segments_held_out_discs(trained) -> None:
    model, _, _ = trained
    assert not model.training  # handed back in eval mode
    img, lab = discs(1234)
    pred = predict_tiled(model, img, tile=64, overlap=16)
    seg, gt = pred.gland > 0.5, lab > 0
    dice = 2 * (seg & gt).sum() / (seg.sum() + gt.sum())
    assert dice > 0.85


def test_progress_events(trained) -> None:
    _, _, events = trained
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert {e.stage for e in events} == {"train"}
    with_loss = [e for e in events if "loss" in e.metrics]
    assert len(with_loss) == 150 // 5
    assert all(math.isfinite(e.metrics["loss"]) and e.metrics["lr"] > 0 for e in with_loss)


def test_same_seed_same_losses_and_weights() -> None:
    images, labels = _dataset(2)
    cfg = TrainConfig(iterations=6, seed=7, **FAST)
    runs = []
    for _ in range(2):
        model = _fresh(3)
        result = run_job(train_fcn(model, images, labels, cfg))
        runs.append((result.loss_history, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    other = run_job(train_fcn(_fresh(3), images, labels, TrainConfig(iterations=6, seed=8, **FAST)))
    assert other.loss_history != runs[0][0]


def test_cancel_stops_promptly() -> None:
    images, labels = _dataset(2)
    model = _fresh()
    forwards: list[int] = []
    model.register_forward_hook(lambda *_: forwards.append(1))
    token = CancelToken()
    seen_at_cancel: list[int] = []

    def on_progress(event: Progress) -> None:
        if event.metrics and not token.cancelled:
            token.cancel()
            seen_at_cancel.append(len(forwards))

    cfg = TrainConfig(iterations=1000, progress_every=2, **FAST)
    with pytest.raises(Cancelled):
        run_job(train_fcn(model, images, labels, cfg, cancel=token), on_progress)
    assert seen_at_cancel == [2]
    assert len(forwards) == 2  # not a single iteration after the cancel


def test_rejects_patch_size_not_multiple_of_model() -> None:
    images, labels = _dataset(1)
    with pytest.raises(ValueError, match="multiple"):
        run_job(train_fcn(_fresh(), images, labels, TrainConfig(iterations=1, patch_size=30)))


# ---------------------------------------------------------------------------------------------
# INQ
# ---------------------------------------------------------------------------------------------


def test_inq_training_ends_fully_quantized_on_grid(tmp_path, monkeypatch) -> None:
    images, labels = _dataset(2)
    model = _fresh(5)
    controllers: list[inq.INQController] = []
    kept: list[int] = []  # per INQ step: weights unchanged since the previous step's freeze
    frozen_min: list[int] = []
    snapshot: dict[str, torch.Tensor] = {}

    class Spy(inq.INQController):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            controllers.append(self)

        def step(self, portion: float) -> None:
            if snapshot:  # retraining must not move frozen weights, and must move others
                params = dict(self.model.named_parameters())
                kept.append(sum(int((params[n] == s).sum()) for n, s in snapshot.items()))
            super().step(portion)
            frozen_min.append(
                sum(math.ceil(portion * p.numel() - 1e-9) for _, p in inq.quantizable_parameters(self.model))
            )
            snapshot.clear()
            snapshot.update({n: p.detach().clone() for n, p in inq.quantizable_parameters(self.model)})

    monkeypatch.setattr(inq, "INQController", Spy)
    events: list[Progress] = []
    cfg = TrainConfig(iterations=6, bits=5, inq_iterations=3, seed=1, **FAST)
    result = run_job(train_fcn(model, images, labels, cfg), events.append)

    (ctl,) = controllers
    assert ctl.is_fully_quantized and ctl.frozen_fraction() == 1.0
    assert result.bits == 5 and result.iterations_done == 6 + 3 * 3
    n_quant = sum(p.numel() for _, p in inq.quantizable_parameters(model))
    for k, n in enumerate(kept):  # after steps 0.5, 0.75, 0.875
        assert frozen_min[k] <= n < n_quant
    for name, p in inq.quantizable_parameters(model):
        w = p.detach()
        n1 = int(math.log2(float(w.abs().max())))
        levels = torch.tensor(inq.inq_levels(n1, n1 + 1 - 2 ** (5 - 2)), dtype=w.dtype)
        assert torch.isin(w, levels).all(), name
        assert len(levels) == 2 * 2 ** (5 - 2) + 1 == 17
    stages = [e.stage for e in events]
    assert stages.index("train") < stages.index("inq 50%") < stages.index("inq 75%")
    assert stages.index("inq 75%") < stages.index("inq 87.5%") < stages.index("inq 100%")
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # The result is storable as packed 5-bit codes and loads back bit-exactly.
    path = tmp_path / "q.qsam"
    save_fcn(path, model, bits=5, meta={})
    loaded, _ = load_fcn(path, device="cpu")
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_rejects_batchnorm_batches_with_one_value_per_channel() -> None:
    images, labels = _dataset(1)
    cfg = TrainConfig(iterations=1, batch_size=1, patch_size=4, device="cpu")  # tiny: 1x1 at the bottom
    with pytest.raises(ValueError, match="BatchNorm"):
        run_job(train_fcn(_fresh(), images, labels, cfg))
