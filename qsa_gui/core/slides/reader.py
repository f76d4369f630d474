"""Whole-slide files (Aperio SVS, Hamamatsu NDPI, OME-TIFF and generic tiled / pyramidal TIFF),
read lazily, a box of one pyramid level at a time.

Why tifffile's zarr store: a slide is 1-50 Gpx; only the tiles a box touches may be decoded
(JPEG / JPEG 2000 / LZW ... through imagecodecs), so memory grows with the box read, never with
the slide. A :class:`Slide` opens the file once per ``with`` block; readers that run on worker
threads open their own (opening an SVS and reading a 775 x 522 region takes ~14 ms).

Pixel size and objective power come from the format's own metadata (SVS ``MPP`` / ``AppMag``,
NDPI ``Magnification`` + resolution tags, OME ``PhysicalSizeX`` / ``NominalMagnification``,
TIFF resolution tags); what is missing is said in :attr:`SlideInfo.notes`, never guessed silently.
Any problem is one :class:`~qsa_gui.core.errors.InputFileError` naming the file and the reason.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np

from ..data.images import check_regular_file
from ..errors import InputFileError
from .slide_base import SlideBase, SlideInfo, SlideLevel, metadata_notes, to_rgb8

#: Formats tifffile cannot read, read through OpenSlide (the optional ``qsa-gui[openslide]``
#: extra): MIRAX, DICOM WSI, Leica SCN, Hamamatsu VMS, Ventana BIF. Several are a file plus a
#: folder of data files, so they are referenced where they are, never copied into a project.
OPENSLIDE_SUFFIXES: frozenset[str] = frozenset({".mrxs", ".dcm", ".scn", ".vms", ".bif"})
SLIDE_SUFFIXES: frozenset[str] = frozenset(
    {".svs", ".ndpi", ".tif", ".tiff", ".ome.tif", ".ome.tiff", ".btf"} | OPENSLIDE_SUFFIXES
)


def slide_suffix(path: Path) -> str | None:
    name = path.name.lower()
    for s in sorted(SLIDE_SUFFIXES, key=len, reverse=True):
        if name.endswith(s):
            return s
    return None


def looks_like_slide(path: str | Path) -> bool:
    """A file imported as a slide, not as one flat image: ``.svs`` / ``.ndpi``, or a TIFF that is
    an SVS or NDPI by content (renamed) or holds a resolution pyramid. Never raises."""
    p = Path(path)
    suffix = slide_suffix(p)
    if suffix in (".svs", ".ndpi") or suffix in OPENSLIDE_SUFFIXES:
        return True
    if suffix is None:
        return False
    try:
        if not stat.S_ISREG(os.stat(p).st_mode):  # a FIFO must not block, a device not be read
            return False
        import tifffile

        with tifffile.TiffFile(p) as tif:
            if tif.is_svs or tif.is_ndpi:
                return True
            if not tif.series:
                return False
            if tif.is_bigtiff and tif.pages.first.is_tiled:  # a tiled BigTIFF is a scan, not a photo
                return True
            return len(tif.series[0].levels) > 1
    except Exception:  # noqa: BLE001 - not a TIFF / unreadable: the image reader says why
        return False


def _format(tif) -> str:
    for attr, name in (("is_svs", "aperio-svs"), ("is_ndpi", "hamamatsu-ndpi"), ("is_ome", "ome-tiff")):
        if getattr(tif, attr, False):
            return name
    return "tiff"


def _positive(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) and f > 0 else None


def _mpp_from_tags(page) -> float | None:
    """um/px from XResolution + ResolutionUnit (2 inch, 3 cm); none when the unit is absent."""
    xres, unit = page.tags.get("XResolution"), page.tags.get("ResolutionUnit")
    if xres is None or unit is None:
        return None
    num, den = xres.value if isinstance(xres.value, tuple) else (xres.value, 1)
    per_unit = _positive(num / den) if den else None
    scale = {2: 25400.0, 3: 10000.0}.get(int(unit.value))
    if per_unit is None or scale is None or per_unit <= 1:
        return None
    return scale / per_unit


def _ome_metadata(xml: str) -> tuple[float | None, float | None]:
    size = re.search(r'PhysicalSizeX="([^"]+)"', xml)
    unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', xml)
    mag = re.search(r'NominalMagnification="([^"]+)"', xml)
    mpp = _positive(size.group(1)) if size else None
    if mpp is not None and unit is not None:
        factor = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}.get(unit.group(1))
        mpp = mpp * factor if factor is not None else None
    return mpp, (_positive(mag.group(1)) if mag else None)


def _metadata(tif, page) -> tuple[float | None, float | None]:
    mpp = power = None
    if tif.is_svs:
        from tifffile.tifffile import svs_description_metadata

        try:
            meta = svs_description_metadata(page.description)
        except Exception:  # noqa: BLE001 - an odd description: fall back to the tags
            meta = {}
        mpp, power = _positive(meta.get("MPP")), _positive(meta.get("AppMag"))
    elif tif.is_ndpi:
        try:
            tags = page.ndpi_tags or {}
        except Exception:  # noqa: BLE001 - tifffile wants tags a writer may have left out
            tags = {}
        mag = tags.get("Magnification", page.tags.valueof(65421))
        power = _positive(mag)
    elif tif.is_ome and tif.ome_metadata:
        mpp, power = _ome_metadata(tif.ome_metadata)
    if mpp is None:
        mpp = _mpp_from_tags(page)
    if mpp is not None and not 0.02 <= mpp <= 100:  # 0.02-100 um/px: anything else is no microscope
        mpp = None
    return mpp, power


def _check_complete(path: Path, tif, series) -> None:
    """Every tile of every level must lie inside the file: a truncated copy is refused here, on
    open, from the tile tables alone (nothing decoded)."""
    size = tif.filehandle.size
    for level in series.levels:
        for page in level.pages:
            if page is None:
                continue
            offsets, counts = np.asarray(page.dataoffsets), np.asarray(page.databytecounts)
            if offsets.size and int((offsets + counts).max()) > size:
                raise InputFileError(path, "slide file is truncated (tiles point past the end of the file)")


class Slide(SlideBase):
    """A slide read with tifffile's zarr store (SVS, NDPI, OME-TIFF, tiled / pyramidal TIFF)."""

    def __init__(self, path: str | Path) -> None:
        import tifffile

        self.path = Path(path)
        check_regular_file(self.path)
        self._tif = None
        self._arrays: dict[int, object] = {}
        try:
            self._tif = tifffile.TiffFile(self.path)
            if not self._tif.series:
                raise InputFileError(self.path, "TIFF file holds no image (truncated, or not a slide)")
            series = self._tif.series[0]
            self._series = series
            self.info = self._read_info(series)
            _check_complete(self.path, self._tif, series)
        except InputFileError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise InputFileError(
                self.path, f"cannot read as a slide (corrupt or unsupported?): {exc}"
            ) from exc

    def _read_info(self, series) -> SlideInfo:
        tif = self._tif
        axes = series.axes
        if "Y" not in axes or "X" not in axes:
            raise InputFileError(self.path, f"not a 2-D slide (axes {axes})")
        extra = [a for a, n in zip(axes, series.shape, strict=True) if a not in "YXS" and n > 1]
        if extra:
            raise InputFileError(self.path, f"slide has extra dimensions {''.join(extra)} (a stack)")
        if "S" in axes and series.shape[axes.index("S")] not in (1, 3, 4):
            raise InputFileError(self.path, f"slide has {series.shape[axes.index('S')]} channels")
        h0, w0 = series.shape[axes.index("Y")], series.shape[axes.index("X")]
        levels = []
        for lv in series.levels:
            la = lv.axes
            h, w = lv.shape[la.index("Y")], lv.shape[la.index("X")]
            levels.append(SlideLevel((int(h), int(w)), float(w0) / float(w)))
        mpp, power = _metadata(tif, series.pages[0] if series.pages else tif.pages[0])
        if series.dtype.kind not in "uib":
            raise InputFileError(self.path, f"unsupported slide pixel type {series.dtype}")
        return SlideInfo(self.path, _format(tif), (int(h0), int(w0)), tuple(levels), mpp, power,
                         metadata_notes(mpp, power))  # fmt: skip

    def close(self) -> None:
        if self._tif is not None:
            for store in self._arrays.values():
                store[0].close()  # type: ignore[index]
            self._arrays.clear()
            self._tif.close()
            self._tif = None

    def _array(self, level: int):
        if level not in self._arrays:
            import zarr

            store = self._series.aszarr(level=level)
            self._arrays[level] = (store, zarr.open(store, mode="r"))
        return self._arrays[level][1]  # type: ignore[index]

    def read(self, level: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """uint8 RGB pixels of the box ``[y0, y1) x [x0, x1)`` of ``level`` (clipped boxes refused)."""
        self.check_box(level, y0, y1, x0, x1)
        axes = self._series.levels[level].axes
        index = tuple(slice(y0, y1) if a == "Y" else slice(x0, x1) if a == "X" else slice(None) for a in axes)
        try:
            raw = np.asarray(self._array(level)[index])
        except MemoryError:
            raise InputFileError(self.path, "not enough memory to decode this slide region") from None
        except Exception as exc:
            raise InputFileError(self.path, f"cannot decode slide tiles (corrupt?): {exc}") from exc
        kept = "".join(a for a in axes if a in "YXS")
        raw = raw.reshape([n for a, n in zip(axes, raw.shape, strict=True) if a in "YXS"])
        if "S" in kept and kept.index("S") < kept.index("Y"):
            raw = np.moveaxis(raw, 0, -1)
        return to_rgb8(raw, self._series.dtype)


def open_slide(path: str | Path, backend: str | None = None) -> SlideBase:
    """Open a slide file (any problem: :class:`InputFileError` naming it and the reason).

    ``backend``: ``"tifffile"`` or ``"openslide"``; by default OpenSlide for the formats only it
    reads (:data:`OPENSLIDE_SUFFIXES`), tifffile for the rest."""
    if backend is None:
        backend = "openslide" if slide_suffix(Path(path)) in OPENSLIDE_SUFFIXES else "tifffile"
    if backend == "openslide":
        from .openslide_reader import OpenSlideSlide

        return OpenSlideSlide(path)
    if backend != "tifffile":
        raise ValueError(f"backend must be 'tifffile' or 'openslide', got {backend!r}")
    return Slide(path)
