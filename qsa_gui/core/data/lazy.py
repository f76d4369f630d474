"""Lazy image access for images too large to decode whole: strips read on demand.

A tiled or strip-organised TIFF is served page-region by page-region through tifffile; anything
else up to :data:`~qsa_gui.core.data.images.MAX_PIXELS` is decoded whole and served from memory.
It lives apart from the eager readers so large-image segmentation and import validation can use
it without loading pixels they do not need.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from . import guards, images
from .images import _check_file, _float_rgb, _is_tiff, _pixel_max, _planned_2d_shape, _read_raw

# --------------------------------------------------------------------------------------------
# lazy (region by region) reading of large images


class LazyImage:
    """An image read a region at a time: ``shape`` / ``dtype`` as :func:`read_image` would give,
    :meth:`read_region` the raw pixels of a box, :meth:`read_rgb` the models' float32 RGB of a
    box scaled exactly as :func:`load_rgb` scales the whole image.

    Why: a 20000 x 20000 slide is 1.2 GB as uint8 and 4.8 GB as float32; memory must grow with
    the region read, not with the image. Uncompressed TIFFs are read with positioned reads
    (``os.pread``; no memory map, whose resident pages would count against the process), stripped
    or tiled TIFFs (any codec tifffile knows) decode only the strips / tiles a box touches, and
    anything else up to :data:`MAX_PIXELS` is decoded whole and served from memory.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = path
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self._hi: float | None = None

    # -- backends override these two
    def _region(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (idempotent)."""

    def __enter__(self) -> LazyImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path.name} {self.shape} {self.dtype}>"

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    def _box(self, y0: int, y1: int | None, x0: int, x1: int | None) -> tuple[int, int, int, int]:
        h, w = self.shape[:2]
        y1 = h if y1 is None else y1
        x1 = w if x1 is None else x1
        if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
            raise ValueError(f"region [{y0}:{y1}, {x0}:{x1}] is not a non-empty box inside {h} x {w}")
        return y0, y1, x0, x1

    def read_region(self, y0: int, y1: int | None = None, x0: int = 0, x1: int | None = None) -> np.ndarray:
        """Raw pixels of rows ``y0:y1`` and columns ``x0:x1`` (numpy slice semantics)."""
        box = self._box(y0, y1, x0, x1)
        try:
            return self._region(*box)
        except InputFileError:
            raise
        except MemoryError:
            raise InputFileError(self.path, "not enough memory to decode this region") from None
        except Exception as exc:  # codec / file errors from a damaged strip or tile
            raise InputFileError(self.path, f"cannot read pixels (corrupt or truncated?): {exc}") from exc

    def pixel_max(self, rows: int = 512) -> float:
        """Image-wide maximum (chooses the intensity scale), found strip by strip, cached."""
        if self._hi is None:
            if self.dtype == np.uint8 or self.dtype == np.bool_:
                self._hi = _pixel_max(np.zeros(1, self.dtype), self.path)
            else:
                hi = -np.inf
                for y in range(0, self.shape[0], rows):
                    hi = max(hi, _pixel_max(self.read_region(y, min(y + rows, self.shape[0])), self.path))
                self._hi = float(hi)
        return self._hi

    def read_rgb(self, y0: int, y1: int | None = None, x0: int = 0, x1: int | None = None) -> np.ndarray:
        """float32 ``h x w x 3`` in [0, 1]: equal to ``load_rgb(path)[y0:y1, x0:x1]``."""
        return _float_rgb(self.read_region(y0, y1, x0, x1), self.path, self.pixel_max())


class _ArrayImage(LazyImage):
    """Served from an array already in memory (small files, PNG / JPEG / BMP, numpy arrays)."""

    def __init__(self, path: Path, arr: np.ndarray) -> None:
        super().__init__(path, arr.shape, arr.dtype)
        self._arr = arr

    def _region(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return np.array(self._arr[y0:y1, x0:x1])


class _TiffPageImage(LazyImage):
    """One TIFF page (YX, YXS or SYX), read by positioned reads or by decoding its segments."""

    def __init__(self, path: Path, tif: object, page: object, shape: tuple[int, ...]) -> None:
        super().__init__(path, shape, page.dtype)  # type: ignore[attr-defined]
        self._tif = tif
        self._page = page
        self._fd: int | None = None
        self._axes: str = page.axes  # type: ignore[attr-defined]
        shaped = page.shaped  # type: ignore[attr-defined]  # (sep. samples, depth, length, width, contig)
        self._sep, self._contig = int(shaped[0]), int(shaped[4])
        self._raw = bool(page.is_contiguous and page.compression == 1 and not page.is_tiled)  # type: ignore[attr-defined]
        if self._raw:
            self._offset = int(page.dataoffsets[0])  # type: ignore[attr-defined]
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tif is not None:
            self._tif.close()  # type: ignore[attr-defined]
            self._tif = None

    def _to_layout(self, planes: np.ndarray) -> np.ndarray:
        """(sep, h, w, contig) -> what read_image gives: (h, w), or (h, w, c)."""
        arr = np.moveaxis(planes, 0, -1).reshape(planes.shape[1], planes.shape[2], -1)
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.dtype.byteorder not in ("=", "|"):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return np.ascontiguousarray(arr)

    def _region(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        if self._tif is None:
            raise ValueError("image is closed")
        page = self._page
        dtype = np.dtype(page.dtype).newbyteorder(page.parent.byteorder)  # type: ignore[attr-defined]
        full_w = int(page.shaped[3])  # type: ignore[attr-defined]
        if self._raw:
            return self._raw_region(dtype, full_w, y0, y1, x0, x1)
        out = np.zeros((self._sep, y1 - y0, x1 - x0, self._contig), dtype)
        chunks = page.chunks  # type: ignore[attr-defined]
        chunked = page.chunked  # type: ignore[attr-defined]
        # page.chunked counts segments along page.axes; page.chunks is a segment's shape along
        # the same axes, less a separate-planes S axis (one plane per segment there).
        size = dict(zip(self._axes.replace("S", "") if self._sep > 1 else self._axes, chunks, strict=False))
        ranges = []
        for ax, n in zip(self._axes, chunked, strict=True):
            if ax == "Y":
                ranges.append(range(y0 // size["Y"], min(n, (y1 - 1) // size["Y"] + 1)))
            elif ax == "X":
                ranges.append(range(x0 // size["X"], min(n, (x1 - 1) // size["X"] + 1)))
            else:  # sample planes (all of them) or the contiguous samples (one segment)
                ranges.append(range(n))
        indices = [int(np.ravel_multi_index(ix, chunked)) for ix in itertools.product(*ranges)]
        decode_args: dict = {"_fullsize": bool(page.is_tiled)}  # type: ignore[attr-defined]
        if page.compression in (6, 7, 34892, 33007):  # type: ignore[attr-defined]  # JPEG flavours
            decode_args |= {"jpegtables": page.jpegtables, "jpegheader": page.jpegheader}  # type: ignore[attr-defined]
        fh = self._tif.filehandle  # type: ignore[attr-defined]
        for i in indices:
            offset, count = int(page.dataoffsets[i]), int(page.databytecounts[i])  # type: ignore[attr-defined]
            data = None
            if count:
                with fh.lock:
                    fh.seek(offset)
                    data = fh.read(count)
                if len(data) != count:
                    raise ValueError(f"segment {i} is truncated ({len(data)} of {count} bytes)")
            seg, (s, _d, sy, sx, _c), _shape = page.decode(data, i, **decode_args)  # type: ignore[attr-defined]
            if seg is None:
                continue  # sparse: stays zero
            seg = seg.reshape(seg.shape[-3], seg.shape[-2], -1) if seg.ndim >= 3 else seg[:, :, None]
            ty0, tx0 = max(y0, sy), max(x0, sx)
            ty1, tx1 = min(y1, sy + seg.shape[0]), min(x1, sx + seg.shape[1])
            if ty0 >= ty1 or tx0 >= tx1:
                continue
            part = seg[ty0 - sy : ty1 - sy, tx0 - sx : tx1 - sx]
            out[s, ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0, :] = part
        return self._to_layout(out)

    def _pread(self, start: int, want: int) -> bytes:
        """``want`` bytes at ``start`` (fewer only at the end of a truncated file)."""
        assert self._fd is not None
        if not hasattr(os, "pread"):  # pragma: no cover - Windows
            with open(self.path, "rb") as fh:
                fh.seek(start)
                return fh.read(want)
        parts, got = [], 0
        while got < want:
            chunk = os.pread(self._fd, min(want - got, 1 << 30), start + got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def _raw_region(self, dtype: np.dtype, full_w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        full_h = int(self._page.shaped[2])  # type: ignore[attr-defined]
        row = full_w * self._contig * dtype.itemsize
        planes = np.empty((self._sep, y1 - y0, x1 - x0, self._contig), dtype)
        for s in range(self._sep):
            want = (y1 - y0) * row
            buf = self._pread(self._offset + (s * full_h + y0) * row, want)
            if len(buf) < want:
                raise ValueError(f"file is truncated (rows {y0}..{y1} are not all present)")
            planes[s] = np.frombuffer(buf, dtype).reshape(y1 - y0, full_w, self._contig)[:, x0:x1]
        return self._to_layout(planes)


def open_lazy(path: str | Path) -> LazyImage:
    """Open an image for region reading without decoding it (see :class:`LazyImage`).

    Same validation and layout rules as :func:`read_image` (stacks refused, channel-last);
    errors are :class:`InputFileError` naming the file. Close it (or use ``with``) when done.
    """
    p, head = _check_file(path)
    if _is_tiff(head):
        import tifffile

        try:
            tif = tifffile.TiffFile(p)
        except Exception as exc:
            raise InputFileError(p, f"cannot read as TIFF (corrupt or truncated?): {exc}") from exc
        try:
            if not tif.series:
                raise InputFileError(p, "TIFF file holds no image")
            series = tif.series[0]
            planned = _planned_2d_shape(p, tuple(series.shape), series.axes, series.dtype)
            guards.check_tiff(p, tif, series, labels=False)  # tile budget, forged sizes: no decode yet
            page = series.pages[0] if len(series.pages) == 1 else None
            if (
                page is not None
                and guards.tiff_orientation(page) == 1  # rotated pages: decoded whole (size-capped)
                and getattr(page, "axes", "") in ("YX", "YXS", "SYX")
                and int(page.shaped[1]) == 1
                and len(planned) in (2, 3)
                and tuple(planned[:2]) == (int(page.shaped[2]), int(page.shaped[3]))
            ):
                if len(planned) == 3 and planned[2] > 4:
                    raise InputFileError(
                        p, f"has {planned[2]} channels; expected gray, gray+alpha, RGB or RGBA"
                    )
                if len(planned) == 3 and planned[2] == 1:
                    planned = planned[:2]
                if np.dtype(page.dtype).kind not in "biuf":
                    raise InputFileError(p, f"unsupported pixel type {page.dtype}")
                guards.check_lazy_strips(p, page, planned, images.MAX_PIXELS)
                img = _TiffPageImage(p, tif, page, planned)
                if 0 in img.shape:
                    raise InputFileError(p, f"image is empty or has an unusable shape {img.shape}")
                return img
        except InputFileError:
            tif.close()
            raise
        except Exception as exc:
            tif.close()
            raise InputFileError(p, f"cannot read as TIFF (corrupt or truncated?): {exc}") from exc
        tif.close()
    return _ArrayImage(p, _read_raw(p))  # small or unusual layouts: decoded whole (size-capped)


def lazy_from_array(arr: np.ndarray, name: str = "<array>") -> LazyImage:
    """Wrap an array (e.g. a ``np.memmap``) as a :class:`LazyImage` source."""
    a = arr
    if a.ndim not in (2, 3) or a.size == 0 or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise InputFileError(Path(name), f"unusable image shape {a.shape}; expected H x W or H x W x 1..4")
    return _ArrayImage(Path(name), a)
