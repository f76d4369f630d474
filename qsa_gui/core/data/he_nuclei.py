"""Real H&E with instance-labelled nuclei (the ``he_nuclei`` folder) cut into a tile pool.

Two 1500x1500 ovarian-carcinoma images (a dense tumour nest and a sparse stromal region) with
their nuclei instance labels. Neighbouring tiles are correlated, so the test set is not a random
choice of tiles but a contiguous block per image: the last ``test_rows`` rows of tiles, separated
from the pool by ``gap_rows`` rows that neither side uses. Each image contributes to both sides,
so the pool stays heterogeneous (two tissue types) and the test set measures both.

The product never needs this data; benchmarks and tests look for the folder and skip without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .images import load_rgb, read_labels

IMAGES: tuple[str, ...] = ("hgsc_nest", "hgsc_stroma")


@dataclass(frozen=True)
class TileSource:
    """Where a tile came from: image name and tile row/column (pixels = index * tile size)."""

    image: str
    row: int
    col: int


@dataclass
class TilePool:
    """Pool and test tiles (float RGB in [0, 1], int32 instance labels renumbered 1..N per tile)."""

    pool_images: list[np.ndarray]
    pool_labels: list[np.ndarray]
    pool_sources: list[TileSource]
    test_images: list[np.ndarray]
    test_labels: list[np.ndarray]
    test_sources: list[TileSource]
    tile: int


def find_he_nuclei(candidates: Iterable[str | Path]) -> Path | None:
    """The first candidate folder holding all the he_nuclei files, or None."""
    for c in candidates:
        p = Path(c)
        if p.name != "he_nuclei":
            p = p / "he_nuclei"
        if all((p / f"{n}.png").is_file() and (p / f"{n}_labels.tif").is_file() for n in IMAGES):
            return p
    return None


def relabel(labels: np.ndarray) -> np.ndarray:
    """Instance ids renumbered 1..N in order of first value (a tile cuts some nuclei away)."""
    ids, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(labels.shape).astype(np.int32)
    return inverse if ids[0] == 0 else inverse + 1


def cut_tiles(
    image: np.ndarray,
    labels: np.ndarray,
    name: str,
    tile: int,
    test_rows: int,
    gap_rows: int,
) -> tuple[list[tuple[np.ndarray, np.ndarray, TileSource]], list[tuple[np.ndarray, np.ndarray, TileSource]]]:
    """(pool, test) tiles of one image: the bottom ``test_rows`` tile rows are the test block."""
    n_rows, n_cols = image.shape[0] // tile, image.shape[1] // tile
    if n_rows < test_rows + gap_rows + 1 or n_cols < 1:
        raise ValueError(
            f"{name}: {image.shape[0]}x{image.shape[1]} gives {n_rows} rows of {tile}-pixel tiles; "
            f"need at least {test_rows + gap_rows + 1} for pool, gap and test"
        )
    pool, test = [], []
    for r in range(n_rows):
        if n_rows - test_rows - gap_rows <= r < n_rows - test_rows:
            continue  # the gap: neither pool nor test
        for c in range(n_cols):
            sl = (slice(r * tile, (r + 1) * tile), slice(c * tile, (c + 1) * tile))
            item = (
                np.ascontiguousarray(image[sl], dtype=np.float32),
                relabel(labels[sl]),
                TileSource(name, r, c),
            )
            (test if r >= n_rows - test_rows else pool).append(item)
    return pool, test


def load_he_nuclei(
    folder: str | Path,
    *,
    tile: int = 150,
    test_rows: int = 2,
    gap_rows: int = 1,
    images: Sequence[str] = IMAGES,
) -> TilePool:
    """Both images cut into ``tile``-pixel tiles with a separate test block per image.

    At the default 150 px: 10x10 tiles per image, rows 0-6 pool (70), row 7 gap, rows 8-9 test
    (20): 140 pool and 40 test tiles. Missing or unreadable files raise ``InputFileError``.
    """
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 16:
        raise ValueError(f"tile must be an integer >= 16, got {tile!r}")
    if test_rows < 1 or gap_rows < 0:
        raise ValueError(f"need test_rows >= 1 and gap_rows >= 0, got {test_rows}, {gap_rows}")
    folder = Path(folder)
    pool: list[tuple[np.ndarray, np.ndarray, TileSource]] = []
    test: list[tuple[np.ndarray, np.ndarray, TileSource]] = []
    for name in images:
        img_path, lab_path = folder / f"{name}.png", folder / f"{name}_labels.tif"
        for p in (img_path, lab_path):
            if not p.is_file():
                raise InputFileError(p, "missing from the he_nuclei folder")
        rgb = load_rgb(img_path)
        lab = read_labels(lab_path, expected_shape=rgb.shape[:2])
        p_tiles, t_tiles = cut_tiles(rgb, lab, name, tile, test_rows, gap_rows)
        pool += p_tiles
        test += t_tiles
    return TilePool(
        [t[0] for t in pool],
        [t[1] for t in pool],
        [t[2] for t in pool],
        [t[0] for t in test],
        [t[1] for t in test],
        [t[2] for t in test],
        tile,
    )
