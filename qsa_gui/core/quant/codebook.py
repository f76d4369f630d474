"""The quantizers the paper did not pick, beside INQ: DoReFa-Net 1-bit and ternary weight networks.

- ``dorefa`` (Zhou et al. 2016, weights at 1 bit): the sign around the layer's mean, scaled:
  ``w -> mu + a`` if ``w >= mu`` else ``mu - a``, with ``mu = mean(W)``, ``a = mean|W - mu|``.
  Two levels per layer, a 1-bit code each.
- ``twn`` (Li et al. 2016, ternary weight networks): ``Delta = 0.7 mean|W|``; ``w -> +alpha`` if
  ``w > Delta``, ``-alpha`` if ``w < -Delta``, else 0, with ``alpha`` the mean of ``|w|`` over
  ``|w| > Delta``. Three levels, a 2-bit code each (code 3 unused).

Both are *codebook* quantizers: a layer's weights take a few values stored once in the model
file, each weight a short code (:mod:`qsa_gui.core.quant.modelfile`, format version 2). The
levels come once from the float weights, as INQ's exponents do, and the same incremental
schedule (:class:`CodebookController`, the interface of :class:`~.inq.INQController`) freezes
the weights farthest from a decision boundary first and retrains the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .bits import CODE_BITS, QUANTIZERS, TWN_THRESHOLD, check_quantizer  # noqa: F401 - re-exported
from .inq import _check_finite, quantizable_parameters


def levels(w: Tensor, quantizer: str) -> list[float]:
    """The layer's levels in code order (code i -> levels[i]), computed in float64."""
    _check_finite(w)
    x = w.detach().double().reshape(-1)
    if quantizer == "dorefa":
        if x.numel() == 0:
            return [0.0, 0.0]
        mu = float(x.mean())
        a = float((x - mu).abs().mean())
        return [mu - a, mu + a]
    if quantizer == "twn":
        mag = x.abs()
        delta = TWN_THRESHOLD * float(mag.mean()) if x.numel() else 0.0
        big = mag[mag > delta]
        alpha = float(big.mean()) if big.numel() else 0.0
        return [0.0, alpha, -alpha]
    raise ValueError(f"not a codebook quantizer: {quantizer!r} (choose dorefa or twn)")


def _boundaries(w: Tensor, quantizer: str) -> float:
    """The decision value: DoReFa's mean; TWN's threshold Delta."""
    x = w.detach().double().reshape(-1)
    if x.numel() == 0:
        return 0.0
    return float(x.mean()) if quantizer == "dorefa" else TWN_THRESHOLD * float(x.abs().mean())


def codes_for(w: Tensor, quantizer: str, boundary: float) -> Tensor:
    """Each weight's code under the rule (see the module docstring), as int64."""
    x = w.detach().double()
    if quantizer == "dorefa":
        return (x >= boundary).to(torch.int64)  # 0: mu - a, 1: mu + a
    out = torch.zeros(x.shape, dtype=torch.int64, device=x.device)
    out[x > boundary] = 1
    out[x < -boundary] = 2
    return out


def quantize_codebook(w: Tensor, quantizer: str) -> Tensor:
    """``w`` on its own levels (levels and threshold from ``w`` itself), in ``w``'s dtype."""
    table = torch.tensor(levels(w, quantizer), dtype=w.dtype, device=w.device)
    return table[codes_for(w, quantizer, _boundaries(w, quantizer))]


def _distance_to_boundary(w: Tensor, quantizer: str, boundary: float) -> Tensor:
    x = w.detach().double()
    return (x - boundary).abs() if quantizer == "dorefa" else (x.abs() - boundary).abs()


class CodebookController:
    """The incremental schedule for ``dorefa`` / ``twn``, with the INQController interface:
    ``step(portion)`` freezes, per layer, the not-yet-frozen weights farthest from the decision
    boundary on their level; ``mask_gradients`` / ``restore_frozen`` keep frozen ones put."""

    def __init__(
        self, model: nn.Module, quantizer: str, portions: Iterable[float] = (0.5, 0.75, 0.875, 1.0)
    ) -> None:
        if quantizer not in CODE_BITS:
            raise ValueError(f"not a codebook quantizer: {quantizer!r}")
        self.quantizer = quantizer
        self.bits = CODE_BITS[quantizer]
        self.portions = tuple(float(p) for p in portions)
        if (
            not self.portions
            or self.portions[-1] != 1.0
            or any(not a < b for a, b in zip((0.0, *self.portions), self.portions, strict=False))
        ):
            raise ValueError(f"portions must increase within (0, 1] and end at 1.0: {self.portions}")
        self._params = quantizable_parameters(model)
        self._table: dict[str, Tensor] = {}
        self._boundary: dict[str, float] = {}
        self._masks: dict[str, Tensor] = {}
        self._frozen: dict[str, Tensor] = {}
        self._portion = 0.0

    @property
    def parameters(self) -> list[tuple[str, nn.Parameter]]:
        return list(self._params)

    def gradient_hook(self, name: str):  # noqa: ANN201 - a torch tensor hook
        """A ``Tensor.register_hook`` function zeroing the frozen weights' gradients, for
        training loops that know nothing of the controller (Adam then leaves them put)."""

        def hook(grad: Tensor) -> Tensor:
            mask = self._masks.get(name)
            return grad if mask is None else grad.masked_fill(mask.to(grad.device), 0.0)

        return hook

    @property
    def levels(self) -> dict[str, list[float]]:
        return {name: t.tolist() for name, t in self._table.items()}

    @torch.no_grad()
    def step(self, portion: float) -> None:
        portion = float(portion)
        if not 0.0 < portion <= 1.0 or portion < self._portion:
            raise ValueError(f"portion must be in ({self._portion}, 1], got {portion}")
        for _, p in self._params:
            _check_finite(p.detach())
        if not self._table:
            for name, p in self._params:
                self._table[name] = torch.tensor(levels(p, self.quantizer), dtype=p.dtype, device=p.device)
                self._boundary[name] = _boundaries(p, self.quantizer)
                self._masks[name] = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
                self._frozen[name] = torch.zeros_like(p)
        for name, p in self._params:
            mask, n = self._masks[name], p.numel()
            target = n if portion >= 1.0 else min(n, math.ceil(portion * n - 1e-9))
            have = int(mask.sum())
            if target > have:
                score = _distance_to_boundary(p, self.quantizer, self._boundary[name]).reshape(-1)
                score = score.masked_fill(mask.reshape(-1), -1.0)
                order = torch.sort(score, descending=True, stable=True).indices[: target - have]
                mask.view(-1)[order] = True
                table = self._table[name]
                code = codes_for(p.reshape(-1)[order], self.quantizer, self._boundary[name])
                self._frozen[name].view(-1)[order] = table[code]
        self._portion = portion
        self.restore_frozen()

    @torch.no_grad()
    def mask_gradients(self) -> None:
        """Zero the gradients of frozen weights (after ``backward()``)."""
        for name, p in self._params:
            if name in self._masks and p.grad is not None:
                p.grad.masked_fill_(self._masks[name].to(p.grad.device), 0.0)

    @torch.no_grad()
    def restore_frozen(self) -> None:
        """Frozen weights back on the levels they froze on (after ``optimizer.step()``)."""
        for name, p in self._params:
            if name in self._masks:
                mask, values = self._masks[name].to(p.device), self._frozen[name].to(p.device)
                p.copy_(torch.where(mask, values, p))

    def frozen_fraction(self) -> float:
        total = sum(p.numel() for _, p in self._params)
        frozen = sum(int(m.sum()) for m in self._masks.values())
        return 1.0 if total == 0 else frozen / total

    @property
    def is_fully_quantized(self) -> bool:
        return all(name in self._masks and bool(self._masks[name].all()) for name, _ in self._params)
