"""INQ levels, exact rounding, the incremental schedule and the safe packed model format."""

from __future__ import annotations

import json
import math
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from qsa_gui.core.errors import ModelFileError
from qsa_gui.core.quant import modelfile
from qsa_gui.core.quant.inq import (
    INQController,
    inq_exponents,
    inq_levels,
    quantizable_parameters,
    quantize_literal,
    quantize_tensor,
)
from qsa_gui.core.quant.modelfile import load_model_state, pack_state, save_model, size_report, unpack_state

ALL_BITS = range(2, 9)


def small_net(seed: int = 0) -> nn.Sequential:
    """A tiny conv net with every kind of tensor the format must handle."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 2, stride=2),
        nn.GroupNorm(2, 8),
        nn.Conv2d(8, 2, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 3),
    )


def realistic_net(seed: int = 0) -> nn.Sequential:
    """~1M-parameter FCN-like net (3x3 convs + BN, a transposed conv, 1x1 head with bias)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    widths = [3, 64, 128, 256, 256]
    for cin, cout in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers += [nn.ConvTranspose2d(256, 64, 2, stride=2), nn.ReLU(), nn.Conv2d(64, 2, 1)]
    return nn.Sequential(*layers)


def warm_bn(model: nn.Module, seed: int = 1) -> None:
    """Give BN running statistics non-trivial values (and num_batches_tracked > 0)."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 3, 8, 8, generator=g))


def fully_quantized(model: nn.Module, bits: int) -> INQController:
    ctl = INQController(model, bits)
    ctl.step(1.0)
    return ctl


def lit(values: np.ndarray, n1: int, n2: int) -> np.ndarray:
    return np.array([quantize_literal(float(v), n1, n2) for v in values], dtype=np.float64)


# ------------------------------------------------------------------------------------------
# Levels and exponents
# ------------------------------------------------------------------------------------------


def test_level_counts_match_the_paper() -> None:
    assert len(inq_levels(*inq_exponents(0.3, 7))) == 65
    assert len(inq_levels(*inq_exponents(0.3, 5))) == 17
    for b in ALL_BITS:
        n1, n2 = inq_exponents(0.3, b)
        levels = inq_levels(n1, n2)
        assert len(levels) == 2 ** (b - 1) + 1 <= 2**b  # fits a b-bit code
        assert levels == sorted(levels) and 0.0 in levels
    assert inq_levels(*inq_exponents(1.0, 2)) == [-1.0, 0.0, 1.0]  # n2 == n1 at 2 bits


@pytest.mark.parametrize("bits, n_levels", [(7, 65), (5, 17), (3, 5)])
def test_quantize_tensor_produces_exactly_the_level_set(bits: int, n_levels: int) -> None:
    n1, n2 = inq_exponents(0.5, bits)
    mags = np.geomspace(2.0 ** (n2 - 3), 3 * 2.0 ** (n1 - 1) * 0.999, 20000)
    w = torch.tensor(np.concatenate([mags, -mags, [0.0]]), dtype=torch.float32)
    out = quantize_tensor(w, bits, n1)
    got = sorted(set(out.tolist()))
    assert len(got) == n_levels
    assert got == inq_levels(n1, n2)


def test_inq_exponents_definition_and_exact_boundaries() -> None:
    assert inq_exponents(1.0, 7) == (0, -31)  # floor(log2(4/3)) = 0
    assert inq_exponents(0.1, 5) == (-3, -10)  # floor(log2(0.1333)) = -3
    assert inq_exponents(0.1, 2) == (-3, -3)
    for k in range(-30, 10):
        s = 0.75 * 2.0**k  # 4s/3 == 2^k exactly
        assert inq_exponents(s, 7)[0] == k
        assert inq_exponents(float(np.nextafter(s, 0.0)), 7)[0] == k - 1
        s32 = np.float32(s)
        assert inq_exponents(float(np.nextafter(s32, np.float32(0))), 7)[0] == k - 1
        assert inq_exponents(float(np.nextafter(s32, np.float32(1e9))), 7)[0] == k
    rng = np.random.default_rng(0)
    for s in 10.0 ** rng.uniform(-6, 3, 500):
        ref = math.log2(4 * s / 3)
        if abs(ref - round(ref)) > 1e-9:
            assert inq_exponents(s, 6)[0] == math.floor(ref)


def test_inq_exponents_degenerate_and_invalid() -> None:
    n1, n2 = inq_exponents(0.0, 7)
    assert (n1, n2) == (0, -31)
    assert torch.equal(quantize_tensor(torch.zeros(5), 7), torch.zeros(5))
    for bad_bits in (1, 9, 0, True, 7.0, "7"):
        with pytest.raises(ValueError):
            inq_exponents(1.0, bad_bits)  # type: ignore[arg-type]
    for bad_s in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            inq_exponents(bad_s, 7)


# ------------------------------------------------------------------------------------------
# Rounding: literal rule == vectorised rule
# ------------------------------------------------------------------------------------------


def test_literal_rule_hand_cases() -> None:
    n1, n2 = 0, -1  # 3 bits at n1 = 0: levels {0, +-0.5, +-1}
    assert inq_exponents(1.0, 3) == (n1, n2)
    cases = {
        0.0: 0.0,
        0.2499: 0.0,
        0.25: 0.5,  # 2^(n2-1): lower edge of the smallest level, inclusive
        0.7499: 0.5,
        0.75: 1.0,  # (0.5 + 1) / 2: inclusive
        1.4999: 1.0,
        1.5: 1.0,  # 3 * 2^n1 / 2 and above: clamped
        100.0: 1.0,
        -0.75: -1.0,
        -0.3: -0.5,
        -0.2: 0.0,
    }
    for w, q in cases.items():
        assert quantize_literal(w, n1, n2) == q, w
    w = torch.tensor(list(cases), dtype=torch.float32)
    assert quantize_tensor(w, 3, n1).tolist() == list(cases.values())


def _boundary_values(n1: int, n2: int, dtype: np.dtype) -> np.ndarray:
    base = [0.0, 2.0 ** (n2 - 1), 3 * 2.0 ** (n1 - 1), 2.0 ** (n1 + 3), 2.0 ** (n2 - 4)]
    for n in range(n2, n1 + 2):
        base += [2.0**n, 3 * 2.0 ** (n - 2)]  # levels and every (alpha + beta) / 2
    vals = np.array(base, dtype=dtype)
    up = np.nextafter(vals, np.array(np.inf, dtype=dtype))
    down = np.nextafter(vals, np.array(0.0, dtype=dtype))
    allv = np.concatenate([vals, up, down])
    return np.concatenate([allv, -allv, np.array([-0.0], dtype=dtype)])


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorised_equals_literal_on_every_boundary(bits: int, dtype: type) -> None:
    for n1 in (-7, 0, 3):
        n2 = n1 + 1 - 2 ** (bits - 2)
        vals = _boundary_values(n1, n2, np.dtype(dtype))
        ref = lit(vals, n1, n2).astype(dtype)
        got = quantize_tensor(torch.from_numpy(vals), bits, n1, n2).numpy()
        assert got.dtype == dtype
        bad = np.flatnonzero(got != ref)
        assert bad.size == 0, [(vals[i], got[i], ref[i]) for i in bad[:5]]


@pytest.mark.parametrize("bits", ALL_BITS)
def test_vectorised_equals_literal_on_random_values(bits: int) -> None:
    rng = np.random.default_rng(bits)
    for dtype in (np.float32, np.float64):
        w = (rng.standard_normal(1500) * 0.05 * 10 ** rng.uniform(-3, 0.3, 1500)).astype(dtype)
        n1 = inq_exponents(float(np.abs(w).max()), bits)[0] - 1  # some values above the clamp
        n2 = n1 + 1 - 2 ** (bits - 2)
        got = quantize_tensor(torch.from_numpy(w), bits, n1).numpy()
        np.testing.assert_array_equal(got, lit(w, n1, n2).astype(dtype))
        # default n1 from the tensor itself: nothing is clamped, max maps to 2^n1
        own = quantize_tensor(torch.from_numpy(w), bits)
        n1o, n2o = inq_exponents(float(np.abs(w).max()), bits)
        np.testing.assert_array_equal(own.numpy(), lit(w, n1o, n2o).astype(dtype))
        assert float(own.abs().max()) == 2.0**n1o


def test_quantize_tensor_validation_and_no_side_effects() -> None:
    w = torch.randn(4, 5)
    before = w.clone()
    q = quantize_tensor(w, 6)
    assert torch.equal(w, before) and q.shape == w.shape and q.dtype == w.dtype
    with pytest.raises(ValueError):
        quantize_tensor(torch.tensor([1.0, float("nan")]), 6)
    with pytest.raises(ValueError):
        quantize_tensor(w, 6, n1=0, n2=0)  # inconsistent with 6 bits
    with pytest.raises(ValueError):
        quantize_tensor(torch.arange(4), 6)
    assert torch.equal(quantize_tensor(w, 6, 0, -15), quantize_tensor(w, 6, 0))


def test_quantizable_parameters_are_conv_deconv_linear_weights_only() -> None:
    model = small_net()
    names = [n for n, _ in quantizable_parameters(model)]
    assert names == ["0.weight", "3.weight", "5.weight", "7.weight", "10.weight"]
    tied = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    tied[2].weight = tied[0].weight
    assert [n for n, _ in quantizable_parameters(tied)] == ["0.weight"]


# ------------------------------------------------------------------------------------------
# INQ schedule
# ------------------------------------------------------------------------------------------


def _on_grid(w: torch.Tensor, bits: int, n1: int) -> bool:
    return torch.equal(quantize_tensor(w, bits, n1), w)


def test_schedule_freezes_largest_weights_up_to_each_portion() -> None:
    model = small_net()
    bits = 5
    ctl = INQController(model, bits)
    assert ctl.frozen_fraction() == 0.0 and not ctl.is_fully_quantized and ctl.exponents == {}
    params = dict(quantizable_parameters(model))
    float_max = {n: float(p.detach().abs().max()) for n, p in params.items()}
    g = torch.Generator().manual_seed(3)
    first_exponents = None
    prev_masks = {n: torch.zeros_like(p, dtype=torch.bool) for n, p in params.items()}
    for portion in ctl.portions:
        before = {n: p.detach().clone() for n, p in params.items()}
        ctl.step(portion)
        if first_exponents is None:
            first_exponents = ctl.exponents
            assert first_exponents == {n: inq_exponents(s, bits) for n, s in float_max.items()}
        assert ctl.exponents == first_exponents  # computed once, kept
        fractions = ctl.layer_fractions()
        for name, p in params.items():
            n = p.numel()
            assert portion <= fractions[name] <= portion + 1.0 / n + 1e-12
            mask = ctl.frozen_masks()[name]
            n1, _ = first_exponents[name]
            assert _on_grid(p.detach()[mask], bits, n1)
            assert torch.equal(p.detach()[~mask], before[name][~mask])  # the rest untouched
            new = mask & ~prev_masks[name]
            if (~mask).any():
                assert before[name][new].abs().min() >= before[name][~mask].abs().max()
            # values written are the rounding of the pre-step weights
            assert torch.equal(p.detach()[new], quantize_tensor(before[name][new], bits, n1))
            prev_masks[name] = mask.clone()
        # "retrain" the free weights a little (can push them past the float max: clamped later)
        with torch.no_grad():
            for p in params.values():
                p.add_(torch.randn(p.shape, generator=g) * 0.2)
        ctl.restore_frozen()
    assert ctl.is_fully_quantized and ctl.frozen_fraction() == 1.0
    for name, p in params.items():
        assert _on_grid(p.detach(), bits, first_exponents[name][0])
        assert len(set(p.detach().reshape(-1).tolist())) <= 17


def test_step_argument_validation() -> None:
    model = small_net()
    for bad in ((), (0.5, 0.4, 1.0), (0.5, 0.9), (0.0, 1.0), (0.5, 1.5)):
        with pytest.raises(ValueError):
            INQController(model, 7, bad)
    ctl = INQController(model, 7)
    ctl.step(0.75)
    with pytest.raises(ValueError):
        ctl.step(0.5)
    with pytest.raises(ValueError):
        ctl.step(0.0)
    frac = ctl.frozen_fraction()
    ctl.step(0.75)  # same portion again: nothing changes
    assert ctl.frozen_fraction() == frac


def test_step_with_non_finite_weights_changes_nothing() -> None:
    model = small_net()
    with torch.no_grad():
        model[10].weight[0, 0] = float("nan")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctl = INQController(model, 7)
    with pytest.raises(ValueError):
        ctl.step(0.5)
    assert ctl.exponents == {} and ctl.frozen_fraction() == 0.0
    for k, v in model.state_dict().items():
        assert torch.equal(v.nan_to_num(), before[k].nan_to_num()), k


def _train_steps(model: nn.Module, ctl: INQController, opt: torch.optim.Optimizer, n: int) -> None:
    g = torch.Generator().manual_seed(5)
    model.train()
    for _ in range(n):
        x = torch.randn(4, 3, 8, 8, generator=g)
        loss = model(x).pow(2).mean() + model(x).sum() * 1e-3
        opt.zero_grad()
        loss.backward()
        ctl.mask_gradients()
        opt.step()
        ctl.restore_frozen()


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2),
        lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=1e-1),
    ],
    ids=["sgd-momentum-wd", "adam-wd", "adamw"],
)
def test_frozen_weights_stay_bit_identical_through_optimizer_steps(make_opt) -> None:
    model = small_net()
    ctl = INQController(model, 7)
    opt = make_opt(model.parameters())
    _train_steps(model, ctl, opt, 2)  # build momentum / Adam state while still float
    ctl.step(0.5)
    params = dict(quantizable_parameters(model))
    snap = {n: p.detach().clone() for n, p in params.items()}
    _train_steps(model, ctl, opt, 4)
    for name, p in params.items():
        mask = ctl.frozen_masks()[name]
        assert torch.equal(p.detach()[mask], snap[name][mask])
        assert p.grad is not None and not p.grad[mask].any()
        changed = (p.detach()[~mask] != snap[name][~mask]).float().mean()
        assert changed > 0.9, name
    # without restore_frozen the optimizer state alone moves frozen weights (test is meaningful)
    p0 = params["0.weight"]
    masks = ctl.frozen_masks()
    before = p0.detach().clone()
    g = torch.Generator().manual_seed(9)
    opt.zero_grad()
    model(torch.randn(2, 3, 8, 8, generator=g)).sum().backward()
    ctl.mask_gradients()
    opt.step()
    assert not torch.equal(p0.detach()[masks["0.weight"]], before[masks["0.weight"]])
    ctl.restore_frozen()
    assert torch.equal(p0.detach()[masks["0.weight"]], before[masks["0.weight"]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_controller_and_rounding_on_cuda() -> None:
    model = small_net().cuda()
    ctl = INQController(model, 7)
    ctl.step(0.5)
    assert all(m.device.type == "cuda" for m in ctl.frozen_masks().values())
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-2)
    p = model[0].weight
    snap = p.detach().clone()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    model(x).sum().backward()
    ctl.mask_gradients()
    opt.step()
    ctl.restore_frozen()
    m = ctl.frozen_masks()["0.weight"]
    assert torch.equal(p.detach()[m], snap[m])
    w = torch.randn(10000, device="cuda") * 0.1
    assert torch.equal(quantize_tensor(w, 6).cpu(), quantize_tensor(w.cpu(), 6))
    ctl.step(1.0)
    state, _ = unpack_state(pack_state(model, 7, {}))
    for k, v in model.state_dict().items():
        assert torch.equal(state[k], v.cpu())


# ------------------------------------------------------------------------------------------
# Packed format
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8])
def test_packed_round_trip_is_bit_exact(bits: int, tmp_path: Path) -> None:
    model = small_net(seed=bits)
    warm_bn(model)
    ctl = fully_quantized(model, bits)
    meta = {"config": {"width": 8}, "round": 2, "name": "größe"}
    path = tmp_path / "m.qsa"
    n = save_model(path, model, bits=bits, meta=meta)
    assert n == path.stat().st_size
    state, meta2 = load_model_state(path)
    assert meta2 == meta
    ref = model.state_dict()
    assert list(state) == list(ref)
    for k, v in ref.items():
        assert state[k].dtype == v.dtype and state[k].shape == v.shape, k
        assert torch.equal(state[k], v), k
    fresh = small_net(seed=99)
    fresh.load_state_dict(state)
    x = torch.randn(1, 3, 8, 8)
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))
    # the payload really is b bits per quantized weight
    q_elems = sum(p.numel() for _, p in quantizable_parameters(model))
    qnames = {name for name, _ in quantizable_parameters(model)}
    raw_bytes = sum(v.numel() * v.element_size() for k, v in ref.items() if k not in qnames)
    packed = sum(math.ceil(p.numel() * bits / 8) for _, p in quantizable_parameters(model))
    header_len = struct.unpack_from("<I", path.read_bytes(), 12)[0]
    assert n == 20 + header_len + packed + raw_bytes
    assert packed <= math.ceil(q_elems * bits / 8) + len(quantizable_parameters(model))
    assert ctl.is_fully_quantized


def test_float_round_trip_and_bits_none(tmp_path: Path) -> None:
    model = small_net()
    warm_bn(model)
    path = tmp_path / "f.qsa"
    n = save_model(path, model, bits=None, meta={"kind": "float"})
    state, meta = load_model_state(path)
    assert meta == {"kind": "float"}
    for k, v in model.state_dict().items():
        assert torch.equal(state[k], v) and state[k].dtype == v.dtype
    assert n == len(pack_state(model, None, {"kind": "float"}))


def test_save_refuses_weights_off_the_grid(tmp_path: Path) -> None:
    model = small_net()
    path = tmp_path / "m.qsa"
    with pytest.raises(ValueError, match="grid"):
        save_model(path, model, bits=7, meta={})
    assert not path.exists()
    ctl = INQController(model, 7)
    ctl.step(0.875)  # partially quantized is still not savable
    with pytest.raises(ValueError):
        pack_state(model, 7, {})
    ctl.step(1.0)
    pack_state(model, 7, {})
    with pytest.raises(ValueError):
        pack_state(model, 7, {"bad": object()})  # meta must be JSON


def test_bit_width_compatibility_when_saving() -> None:
    five = small_net()
    fully_quantized(five, 5)
    state, _ = unpack_state(pack_state(five, 7, {}))  # a 5-bit grid fits a 7-bit window
    assert all(torch.equal(state[k], v) for k, v in five.state_dict().items())
    seven = small_net()
    fully_quantized(seven, 7)
    with pytest.raises(ValueError):
        pack_state(seven, 2, {})  # 7-bit exponents span more than one 2-bit power


@pytest.mark.parametrize("bits, minimum", [(7, 4.5), (5, 6.2)])
def test_size_ratio_on_a_realistic_model_counts_everything(bits: int, minimum: float) -> None:
    model = realistic_net()
    report_float = size_report(model, bits)  # works before quantization (estimate on a copy)
    fully_quantized(model, bits)
    report = size_report(model, bits)
    assert report == report_float
    data = pack_state(model, bits, {})
    assert report["packed_bytes"] == len(data)
    assert report["float32_bytes"] == len(pack_state(model, None, {}))
    n_q = sum(p.numel() for _, p in quantizable_parameters(model))
    n_all = sum(v.numel() for v in model.state_dict().values())
    assert report["quantized_params"] == n_q and report["other_params"] == n_all - n_q
    assert report["other_params"] > 1000  # BN and biases are really there and counted
    assert report["packed_bytes"] > n_q * bits / 8 + report["other_params"] * 4
    print(f"\n{bits}-bit ratio on {n_all} params: {report['ratio']:.3f}")
    assert report["ratio"] >= minimum
    assert report["ratio"] < 32 / bits
    assert size_report(model, None)["ratio"] == 1.0


# ------------------------------------------------------------------------------------------
# Refusing unsafe or broken files
# ------------------------------------------------------------------------------------------


class _Exploit:
    """Unpickling this creates a marker file (stands for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_crafted_pickle_is_refused_without_executing(tmp_path: Path) -> None:
    # the payload is live: unpickling it does run code
    live = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Exploit(live))).close()
    assert live.exists()
    marker = tmp_path / "pwned"
    for proto in (0, 2, 4, 5):
        bad = tmp_path / f"evil{proto}.qsa"
        bad.write_bytes(pickle.dumps(_Exploit(marker), protocol=proto))
        with pytest.raises(ModelFileError) as err:
            load_model_state(bad)
        assert err.value.path == bad
        assert not marker.exists()
    assert "pickle" in err.value.reason


def test_torch_save_files_are_refused(tmp_path: Path) -> None:
    model = small_net()
    for zipped in (True, False):
        path = tmp_path / f"t{zipped}.pt"
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=zipped)
        with pytest.raises(ModelFileError, match="pickle"):
            load_model_state(path)


def test_unknown_missing_and_truncated_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model_state(tmp_path / "missing.qsa")
    for junk in (b"", b"hello world", b"\x89PNG\r\n\x1a\n" + bytes(40)):
        with pytest.raises(ModelFileError):
            unpack_state(junk, "junk")
    model = small_net()
    warm_bn(model)
    fully_quantized(model, 6)
    data = pack_state(model, 6, {"a": 1})
    cuts = sorted(
        {0, 1, 7, 8, 12, 19, 20, 21, 60, len(data) // 2, len(data) - 1} | set(range(20, len(data), 97))
    )
    for cut in cuts:
        path = tmp_path / f"cut{cut}.qsa"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError) as err:
            load_model_state(path)
        assert str(path) in str(err.value)
    with pytest.raises(ModelFileError, match="trailing"):
        unpack_state(data + b"\0")
    rng = np.random.default_rng(0)
    for pos in rng.integers(8, len(data), 40):  # any single flipped bit is caught
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ModelFileError):
            unpack_state(bytes(flipped))


def _container(header: dict, payload: bytes, version: int = 1) -> bytes:
    """A well-checksummed container with arbitrary (possibly hostile) content."""
    h = json.dumps(header).encode()
    return struct.pack("<8sHHII", modelfile.MAGIC, version, 0, len(h), zlib.crc32(h)) + h + payload


def _hdr(tensors: list, payload: bytes, bits: int | None = 3) -> dict:
    return {
        "format": "qsa-inq-model",
        "bits": bits,
        "payload_bytes": len(payload),
        "payload_crc32": zlib.crc32(payload),
        "tensors": tensors,
        "meta": {},
    }


def test_hostile_but_checksummed_headers_are_refused() -> None:
    good_payload = bytes([0b00000001, 0b01000110])  # 3-bit codes 000 000 010 100 011 + pad
    ok = _container(
        _hdr([{"name": "w", "shape": [5], "dtype": "float32", "n1": 0}], good_payload), good_payload
    )
    state, _ = unpack_state(ok)
    assert state["w"].tolist() == [0.0, 0.0, 1.0, -1.0, -0.5]  # n1=0, n2=-1, K=2
    bad_code = bytes([0b11100000, 0])  # code 7 > 2K = 4
    cases = [
        _container(_hdr([{"name": "w", "shape": [5], "dtype": "float32", "n1": 0}], bad_code), bad_code),
        _container(
            _hdr([{"name": "w", "shape": [10**9], "dtype": "float32", "n1": 0}], good_payload), good_payload
        ),
        _container(
            _hdr([{"name": "w", "shape": [-5], "dtype": "float32", "n1": 0}], good_payload), good_payload
        ),
        _container(
            _hdr([{"name": "w", "shape": [5], "dtype": "float32", "n1": 10**6}], good_payload), good_payload
        ),
        _container(
            _hdr([{"name": "w", "shape": [5], "dtype": "object", "n1": 0}], good_payload), good_payload
        ),
        _container(
            _hdr([{"name": "w", "shape": [5], "dtype": "float32", "n1": 0}], good_payload, None), good_payload
        ),
        _container(
            _hdr([{"name": "w", "shape": [4], "dtype": "float32", "n1": 0}], good_payload, 9), good_payload
        ),
        _container(_hdr([{"name": "w", "shape": [1], "dtype": "int8"}] * 2, b"\0\0", None), b"\0\0"),
        _container(_hdr([{"name": "w", "shape": [1], "dtype": "int8"}], b"\0\0", None), b"\0\0"),
        _container(
            _hdr([{"name": "w", "shape": [5], "dtype": "float32", "n1": 0}], good_payload), good_payload, 2
        ),
        _container({"format": "other"}, b""),
        _container([1, 2, 3], b""),  # type: ignore[arg-type]
    ]
    for i, data in enumerate(cases):
        with pytest.raises(ModelFileError):
            unpack_state(data, f"case{i}")


def test_pack_codes_round_trip_any_length() -> None:
    rng = np.random.default_rng(1)
    for bits in ALL_BITS:
        for n in (0, 1, 7, 8, 9, 1001):
            codes = rng.integers(0, 2**bits, n).astype(np.uint8)
            packed = modelfile._pack_codes(codes, bits)
            assert len(packed) == math.ceil(n * bits / 8)
            np.testing.assert_array_equal(modelfile._unpack_codes(packed, n, bits), codes)
