"""Generated whole slides for tests and benchmarks: pyramidal OME-TIFF, NDPI-like and BigTIFF files
written tile by tile (a 60000 x 60000 slide never sits in memory).

Tissue is a few seeded ellipses on white glass. ``content="glands"`` fills it with the gland
generator (:mod:`qsa_gui.core.data.synth`) in blocks of ``block`` level-0 pixels, so the labels
of any box are known (:meth:`SyntheticSlide.labels`); ``content="plain"`` is a cheap pink texture
for memory and speed benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..data.synth import generate_sample

KINDS = ("ome", "ndpi", "bigtiff")
_WHITE = np.array([242, 240, 243], np.float32)


@dataclass
class SyntheticSlide:
    """A generated slide's recipe: level-0 ``shape``, tissue ellipses, gland blocks."""

    shape: tuple[int, int]
    seed: int = 0
    block: int = 512
    content: str = "glands"
    ellipses: list[tuple[float, float, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.ellipses:
            rng = np.random.default_rng(self.seed)
            h, w = self.shape
            for _ in range(3):
                cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
                self.ellipses.append((cy, cx, rng.uniform(0.15, 0.3) * h, rng.uniform(0.15, 0.3) * w))

    def tissue(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Tissue mask at level-0 coordinates (broadcast ``ys`` column against ``xs`` row)."""
        m = np.zeros(np.broadcast_shapes(ys.shape, xs.shape), bool)
        for cy, cx, ry, rx in self.ellipses:
            m |= ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1.0
        return m

    def _block(self, by: int, bx: int):
        return _gland_block(self.seed, by, bx, self.block)

    def box_level0(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB and int32 labels (ids unique over the slide) of a level-0 box."""
        img = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        lab = np.zeros((y1 - y0, x1 - x0), np.int32)
        b = self.block
        for by in range(y0 // b, (y1 - 1) // b + 1):
            for bx in range(x0 // b, (x1 - 1) // b + 1):
                sy0, sy1 = max(y0, by * b), min(y1, (by + 1) * b)
                sx0, sx1 = max(x0, bx * b), min(x1, (bx + 1) * b)
                cy = np.array([[sy0], [sy1 - 1]], np.float32)
                cx = np.linspace(sx0, sx1 - 1, 9, dtype=np.float32)[None, :]
                probe = self.tissue(np.linspace(sy0, sy1 - 1, 9, dtype=np.float32)[:, None], cx)
                if not probe.any() and not self.tissue(cy, cx).any():
                    img[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = _WHITE.astype(np.uint8)
                    continue  # glass only: no glands to generate
                s = self._block(by, bx)
                part = (slice(sy0 - by * b, sy1 - by * b), slice(sx0 - bx * b, sx1 - bx * b))
                img[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = s.image[part]
                sl = s.labels[part]
                lab[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = np.where(
                    sl > 0, sl + (by * 4096 + bx) * 1000, 0
                )
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        mask = self.tissue(ys, xs)
        img[~mask] = _WHITE.astype(np.uint8)
        lab[~mask] = 0
        return img, lab

    def labels(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """Ground-truth instance labels of a level-0 box (y0, y1, x0, x1)."""
        return self.box_level0(*box)[1]

    def tile(self, downsample: int, y0: int, x0: int, th: int, tw: int) -> np.ndarray:
        """uint8 RGB of a tile at level ``downsample`` (level pixel coordinates)."""
        if self.content == "glands":
            h, w = self.shape
            Y0, X0 = y0 * downsample, x0 * downsample
            Y1, X1 = min(h, (y0 + th) * downsample), min(w, (x0 + tw) * downsample)
            out = np.full((th, tw, 3), _WHITE.astype(np.uint8), np.uint8)
            if Y0 >= Y1 or X0 >= X1:
                return out
            img = self.box_level0(Y0, Y1, X0, X1)[0]
            if downsample > 1:
                hh, ww = img.shape[0] // downsample, img.shape[1] // downsample
                img = img[: hh * downsample, : ww * downsample].reshape(hh, downsample, ww, downsample, 3)
                img = img.mean(axis=(1, 3)).astype(np.uint8)
            out[: img.shape[0], : img.shape[1]] = img
            return out
        # the mask on an 8-px lattice (cheap: a 60000 px slide is 55000 tiles), one pink texture
        ys = ((np.arange(0, th, 8, dtype=np.float32) + y0) * downsample)[:, None]
        xs = ((np.arange(0, tw, 8, dtype=np.float32) + x0) * downsample)[None, :]
        coarse = self.tissue(ys, xs)
        if not coarse.any():
            return _plain_tile(th, tw, False)
        if coarse.all():
            return _plain_tile(th, tw, True)
        mask = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:th, :tw]
        return np.where(mask[:, :, None], _plain_tile(th, tw, True), _plain_tile(th, tw, False))


class ArraySlide:
    """An in-memory uint8 RGB image served as slide tiles (small test slides only)."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = np.ascontiguousarray(rgb, np.uint8)
        self.shape = tuple(self.rgb.shape[:2])

    def tile(self, downsample: int, y0: int, x0: int, th: int, tw: int) -> np.ndarray:
        d = downsample
        h, w = self.shape[0] // d, self.shape[1] // d
        level = self.rgb[: h * d, : w * d].reshape(h, d, w, d, 3).mean(axis=(1, 3)) if d > 1 else self.rgb
        out = np.full((th, tw, 3), _WHITE.astype(np.uint8), np.uint8)
        part = level[y0 : y0 + th, x0 : x0 + tw]
        out[: part.shape[0], : part.shape[1]] = part
        return out


@lru_cache(maxsize=8)
def _plain_tile(th: int, tw: int, tissue: bool) -> np.ndarray:
    if not tissue:
        return np.broadcast_to(_WHITE.astype(np.uint8), (th, tw, 3))
    ys = np.arange(th, dtype=np.float32)[:, None]
    xs = np.arange(tw, dtype=np.float32)[None, :]
    wave = 0.5 + 0.5 * np.sin(ys / 37.0) * np.cos(xs / 53.0)
    return np.stack([200 + 30 * wave, 120 + 60 * wave, 170 + 40 * wave], axis=-1).astype(np.uint8)


@lru_cache(maxsize=256)
def _gland_block(seed: int, by: int, bx: int, block: int):
    return generate_sample(seed * 1_000_003 + by * 7919 + bx, (block, block))


def _tiles(slide: SyntheticSlide, downsample: int, shape: tuple[int, int], tile: int) -> Iterator[np.ndarray]:
    h, w = shape
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            yield slide.tile(downsample, y, x, tile, tile)


def write_slide(
    path: str | Path,
    slide: SyntheticSlide | ArraySlide,
    *,
    kind: str = "ome",
    levels: int = 3,
    tile: int = 256,
    mpp: float | None = 0.5,
    magnification: float | None = 20.0,
    compression: str = "jpeg",
) -> Path:
    """Write ``slide`` as a tiled file of ``kind`` (see :data:`KINDS`): ``ome`` a pyramid in
    SubIFDs with OME pixel size, ``ndpi`` one page per level with Hamamatsu's tags, ``bigtiff`` a
    single level with resolution tags. Returns the path."""
    import tifffile

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = slide.shape
    shapes = [(h // 2**k, w // 2**k) for k in range(levels if kind != "bigtiff" else 1)]
    shapes = [s for s in shapes if min(s) >= 1]
    res = {}
    if mpp:
        res = {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"}
    common = {"tile": (tile, tile), "dtype": np.uint8, "photometric": "rgb", "compression": compression}
    with tifffile.TiffWriter(path, bigtiff=True, ome=(kind == "ome")) as tw:
        for k, shp in enumerate(shapes):
            extra: dict = {}
            if kind == "ome" and k == 0:
                meta = {"axes": "YXS"}
                if mpp:
                    meta.update(PhysicalSizeX=mpp, PhysicalSizeY=mpp, PhysicalSizeXUnit="µm")
                extra = {"subifds": len(shapes) - 1, "metadata": meta}
            elif kind == "ome":
                extra = {"subfiletype": 1}
            elif kind == "ndpi":
                tags = [
                    (65420, 4, 1, 1, True),
                    (271, "s", 0, "Hamamatsu", True),
                    (272, "s", 0, "synthetic", True),
                ]
                if magnification:
                    tags.append((65421, 11, 1, float(magnification), True))
                extra = {"extratags": tags, "metadata": None, "software": "NDP.scan"}
            level_res = {}
            if res:
                r = res["resolution"][0] / 2**k
                level_res = {"resolution": (r, r), "resolutionunit": "CENTIMETER"}
            tw.write(_tiles(slide, 2**k, shp, tile), shape=(*shp, 3), **common, **level_res, **extra)
    return path
