"""Incremental network quantization (INQ, Zhou et al. 2017): levels, exact rounding, schedule.

Weights of convolutions, transposed convolutions and linear layers are quantized to
``{0} U {+-2^n : n2 <= n <= n1}`` with ``n1 = floor(log2(4 max|W| / 3))`` and
``n2 = n1 + 1 - 2^(b-1)/2`` (b bits, one code for zero): 65 levels at 7 bits, 17 at 5 bits.
Activations, biases and normalisation layers stay float.

Rounding is computed *exactly* from the float's mantissa and exponent (``frexp``), never through
``log2`` of a rounded ``4|w|/3``, so values sitting exactly on a decision boundary (or one ulp
beside it) land on the same level as the paper's literal comparison rule
(:func:`quantize_literal`), in float32 and float64 alike. The packed file format that stores
the codes lives in :mod:`qsa_gui.core.quant.modelfile`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .bits import MAX_BITS, MIN_BITS, check_bits

__all__ = [
    "MIN_BITS",
    "MAX_BITS",
    "check_bits",
    "INQController",
    "inq_exponents",
    "inq_levels",
    "quantize_literal",
    "quantize_tensor",
    "quantizable_parameters",
]

QUANTIZABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


# --------------------------------------------------------------------------------------------
# Levels and rounding
# --------------------------------------------------------------------------------------------


def _check_bits(bits: int) -> int:
    checked = check_bits(bits)
    assert checked is not None
    return checked


def _powers_per_sign(bits: int) -> int:
    """K = 2^(b-1)/2 exponents per sign: with zero that is 2K + 1 <= 2^b codes."""
    return 2 ** (bits - 2)


def _floor_log2_four_thirds(s: float) -> int:
    """Exact ``floor(log2(4 s / 3))`` for finite ``s > 0``: the largest n with 3*2^(n-2) <= s.

    ``frexp`` gives s = m * 2^E with m in [0.5, 1); s >= 0.75 * 2^E iff m >= 0.75, and in that
    case s < 2^E < 1.5 * 2^E, so n = E; otherwise s >= 0.5 * 2^E >= 0.375 * 2^E, so n = E - 1.
    No rounding is involved, unlike ``log2(4*s/3)`` which can round across the boundary.
    """
    m, e = math.frexp(s)
    return e if m >= 0.75 else e - 1


def inq_exponents(max_abs: float, bits: int) -> tuple[int, int]:
    """Return ``(n1, n2)`` for a layer whose largest weight magnitude is ``max_abs``.

    An all-zero layer (``max_abs == 0``) has no scale to derive levels from; its weights all
    quantize to 0 whatever the levels are, so it gets the stable arbitrary choice ``n1 = 0``
    (levels up to +-1).
    """
    bits = _check_bits(bits)
    s = float(max_abs)
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"max_abs must be finite and >= 0, got {max_abs!r}")
    n1 = 0 if s == 0 else _floor_log2_four_thirds(s)
    return n1, n1 + 1 - _powers_per_sign(bits)


def inq_levels(n1: int, n2: int) -> list[float]:
    """All quantization levels, ascending: ``-2^n1 .. -2^n2, 0, 2^n2 .. 2^n1`` (float64)."""
    if n2 > n1:
        raise ValueError(f"n2 ({n2}) must be <= n1 ({n1})")
    pos = [math.ldexp(1.0, n) for n in range(n2, n1 + 1)]
    return [-p for p in reversed(pos)] + [0.0] + pos


def quantize_literal(w: float, n1: int, n2: int) -> float:
    """The paper's rounding rule applied literally to one value (reference for the tests).

    ``w -> sign(w) * beta`` if ``(alpha + beta)/2 <= |w| < 3 beta/2`` for adjacent nonnegative
    levels ``alpha < beta`` (``alpha = 0`` below the smallest power); below ``2^(n2-1)`` -> 0;
    at or above ``3 * 2^n1 / 2`` (impossible when n1 comes from the same weights) -> 2^n1.
    Slow on purpose: a Python loop over the levels, as in the public INQ code.
    """
    if n2 > n1:
        raise ValueError(f"n2 ({n2}) must be <= n1 ({n1})")
    x = float(w)
    if not math.isfinite(x):
        raise ValueError(f"cannot quantize a non-finite weight: {w!r}")
    a = abs(x)
    nonneg = [0.0] + [math.ldexp(1.0, n) for n in range(n2, n1 + 1)]
    if a < nonneg[1] / 2:
        return 0.0
    for alpha, beta in zip(nonneg[:-1], nonneg[1:], strict=True):
        if (alpha + beta) / 2 <= a < 3 * beta / 2:
            return math.copysign(beta, x)
    return math.copysign(nonneg[-1], x)


def _level_table(n1: int, n2: int, dtype: torch.dtype, device: torch.device | str) -> Tensor:
    """Code -> value lookup: [0, +2^n2 .. +2^n1, -2^n2 .. -2^n1], exact powers of two."""
    pos = [math.ldexp(1.0, n) for n in range(n2, n1 + 1)]
    return torch.tensor([0.0] + pos + [-p for p in pos], dtype=dtype, device=device)


def _check_finite(w: Tensor) -> None:
    if not bool(torch.isfinite(w).all()):
        raise ValueError("cannot quantize a tensor containing NaN or infinity")


def _codes(w: Tensor, n1: int, n2: int) -> Tensor:
    """Vectorised codes (int64, same shape) of the literal rule for finite ``w``.

    With ``|w| = m * 2^E`` (frexp, exact): ``e = floor(log2(4|w|/3)) = E - [m < 0.75]`` and
    ``|w| >= 2^(n2-1)`` iff ``E >= n2``. The level exponent is ``clamp(e, n2, n1)`` where
    ``|w| >= 2^(n2-1)`` and the code is zero elsewhere (including w = 0, where frexp gives E = 0).
    """
    k = n1 - n2 + 1
    a = w.abs()
    mant, exp = torch.frexp(a)
    exp = exp.to(torch.int64)
    e = exp - (mant < 0.75).to(torch.int64)
    idx = e.clamp(n2, n1) - (n2 - 1)  # 1..K
    idx = idx + k * (w < 0).to(torch.int64)
    keep = (exp >= n2) & (a > 0)
    return torch.where(keep, idx, torch.zeros_like(idx))


def _resolve_exponents(w: Tensor, bits: int, n1: int | None, n2: int | None) -> tuple[int, int]:
    bits = _check_bits(bits)
    if n1 is None:
        n1 = inq_exponents(float(w.detach().abs().max()) if w.numel() else 0.0, bits)[0]
    expected_n2 = int(n1) + 1 - _powers_per_sign(bits)
    if n2 is not None and int(n2) != expected_n2:
        raise ValueError(f"n2={n2} does not match n1={n1} at {bits} bits (expected {expected_n2})")
    return int(n1), expected_n2


def quantize_tensor(w: Tensor, bits: int, n1: int | None = None, n2: int | None = None) -> Tensor:
    """Quantize a whole floating tensor at once; equal to :func:`quantize_literal` per element.

    ``n1`` defaults to the tensor's own ``floor(log2(4 max|w| / 3))``; ``n2`` follows from
    ``n1`` and ``bits`` (passing an inconsistent ``n2`` is an error). The result has ``w``'s
    dtype and device; ``w`` itself is not modified.
    """
    if not w.is_floating_point():
        raise ValueError(f"quantize_tensor needs a floating tensor, got {w.dtype}")
    w = w.detach()
    _check_finite(w)
    n1, n2 = _resolve_exponents(w, bits, n1, n2)
    table = _level_table(n1, n2, w.dtype, w.device)
    return table[_codes(w, n1, n2)]


def quantizable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The weights INQ quantizes: conv, transposed-conv and linear weights (not biases/norms).

    A parameter shared by several modules is listed once, under its first name.
    """
    out: list[tuple[str, nn.Parameter]] = []
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        if isinstance(module, QUANTIZABLE_TYPES):
            p = module.weight
            if isinstance(p, nn.Parameter) and id(p) not in seen:
                seen.add(id(p))
                out.append((f"{mod_name}.weight" if mod_name else "weight", p))
    return out


def _quantizable_state_names(model: nn.Module) -> set[str]:
    """State-dict keys of quantizable weights, tied duplicates included (each is stored)."""
    names: set[str] = set()
    for mod_name, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, QUANTIZABLE_TYPES) and isinstance(module.weight, nn.Parameter):
            names.add(f"{mod_name}.weight" if mod_name else "weight")
    return names


# --------------------------------------------------------------------------------------------
# Incremental schedule
# --------------------------------------------------------------------------------------------


class INQController:
    """Runs the INQ schedule on a model's quantizable weights, in place.

    Typical loop (the learning-rate reset at each step is the training loop's job: INQ
    retrains the still-float weights after every step starting again from the initial rate,
    e.g. by rebuilding the optimizer or its scheduler)::

        ctl = INQController(model, bits=7)
        for portion in ctl.portions:
            ctl.step(portion)                    # quantize + freeze the largest weights
            reset_learning_rate(optimizer)
            for batch in batches:                # skipped or short after the final step
                loss.backward(); ctl.mask_gradients()
                optimizer.step(); ctl.restore_frozen()

    ``n1``/``n2`` of each layer are computed once, from the float weights, at the first
    :meth:`step` (as in INQ) and kept. :meth:`restore_frozen` is needed in addition to the
    gradient mask because weight decay, momentum and Adam move a weight even when its gradient
    is zero. Masks and stored levels live on each parameter's device (CPU or CUDA).
    """

    def __init__(
        self, model: nn.Module, bits: int, portions: Iterable[float] = (0.5, 0.75, 0.875, 1.0)
    ) -> None:
        self.bits = _check_bits(bits)
        self.portions = tuple(float(p) for p in portions)
        if not self.portions:
            raise ValueError("portions must not be empty")
        prev = 0.0
        for p in self.portions:
            if not prev < p <= 1.0:
                raise ValueError(f"portions must increase strictly within (0, 1]: {self.portions}")
            prev = p
        if self.portions[-1] != 1.0:
            raise ValueError("the last portion must be 1.0 (INQ ends fully quantized)")
        self.model = model
        self._params = quantizable_parameters(model)
        self._exponents: dict[str, tuple[int, int]] = {}
        self._masks: dict[str, Tensor] = {}
        self._values: dict[str, Tensor] = {}
        self._portion = 0.0

    @property
    def exponents(self) -> dict[str, tuple[int, int]]:
        """Per-layer ``(n1, n2)``; empty until the first :meth:`step`."""
        return dict(self._exponents)

    @property
    def portion(self) -> float:
        """The last portion passed to :meth:`step` (0.0 before the first)."""
        return self._portion

    @property
    def parameter_names(self) -> list[str]:
        return [name for name, _ in self._params]

    def _state(self, name: str, p: Tensor) -> tuple[Tensor, Tensor]:
        """Mask and stored values, moved along if the model changed device since."""
        mask, values = self._masks[name], self._values[name]
        if mask.device != p.device:
            mask, values = mask.to(p.device), values.to(p.device)
            self._masks[name], self._values[name] = mask, values
        return mask, values

    @torch.no_grad()
    def step(self, portion: float) -> None:
        """Quantize and freeze, per layer, the largest-|w| unfrozen weights up to ``portion``.

        After the call at least ``ceil(portion * n)`` of each layer's ``n`` weights are frozen
        on their levels (portion 1.0: all of them). Portions may not decrease.
        """
        portion = float(portion)
        if not 0.0 < portion <= 1.0:
            raise ValueError(f"portion must be in (0, 1], got {portion}")
        if portion < self._portion:
            raise ValueError(f"portion {portion} is below the current one ({self._portion})")
        for _, p in self._params:  # check everything before touching anything
            _check_finite(p.detach())
        if not self._exponents:
            for name, p in self._params:
                s = float(p.detach().abs().max()) if p.numel() else 0.0
                self._exponents[name] = inq_exponents(s, self.bits)
                self._masks[name] = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
                self._values[name] = torch.zeros(p.shape, dtype=p.dtype, device=p.device)
        for name, p in self._params:
            n1, n2 = self._exponents[name]
            mask, values = self._state(name, p)
            n = p.numel()
            target = n if portion >= 1.0 else min(n, math.ceil(portion * n - 1e-9))
            have = int(mask.sum())
            if target <= have:
                continue
            # Rank the unfrozen weights by magnitude (frozen ones score -1, below any |w|).
            flat = p.detach().reshape(-1)
            score = flat.abs().masked_fill(mask.reshape(-1), -1.0)
            order = torch.sort(score, descending=True, stable=True).indices[: target - have]
            mask.view(-1)[order] = True
            values.view(-1)[order] = quantize_tensor(flat[order], self.bits, n1, n2)
            p.copy_(torch.where(mask, values, p))
        self._portion = portion

    @torch.no_grad()
    def mask_gradients(self) -> None:
        """Zero the gradients of frozen weights (call after ``backward()``)."""
        for name, p in self._params:
            if name in self._masks and p.grad is not None:
                mask, _ = self._state(name, p)
                p.grad.masked_fill_(mask, 0.0)

    @torch.no_grad()
    def restore_frozen(self) -> None:
        """Write the stored levels back into frozen weights (call after ``optimizer.step()``)."""
        for name, p in self._params:
            if name in self._masks:
                mask, values = self._state(name, p)
                p.copy_(torch.where(mask, values, p))

    def frozen_masks(self) -> dict[str, Tensor]:
        """Per-layer boolean masks of frozen weights (the live tensors: do not modify)."""
        return {name: self._state(name, p)[0] for name, p in self._params if name in self._masks}

    def layer_fractions(self) -> dict[str, float]:
        """Frozen fraction of each quantizable layer."""
        out = {}
        for name, p in self._params:
            frozen = int(self._masks[name].sum()) if name in self._masks else 0
            out[name] = frozen / p.numel() if p.numel() else 1.0
        return out

    def frozen_fraction(self) -> float:
        """Frozen share of all quantizable weights (1.0 for a model without any)."""
        total = sum(p.numel() for _, p in self._params)
        if total == 0:
            return 1.0
        frozen = sum(int(m.sum()) for m in self._masks.values())
        return frozen / total

    @property
    def is_fully_quantized(self) -> bool:
        """True once every quantizable weight is frozen on its level."""
        return all(name in self._masks and bool(self._masks[name].all()) for name, _ in self._params)
