"""Stains for the generator (:mod:`.synth`): Beer-Lambert H&E vectors, style families, per-image jitter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------------------------
# stains


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.abs(np.asarray(v, dtype=np.float64)) + 1e-3
    return v / np.linalg.norm(v)


# Optical density per unit concentration in (R, G, B); close to Macenko/Ruifrok estimates.
_H_VEC = _unit([0.60, 0.73, 0.33])
_E_VEC = _unit([0.13, 0.86, 0.49])
_BLOOD_VEC = _unit([0.05, 0.80, 0.62])

_BASE_STYLES = (
    # hematoxylin vector, eosin vector, H gain, E gain, glass optical density
    (_H_VEC, _E_VEC, 1.0, 1.0, (0.03, 0.05, 0.03)),
    (_unit([0.66, 0.68, 0.30]), _unit([0.20, 0.80, 0.56]), 1.15, 0.72, (0.02, 0.03, 0.02)),  # pale, blue
    (_unit([0.55, 0.76, 0.34]), _unit([0.08, 0.92, 0.40]), 0.9, 1.2, (0.04, 0.07, 0.04)),  # eosin-rich
)


@dataclass(frozen=True)
class _Stain:
    h_vec: np.ndarray
    e_vec: np.ndarray
    h_gain: float
    e_gain: float
    glass: np.ndarray


def _style_family(style: int) -> _Stain:
    """Style family ``style``: three hand-made ones, then deterministic random ones for any int."""
    if style < 0:
        raise ValueError(f"stain_style must be >= 0, got {style}")
    if style < len(_BASE_STYLES):
        h, e, hg, eg, glass = _BASE_STYLES[style]
        return _Stain(h, e, hg, eg, np.asarray(glass, dtype=np.float64))
    rng = np.random.default_rng([7919, style])
    while True:  # stay physically plausible: hematoxylin absorbs red more than blue, eosin the reverse
        h = _unit(_H_VEC + rng.normal(0, 0.07, 3))
        e = _unit(_E_VEC + rng.normal(0, 0.09, 3))
        if h[0] - h[2] >= 0.22 and e[2] - e[0] >= 0.2 and e[1] > 0.7:
            break
    glass = np.clip(0.04 + rng.normal(0, 0.015, 3), 0.0, 0.1)
    return _Stain(h, e, float(rng.uniform(0.75, 1.25)), float(rng.uniform(0.7, 1.35)), glass)


def _image_stain(style: int, rng: np.random.Generator) -> _Stain:
    """A small per-image perturbation of the family (slide-to-slide variation)."""
    fam = _style_family(style)
    return _Stain(
        _unit(fam.h_vec + rng.normal(0, 0.025, 3)),
        _unit(fam.e_vec + rng.normal(0, 0.025, 3)),
        fam.h_gain * float(rng.uniform(0.9, 1.1)),
        fam.e_gain * float(rng.uniform(0.9, 1.1)),
        np.clip(fam.glass + rng.normal(0, 0.006, 3), 0.0, 0.15),
    )
