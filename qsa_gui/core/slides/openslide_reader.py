"""MIRAX, DICOM WSI, Leica SCN, Hamamatsu VMS and Ventana BIF slides, through OpenSlide.

Why a second reader: tifffile reads the TIFF-based formats without a native library, but MIRAX
(a file plus a folder of data files) and DICOM WSI are not TIFF. OpenSlide reads them; it comes
from the optional extra ``pip install 'qsa-gui[openslide]'`` (``openslide-python`` and the
``openslide-bin`` wheel: nothing from the system). Without it these files get one clear error
saying how to install it. Same interface as the tifffile reader (:class:`SlideBase`), so regions,
tissue detection, the slide view and whole-slide segmentation do not know which one is open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.images import check_regular_file
from ..errors import InputFileError
from .slide_base import SlideBase, SlideInfo, SlideLevel, metadata_notes, to_rgb8

INSTALL_HINT = "MIRAX / DICOM / SCN / VMS / BIF slides need OpenSlide: pip install 'qsa-gui[openslide]'"


def import_openslide(path: Path) -> Any:
    try:
        import openslide
    except ImportError:
        raise InputFileError(path, INSTALL_HINT) from None
    return openslide


def _number(props: Any, key: str) -> float | None:
    try:
        v = float(props.get(key))
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


class OpenSlideSlide(SlideBase):
    """A slide read with OpenSlide; boxes are read per level, RGBA composited on white."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_regular_file(self.path)
        openslide = import_openslide(self.path)
        self._os = None
        try:
            fmt = openslide.OpenSlide.detect_format(str(self.path))
            if fmt is None:
                raise InputFileError(self.path, "not a slide format OpenSlide can read")
            self._os = openslide.OpenSlide(str(self.path))
            self.info = self._read_info(self._os, fmt)
        except InputFileError:
            self.close()
            raise
        except Exception as exc:  # OpenSlideError, a missing data file of a MIRAX folder ...
            self.close()
            why = f"cannot read as a slide (corrupt or incomplete?): {exc}"
            raise InputFileError(self.path, why) from exc

    def _read_info(self, osr: Any, fmt: str) -> SlideInfo:
        w0, h0 = osr.dimensions
        levels = tuple(
            SlideLevel((int(h), int(w)), float(d))
            for (w, h), d in zip(osr.level_dimensions, osr.level_downsamples, strict=True)
        )
        props = osr.properties
        mpp = _number(props, "openslide.mpp-x")
        power = _number(props, "openslide.objective-power")
        return SlideInfo(self.path, f"openslide-{fmt}", (int(h0), int(w0)), levels, mpp, power,
                         metadata_notes(mpp, power))  # fmt: skip

    def read(self, level: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """uint8 RGB pixels of the box ``[y0, y1) x [x0, x1)`` of ``level``."""
        self.check_box(level, y0, y1, x0, x1)
        d = self.info.levels[level].downsample
        try:  # OpenSlide takes the box's top-left in level-0 pixels, its size in level pixels
            rgba = self._os.read_region((int(round(x0 * d)), int(round(y0 * d))), level, (x1 - x0, y1 - y0))
        except MemoryError:
            raise InputFileError(self.path, "not enough memory to decode this slide region") from None
        except Exception as exc:
            raise InputFileError(self.path, f"cannot decode slide tiles (corrupt?): {exc}") from exc
        return to_rgb8(np.asarray(rgba), np.dtype(np.uint8))

    def close(self) -> None:
        if self._os is not None:
            self._os.close()
            self._os = None
