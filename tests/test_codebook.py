"""DoReFa (1 bit) and TWN (ternary, 2 bits) quantizers: exact levels, schedule, packed files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from qsa_gui.core.errors import ModelFileError
from qsa_gui.core.quant import modelfile
from qsa_gui.core.quant.codebook import CodebookController, check_quantizer, levels, quantize_codebook
from qsa_gui.core.quant.modelfile import pack_state, unpack_state


def test_dorefa_levels_are_the_mean_plus_minus_the_mean_deviation():
    w = torch.tensor([0.0, 1.0, 2.0, 5.0])  # mean 2, |w - 2| = 2, 1, 0, 3 -> a = 1.5
    assert levels(w, "dorefa") == [0.5, 3.5]
    assert quantize_codebook(w, "dorefa").tolist() == [0.5, 0.5, 3.5, 3.5]  # w == mean goes up


def test_twn_levels_threshold_and_alpha():
    w = torch.tensor([-4.0, -0.5, 0.0, 0.5, 1.0, 2.0])  # mean|w| = 8/6, Delta = 0.7 * 8/6 = 0.9333
    assert levels(w, "twn") == pytest.approx([0.0, 7.0 / 3.0, -7.0 / 3.0])  # mean of 4, 1, 2
    q = quantize_codebook(w, "twn")
    a = 7.0 / 3.0
    assert q.tolist() == pytest.approx([-a, 0.0, 0.0, 0.0, a, a])
    assert levels(torch.zeros(3), "twn") == [0.0, 0.0, -0.0]
    with pytest.raises(ValueError, match="codebook"):
        levels(w, "inq")
    assert check_quantizer("twn") == "twn"
    with pytest.raises(ValueError, match="inq, dorefa, twn"):
        check_quantizer("int8")


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))


@pytest.mark.parametrize("quantizer", ["dorefa", "twn"])
def test_schedule_freezes_on_fixed_levels_and_ends_fully_quantized(quantizer):
    net = _net()
    ctl = CodebookController(net, quantizer, portions=(0.5, 1.0))
    w0 = net[0].weight.detach().clone()
    expected = quantize_codebook(w0, quantizer)
    ctl.step(0.5)
    assert 0.5 <= ctl.frozen_fraction() < 0.6 and not ctl.is_fully_quantized
    mask = ctl._masks["0.weight"]
    assert torch.equal(net[0].weight[mask], expected[mask])  # frozen on the float weights' levels
    hooks = [p.register_hook(ctl.gradient_hook(n)) for n, p in ctl.parameters]
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    assert torch.equal(net[0].weight[mask], expected[mask])  # zero gradient: Adam leaves them
    for h in hooks:
        h.remove()
    ctl.step(1.0)
    assert ctl.is_fully_quantized
    for name, p in ctl.parameters:
        assert len(torch.unique(p.detach())) <= (2 if quantizer == "dorefa" else 3), name
    with pytest.raises(ValueError):
        ctl.step(0.5)


@pytest.mark.parametrize("quantizer,bits", [("dorefa", 1), ("twn", 2)])
def test_pack_unpack_round_trip_is_bit_exact_and_small(quantizer, bits):
    net = _net(1)
    with torch.no_grad():
        for _, p in CodebookController(net, quantizer).parameters:
            p.copy_(quantize_codebook(p, quantizer))
    data = pack_state(net, 7, {"why": "test"}, quantizer=quantizer)
    assert struct.unpack_from("<H", data, 8)[0] == 2  # version 2: the codebook format
    state, meta = unpack_state(data)
    assert meta == {"why": "test"}
    for k, v in net.state_dict().items():
        assert torch.equal(state[k], v), k
    n_codes = sum(p.numel() for _, p in CodebookController(net, quantizer).parameters)
    float_data = pack_state(net, None, {})
    assert len(float_data) - len(data) > n_codes * (32 - bits) / 8 - 600  # codes, not floats
    inq = pack_state(_net(1), None, {})
    assert struct.unpack_from("<H", inq, 8)[0] == 1  # float / INQ files stay version 1
    with pytest.raises(ValueError, match="not on a"):
        pack_state(_net(2), 7, {}, quantizer=quantizer)  # off its codebook: refused


def _rewrite_header(data: bytes, change) -> bytes:
    magic, version, flags, hlen, _ = modelfile._PRELUDE.unpack_from(data, 0)
    import json

    start = modelfile._PRELUDE.size
    header = json.loads(data[start : start + hlen])
    change(header)
    hb = json.dumps(header).encode()
    return modelfile._PRELUDE.pack(magic, version, flags, len(hb), zlib.crc32(hb)) + hb + data[start + hlen :]


def test_load_refuses_corrupt_codebook_files():
    net = _net(3)
    with torch.no_grad():
        for _, p in CodebookController(net, "twn").parameters:
            p.copy_(quantize_codebook(p, "twn"))
    data = pack_state(net, 2, {}, quantizer="twn")
    flipped = bytearray(data)
    flipped[-3] ^= 0xFF
    bad = {
        "payload": bytes(flipped),
        "quantizer": _rewrite_header(data, lambda h: h.update(quantizer="int4")),
        "bits": _rewrite_header(data, lambda h: h.update(bits=5)),
        "levels": _rewrite_header(data, lambda h: h["tensors"][0].update(levels=[0.0, 1.0])),
        "nan level": _rewrite_header(data, lambda h: h["tensors"][0].update(levels=[0.0, 1.0, float("nan")])),
        "v1 with quantizer": struct.pack("<H", 1).join([data[:8], data[10:]]),
    }
    for what, blob in bad.items():
        with pytest.raises(ModelFileError):
            unpack_state(blob)
        assert what


def test_settings_quantizer_field():
    from qsa_gui.core.settings import Settings

    s = Settings(quantizer="twn")
    assert s.segmenter_config().quantizer == "twn" and s.ensemble_config().quantizer == "twn"
    assert Settings().quantizer == "inq"
    assert Settings.from_dict({"iterations": 3}).quantizer == "inq"  # old project.json
    with pytest.raises(ValueError, match="settings.quantizer must be one of inq, dorefa, twn"):
        Settings(quantizer="binary")


def test_segmenter_trains_saves_and_loads_a_ternary_model(tmp_path):
    from qsa_gui.core.jobs import run_job
    from qsa_gui.core.model.segmenter import Segmenter, train_segmenter
    from qsa_gui.core.settings import Settings

    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3)).astype(np.float32)
    lab = np.zeros((32, 32), np.int32)
    lab[8:20, 8:20] = 1
    s = Settings(
        preset="tiny", iterations=2, inq_iterations=1, batch_size=2, patch_size=32, tile=32, overlap=0
    )
    cfg = s.updated(quantizer="twn").segmenter_config()
    seg = run_job(train_segmenter([img], [lab], cfg), lambda e: None)
    for model in seg.models:
        for name, p in CodebookController(model, "twn").parameters:
            assert len(torch.unique(p.detach())) <= 3, name
    seg.save(tmp_path / "m", bits=cfg.bits, meta={})
    back = Segmenter.load(tmp_path / "m", device="cpu")
    assert back.quantizer == "twn"
    for a, b in zip(seg.models, back.models, strict=True):
        for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(v, w), k


@pytest.mark.parametrize("quantizer,most", [("dorefa", 2), ("twn", 3)])
def test_suggestive_ensemble_trains_with_the_chosen_quantizer(quantizer, most):
    """settings.quantizer reaches the ensemble's members, not only the segmentation FCN."""
    from qsa_testkit import TINY_SETTINGS

    from qsa_gui.core.active.ensemble import train_ensemble
    from qsa_gui.core.jobs import run_job

    rng = np.random.default_rng(1)
    imgs = [rng.random((32, 32, 3)).astype(np.float32) for _ in range(2)]
    labs = [np.zeros((32, 32), np.int32) for _ in range(2)]
    for lab in labs:
        lab[6:18, 10:24] = 1
    s = TINY_SETTINGS.updated(
        iterations=2,
        ensemble_iterations=2,
        inq_iterations=1,
        patch_size=32,
        tile=32,
        overlap=0,
        quantizer=quantizer,
    )
    members = run_job(train_ensemble(imgs, labs, s.ensemble_config()), lambda e: None)
    assert len(members) == 2
    for model in members:
        for name, p in CodebookController(model, quantizer).parameters:
            assert len(torch.unique(p.detach())) <= most, name
