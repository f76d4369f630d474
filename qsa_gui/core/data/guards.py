"""Checks made on a file's *declared* layout before any pixel is decoded.

Why: a header costs nothing to forge. A 4 KB TIFF can declare 65520 x 65520 tiles (4 GB for one
tile), a 781-byte JPEG can declare 12000 x 12000 pixels (libjpeg fills what is missing with grey
and calls it an image), a sparse 8 KB file can declare 400 MB of raw pixels. And some files decode
fine but hold the wrong thing for ground truth: a JPEG label image invents dozens of ids at every
edge, a two-page TIFF would be read as grey + alpha with one page dropped. Everything here raises
:class:`~qsa_gui.core.errors.InputFileError` naming the file and the reason.

Rules (the numbers are module-level so tests can lower them):

* One decoded TIFF tile may take at most :data:`MAX_SEGMENT_BYTES`.
* Compressed data may expand at most :data:`MAX_RATIO` times (raw bits of the declared pixels per
  stored byte). Deflate tops out near 1032:1, LZW and JPEG near 1000:1 on blank input, so a file
  beyond that is truncated or forged; an all-empty zstd/LZMA mask may compress further: save it
  with zlib. Uncompressed data must be at least half present. Files whose declared raw pixels are
  under :data:`MIN_CHECKED_BYTES` are not checked (too small to hurt).
* The bytes actually allocated on disk count too (``st_blocks``): a sparse file's holes are
  zeros nobody wrote.
* Labels must be lossless (no JPEG, lossy WebP, JPEG-compressed or other lossy TIFF codecs) and a
  single page; images and labels alike must be a single frame (no animated PNG / GIF).
* EXIF / TIFF orientation is applied to images *and* labels (:func:`apply_orientation`): a label
  saved by the same tool as its image carries the same tag, and shape checks then compare like
  with like.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError

MAX_SEGMENT_BYTES: int = 128 << 20
MAX_RATIO: int = 4096
MIN_CHECKED_BYTES: int = 32 << 20

# TIFF codecs that lose information (or may: JPEG 2000 / XL / WebP have lossless modes that
# cannot be told from the tag alone), by tag value
LOSSY_TIFF: dict[int, str] = {
    6: "JPEG", 7: "JPEG", 99: "JPEG", 33007: "JPEG", 34892: "lossy JPEG",
    33003: "JPEG 2000", 33004: "JPEG 2000", 33005: "JPEG 2000", 34712: "JPEG 2000",
    22610: "JPEG XR", 34934: "JPEG XR", 50001: "WebP", 34927: "WebP", 50002: "JPEG XL",
    52546: "JPEG XL", 34887: "LERC", 34676: "SGILOG", 34677: "SGILOG",
}  # fmt: skip


def _mb(n: float) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def allocated_bytes(path: Path) -> int | None:
    """Bytes the file really occupies on disk (None where the OS does not say)."""
    st = os.stat(path)
    blocks = getattr(st, "st_blocks", None)
    if not blocks:  # Windows, or a tiny file stored inline in its inode
        return None
    return int(blocks) * 512


def check_payload(path: Path, declared_raw: int, payload: int, *, compressed: bool) -> None:
    """Refuse a file whose stored pixel data is far too small for the pixels it declares."""
    if declared_raw < MIN_CHECKED_BYTES:
        return
    if not compressed and declared_raw > 2 * payload:
        raise InputFileError(
            path,
            f"holds only {_mb(payload)} of the {_mb(declared_raw)} of pixels its header declares "
            "(truncated or forged); refusing before allocating it",
        )
    if compressed and declared_raw > MAX_RATIO * payload:
        raise InputFileError(
            path,
            f"declares {_mb(declared_raw)} of pixels in {_mb(payload)} of compressed data (more than "
            f"{MAX_RATIO}:1); the file is truncated or forged, refusing before decoding it",
        )
    on_disk = allocated_bytes(path)
    if on_disk is not None and declared_raw > MAX_RATIO * on_disk:
        raise InputFileError(
            path,
            f"is sparse on disk: {_mb(on_disk)} stored for {_mb(declared_raw)} of declared pixels "
            "(its pixel data was never written); refusing",
        )


def check_tiff(path: Path, tif: object, series: object, *, labels: bool) -> None:
    """Tile budget, payload vs. declared size, and (for labels) lossless single page."""
    pages = [p for p in series.pages if p is not None]  # type: ignore[attr-defined]
    n_pages = len(tif.pages)  # type: ignore[attr-defined]
    if labels and (n_pages > 1 or len(pages) > 1):
        raise InputFileError(
            path, f"label TIFF holds {max(n_pages, len(pages))} pages; labels must be one 2-D page"
        )
    declared = payload = 0
    compressed = False
    for page in pages:
        comp = int(page.compression)
        if labels and comp in LOSSY_TIFF:
            raise InputFileError(
                path, f"label TIFF is {LOSSY_TIFF[comp]}-compressed (lossy: it changes ids at edges); "
                "save labels with lossless compression (zlib, LZW) or none",
            )  # fmt: skip
        bits = (
            int(page.bitspersample) if not isinstance(page.bitspersample, tuple) else max(page.bitspersample)
        )
        if page.is_tiled:
            seg = int(np.prod(page.chunks, dtype=np.int64)) * max(1, np.dtype(page.dtype).itemsize)
            if page.planarconfig == 1 and len(page.chunks) < 3 and int(page.samplesperpixel) > 1:
                seg *= int(page.samplesperpixel)
            if seg > MAX_SEGMENT_BYTES:
                raise InputFileError(
                    path, f"declares tiles of {page.tilewidth} x {page.tilelength} pixels ({_mb(seg)} "
                    f"each, over the {_mb(MAX_SEGMENT_BYTES)} budget); refusing before decoding",
                )  # fmt: skip
        declared += int(np.prod(page.shape, dtype=np.int64)) * bits // 8
        payload += int(sum(int(c) for c in page.databytecounts))
        compressed = compressed or comp != 1
    size = os.stat(path).st_size
    check_payload(path, declared, min(payload, size), compressed=compressed)


def check_lazy_strips(path: Path, page: object, planned: tuple[int, ...], max_pixels: int) -> None:
    """A region read decodes every compressed strip it touches: an image too large to decode whole
    stored in strips beyond :data:`MAX_SEGMENT_BYTES` would cost a strip's memory per region."""
    if page.is_tiled or page.compression == 1 or planned[0] * planned[1] <= max_pixels:  # type: ignore[attr-defined]
        return
    rows = min(int(page.rowsperstrip or planned[0]), int(planned[0]))  # type: ignore[attr-defined]
    shaped = page.shaped  # type: ignore[attr-defined]
    strip = rows * int(shaped[3]) * int(shaped[4]) * np.dtype(page.dtype).itemsize  # type: ignore[attr-defined]
    if strip > MAX_SEGMENT_BYTES:
        raise InputFileError(
            path,
            f"is too large to decode whole and stored in compressed strips of {rows} rows ({_mb(strip)} "
            f"each, over the {_mb(MAX_SEGMENT_BYTES)} budget); save it tiled (e.g. 512 x 512 tiles)",
        )


def _png_raw_bits(head: bytes) -> int | None:
    """Bits per pixel from a PNG IHDR (bit depth x channels of the colour type)."""
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 26:
        return None
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(head[25], 4)
    return int(head[24]) * channels


_MODE_BITS = {"1": 1, "I": 32, "F": 32, "I;16": 16, "I;16B": 16, "I;16L": 16}


def _webp_is_lossless(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    return b"VP8L" in head and b"VP8 " not in head


def check_pil(path: Path, im: object, head: bytes, *, labels: bool) -> None:
    """Frames, lossy label formats and declared size vs. file size for a Pillow-read file."""
    fmt = str(getattr(im, "format", "") or "")
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1:
        raise InputFileError(
            path, f"holds {frames} frames (animated or multi-page {fmt}); only single images are supported"
        )
    w, h = im.size  # type: ignore[attr-defined]
    mode = str(im.mode)  # type: ignore[attr-defined]
    bits = _png_raw_bits(head) if fmt == "PNG" else None
    if bits is None:
        bits = _MODE_BITS.get(mode, 8 * len(im.getbands()))  # type: ignore[attr-defined]
    compressed = not (fmt == "BMP" and not im.info.get("compression"))  # type: ignore[attr-defined]
    check_payload(path, int(w) * int(h) * bits // 8, os.stat(path).st_size, compressed=compressed)
    if labels and (fmt in ("JPEG", "MPO", "JPEG2000") or (fmt == "WEBP" and not _webp_is_lossless(path))):
        raise InputFileError(
            path, f"label image is {fmt} (lossy: compression invents ids at edges); "
            "save labels as PNG or TIFF",
        )  # fmt: skip


def exif_orientation(im: object) -> int:
    """The EXIF orientation (1..8) of a Pillow image, 1 when absent or invalid."""
    try:
        value = int(im.getexif().get(0x0112, 1))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a broken EXIF block is no orientation
        return 1
    return value if 1 <= value <= 8 else 1


def tiff_orientation(page: object) -> int:
    tag = page.tags.get("Orientation")  # type: ignore[attr-defined]
    try:
        value = int(tag.value) if tag is not None else 1
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels as displayed for an EXIF/TIFF orientation (as ``PIL.ImageOps.exif_transpose``)."""
    if orientation == 2:
        arr = arr[:, ::-1]
    elif orientation == 3:
        arr = arr[::-1, ::-1]
    elif orientation == 4:
        arr = arr[::-1]
    elif orientation == 5:
        arr = arr.swapaxes(0, 1)
    elif orientation == 6:
        arr = np.rot90(arr, -1)
    elif orientation == 7:
        arr = arr.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)
