"""Texture for the generator (:mod:`.synth`): smooth noise, stroma fibres, nuclei and the epithelium."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .synth_glands import _Gland

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
