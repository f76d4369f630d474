"""Segmenting images too large for memory (whole slides): strips with context, stitched exactly.

Why: :meth:`Segmenter.predict` holds the whole image as float32 RGB plus three float32
accumulators and the post-processing's arrays, about 60 bytes a pixel: 24 GB for a
20000 x 20000 slide. Here the image is read a strip at a time (:func:`io.open_lazy`), and
memory is O((strip_rows + 2 * margin) x width), independent of the image height: about 55 bytes
a window pixel plus the model. Measured (micro FCN, CPU, peak RSS over the process's baseline):
a 20000 x 20000 RGB slide with the default 172-row strips (6 Mpx windows) +315 MB, where the
whole-image path would need ~24 GB; 3000 px wide with 200-row strips +62 MB at 500 rows and
+67 MB at 2000 rows (tests/reliability/test_rel_large.py).

How, for strip ``k`` with core rows ``[c0, c1)``:

1. read the *window* ``[c0 - margin, c1 + margin)`` (clipped to the image), predict it with the
   segmenter's tiled inference and turn it into instances with the same post-processing as a
   whole image (:func:`postprocess.probs_to_instances`); the margin gives every pixel of the core
   the context it would have in the whole image;
2. keep the core rows, with ids offset so that every strip's objects get distinct
   *provisional* ids; they go, zlib-compressed, to a temporary file beside the output;
3. at the seam ``s = c1`` both neighbouring windows have labels for the band
   ``[s - margin // 2, s + margin // 2)``: an object of strip ``k`` and one of strip ``k + 1``
   that cover the same band pixels (more than half of the smaller one's band area) are the same
   object cut by the seam, and a union-find joins them (chains of seams included);
4. the final ids are the union-find roots, renumbered 1..N in raster order of first appearance
   (as :func:`probs_to_instances` numbers a whole image), objects under ``min_size`` pixels
   (measured after joining) dropped; a second pass writes the output TIFF strip by strip.

When every object touching a core lies inside its window (objects smaller than the margin, or
long objects whose seeds are), the result equals whole-image post-processing of the same
probabilities, ids included; the tests check that on hand-built probability maps.

The output is an uncompressed TIFF (uint16 when the ids fit, else uint32) written atomically, so
``tifffile.memmap`` can page it back in without decoding the whole slide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qsa_gui.core.data import lazy as qlazy
from qsa_gui.core.model.postprocess import default_min_size, probs_to_instances

from ..jobs import CancelToken, Job, Progress, check

__all__ = [
    "DEFAULT_WINDOW_PIXELS",
    "LARGE_IMAGE_PIXELS",
    "LARGE_MIN_SIZE",
    "LargeSegmentation",
    "is_large",
    "plan_strips",
    "segment_large",
]

# Images with more pixels than this are segmented strip by strip by workflow.segment_job.
LARGE_IMAGE_PIXELS = 4096 * 4096
# Pixels per predicted window when strip_rows is not given (memory ~55 bytes a window pixel).
DEFAULT_WINDOW_PIXELS = 6_000_000
# Glands keep their physical size however large the slide: a fixed minimum object size (the
# whole-image default of a 1024 x 1024 field) instead of a fraction of the image.
LARGE_MIN_SIZE = default_min_size((1024, 1024))


class _Probabilities(Protocol):
    def probabilities(
        self, image: np.ndarray, device: str | None = None, cancel: CancelToken | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class LargeSegmentation:
    """What :func:`segment_large` wrote."""

    path: Path
    shape: tuple[int, int]
    n_objects: int
    dtype: str
    strip_rows: int
    margin: int
    n_strips: int


def is_large(shape: tuple[int, ...]) -> bool:
    """Whether an image of this shape goes through the strip path."""
    return int(shape[0]) * int(shape[1]) > LARGE_IMAGE_PIXELS


def plan_strips(height: int, strip_rows: int, margin: int) -> list[tuple[int, int, int, int]]:
    """``(core0, core1, window0, window1)`` per strip: cores tile ``[0, height)``."""
    if strip_rows < 1 or margin < 0:
        raise ValueError("strip_rows must be >= 1 and margin >= 0")
    out = []
    for c0 in range(0, height, strip_rows):
        c1 = min(height, c0 + strip_rows)
        out.append((c0, c1, max(0, c0 - margin), min(height, c1 + margin)))
    return out


class _UnionFind:
    """Union-find over provisional ids (0 is background and stays alone)."""

    def __init__(self) -> None:
        self.parent = np.zeros(1, np.int64)

    def grow(self, n: int) -> None:
        old = len(self.parent)
        if n > old:
            self.parent = np.concatenate([self.parent, np.arange(old, n, dtype=np.int64)])

    def find(self, a: int) -> int:
        p = self.parent
        root = a
        while p[root] != root:
            root = int(p[root])
        while p[a] != root:  # path compression
            p[a], a = root, int(p[a])
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))], np.int64)


def _seam_pairs(upper: np.ndarray, lower: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (a, b) of provisional ids covering the same band pixels, for more than half of the
    smaller one's band area: the same object seen by both windows."""
    both = (upper > 0) & (lower > 0)
    if not both.any():
        return []
    a, b = upper[both].astype(np.int64), lower[both].astype(np.int64)
    pairs, counts = np.unique(np.stack([a, b]), axis=1, return_counts=True)
    ua, na = np.unique(upper[upper > 0], return_counts=True)
    ub, nb = np.unique(lower[lower > 0], return_counts=True)
    area_a = dict(zip(ua.tolist(), na.tolist(), strict=True))
    area_b = dict(zip(ub.tolist(), nb.tolist(), strict=True))
    out = []
    for (pa, pb), n in zip(pairs.T.tolist(), counts.tolist(), strict=True):
        if 2 * n > min(area_a[pa], area_b[pb]):
            out.append((pa, pb))
    return out


def _as_source(source: Any) -> qlazy.LazyImage:
    if isinstance(source, qlazy.LazyImage):
        return source
    if isinstance(source, (str, Path)):
        return qlazy.open_lazy(source)
    return qlazy.lazy_from_array(source)


def _with_tiling(segmenter: Any, tile: int | None, overlap: int | None) -> Any:
    if (tile is None and overlap is None) or not dataclasses.is_dataclass(segmenter):
        return segmenter
    changes = {k: v for k, v in (("tile", tile), ("overlap", overlap)) if v is not None}
    return dataclasses.replace(segmenter, **changes)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def segment_large(
    segmenter: _Probabilities,
    source: Any,
    out_path: str | Path,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    strip_rows: int | None = None,
    margin: int | None = None,
    min_size: int | None = None,
    device: str | None = None,
    cancel: CancelToken | None = None,
) -> Job[LargeSegmentation]:
    """Segment ``source`` (a path, :class:`io.LazyImage` or array such as a ``np.memmap``) strip by
    strip into the instance-label TIFF ``out_path``; see the module doc for the method.

    ``strip_rows`` core rows per strip (default: a window of about :data:`DEFAULT_WINDOW_PIXELS`),
    ``margin`` context rows above and below (default ``max(64, 2 * overlap)``), ``min_size`` the
    smallest kept object (default :data:`LARGE_MIN_SIZE`). Cancelling leaves ``out_path`` as it was.
    """
    out_path = Path(out_path)
    src = _as_source(source)
    try:
        return (
            yield from _segment_large(
                segmenter, src, out_path, tile, overlap, strip_rows, margin, min_size, device, cancel
            )
        )
    finally:
        if src is not source:  # opened here from a path or wrapped an array: ours to close
            src.close()


def _segment_large(
    segmenter: _Probabilities,
    src: qlazy.LazyImage,
    out_path: Path,
    tile: int | None,
    overlap: int | None,
    strip_rows: int | None,
    margin: int | None,
    min_size: int | None,
    device: str | None,
    cancel: CancelToken | None,
) -> Job[LargeSegmentation]:
    seg = _with_tiling(segmenter, tile, overlap)
    h, w = src.shape[:2]
    ov = int(overlap if overlap is not None else getattr(seg, "overlap", 32))
    margin = int(margin) if margin is not None else max(64, 2 * ov)
    if strip_rows is None:
        strip_rows = max(64, DEFAULT_WINDOW_PIXELS // max(1, w) - 2 * margin)
    strip_rows = int(strip_rows)
    if margin < 2:
        raise ValueError("margin must be at least 2 rows (the seams are matched inside it)")
    min_px = LARGE_MIN_SIZE if min_size is None else max(0, int(min_size))
    strips = plan_strips(h, strip_rows, margin)
    band = max(1, margin // 2)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    uf = _UnionFind()
    areas = np.zeros(1, np.int64)
    first = np.full(1, np.iinfo(np.int64).max, np.int64)
    chunks: list[tuple[int, int, int, int]] = []  # (offset, nbytes, core0, core1)
    base = 0
    prev_band: np.ndarray | None = None
    tmp_out = out_path.parent / f".{out_path.name[:60]}.{os.getpid()}.tmp"
    with tempfile.TemporaryFile(dir=out_path.parent, prefix=".strips.") as store:
        try:
            yield Progress("segmenting a large image", 0.0, f"{w} x {h} px in {len(strips)} strips")
            for k, (c0, c1, w0, w1) in enumerate(strips):
                check(cancel)
                window = src.read_rgb(w0, w1)
                gland, contour = seg.probabilities(window, device=device, cancel=cancel)
                del window
                lab = probs_to_instances(gland, contour, min_size=min_px).astype(np.uint32)
                del gland, contour
                n_local = int(lab.max())
                if base + n_local >= 2**32 - 1:
                    raise ValueError("more than 4 billion objects: not a segmentation")
                lab[lab > 0] += base
                uf.grow(base + n_local + 1)
                core = lab[c0 - w0 : c1 - w0]
                ids, idx, cnt = np.unique(core, return_index=True, return_counts=True)
                areas = np.concatenate([areas, np.zeros(base + n_local + 1 - len(areas), np.int64)])
                first = np.concatenate(
                    [first, np.full(base + n_local + 1 - len(first), np.iinfo(np.int64).max, np.int64)]
                )
                areas[ids] += cnt
                first[ids] = np.minimum(first[ids], idx.astype(np.int64) + c0 * w)
                data = zlib.compress(core.tobytes(), 1)
                chunks.append((store.tell(), len(data), c0, c1))
                store.write(data)
                # seams: this window's rows around its top seam meet the previous window's
                if prev_band is not None:
                    b0, b1 = max(0, c0 - band), min(h, c0 + band)
                    for a, b in _seam_pairs(prev_band, lab[b0 - w0 : b1 - w0]):
                        uf.union(a, b)
                if k + 1 < len(strips):
                    b0, b1 = max(0, c1 - band), min(h, c1 + band)
                    prev_band = lab[b0 - w0 : b1 - w0].copy()
                del lab, core
                base += n_local
                yield Progress(
                    "segmenting a large image", 0.9 * (k + 1) / len(strips), f"strip {k + 1}/{len(strips)}"
                )
            check(cancel)
            # final ids: roots renumbered in raster order of first appearance, small ones dropped
            roots = uf.roots()
            root_area = np.bincount(roots, weights=areas, minlength=len(roots)).astype(np.int64)
            root_first = np.full(len(roots), np.iinfo(np.int64).max, np.int64)
            np.minimum.at(root_first, roots, first)
            keep = (root_area >= max(1, min_px)) & (np.arange(len(roots)) == roots)
            keep[0] = False
            kept = np.flatnonzero(keep)
            kept = kept[np.argsort(root_first[kept], kind="stable")]
            final_of_root = np.zeros(len(roots), np.int64)
            final_of_root[kept] = np.arange(1, len(kept) + 1)
            lut = final_of_root[roots]
            n_obj = len(kept)
            dtype = np.uint16 if n_obj < 2**16 else np.uint32
            lut = lut.astype(dtype)

            def final_strips() -> Iterator[np.ndarray]:
                for offset, nbytes, c0, c1 in chunks:
                    check(cancel)
                    store.seek(offset)
                    prov = np.frombuffer(zlib.decompress(store.read(nbytes)), np.uint32)
                    yield lut[prov.reshape(c1 - c0, w)]

            import tifffile

            tifffile.imwrite(
                tmp_out,
                final_strips(),
                shape=(h, w),
                dtype=dtype,
                photometric="minisblack",
                rowsperstrip=strip_rows,
            )
            with open(tmp_out, "rb+") as fh:
                os.fsync(fh.fileno())
            check(cancel)
            os.replace(tmp_out, out_path)
            _fsync_dir(out_path.parent)
        finally:
            with contextlib.suppress(OSError):
                tmp_out.unlink()
    yield Progress("segmenting a large image", 1.0, f"{n_obj} objects")
    return LargeSegmentation(out_path, (h, w), n_obj, np.dtype(dtype).name, strip_rows, margin, len(strips))
