"""The one bit-width check, without torch (settings validate bit widths on every project open)."""

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


__all__ = ["MAX_BITS", "MIN_BITS", "check_bits"]
