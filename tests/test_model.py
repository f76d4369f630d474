"""SAFCN shape, presets, MC-dropout, tiled inference against whole-image forwards, model files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from qsa_gui.core.errors import Cancelled, ModelFileError
from qsa_gui.core.jobs import CancelToken
from qsa_gui.core.model.fcn import (
    PRESETS,
    SAFCN,
    FCNConfig,
    count_parameters,
    load_fcn,
    mc_dropout,
    pick_device,
    predict_tiled,
    save_fcn,
)


def _randomized(config: FCNConfig, seed: int = 0) -> SAFCN:
    """A model whose norm scales are perturbed so no residual block is the identity."""
    torch.manual_seed(seed)
    model = SAFCN(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


def _forward_probs(model: SAFCN, img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with torch.inference_mode():
        out = model(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None])
    return (
        torch.sigmoid(out.gland)[0, 0].numpy(),
        torch.sigmoid(out.contour)[0, 0].numpy(),
        out.descriptor[0].numpy(),
    )


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Config and presets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_round_trips_through_json(name: str) -> None:
    cfg = PRESETS[name]
    again = FCNConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert isinstance(again.stage_widths, tuple)


@pytest.mark.parametrize(
    "change",
    [
        {"stem_width": 0},
        {"stem_width": 2.5},
        {"stage_widths": []},
        {"stage_widths": [16, -1]},
        {"blocks_per_stage": [1]},  # length mismatch with stage_widths
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"norm": "instance"},
        {"bogus": 1},
        {"decoder_width": True},
    ],
)
def test_config_from_dict_rejects_bad_values(change: dict) -> None:
    d = PRESETS["tiny"].to_dict()
    d.update(change)
    with pytest.raises(ValueError):
        FCNConfig.from_dict(d)


def test_config_from_dict_rejects_missing_key_and_non_dict() -> None:
    d = PRESETS["tiny"].to_dict()
    del d["stage_widths"]
    with pytest.raises(ValueError, match="missing"):
        FCNConfig.from_dict(d)
    with pytest.raises(ValueError):
        FCNConfig.from_dict([1, 2])


def test_preset_sizes_match_their_purpose() -> None:
    tiny = count_parameters(SAFCN(PRESETS["tiny"]))
    small = count_parameters(SAFCN(PRESETS["small"]))
    paper = SAFCN(PRESETS["paper"])
    assert 1_000 <= tiny <= 50_000
    assert 100_000 <= small <= 400_000
    assert count_parameters(paper) >= 10_000_000
    assert max(PRESETS["paper"].stage_widths) == 1024
    assert paper.descriptor_dim == 1024


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------


def test_forward_shapes_and_descriptor_is_spatial_mean_of_last_encoder_map() -> None:
    model = _randomized(PRESETS["tiny"])
    assert model.size_multiple == 2 ** len(PRESETS["tiny"].stage_widths) == 4
    captured: list[torch.Tensor] = []
    model.stages[-1].register_forward_hook(lambda _m, _i, out: captured.append(out))
    x = torch.rand(2, 3, 20, 36)
    with torch.no_grad():
        out = model(x)
    assert out.gland.shape == out.contour.shape == (2, 1, 20, 36)
    assert out.descriptor.shape == (2, model.descriptor_dim) == (2, 32)
    last = captured[0]
    assert last.shape == (2, 32, 5, 9)  # two poolings
    torch.testing.assert_close(out.descriptor, last.mean(dim=(2, 3)))


def test_forward_rejects_sizes_not_multiple_of_size_multiple() -> None:
    model = SAFCN(PRESETS["tiny"])
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(1, 3, 18, 16))
    with pytest.raises(ValueError):
        model(torch.rand(1, 1, 16, 16))


def test_blocks_start_as_identity_residuals() -> None:
    """Zero-initialised last norm scale: a fresh bottleneck adds nothing to its shortcut."""
    model = SAFCN(PRESETS["tiny"])
    block = model.stages[1][0]
    x = torch.rand(1, 16, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), torch.relu(block.shortcut(x)))


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError):
            pick_device("cuda")


# ---------------------------------------------------------------------------------------------
# MC-dropout
# ---------------------------------------------------------------------------------------------


def test_mc_dropout_activates_only_dropout_and_restores_modes() -> None:
    model = _randomized(dataclasses.replace(PRESETS["tiny"], norm="batch", dropout=0.5))
    model.train()
    x = torch.rand(1, 3, 16, 16)
    with mc_dropout(model):
        for m in model.modules():
            if isinstance(m, nn.Dropout2d):
                assert m.training
            if isinstance(m, nn.BatchNorm2d):
                assert not m.training
        with torch.no_grad():
            a, b = model(x).gland, model(x).gland
        assert not torch.equal(a, b)  # dropout samples
    assert all(m.training for m in model.modules())
    model.eval()
    with mc_dropout(model):
        pass
    assert not any(m.training for m in model.modules())
    assert not model._qsa_mc_dropout


def test_predict_tiled_is_deterministic_outside_mc_dropout_and_sampled_inside() -> None:
    model = _randomized(dataclasses.replace(PRESETS["tiny"], dropout=0.5))
    model.train()  # predict_tiled must use eval mode and give the mode back
    img = _image(24, 40)
    a = predict_tiled(model, img, tile=16, overlap=8)
    b = predict_tiled(model, img, tile=16, overlap=8)
    assert model.training
    np.testing.assert_array_equal(a.gland, b.gland)
    with mc_dropout(model):
        c = predict_tiled(model, img, tile=16, overlap=8)
        d = predict_tiled(model, img, tile=16, overlap=8)
        assert any(isinstance(m, nn.Dropout2d) and m.training for m in model.modules())
    assert not np.array_equal(c.gland, d.gland)


# ---------------------------------------------------------------------------------------------
# Tiled inference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_tiled_equals_whole_image_forward_without_seams(norm: str) -> None:
    model = _randomized(dataclasses.replace(PRESETS["tiny"], norm=norm))
    img = _image(96, 160, seed=1)
    full_g, full_c, _ = _forward_probs(model, img)
    pred = predict_tiled(model, img, tile=32, overlap=16, batch_size=3)
    assert pred.gland.shape == pred.contour.shape == (96, 160)
    assert pred.gland.dtype == pred.contour.dtype == np.float32
    # Tile borders are at multiples of 16 everywhere in the interior; blending must hide them.
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(pred.gland - full_g)[inner].max() < 5e-3
    assert np.abs(pred.contour - full_c)[inner].max() < 5e-3
    # Without overlap the seams are there (so the test above does test the blending).
    hard = predict_tiled(model, img, tile=32, overlap=0)
    assert np.abs(hard.gland - full_g)[inner].max() > 5 * np.abs(pred.gland - full_g)[inner].max()


def test_tiled_odd_size_matches_forward_on_reflect_padded_image() -> None:
    model = _randomized(PRESETS["tiny"], seed=3)
    img = _image(37, 301, seed=2)
    pred = predict_tiled(model, img, tile=64, overlap=24, batch_size=2)
    assert pred.gland.shape == (37, 301)
    assert np.isfinite(pred.gland).all() and (pred.gland >= 0).all() and (pred.gland <= 1).all()
    padded = np.pad(img, ((0, 3), (0, 3), (0, 0)), mode="reflect")  # to multiples of 4
    full_g, _, _ = _forward_probs(model, padded)
    inner = (slice(0, -6), slice(0, -6))  # tiles span the full height: only reflected edges differ
    assert np.abs(pred.gland - full_g[:37, :301])[inner].max() < 5e-3


def test_single_tile_descriptor_equals_forward_on_padded_image() -> None:
    model = _randomized(PRESETS["tiny"], seed=4)
    img = _image(37, 45, seed=5)
    pred = predict_tiled(model, img, tile=256, overlap=32)
    padded = np.pad(img, ((0, 3), (0, 3), (0, 0)), mode="reflect")
    g, c, d = _forward_probs(model, padded)
    assert pred.descriptor.shape == (model.descriptor_dim,)
    assert pred.descriptor.dtype == np.float32
    np.testing.assert_allclose(pred.descriptor, d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.gland, g[:37, :45], atol=1e-6)
    np.testing.assert_allclose(pred.contour, c[:37, :45], atol=1e-6)


def test_descriptor_is_area_weighted_mean_of_tile_descriptors() -> None:
    model = _randomized(PRESETS["tiny"], seed=6)
    img = _image(20, 24, seed=7)
    # tile 16, overlap 0 -> tiles at x in {0, 16}, y in {0, 16}; valid areas 16x16, 16x8, 4x16, 4x8.
    pred = predict_tiled(model, img, tile=16, overlap=0)
    padded = np.pad(img, ((0, 12), (0, 8), (0, 0)), mode="reflect")
    total = np.zeros(model.descriptor_dim)
    for y, vh in ((0, 16), (16, 4)):
        for x, vw in ((0, 16), (16, 8)):
            _, _, d = _forward_probs(model, padded[y : y + 16, x : x + 16])
            total += d * vh * vw
    np.testing.assert_allclose(pred.descriptor, total / (20 * 24), rtol=1e-5, atol=1e-6)


def test_tiny_images_and_batch_size_invariance() -> None:
    model = _randomized(PRESETS["tiny"], seed=8)
    one = predict_tiled(model, _image(1, 1))
    assert one.gland.shape == (1, 1) and 0 <= one.gland[0, 0] <= 1
    img = _image(50, 70, seed=9)
    a = predict_tiled(model, img, tile=16, overlap=8, batch_size=1)
    b = predict_tiled(model, img, tile=16, overlap=8, batch_size=7)
    np.testing.assert_allclose(a.gland, b.gland, atol=1e-6)
    np.testing.assert_allclose(a.descriptor, b.descriptor, rtol=1e-5, atol=1e-6)


def test_predict_tiled_rejects_bad_arguments() -> None:
    model = SAFCN(PRESETS["tiny"])
    with pytest.raises(ValueError):
        predict_tiled(model, np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError):
        predict_tiled(model, _image(8, 8), tile=16, overlap=16)
    with pytest.raises(ValueError):
        predict_tiled(model, _image(8, 8), tile=2)


def test_predict_tiled_cancel_between_batches() -> None:
    model = SAFCN(PRESETS["tiny"])
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        predict_tiled(model, _image(32, 32), tile=16, overlap=0, cancel=token)
    # Cancelled during the first batch: no second batch runs.
    token = CancelToken()
    calls: list[int] = []

    def hook(_m: nn.Module, _i: object, _o: object) -> None:
        calls.append(1)
        token.cancel()

    model.register_forward_hook(hook)
    with pytest.raises(Cancelled):
        predict_tiled(model, _image(64, 64), tile=16, overlap=0, batch_size=2, cancel=token)
    assert len(calls) == 1


# ---------------------------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------------------------


def test_save_load_float_round_trip(tmp_path) -> None:
    model = _randomized(dataclasses.replace(PRESETS["tiny"], norm="batch"), seed=10)
    with torch.no_grad():  # non-trivial running statistics must survive too
        model.stem[0][1].running_mean.uniform_(-0.5, 0.5)
    path = tmp_path / "m.qsam"
    n = save_fcn(path, model, bits=None, meta={"note": "x"})
    assert n == path.stat().st_size > 0
    loaded, meta = load_fcn(path, device="cpu")
    assert meta["note"] == "x"
    assert FCNConfig.from_dict(meta["config"]) == loaded.config == model.config
    assert not loaded.training
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    torch.testing.assert_close(a.gland, b.gland, rtol=0, atol=0)
    torch.testing.assert_close(a.descriptor, b.descriptor, rtol=0, atol=0)


def test_save_load_quantized_round_trip(tmp_path) -> None:
    from qsa_gui.core.quant.inq import INQController

    model = _randomized(PRESETS["tiny"], seed=11)
    ctl = INQController(model, bits=5)
    ctl.step(1.0)
    path = tmp_path / "q.qsam"
    save_fcn(path, model, bits=5, meta={})
    loaded, meta = load_fcn(path, device="cpu")
    assert "config" in meta
    for (name, p), (_, q) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(p, q), name


def test_load_fcn_rejects_garbage_and_mismatched_config(tmp_path) -> None:
    from qsa_gui.core.quant.modelfile import save_model

    junk = tmp_path / "junk.qsam"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError):
        load_fcn(junk)
    wrong = tmp_path / "wrong.qsam"
    save_model(wrong, SAFCN(PRESETS["tiny"]), bits=None, meta={"config": PRESETS["small"].to_dict()})
    with pytest.raises(ModelFileError, match="do not fit"):
        load_fcn(wrong)
    bad = tmp_path / "bad.qsam"
    save_model(bad, SAFCN(PRESETS["tiny"]), bits=None, meta={"config": {"stem_width": -1}})
    with pytest.raises(ModelFileError, match="configuration"):
        load_fcn(bad)
    none = tmp_path / "none.qsam"
    save_model(none, SAFCN(PRESETS["tiny"]), bits=None, meta={})
    with pytest.raises(ModelFileError):
        load_fcn(none)
