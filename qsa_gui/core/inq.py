"""Incremental network quantization (INQ, Zhou et al. 2017) and a packed b-bit model format.

Weights of convolutions, transposed convolutions and linear layers are quantized to
``{0} U {+-2^n : n2 <= n <= n1}`` with ``n1 = floor(log2(4 max|W| / 3))`` and
``n2 = n1 + 1 - 2^(b-1)/2`` (b bits, one code for zero): 65 levels at 7 bits, 17 at 5 bits.
Activations, biases and normalisation layers stay float.

Rounding is computed *exactly* from the float's mantissa and exponent (``frexp``), never through
``log2`` of a rounded ``4|w|/3``, so values sitting exactly on a decision boundary (or one ulp
beside it) land on the same level as the paper's literal comparison rule
(:func:`quantize_literal`), in float32 and float64 alike.

The model file format is a small binary container that cannot execute code when loaded (no
pickle anywhere)::

    magic  b"\\x89QSAINQ\\n"       8 bytes (the \\x89 and \\n catch text-mode and 7-bit damage)
    version                      uint16 little-endian (1)
    flags                        uint16 (0)
    header length                uint32
    header CRC-32                uint32
    header                       UTF-8 JSON: bits, meta, payload length and CRC-32,
                                 and per tensor: name, shape, dtype, n1 (packed ones only)
    payload                      the tensors back to back in header order: packed tensors as
                                 big-endian-bit-order b-bit codes (np.packbits, padded to a
                                 byte), raw tensors as little-endian buffers

A code is 0 for zero, ``1..K`` for ``+2^(n2+code-1)`` and ``K+1..2K`` for
``-2^(n2+code-K-1)``, with ``K = 2^(b-2)`` powers per sign.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .atomic import atomic_write_bytes
from .errors import ModelFileError

__all__ = [
    "MIN_BITS",
    "MAX_BITS",
    "INQController",
    "inq_exponents",
    "inq_levels",
    "quantize_literal",
    "quantize_tensor",
    "quantizable_parameters",
    "pack_state",
    "unpack_state",
    "save_model",
    "load_model_state",
    "size_report",
]

MIN_BITS = 2
MAX_BITS = 8
QUANTIZABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)

MAGIC = b"\x89QSAINQ\n"
FORMAT_VERSION = 1
_PRELUDE = struct.Struct("<8sHHII")  # magic, version, flags, header length, header crc32
# Largest header accepted when loading: a paper-width model needs a few tens of kB.
_MAX_HEADER_BYTES = 64 * 1024 * 1024
# Exponents of finite float64 values lie in about [-1074, 1023]; anything else is corruption.
_MAX_ABS_EXPONENT = 1100  # then ldexp itself stays finite / representable
_PICKLE_HINT = (
    "this looks like a pickle / torch.save file; refusing to load it because unpickling "
    "can execute arbitrary code (only QSA model files are accepted)"
)

# dtype name -> (torch dtype, numpy little-endian dtype) for tensors stored raw.
_RAW_DTYPES: dict[str, tuple[torch.dtype, str]] = {
    "float32": (torch.float32, "<f4"),
    "float64": (torch.float64, "<f8"),
    "float16": (torch.float16, "<f2"),
    "int64": (torch.int64, "<i8"),
    "int32": (torch.int32, "<i4"),
    "int16": (torch.int16, "<i2"),
    "int8": (torch.int8, "i1"),
    "uint8": (torch.uint8, "u1"),
    "bool": (torch.bool, "u1"),
}
_TORCH_TO_NAME = {tdt: name for name, (tdt, _) in _RAW_DTYPES.items()}
# Quantized (packed) tensors are decoded into one of these floating dtypes.
_PACKED_DTYPES = ("float32", "float64", "float16")


# --------------------------------------------------------------------------------------------
# Levels and rounding
# --------------------------------------------------------------------------------------------


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    if not MIN_BITS <= int(bits) <= MAX_BITS:
        raise ValueError(f"bits must be in {MIN_BITS}..{MAX_BITS}, got {bits}")
    return int(bits)


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


# --------------------------------------------------------------------------------------------
# Bit packing
# --------------------------------------------------------------------------------------------

_CHUNK = 1 << 20  # codes per packing chunk; a multiple of 8 so chunks end on byte boundaries


def _pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Pack uint8 codes (< 2^bits) into ceil(n * bits / 8) bytes, most significant bit first."""
    out = []
    for start in range(0, codes.size, _CHUNK):
        chunk = codes[start : start + _CHUNK].astype(np.uint8, copy=False)
        bitmat = np.unpackbits(chunk[:, None], axis=1)[:, 8 - bits :]
        out.append(np.packbits(bitmat.reshape(-1)).tobytes())
    return b"".join(out)


def _unpack_codes(buf: bytes | memoryview, n: int, bits: int) -> np.ndarray:
    """Inverse of :func:`_pack_codes`: ``n`` codes as int64."""
    raw = np.frombuffer(buf, dtype=np.uint8)
    out = np.empty(n, dtype=np.int64)
    per_chunk_bytes = _CHUNK * bits // 8
    for i, start in enumerate(range(0, n, _CHUNK)):
        m = min(_CHUNK, n - start)
        piece = raw[i * per_chunk_bytes : i * per_chunk_bytes + (m * bits + 7) // 8]
        bitvec = np.unpackbits(piece, count=m * bits).reshape(m, bits)
        acc = np.zeros(m, dtype=np.uint8)
        for j in range(bits):  # uint8 shifts: no (m, bits) int64 temporary
            acc = (acc << 1) | bitvec[:, j]
        out[start : start + m] = acc
    return out


def _packed_nbytes(numel: int, bits: int) -> int:
    return (numel * bits + 7) // 8


# --------------------------------------------------------------------------------------------
# Container
# --------------------------------------------------------------------------------------------


def _on_grid_exponents(w: Tensor, bits: int) -> tuple[int, int] | None:
    """(n1, n2) whose grid holds every value of ``w`` exactly, or None if no grid does."""
    if not bool(torch.isfinite(w).all()):
        return None
    a = w.abs()
    nz = a[a > 0]
    if nz.numel() == 0:
        return inq_exponents(0.0, bits)
    mant, exp = torch.frexp(nz)
    if not bool((mant == 0.5).all()):
        return None  # some nonzero value is not a power of two
    top = int(exp.max()) - 1
    n1, n2 = top, top + 1 - _powers_per_sign(bits)
    if int(exp.min()) - 1 < n2:
        return None  # exponents span more than the 2^(b-2) powers a b-bit code can hold
    return n1, n2


def _encode(
    state: Mapping[str, Tensor],
    quantized_names: set[str],
    bits: int | None,
    meta: Mapping[str, Any],
    *,
    strict: bool,
) -> tuple[bytes, int, int]:
    """Serialize a state dict; returns (bytes, quantized element count, other element count).

    ``strict``: refuse off-grid quantizable weights (saving); otherwise round them on a copy
    (size estimates for models not quantized yet).
    """
    if bits is not None:
        bits = _check_bits(bits)
    try:
        meta_obj = json.loads(json.dumps(dict(meta), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta must be JSON-serializable: {exc}") from None
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    n_quant = n_other = 0
    for name, tensor in state.items():
        t = tensor.detach().cpu().contiguous()
        entry: dict[str, Any] = {"name": str(name), "shape": [int(d) for d in t.shape]}
        dname = _TORCH_TO_NAME.get(t.dtype)
        pack = bits is not None and name in quantized_names
        if pack:
            if dname not in _PACKED_DTYPES:
                raise ValueError(f"{name}: cannot quantize a {t.dtype} tensor")
            assert bits is not None
            grid = _on_grid_exponents(t, bits)
            if grid is None:
                if strict:
                    raise ValueError(
                        f"{name} is not on a {bits}-bit INQ grid (finish the INQ schedule, "
                        "or save with bits=None)"
                    )
                _check_finite(t)
                grid = _resolve_exponents(t, bits, None, None)
            n1, n2 = grid
            codes = _codes(t, n1, n2).reshape(-1).numpy().astype(np.uint8)
            entry.update(dtype=dname, n1=n1)
            chunks.append(_pack_codes(codes, bits))
            n_quant += t.numel()
        else:
            if dname is None:
                raise ValueError(f"{name}: unsupported dtype {t.dtype}")
            arr = t.numpy()
            if dname == "bool":
                arr = arr.astype(np.uint8)
            entry["dtype"] = dname
            chunks.append(np.ascontiguousarray(arr, dtype=_RAW_DTYPES[dname][1]).tobytes())
            n_other += t.numel()
        entries.append(entry)
    payload = b"".join(chunks)
    header = {
        "format": "qsa-inq-model",
        "bits": bits,
        "payload_bytes": len(payload),
        "payload_crc32": zlib.crc32(payload),
        "tensors": entries,
        "meta": meta_obj,
    }
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    prelude = _PRELUDE.pack(MAGIC, FORMAT_VERSION, 0, len(hbytes), zlib.crc32(hbytes))
    return prelude + hbytes + payload, n_quant, n_other


def pack_state(model: nn.Module, bits: int | None, meta: Mapping[str, Any]) -> bytes:
    """Serialize ``model.state_dict()``: quantizable weights as b-bit codes, the rest raw.

    ``bits=None`` stores every tensor raw (float models) in the same container. With ``bits``
    every quantizable weight must already be exactly on a b-bit INQ grid (ValueError otherwise).
    """
    data, _, _ = _encode(model.state_dict(), _quantizable_state_names(model), bits, meta, strict=True)
    return data


def save_model(path: str | Path, model: nn.Module, *, bits: int | None, meta: Mapping[str, Any]) -> int:
    """Write the model atomically in the packed format; returns the number of bytes written."""
    data = pack_state(model, bits, meta)
    atomic_write_bytes(path, data)
    return len(data)


class _Bad(Exception):
    """Internal: the file is unusable, with a one-line reason."""


def _looks_like_pickle_or_torch(data: bytes) -> bool:
    if data[:2] == b"PK":  # torch.save's zip container (holds a pickle)
        return True
    if len(data) >= 2 and data[0] == 0x80 and 0 <= data[1] <= 5:  # pickle protocol 2..5
        return True
    # torch.save legacy format starts with a pickled magic number; protocol 0/1 opcodes.
    return data[:1] in (b"(", b"]", b"}", b"c") and b"." in data[-2:]


def _want(cond: bool, reason: str) -> None:
    if not cond:
        raise _Bad(reason)


def _parse_shape(value: Any, name: str) -> tuple[tuple[int, ...], int]:
    _want(isinstance(value, list) and len(value) <= 16, f"{name}: bad shape")
    shape = []
    for d in value:
        _want(type(d) is int and 0 <= d < 2**40, f"{name}: bad shape")
        shape.append(d)
    return tuple(shape), math.prod(shape)


def _decode(data: bytes) -> tuple[dict[str, Tensor], dict[str, Any]]:
    _want(len(data) > 0, "empty file")
    if data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data[: len(MAGIC)]):
            raise _Bad("truncated file (shorter than the QSA model file prelude)")
        raise _Bad(_PICKLE_HINT if _looks_like_pickle_or_torch(data) else "not a QSA model file")
    _want(len(data) >= _PRELUDE.size, "truncated file (incomplete prelude)")
    _, version, flags, hlen, hcrc = _PRELUDE.unpack_from(data, 0)
    _want(version == FORMAT_VERSION, f"unsupported model file version {version}")
    _want(flags == 0, f"unsupported model file flags {flags}")
    _want(hlen <= _MAX_HEADER_BYTES, "corrupt header length")
    hstart = _PRELUDE.size
    _want(len(data) >= hstart + hlen, "truncated file (incomplete header)")
    hbytes = data[hstart : hstart + hlen]
    _want(zlib.crc32(hbytes) == hcrc, "corrupt header (checksum mismatch)")
    try:
        header = json.loads(hbytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Bad("corrupt header (not JSON)") from None
    _want(isinstance(header, dict) and header.get("format") == "qsa-inq-model", "bad header")
    bits = header.get("bits")
    _want(bits is None or (type(bits) is int and MIN_BITS <= bits <= MAX_BITS), "bad bit width")
    meta = header.get("meta")
    _want(isinstance(meta, dict), "bad meta")
    tensors = header.get("tensors")
    _want(isinstance(tensors, list), "bad tensor list")
    plen, pcrc = header.get("payload_bytes"), header.get("payload_crc32")
    _want(type(plen) is int and type(pcrc) is int, "bad payload description")
    payload = memoryview(data)[hstart + hlen :]
    _want(len(payload) >= plen, "truncated file (incomplete payload)")
    _want(len(payload) == plen, "trailing bytes after the payload")
    _want(zlib.crc32(payload) == pcrc, "corrupt payload (checksum mismatch)")

    state: dict[str, Tensor] = {}
    offset = 0
    for entry in tensors:
        _want(isinstance(entry, dict), "bad tensor entry")
        name = entry.get("name")
        _want(isinstance(name, str) and name not in state, "bad or duplicate tensor name")
        shape, numel = _parse_shape(entry.get("shape"), name)
        dname = entry.get("dtype")
        if "n1" in entry:
            n1 = entry["n1"]
            _want(bits is not None, f"{name}: packed tensor in a float file")
            _want(type(n1) is int and abs(n1) <= _MAX_ABS_EXPONENT, f"{name}: bad n1")
            _want(dname in _PACKED_DTYPES, f"{name}: bad dtype")
            nbytes = _packed_nbytes(numel, bits)
            _want(offset + nbytes <= plen, f"{name}: payload too short")
            codes = _unpack_codes(payload[offset : offset + nbytes], numel, bits)
            n2 = n1 + 1 - _powers_per_sign(bits)
            _want(numel == 0 or int(codes.max()) <= 2 * _powers_per_sign(bits), f"{name}: bad code")
            table = _level_table(n1, n2, _RAW_DTYPES[dname][0], "cpu")
            _want(bool(torch.isfinite(table).all()), f"{name}: n1 out of range for {dname}")
            state[name] = table[torch.from_numpy(codes)].reshape(shape)
        else:
            _want(dname in _RAW_DTYPES, f"{name}: bad dtype")
            tdt, npdt = _RAW_DTYPES[dname]
            nbytes = numel * np.dtype(npdt).itemsize
            _want(offset + nbytes <= plen, f"{name}: payload too short")
            native = np.dtype(npdt).newbyteorder("=")
            arr = np.frombuffer(payload[offset : offset + nbytes], dtype=npdt).astype(native, copy=True)
            t = torch.from_numpy(arr.reshape(shape))
            state[name] = t.to(torch.bool) if dname == "bool" else t
        offset += nbytes
    _want(offset == plen, "payload length does not match the tensor list")
    return state, meta


def unpack_state(
    data: bytes, path_for_errors: str | Path = "<memory>"
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Decode a packed model bit-exactly into ``(state_dict, meta)`` (CPU tensors).

    Anything that is not a well-formed QSA model file, pickles and ``torch.save`` files
    included, raises :class:`ModelFileError`; nothing is ever unpickled.
    """
    try:
        return _decode(bytes(data))
    except _Bad as exc:
        raise ModelFileError(path_for_errors, str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, struct.error, RuntimeError) as exc:
        raise ModelFileError(path_for_errors, f"corrupt model file ({type(exc).__name__})") from None


def load_model_state(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_model`; see :func:`unpack_state`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    return unpack_state(data, path)


def size_report(model: nn.Module, bits: int | None) -> dict[str, Any]:
    """Real serialized sizes: the packed file vs the same container holding float32 everything.

    Biases, normalisation parameters and buffers are counted on both sides. The model need not
    be quantized yet: off-grid weights are rounded on a copy for the measurement only.
    ``quantized_params`` / ``other_params`` count elements (``other`` includes buffers).
    """
    state = model.state_dict()
    names = _quantizable_state_names(model)
    float_state = {k: (v.detach().float() if v.is_floating_point() else v) for k, v in state.items()}
    float_bytes, _, _ = _encode(float_state, names, None, {}, strict=False)
    packed, n_quant, n_other = _encode(state, names, bits, {}, strict=False)
    return {
        "bits": bits,
        "float32_bytes": len(float_bytes),
        "packed_bytes": len(packed),
        "ratio": len(float_bytes) / len(packed),
        "quantized_params": n_quant,
        "other_params": n_other,
    }
