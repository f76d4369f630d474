"""Instance masks <-> polygons with holes, and the validity checks GeoJSON needs, without shapely.

Why hand-made: shapely is not a dependency; skimage's marching squares gives rings that are simple
by construction, and checking simplicity (no two non-adjacent edges cross) is a few numpy lines.

Coordinates are (x, y) with the origin at the top-left *corner* of the top-left pixel, as QuPath
uses: pixel (row r, col c) covers [c, c+1) x [r, r+1) and its centre is (c + 0.5, r + 0.5).
"""

from __future__ import annotations

import numpy as np

Ring = np.ndarray  # (N, 2) float64 (x, y), closed (first == last)
Polygon = list  # [outer ring, hole rings ...]


def signed_area(ring: Ring) -> float:
    """Shoelace area; positive when the ring runs counter-clockwise in (x, y) axes."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def _oriented(ring: Ring, ccw: bool) -> Ring:
    return ring if (signed_area(ring) > 0) == ccw else ring[::-1].copy()


def _ring_of(mask: np.ndarray, tolerance: float) -> Ring | None:
    """The one outer boundary of a filled, connected mask, as a closed (x, y) ring."""
    from skimage.measure import approximate_polygon, find_contours

    padded = np.pad(mask.astype(np.float32), 1)
    contours = find_contours(padded, 0.5)
    if not contours:
        return None
    c = max(contours, key=len)
    simple = approximate_polygon(c, tolerance) if tolerance > 0 else c
    if len(simple) >= 4 and is_simple(simple[:, ::-1]):
        c = simple
    xy = np.stack([c[:, 1] - 1 + 0.5, c[:, 0] - 1 + 0.5], axis=1).astype(np.float64)
    if not np.array_equal(xy[0], xy[-1]):
        xy = np.vstack([xy, xy[:1]])
    return xy if len(xy) >= 4 else None


def mask_to_polygons(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0), scale: float = 1.0,
                     tolerance: float = 0.3) -> list[Polygon]:  # fmt: skip
    """Polygons (outer ring CCW, holes CW) of a boolean mask; a mask of several pieces gives
    several polygons (a MultiPolygon). Ring points are mapped by ``offset + scale * (x, y)``."""
    from scipy import ndimage as ndi

    out: list[Polygon] = []
    pieces, n = ndi.label(mask)
    for k in range(1, n + 1):
        piece = pieces == k
        filled = ndi.binary_fill_holes(piece)
        outer = _ring_of(filled, tolerance)
        if outer is None:
            continue
        rings = [_oriented(outer, True)]
        holes, nh = ndi.label(filled & ~piece)
        for j in range(1, nh + 1):
            ring = _ring_of(holes == j, tolerance)
            if ring is not None:
                rings.append(_oriented(ring, False))
        ox, oy = offset
        out.append([np.stack([ox + scale * r[:, 0], oy + scale * r[:, 1]], axis=1) for r in rings])
    return out


def _segments_cross(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Whether segments p-q and r-s properly intersect or touch (broadcast)."""

    def orient(a, b, c):
        return np.sign(
            (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
            - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
        )

    o1, o2, o3, o4 = orient(p, q, r), orient(p, q, s), orient(r, s, p), orient(r, s, q)
    return (o1 * o2 <= 0) & (o3 * o4 <= 0) & ~((o1 == 0) & (o2 == 0) & (o3 == 0) & (o4 == 0))


def is_simple(ring: np.ndarray, chunk: int = 512) -> bool:
    """No two non-adjacent edges of the closed ring touch or cross (collinear overlaps aside,
    which marching squares never makes). O(n^2) in chunks of ``chunk`` edges."""
    pts = np.asarray(ring, np.float64)
    if not np.array_equal(pts[0], pts[-1]):
        pts = np.vstack([pts, pts[:1]])
    a, b = pts[:-1], pts[1:]
    n = len(a)
    if n < 3:
        return False
    idx = np.arange(n)
    for s in range(0, n, chunk):
        i = idx[s : s + chunk, None]
        hit = _segments_cross(a[s : s + chunk, None], b[s : s + chunk, None], a[None], b[None])
        adjacent = (np.abs(i - idx[None]) <= 1) | (np.abs(i - idx[None]) == n - 1)
        if (hit & ~adjacent).any():
            return False
    return True


def rasterize(polygons: list[Polygon], shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask on a grid of ``shape`` of the pixels whose centres lie inside (holes cut out);
    polygon coordinates are in that grid's pixel units with the top-left-corner origin."""
    from skimage.draw import polygon as fill

    mask = np.zeros(shape, bool)
    for poly in polygons:
        for k, ring in enumerate(poly):
            rr, cc = fill(ring[:, 1] - 0.5, ring[:, 0] - 0.5, shape)
            if k == 0:
                piece = np.zeros(shape, bool)
                piece[rr, cc] = True
            else:
                piece[rr, cc] = False
        mask |= piece
    return mask
