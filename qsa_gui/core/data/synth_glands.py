"""Gland geometry for the generator (:mod:`.synth`): shapes, placement, lumens, rasterised instances."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

# --------------------------------------------------------------------------------------------
# glands


@dataclass
class _Gland:
    cy: float
    cx: float
    R: float
    amps: np.ndarray
    phases: np.ndarray
    t0: float  # epithelium thickness (pixels)
    t_amps: np.ndarray
    t_phases: np.ndarray
    cribriform: bool = False
    lumens: list[tuple[float, float, float]] = field(default_factory=list)  # (y, x, r) sub-lumens

    rmax: float = 0.0

    def __post_init__(self) -> None:
        self.rmax = self.R * (1.0 + float(np.abs(self.amps).sum()))

    def radius(self, th: np.ndarray) -> np.ndarray:
        k = np.arange(2, 2 + self.amps.size)
        harm = np.cos(np.multiply.outer(th, k) + self.phases) @ self.amps
        return self.R * np.maximum(1.0 + harm, 0.35)

    def dradius(self, th: np.ndarray) -> np.ndarray:
        k = np.arange(2, 2 + self.amps.size)
        return self.R * (-np.sin(np.multiply.outer(th, k) + self.phases) @ (self.amps * k))

    def thickness(self, th: np.ndarray) -> np.ndarray:
        k = np.arange(1, 1 + self.t_amps.size)
        harm = np.cos(np.multiply.outer(th, k) + self.t_phases) @ self.t_amps
        return self.t0 * np.clip(1.0 + harm, 0.5, 1.6)


def _make_gland(rng: np.random.Generator, cy: float, cx: float, malignant: bool, big: bool) -> _Gland:
    if not malignant:
        R = rng.uniform(26.0, 46.0)
        amps = np.concatenate([[rng.uniform(0.0, 0.25)], rng.normal(0, 0.025, 3)])
        t0 = min(R * rng.uniform(0.6, 0.8), 26.0)
        t_amps = rng.normal(0, 0.06, 3)
    elif big:
        R = rng.uniform(44.0, 64.0)
        amps = np.concatenate([[rng.uniform(0.0, 0.2)], rng.normal(0, 0.06, 5) / np.sqrt(np.arange(1, 6))])
        t0 = R
        t_amps = rng.normal(0, 0.1, 3)
    else:
        R = rng.uniform(20.0, 46.0)
        amps = np.concatenate([[rng.uniform(0.0, 0.32)], rng.normal(0, 0.09, 6) / np.sqrt(np.arange(1, 7))])
        t0 = R * rng.uniform(0.5, 0.8)
        t_amps = rng.normal(0, 0.22, 4)
    phases = rng.uniform(0, 2 * np.pi, amps.size)
    g = _Gland(cy, cx, R, amps, phases, t0, t_amps, rng.uniform(0, 2 * np.pi, t_amps.size))
    g.cribriform = malignant and big
    return g


def _add_lumens(rng: np.random.Generator, g: _Gland) -> None:
    """Several small lumens inside one solid gland: the cribriform pattern of carcinoma."""
    R, cy, cx = g.R, g.cy, g.cx
    n_lum = int(rng.integers(3, 8))
    for _ in range(40):
        if len(g.lumens) >= n_lum:
            break
        a = rng.uniform(0, 2 * np.pi)
        rr = rng.uniform(0.0, 0.6) * R
        lr = rng.uniform(3.5, 8.5)
        ly, lx = cy + rr * np.sin(a), cx + rr * np.cos(a)
        if rr + lr > 0.72 * float(g.radius(np.array([a]))[0]):
            continue
        if all(np.hypot(ly - y, lx - x) > lr + r + 6 for y, x, r in g.lumens):
            g.lumens.append((ly, lx, lr))


def _place_glands(rng: np.random.Generator, h: int, w: int, malignant: bool) -> list[_Gland]:
    """Rejection-sampled gland layout: separated when benign, crowded and overlapping when not."""
    glands: list[_Gland] = []
    target = (0.62 if malignant else 0.45) * h * w
    covered = 0.0
    for attempt in range(250):
        if covered >= target:
            break
        big = malignant and rng.random() < 0.22
        if attempt == 0:  # the first gland lies well inside, so every image has one
            cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        else:
            cy, cx = rng.uniform(-0.1 * h, 1.1 * h), rng.uniform(-0.1 * w, 1.1 * w)
        g = _make_gland(rng, cy, cx, malignant, big)
        ok = True
        for o in glands:
            d = np.hypot(g.cy - o.cy, g.cx - o.cx)
            need = 0.72 * (g.rmax + o.rmax) if malignant else g.rmax + o.rmax + 7.0
            if d < need:
                ok = False
                break
        if not ok:
            continue
        if g.cribriform:
            _add_lumens(rng, g)
        glands.append(g)
        if malignant and not g.cribriform and rng.random() < 0.55:
            bud = _fused_neighbour(rng, g, glands, malignant)
            if bud is not None:
                glands.append(bud)
                covered += np.pi * bud.R**2 * 0.6
        y0, y1 = max(cy - g.R, 0), min(cy + g.R, h)
        x0, x1 = max(cx - g.R, 0), min(cx + g.R, w)
        covered += np.pi * g.R**2 * max(y1 - y0, 0) * max(x1 - x0, 0) / (4 * g.R**2)
    return glands


def _fused_neighbour(
    rng: np.random.Generator, g: _Gland, others: list[_Gland], malignant: bool
) -> _Gland | None:
    """A gland overlapping ``g`` so the two fuse along a shared border (carcinoma, GlaS Test B)."""
    for _ in range(4):
        phi = rng.uniform(0, 2 * np.pi)
        n = _make_gland(rng, 0.0, 0.0, malignant, big=False)
        d = 0.82 * float(g.radius(np.array([phi]))[0] + n.radius(np.array([phi + np.pi]))[0])
        n.cy, n.cx = g.cy + d * np.sin(phi), g.cx + d * np.cos(phi)
        if all(o is g or np.hypot(n.cy - o.cy, n.cx - o.cx) >= 0.72 * (n.rmax + o.rmax) for o in others):
            return n
    return None


def _rasterise(glands: list[_Gland], h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instance labels by largest inward depth, the depth map and the epithelial thickness map."""
    labels = np.zeros((h, w), np.int32)
    depth = np.zeros((h, w))
    thick = np.full((h, w), np.inf)
    for i, g in enumerate(glands, start=1):
        m = g.rmax + 2
        y0, y1 = int(max(np.floor(g.cy - m), 0)), int(min(np.ceil(g.cy + m) + 1, h))
        x0, x1 = int(max(np.floor(g.cx - m), 0)), int(min(np.ceil(g.cx + m) + 1, w))
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        dy, dx = yy - g.cy, xx - g.cx
        th = np.arctan2(dy, dx)
        d = g.radius(th) - np.hypot(dy, dx)
        win = (d > 0) & (d > depth[y0:y1, x0:x1])
        labels[y0:y1, x0:x1][win] = i
        depth[y0:y1, x0:x1][win] = d[win]
        t = np.full(d.shape, np.inf) if g.cribriform else g.thickness(th)
        thick[y0:y1, x0:x1][win] = t[win]
    return labels, depth, thick


def _clean_labels(labels: np.ndarray, min_area: int = 40) -> tuple[np.ndarray, dict[int, int]]:
    """One hole-free component per gland, tiny border fragments dropped, ids made 1..N."""
    out = np.zeros_like(labels)
    mapping: dict[int, int] = {}
    objs = ndi.find_objects(labels)
    for old, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        m = labels[sl] == old
        cc, n = ndi.label(m)
        if n > 1:
            sizes = np.bincount(cc.ravel())[1:]
            m = cc == (int(np.argmax(sizes)) + 1)
        filled = ndi.binary_fill_holes(m)
        m = filled & ((labels[sl] == 0) | m | (labels[sl] == old))
        if m.sum() < min_area:
            continue
        out[sl][m] = old
        mapping[old] = 0
    # a gland swallowed by another would leave a hole: give such holes to the outer gland
    for old in list(mapping):
        sl = objs[old - 1]
        m = out[sl] == old
        filled = ndi.binary_fill_holes(m)
        if np.any(filled & ~m):
            out[sl][filled] = old
    present = [o for o in mapping if np.any(out == o)]
    lut = np.zeros(labels.max() + 1 if labels.size else 1, np.int32)
    for new, old in enumerate(present, start=1):
        lut[old] = new
    return lut[out], {old: int(lut[old]) for old in present}
