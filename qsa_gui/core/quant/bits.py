"""The bit-width and quantizer-name checks, without torch (settings validate them on every open)."""

from __future__ import annotations

import numpy as np

MIN_BITS = 2
MAX_BITS = 8


def check_bits(bits: object, name: str = "bits", *, allow_float: bool = False) -> int | None:
    """The one bit-width check (settings, training, INQ, model files): an int in MIN..MAX bits.

    ``allow_float``: ``None`` (float weights) is accepted too. ``name`` goes into the message.
    """
    if bits is None and allow_float:
        return None
    if (
        isinstance(bits, bool)
        or not isinstance(bits, (int, np.integer))
        or not MIN_BITS <= int(bits) <= MAX_BITS
    ):
        alt = " (or None for float weights)" if allow_float else ""
        raise ValueError(f"{name} must be an integer in {MIN_BITS}..{MAX_BITS}{alt}, got {bits!r}")
    return int(bits)


QUANTIZERS: tuple[str, ...] = ("inq", "dorefa", "twn")
#: code bits of the codebook quantizers (INQ's come from the settings' bit width)
CODE_BITS: dict[str, int] = {"dorefa": 1, "twn": 2}
TWN_THRESHOLD = 0.7


def check_quantizer(name: object, what: str = "quantizer") -> str:
    """``name`` if it is a known quantizer, else a ValueError naming the choices."""
    if not isinstance(name, str) or name not in QUANTIZERS:
        raise ValueError(f"{what} must be one of {', '.join(QUANTIZERS)}, got {name!r}")
    return name


__all__ = [
    "CODE_BITS", "MAX_BITS", "MIN_BITS", "QUANTIZERS", "TWN_THRESHOLD", "check_bits", "check_quantizer",
]  # fmt: skip
