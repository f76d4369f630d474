"""Procedural H&E-like colon-gland images with instance masks.

The demo, the tests and first-time users all see these images, so they are built to look like
tissue rather than blobs, at roughly GlaS's 20x resolution halved (~1.2 um per pixel):

* a gland is a ring of tall epithelial cells around a lumen: dark, elongated, radially oriented
  hematoxylin nuclei packed along its outer (basal) edge, pale goblet-cell mucin and pink-purple
  cytoplasm towards a near-white lumen. Benign glands are round or oval, regular and separate;
  malignant ones are irregular, crowded, stratified, touching/fused, sometimes cribriform (several
  lumens in one gland), with pleomorphic vesicular nuclei and necrotic debris in the lumen;
* the stroma is pink fibrous eosin whose fibres wrap around the glands, with lymphocytes,
  fibroblasts, small capillaries with red cells and the retraction clefts real sections show;
* colour follows Beer-Lambert: per-pixel hematoxylin and eosin optical densities times stain
  vectors, ``RGB = 255 * exp(-OD)``, with per-style and per-image stain variation, then optical
  blur and sensor noise.

Each gland (epithelium and lumen together, as GlaS annotates them) is one instance id. Everything
is vectorised numpy/scipy (a 256x256 sample takes a few tens of milliseconds) and seeded: the
same seed, size, grade and style give the identical image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

GRADES = ("benign", "malignant")
DEFAULT_N_STAIN_STYLES = 3


@dataclass
class GlandSample:
    """One synthetic image, its instance labels and how it was made (enough to regenerate it)."""

    image: np.ndarray  # uint8 H x W x 3
    labels: np.ndarray  # int32 H x W, 0 = stroma, 1..N = glands
    grade: str  # "benign" | "malignant"
    stain: int
    seed: int


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


# --------------------------------------------------------------------------------------------
# noise helpers


def _smooth(
    rng: np.random.Generator, shape: tuple[int, int], sigma: float | tuple[float, float]
) -> np.ndarray:
    """Zero-mean, unit-std smoothed Gaussian noise (broad scales drawn coarse and upsampled: fast)."""
    sig = float(np.min(sigma))
    f = int(sig // 2) if sig >= 4 else 1
    if f > 1:
        small = (shape[0] // f + 3, shape[1] // f + 3)
        n = ndi.gaussian_filter(rng.standard_normal(small), np.asarray(sigma, dtype=float) / f, mode="wrap")
        n = ndi.zoom(n, f, order=1, grid_mode=False)[: shape[0], : shape[1]]
    else:
        n = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-9)


def _fibres(rng: np.random.Generator, shape: tuple[int, int], angle: np.ndarray) -> np.ndarray:
    """Anisotropic noise whose streaks follow the per-pixel ``angle`` field (radians), in [0, 1]."""
    h, w = shape
    m = int(np.ceil(np.hypot(h, w))) + 4
    base = ndi.gaussian_filter(rng.standard_normal((m, m)), (0.9, 3.5), mode="wrap")
    base = (base - base.mean()) / (base.std() + 1e-9)
    base = base.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy -= h / 2
    xx -= w / 2
    out = np.zeros(shape, np.float32)
    wsum = np.zeros(shape, np.float32)
    angle = angle.astype(np.float32)
    for k in range(4):  # four orientations blended by the field: streaks along 0, 45, 90, 135 deg
        t = k * np.pi / 4
        wk = np.cos(angle - t) ** 2
        wk = wk**4
        c, s = np.cos(t), np.sin(t)
        u = xx * c + yy * s  # along the fibre -> the smoothed (long) axis of ``base``
        v = -xx * s + yy * c
        shift = k * 37.0
        vals = ndi.map_coordinates(base, [v + m / 2 + shift, u + m / 2], order=1, mode="wrap")
        out += wk * vals
        wsum += wk
    out /= wsum + 1e-9
    return 1.0 / (1.0 + np.exp(-1.3 * out))


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


# --------------------------------------------------------------------------------------------
# nuclei and other small objects


@dataclass
class _Blobs:
    """Ellipses to stamp: centre, semi-axes (a along ``angle``), amplitude, vesicularity."""

    y: list[np.ndarray] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    a: list[np.ndarray] = field(default_factory=list)
    b: list[np.ndarray] = field(default_factory=list)
    ang: list[np.ndarray] = field(default_factory=list)
    amp: list[np.ndarray] = field(default_factory=list)
    ves: list[np.ndarray] = field(default_factory=list)

    def add(self, y: Any, x: Any, a: Any, b: Any, ang: Any, amp: Any, ves: Any = 0.0) -> None:
        n = np.size(y)
        for name, v in zip("y x a b ang amp ves".split(), (y, x, a, b, ang, amp, ves), strict=True):
            getattr(self, name).append(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy())

    def cat(self, name: str) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0)


def _stamp(blobs: _Blobs, shape: tuple[int, int]) -> np.ndarray:
    """Render all ellipses at once (soft 1-pixel edge), combining overlaps by maximum."""
    h, w = shape
    out = np.zeros(h * w, np.float32)
    y = blobs.cat("y")
    if y.size == 0:
        return out.reshape(shape)
    cols = [blobs.cat(n) for n in ("y", "x", "a", "b", "ang", "amp", "ves")]
    size = np.ceil(cols[2]).astype(int)
    for r in np.unique(np.minimum(size, 8) // 2):  # patch sizes in groups: small cells, big nuclei
        sel = (np.minimum(size, 8) // 2) == r
        _stamp_group([c[sel] for c in cols], int(np.ceil(cols[2][sel].max())) + 2, out, h, w)
    return out.reshape(shape)


def _stamp_group(cols: list[np.ndarray], r: int, out: np.ndarray, h: int, w: int) -> None:
    y, x, a, b, ang, amp, ves = (c.astype(np.float32)[:, None, None] for c in cols)
    off = np.arange(-r, r + 1)
    iy, ix = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    py = iy + off[None, :, None]
    px = ix + off[None, None, :]
    dy = (py + 0.5).astype(np.float32) - y
    dx = (px + 0.5).astype(np.float32) - x
    c, s = np.cos(ang), np.sin(ang)
    u = dx * c + dy * s
    v = dy * c - dx * s
    q = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    val = np.clip(0.5 + (1.0 - q) * b * 1.3, 0.0, 1.0)
    inner = np.clip(1.0 - q, 0.0, 1.0)
    val *= amp * (1.0 - ves * inner**1.2)
    py, px = np.broadcast_arrays(py, px)
    ok = (py >= 0) & (py < h) & (px >= 0) & (px < w) & (val > 0.01)
    np.maximum.at(out, py[ok] * w + px[ok], val[ok])


def _contour(g: _Gland, spacing: float, rng: np.random.Generator, jitter: float = 0.25):
    """Points along a gland's outline every ``spacing`` px: (y, x, outward normal angle, theta)."""
    th = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    r, dr = g.radius(th), g.dradius(th)
    tx, ty = dr * np.cos(th) - r * np.sin(th), dr * np.sin(th) + r * np.cos(th)
    speed = np.hypot(tx, ty)
    arc = np.concatenate([[0.0], np.cumsum(speed[:-1] * (2 * np.pi / th.size))])
    total = arc[-1] + speed[-1] * (2 * np.pi / th.size)
    n = max(int(total / spacing), 6)
    s = (np.arange(n) + rng.uniform(-jitter, jitter, n)) * (total / n) + rng.uniform(0, total / n)
    s = np.mod(s, total)
    t = np.interp(s, np.concatenate([arc, [total]]), np.concatenate([th, [2 * np.pi]]))
    rt, drt = g.radius(t), g.dradius(t)
    txt, tyt = drt * np.cos(t) - rt * np.sin(t), drt * np.sin(t) + rt * np.cos(t)
    normal = np.arctan2(-txt, tyt)  # (ty, -tx) points outwards
    return g.cy + rt * np.sin(t), g.cx + rt * np.cos(t), normal, t


def _keep(labels: np.ndarray, y: np.ndarray, x: np.ndarray, gid: int) -> np.ndarray:
    """Which points fall inside the image on gland ``gid``."""
    h, w = labels.shape
    iy, ix = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    out = np.zeros(y.shape, bool)
    out[inside] = labels[iy[inside], ix[inside]] == gid
    return out


def _epithelium(
    rng: np.random.Generator,
    g: _Gland,
    gid: int,
    labels: np.ndarray,
    malignant: bool,
    nuclei: _Blobs,
    mucin: _Blobs,
) -> None:
    """Epithelial nuclei (and goblet-cell mucin for benign glands) of one gland."""
    if not malignant:
        b = rng.uniform(1.6, 2.0)
        y, x, nrm, t = _contour(g, spacing=2 * b + 0.45, rng=rng, jitter=0.15)
        n = y.size
        a = rng.uniform(3.6, 5.0, n)
        off = a + 1.2 + rng.normal(0, 0.5, n)
        ny, nx = y - off * np.sin(nrm), x - off * np.cos(nrm)
        k = _keep(labels, ny, nx, gid) & (rng.random(n) > 0.04)
        nuclei.add(
            ny[k],
            nx[k],
            a[k],
            b * rng.uniform(0.85, 1.15, k.sum()),
            nrm[k] + rng.normal(0, 0.12, k.sum()),
            rng.uniform(1.0, 1.25, k.sum()),
            rng.uniform(0.0, 0.15, k.sum()),
        )
        # goblet cells: rows of pale mucin vacuoles in the apical cytoplasm, pink cytoplasm between
        dep = 9.5 + rng.uniform(0, 1.5)
        while dep < g.t0 - 3.0:
            gb = rng.uniform(2.2, 2.9)
            y, x, nrm, t = _contour(g, spacing=2 * gb + 2.2, rng=rng, jitter=0.3)
            sub = dep + rng.normal(0, 0.8, y.size)
            k2 = (sub < g.thickness(t) - 2.5) & (rng.random(y.size) < 0.8)
            gy, gx = y - sub * np.sin(nrm), x - sub * np.cos(nrm)
            k2 &= _keep(labels, gy, gx, gid)
            m = int(k2.sum())
            mucin.add(
                gy[k2],
                gx[k2],
                rng.uniform(3.0, 4.2, m),
                gb * rng.uniform(0.85, 1.1, m),
                nrm[k2] + rng.normal(0, 0.15, m),
                rng.uniform(0.75, 1.0, m),
            )
            dep += rng.uniform(6.5, 8.0)
        return
    # malignant: stratified, crowded, pleomorphic, vesicular
    rows = 1 if g.cribriform else int(rng.integers(1, 3)) + int(rng.random() < 0.3)
    for row in range(rows):
        y, x, nrm, t = _contour(g, spacing=rng.uniform(4.6, 5.6), rng=rng, jitter=0.4)
        n = y.size
        a = rng.uniform(4.5, 7.5, n)
        b = a * rng.uniform(0.38, 0.7, n)
        tt = g.thickness(t) if not g.cribriform else np.full(n, 14.0)
        off = a + 1.0 + row * rng.uniform(4.0, 7.0, n) + rng.normal(0, 1.0, n)
        off = np.minimum(off, np.maximum(tt - 2.5, a + 1.0))
        ny, nx = y - off * np.sin(nrm), x - off * np.cos(nrm)
        k = _keep(labels, ny, nx, gid)
        m = int(k.sum())
        nuclei.add(
            ny[k],
            nx[k],
            a[k],
            b[k],
            nrm[k] + rng.normal(0, 0.3, m),
            rng.uniform(0.95, 1.4, m),
            rng.uniform(0.1, 0.45, m),
        )
    if g.cribriform:
        for ly, lx, lr in g.lumens:  # nuclei ring around every sub-lumen, then solid fill
            sub = _Gland(ly, lx, lr + 4.5, np.zeros(1), np.zeros(1), 1.0, np.zeros(1), np.zeros(1))
            y, x, nrm, _ = _contour(sub, spacing=4.2, rng=rng, jitter=0.3)
            n = y.size
            a = rng.uniform(3.6, 5.6, n)
            k = _keep(labels, y, x, gid)
            m = int(k.sum())
            nuclei.add(
                y[k],
                x[k],
                a[k],
                a[k] * rng.uniform(0.5, 0.85, m),
                nrm[k] + rng.normal(0, 0.3, m),
                rng.uniform(0.8, 1.2, m),
                rng.uniform(0.25, 0.6, m),
            )
        n_fill = int(np.pi * g.R**2 / 150)
        th = rng.uniform(0, 2 * np.pi, n_fill)
        rr = np.sqrt(rng.uniform(0, 1, n_fill)) * g.radius(th) * 0.8
        fy, fx = g.cy + rr * np.sin(th), g.cx + rr * np.cos(th)
        k = _keep(labels, fy, fx, gid)
        for ly, lx, lr in g.lumens:
            k &= np.hypot(fy - ly, fx - lx) > lr + 2
        m = int(k.sum())
        a = rng.uniform(3.6, 6.0, m)
        nuclei.add(
            fy[k],
            fx[k],
            a,
            a * rng.uniform(0.5, 0.9, m),
            rng.uniform(0, np.pi, m),
            rng.uniform(0.8, 1.2, m),
            rng.uniform(0.25, 0.6, m),
        )


# --------------------------------------------------------------------------------------------
# the sample


def _subrng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, stream]))


def generate_sample(
    seed: int,
    size: tuple[int, int] = (256, 256),
    grade: str | None = None,
    stain_style: int | None = None,
) -> GlandSample:
    """One synthetic H&E colon image with instance labels; identical for identical arguments.

    ``grade`` None draws benign/malignant 50:50 and ``stain_style`` None draws one of the
    first :data:`DEFAULT_N_STAIN_STYLES` families, both from ``seed``.
    """
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    pick = _subrng(seed, 0)
    g_draw, s_draw = pick.random(), int(pick.integers(DEFAULT_N_STAIN_STYLES))
    if grade is None:
        grade = "malignant" if g_draw < 0.5 else "benign"
    if grade not in GRADES:
        raise ValueError(f"grade must be one of {GRADES}, got {grade!r}")
    style = s_draw if stain_style is None else int(stain_style)
    malignant = grade == "malignant"

    r_layout, r_cells, r_tex, r_stain = (_subrng(seed, k) for k in (1, 2, 3, 4))
    glands = _place_glands(r_layout, h, w, malignant)
    raw, depth, thick = _rasterise(glands, h, w)
    labels, mapping = _clean_labels(raw)
    gland_mask = labels > 0
    depth = np.where(gland_mask, depth, 0.0)

    # ---------------- objects
    nuclei, mucin, blood = _Blobs(), _Blobs(), _Blobs()
    for old, new in mapping.items():
        _epithelium(r_cells, glands[old - 1], new, labels, malignant, nuclei, mucin)

    dist_out, (iy, ix) = ndi.distance_transform_edt(~gland_mask, return_indices=True)
    if not gland_mask.any():
        dist_out = np.full((h, w), 1e3)
    yy, xx = np.mgrid[0:h, 0:w]
    normal = np.arctan2(iy - yy, ix - xx)
    wander = _smooth(r_tex, (h, w), 24) * 1.2
    near = np.exp(-dist_out / 25.0)
    tangent = normal + np.pi / 2
    angle = np.where(near > 0.15, tangent + (1 - near) * wander * 0.6, wander)
    fib = _fibres(r_tex, (h, w), angle)

    # stromal cells: lymphocytes / plasma cells (round, dark) and fibroblasts (thin, along fibres)
    stroma_area = float((~gland_mask).sum())
    n_lym = int(stroma_area * (1 / 95 if not malignant else 1 / 170))
    n_fib = int(stroma_area * (1 / 260 if not malignant else 1 / 150))
    for n, kind in ((n_lym, "lym"), (n_fib, "fib")):
        sy, sx = r_cells.uniform(0, h, n), r_cells.uniform(0, w, n)
        iy_, ix_ = sy.astype(int), sx.astype(int)
        k = dist_out[iy_, ix_] > (2.5 if kind == "lym" else 1.5)
        sy, sx = sy[k], sx[k]
        m = sy.size
        if kind == "lym":
            rad = r_cells.uniform(1.7, 2.6, m)
            nuclei.add(
                sy,
                sx,
                rad * r_cells.uniform(1.0, 1.25, m),
                rad,
                r_cells.uniform(0, np.pi, m),
                r_cells.uniform(1.15, 1.45, m),
                0.0,
            )
        else:
            nuclei.add(
                sy,
                sx,
                r_cells.uniform(3.5, 6.0, m),
                r_cells.uniform(0.8, 1.3, m),
                angle[iy_[k], ix_[k]] + r_cells.normal(0, 0.15, m),
                r_cells.uniform(0.9, 1.2, m),
                0.0,
            )

    # a few capillaries: clusters of red blood cells in the stroma
    for _ in range(int(r_cells.integers(1, 4) * h * w / 65536 + 0.5)):
        cy, cx = r_cells.uniform(0, h), r_cells.uniform(0, w)
        if dist_out[min(int(cy), h - 1), min(int(cx), w - 1)] < 6:
            continue
        k = int(r_cells.integers(3, 9))
        a0 = r_cells.uniform(0, np.pi)
        tt = r_cells.normal(0, 3.0, k)
        blood.add(
            cy + tt * np.sin(a0) + r_cells.normal(0, 1.0, k),
            cx + tt * np.cos(a0) + r_cells.normal(0, 1.0, k),
            r_cells.uniform(1.8, 2.4, k),
            r_cells.uniform(1.5, 2.0, k),
            r_cells.uniform(0, np.pi, k),
            1.0,
        )

    nuc = _stamp(nuclei, (h, w))
    muc = _stamp(mucin, (h, w))
    rbc = _stamp(blood, (h, w))

    # ---------------- densities
    fine = _smooth(r_tex, (h, w), 0.8)
    mid = _smooth(r_tex, (h, w), 3.0)
    broad = _smooth(r_tex, (h, w), 30.0)

    # stroma: fibrous eosin, loose (oedematous) patches, faint hematoxylin
    loose = np.clip(_smooth(r_tex, (h, w), 12.0) * 0.5 - 0.3, 0, 0.6)
    e_st = (0.68 if malignant else 0.56) * (0.5 + 0.75 * fib + 0.12 * mid) * (1.0 - loose) * (1 + 0.08 * fine)
    h_st = 0.05 + 0.03 * (mid + 1)
    # retraction clefts: a thin white gap along part of some gland outlines
    cleft = (dist_out > 0) & (dist_out < 1.0 + 2.2 * np.clip(broad + 0.3, 0, 1)) & (mid + 0.6 * broad > 1.0)
    e_st = np.where(cleft, 0.03, e_st)
    h_st = np.where(cleft, 0.01, h_st)

    # glands: cytoplasm, apical border, lumen
    lumen = gland_mask & (depth > thick)
    for old, new in mapping.items():
        g = glands[old - 1]
        if g.cribriform:
            for ly, lx, lr in g.lumens:
                y0, y1 = max(int(ly - lr) - 1, 0), min(int(ly + lr) + 2, h)
                x0, x1 = max(int(lx - lr) - 1, 0), min(int(lx + lr) + 2, w)
                sub = (yy[y0:y1, x0:x1] - ly) ** 2 + (xx[y0:y1, x0:x1] - lx) ** 2 < lr**2
                lumen[y0:y1, x0:x1] |= sub & (labels[y0:y1, x0:x1] == new)
    epi = gland_mask & ~lumen
    apical = epi & ~ndi.binary_erosion(~lumen, iterations=1) if lumen.any() else np.zeros_like(epi)
    e_cy = (0.50 if not malignant else 0.42) * (1 + 0.15 * mid + 0.1 * fine)
    h_cy = (0.17 if not malignant else 0.32) * (1 + 0.2 * mid + 0.15 * fine)
    e_cy = np.where(apical, e_cy * 1.6, e_cy)
    if malignant:  # necrotic debris: eosinophilic clumps with nuclear dust
        debris = np.clip(_smooth(r_tex, (h, w), 2.5) - 0.3, 0, None)
        e_lu = 0.04 + 0.45 * debris
        h_lu = 0.02 + 0.35 * debris * (fine > 1.6)
    else:
        e_lu = 0.03 + 0.06 * np.clip(mid + 0.5, 0, None)
        h_lu = 0.015 + 0.0 * mid

    e_od = np.where(gland_mask, np.where(lumen, e_lu, e_cy), e_st)
    h_od = np.where(gland_mask, np.where(lumen, h_lu, h_cy), h_st)

    # goblet mucin: pale, faintly grey-blue
    e_od = e_od * (1 - 0.85 * muc)
    h_od = h_od * (1 - 0.6 * muc) + 0.05 * muc
    # nuclei: hematoxylin with granular chromatin, little eosin
    chrom = np.clip(0.8 + 0.25 * fine, 0.4, 1.3)
    cover = np.clip(nuc * 1.2, 0, 1)
    h_od = h_od * (1 - cover) + 1.15 * nuc * chrom
    e_od = e_od * (1 - 0.5 * cover) + 0.08 * cover

    stain = _image_stain(style, r_stain)
    thickness = 1.0 + 0.08 * broad
    h_od = ndi.gaussian_filter(h_od * thickness * stain.h_gain, 0.55)
    e_od = ndi.gaussian_filter(e_od * thickness * stain.e_gain, 0.55)
    b_od = ndi.gaussian_filter(rbc, 0.55) * 1.1
    od = (
        h_od[:, :, None] * stain.h_vec
        + e_od[:, :, None] * stain.e_vec
        + b_od[:, :, None] * _BLOOD_VEC
        + stain.glass
    )
    rgb = 255.0 * np.exp(-od) + r_stain.normal(0, 2.2, (h, w, 3))
    image = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return GlandSample(image=image, labels=labels.astype(np.int32), grade=grade, stain=style, seed=int(seed))


def generate_dataset(
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    malignant_fraction: float = 0.3,
    n_stain_styles: int = DEFAULT_N_STAIN_STYLES,
) -> list[GlandSample]:
    """``n`` samples: round(n * malignant_fraction) malignant at seeded positions, style i % n_styles.

    Each sample's own seed is derived from ``seed`` and its index, so
    ``generate_sample(s.seed, size, s.grade, s.stain)`` regenerates sample ``s`` exactly.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= malignant_fraction <= 1.0:
        raise ValueError("malignant_fraction must lie in [0, 1]")
    if n_stain_styles < 1:
        raise ValueError("n_stain_styles must be >= 1")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 99]))
    n_mal = int(round(n * malignant_fraction))
    malignant = np.zeros(n, bool)
    malignant[rng.permutation(n)[:n_mal]] = True
    seeds = rng.integers(0, 2**31 - 1, n)
    return [
        generate_sample(int(seeds[i]), size, "malignant" if malignant[i] else "benign", i % n_stain_styles)
        for i in range(n)
    ]
