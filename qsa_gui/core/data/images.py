"""Reading and writing images and instance labels.

Every file problem (missing, unknown type, random bytes, truncated, unsupported layout) raises
:class:`~qsa_gui.core.errors.InputFileError` naming the file and the reason, chained to the
library error with ``from`` so a developer can still see it, while users get one clear line.

Decisions (documented here because the shells and the tests rely on them):

* The reader is chosen by the file's *content* (magic bytes), the suffix only has to be one we
  support: a PNG saved as ``.jpg`` still reads.
* TIFF: the first series, full resolution. After dropping singleton axes, a 2-D plane is an
  image; ``H x W x C`` (C = 2, 3 or 4) is channel-last; ``C x H x W`` (C = 2, 3 or 4, not a
  Z/T axis) is channel-first and is moved to the end. Anything else is a *stack* (Z, time,
  many pages) and is refused with "is a stack of N pages": we segment one 2-D image at a time.
  When both readings are possible, channel-last wins.
* Channels: 1 = gray (replicated to RGB), 2 = gray + alpha, 3 = RGB, 4 = RGBA. Alpha is
  composited on white (the colour of an empty glass slide). More than 4 channels is refused.
* Intensity scaling (:func:`to_float_rgb`): uint8 / 255. Wider integers are divided by
  ``2**b - 1`` where ``b`` is the smallest of 8, 10, 12, 14, 16 (…32) bits that holds the
  image's maximum, so 12-bit camera data stored in uint16 is not shown 16x too dark. Brightfield
  H&E always has a near-white background, so this picks the camera's true bit depth; a very
  dark 16-bit image would be brightened, which is the lesser evil. Floats in [0, 1] are kept;
  floats above 1 are treated as 0..255 (or 0..65535) data; negatives clip to 0; NaN/inf refuse.
* Labels are read without colour conversion (a palette image gives its indices, as GlaS
  annotation BMPs need); a 3/4-channel label image is accepted only if its colour channels are
  equal. Labels are written as zlib-compressed TIFF, uint16 when the largest id fits, else uint32.
* Size: an image of more than :data:`MAX_PIXELS` pixels is refused by :func:`read_image` (with
  the reason, before anything is decoded) instead of exhausting memory; :func:`open_lazy` reads
  any size a region at a time (uncompressed, stripped or tiled TIFF), which is how the
  large-image path (:mod:`qsa_gui.core.model.largeimage`) segments whole slides.
* Declared sizes are budgeted before decoding (:mod:`.guards`): forged tile sizes, compressed
  data far too small for its declared pixels and sparse files are refused; so are animations
  (naming the frame count), lossy or multi-page *label* files, FIFOs and devices (by ``stat``,
  never blocking in ``open``). Pillow's own pixel limit is set to :data:`MAX_PIXELS`.
* Orientation: the EXIF (PNG/JPEG) or TIFF orientation tag is applied, to images and labels
  alike, so a label saved with its image's tag still aligns (and the shape check compares the
  displayed shapes). A rotated TIFF is decoded whole, not region by region.
* GlaS folders: a training image without ``_anno`` file is kept with ``label_path=None`` (an
  unlabelled pool is exactly what suggestive annotation works on); a Test A/B image without its
  annotation, or an annotation without its image, is an error (test sets exist to be scored).
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import InputFileError
from . import guards

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".tif", ".tiff", ".ome.tif", ".ome.tiff", ".png", ".jpg", ".jpeg", ".bmp"}
)

_TIFF_SUFFIXES = (".tif", ".tiff")  # .ome.tif / .ome.tiff end with these too
_MAX_LABEL = int(np.iinfo(np.int32).max)

# Largest image decoded whole (H x W). 16384^2 RGB is 0.8 GB of uint8 and 3.2 GB as the float32
# the models take; beyond that, open_lazy reads regions. Module-level so tests can lower it.
MAX_PIXELS: int = 16384 * 16384


# --------------------------------------------------------------------------------------------
# reading


def _suffix(path: Path) -> str:
    """The supported suffix ``path`` ends with (case-insensitive), or its plain suffix."""
    name = path.name.lower()
    for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _check_file(path: str | Path) -> tuple[Path, bytes]:
    """Validate existence, type and suffix; return the path and the first bytes (for sniffing)."""
    p = Path(path)
    check_regular_file(p)
    suffix = _suffix(p)
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "(none)"
        raise InputFileError(
            p, f"unsupported file type {shown!r}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    try:  # non-blocking: should the file have become a FIFO since the stat, open must not hang
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            check_regular_file(p, os.fstat(fd))
            head = os.read(fd, 32)
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputFileError(p, f"cannot open: {exc.strerror or exc}") from exc
    if not head:
        raise InputFileError(p, "file is empty (0 bytes)")
    return p, head


def check_regular_file(p: Path, st: os.stat_result | None = None) -> None:
    """Refuse a missing path, a folder, a FIFO or a device (``/dev/zero`` behind a symlink) by
    ``stat`` alone: opening a FIFO would block, reading a device would never end."""
    if st is None:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise InputFileError(p, "file not found") from None
        except OSError as exc:
            raise InputFileError(p, f"cannot open: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(p, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or (stat.S_ISBLK(st.st_mode))
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "special"
        )
        raise InputFileError(p, f"not a regular file ({kind})")


def _is_tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _tiff_to_2d(path: Path, arr: np.ndarray, axes: str) -> np.ndarray:
    """Apply the documented TIFF layout rules: one 2-D plane, channel-last, or refuse a stack."""
    if len(axes) != arr.ndim:  # pragma: no cover - tifffile always agrees; be safe anyway
        axes = "Q" * (arr.ndim - 2) + "YX"
    keep = [i for i, (n, a) in enumerate(zip(arr.shape, axes, strict=True)) if n != 1 or a in "YXS"]
    if len(keep) != arr.ndim:
        arr = arr.reshape([arr.shape[i] for i in keep])
        axes = "".join(axes[i] for i in keep)
    # a leading axis of one plane is no stack (tifffile names some tiny shapes oddly: 'XYX' for
    # a 1 x 1 x 1 array, so such an axis can survive the rule above)
    while arr.ndim > 2 and arr.shape[0] == 1 and "Y" in axes[1:] and "X" in axes[1:]:
        arr, axes = arr[0], axes[1:]
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3:
        if "S" in axes:  # tifffile's samples axis: the colour channels
            arr = np.moveaxis(arr, axes.index("S"), -1)
            return arr
        if arr.shape[-1] in (2, 3, 4):  # a numpy array written naively (H, W, C)
            return arr
        if arr.shape[0] in (2, 3, 4) and axes[0] not in "ZT":  # channel-first (C, H, W)
            return np.moveaxis(arr, 0, -1)
        return _refuse_stack(path, arr.shape[0], arr.shape[1:])
    n = int(np.prod([size for size, a in zip(arr.shape, axes, strict=True) if a not in "YXS"]))
    return _refuse_stack(path, n, arr.shape)


def _refuse_stack(path: Path, n: int, shape: tuple[int, ...]) -> np.ndarray:
    raise InputFileError(
        path, f"is a stack of {n} pages/planes (shape {tuple(shape)}); only single 2-D images are supported"
    )


def _too_large(path: Path, h: int, w: int) -> InputFileError:
    return InputFileError(
        path,
        f"image is {w} x {h} pixels ({h * w / 1e6:.0f} Mpx), more than the {MAX_PIXELS / 1e6:.0f} Mpx "
        "that can be loaded whole; large images are segmented strip by strip (io.open_lazy)",
    )


def _planned_2d_shape(path: Path, shape: tuple[int, ...], axes: str, dtype: np.dtype) -> tuple[int, ...]:
    """The shape :func:`_tiff_to_2d` will give, computed on a zero-byte view (nothing decoded),
    so stacks and oversized images are refused before they are read into memory."""
    dummy = np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))
    return _tiff_to_2d(path, dummy, axes).shape


def _read_tiff(path: Path, *, labels: bool = False) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise InputFileError(path, "TIFF file holds no image")
            series = tif.series[0]
            planned = _planned_2d_shape(path, tuple(series.shape), series.axes, series.dtype)
            if len(planned) >= 2 and planned[0] * planned[1] > MAX_PIXELS:
                raise _too_large(path, planned[0], planned[1])
            guards.check_tiff(path, tif, series, labels=labels)
            orientation = guards.tiff_orientation(series.pages[0]) if series.pages else 1
            arr = series.asarray()  # level 0 = full resolution of a pyramid
            axes = series.axes
    except InputFileError:
        raise
    except MemoryError:
        raise InputFileError(path, "not enough memory to decode this image") from None
    except Exception as exc:
        raise InputFileError(path, f"cannot read as TIFF (corrupt or truncated?): {exc}") from exc
    return guards.apply_orientation(_tiff_to_2d(path, np.asarray(arr), axes), orientation)


def _png_bit_depth(head: bytes) -> int:
    """Bit depth from a PNG IHDR (byte 24), 8 when the header is not a PNG."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 25:
        return head[24]
    return 8


def _read_pil(path: Path, head: bytes, *, palette_indices: bool, labels: bool = False) -> np.ndarray:
    """PNG / JPEG / BMP (and anything else Pillow sniffs); 16-bit PNG colour via imagecodecs."""
    arr, orientation = _read_pil_unoriented(path, head, palette_indices=palette_indices, labels=labels)
    return guards.apply_orientation(arr, orientation)


def _read_pil_unoriented(
    path: Path, head: bytes, *, palette_indices: bool, labels: bool
) -> tuple[np.ndarray, int]:
    from PIL import Image, UnidentifiedImageError

    # Pillow's own bomb guard (default 89 Mpx, refusing above twice that) would refuse images
    # our documented MAX_PIXELS allows; ours is checked right after the header is parsed.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im_ctx = Image.open(path)
        with im_ctx as im:
            mode = im.mode
            if im.size[0] * im.size[1] > MAX_PIXELS:
                raise _too_large(path, im.size[1], im.size[0])
            guards.check_pil(path, im, head, labels=labels)
            orientation = guards.exif_orientation(im)
            if im.format == "PNG" and _png_bit_depth(head) == 16 and mode not in ("I", "I;16", "I;16B"):
                # Pillow silently truncates 16-bit colour PNGs to 8 bits; imagecodecs does not.
                import imagecodecs

                return np.asarray(imagecodecs.png_decode(path.read_bytes())), orientation
            im.load()
            if mode == "P" and palette_indices:
                return np.asarray(im), orientation
            if mode in ("P", "PA"):
                im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
            elif mode == "1":
                return np.asarray(im).astype(np.uint8) * (1 if palette_indices else 255), orientation
            elif mode not in ("L", "LA", "RGB", "RGBA", "I", "I;16", "F"):
                im = im.convert("RGBA" if "A" in mode else "RGB")
            arr = np.asarray(im)
            if arr.dtype.byteorder == ">":  # I;16B
                arr = arr.astype(arr.dtype.newbyteorder("="))
            return arr, orientation
    except InputFileError:
        raise
    except MemoryError:
        raise InputFileError(path, "not enough memory to decode this image") from None
    except Image.DecompressionBombError:
        raise InputFileError(
            path, f"image is more than the {MAX_PIXELS / 1e6:.0f} Mpx that can be loaded whole"
        ) from None
    except UnidentifiedImageError as exc:
        raise InputFileError(path, "not a readable image (unknown or corrupt content)") from exc
    except Exception as exc:
        raise InputFileError(path, f"cannot decode image (corrupt or truncated?): {exc}") from exc


def _read_raw(path: str | Path, *, palette_indices: bool = False, labels: bool = False) -> np.ndarray:
    p, head = _check_file(path)
    if _is_tiff(head):
        arr = _read_tiff(p, labels=labels)
    else:
        arr = _read_pil(p, head, palette_indices=palette_indices, labels=labels)
    if arr.ndim not in (2, 3) or arr.size == 0 or min(arr.shape[:2]) == 0:
        raise InputFileError(p, f"image is empty or has an unusable shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] > 4:
        raise InputFileError(p, f"has {arr.shape[2]} channels; expected gray, gray+alpha, RGB or RGBA")
    if arr.dtype.kind not in "biuf":  # complex, structured, ...: no image meaning
        raise InputFileError(p, f"unsupported pixel type {arr.dtype}")
    return np.ascontiguousarray(arr)


def read_image(path: str | Path) -> np.ndarray:
    """Raw pixels, ``H x W`` or ``H x W x C`` (C in 2..4), dtype as stored (uint8/uint16/float...)."""
    return _read_raw(path)


def _int_scale(maxval: int) -> float:
    """``2**b - 1`` for the smallest usual bit depth b that holds ``maxval`` (see module doc)."""
    for bits in (8, 10, 12, 14, 16, 24, 32):
        if maxval <= 2**bits - 1:
            return float(2**bits - 1)
    return float(maxval)


def to_float_rgb(img: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """Normalise raw pixels to the models' input: float32 ``H x W x 3`` in [0, 1]."""
    a = np.asarray(img)
    return _float_rgb(a, path, _pixel_max(a, path))


def _pixel_max(a: np.ndarray, path: str | Path | None) -> float:
    """The largest value of ``a`` (what the intensity scale is chosen from); refuses NaN / inf."""
    if a.size == 0 or a.dtype == np.bool_ or a.dtype == np.uint8:
        return 1.0 if a.dtype == np.bool_ else 255.0
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise InputFileError(
                Path(path) if path is not None else Path("<array>"), "image contains NaN or infinite values"
            )
        return float(a.max())
    if np.issubdtype(a.dtype, np.integer):
        return float(a.max())
    return 0.0


def _float_rgb(img: np.ndarray, path: str | Path | None, hi: float) -> np.ndarray:
    """:func:`to_float_rgb` with the image-wide maximum ``hi`` given, so that a region of a large
    image (read by :class:`LazyImage`) is scaled exactly as the whole image would be."""
    where = Path(path) if path is not None else Path("<array>")
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or a.size == 0 or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise InputFileError(where, f"unusable image shape {a.shape}; expected H x W or H x W x 1..4")
    if a.dtype == np.bool_:
        f = a.astype(np.float32)
    elif a.dtype == np.uint8:  # the common case: no float64 detour (8 bytes a sample)
        f = a.astype(np.float32)
        f /= np.float32(255.0)  # correctly rounded: equals the float64 route bit for bit
    elif np.issubdtype(a.dtype, np.integer):
        scale = _int_scale(int(hi))
        f = np.clip(a.astype(np.float64) / scale, 0.0, 1.0).astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float32)
        if not np.all(np.isfinite(f)):
            raise InputFileError(where, "image contains NaN or infinite values")
        if hi > 1.0:
            f = f / np.float32(255.0 if hi <= 255.0 else 65535.0 if hi <= 65535.0 else hi)
        f = np.clip(f, 0.0, 1.0)
    else:
        raise InputFileError(where, f"unsupported pixel type {a.dtype}")
    if f.ndim == 2:
        return np.ascontiguousarray(np.repeat(f[:, :, None], 3, axis=2))
    c = f.shape[2]
    if c == 2:  # gray + alpha, composited on white
        rgb = np.repeat(f[:, :, :1], 3, axis=2)
        alpha = f[:, :, 1:2]
    elif c == 4:
        rgb, alpha = f[:, :, :3], f[:, :, 3:4]
    else:
        return np.ascontiguousarray(f)
    return np.ascontiguousarray(rgb * alpha + (1.0 - alpha), dtype=np.float32)


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file straight into the models' float32 RGB convention."""
    return to_float_rgb(read_image(path), path)


# --------------------------------------------------------------------------------------------
# labels


def read_labels(path: str | Path, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """int32 ``H x W`` instance labels (0 = background); refuses colour, negative or huge ids."""
    p = Path(path)
    a = _read_raw(p, palette_indices=True, labels=True)
    if a.ndim == 3:
        colour = a[:, :, :3] if a.shape[2] >= 3 else a[:, :, :1]
        if not np.all(colour == colour[:, :, :1]):
            raise InputFileError(
                p, "label image is in colour (its channels differ); expected one id per pixel"
            )
        a = colour[:, :, 0]
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise InputFileError(p, "label image holds non-integer values")
    elif not np.issubdtype(a.dtype, np.integer):
        raise InputFileError(p, f"unsupported label pixel type {a.dtype}")
    if a.size and a.min() < 0:
        raise InputFileError(p, f"label image has negative ids (min {a.min()})")
    if a.size and a.max() > _MAX_LABEL:
        raise InputFileError(p, f"label id {a.max()} is beyond the int32 range")
    if expected_shape is not None and tuple(a.shape) != tuple(expected_shape)[:2]:
        raise InputFileError(
            p, f"label shape {tuple(a.shape)} does not match image shape {tuple(expected_shape)[:2]}"
        )
    return np.ascontiguousarray(a.astype(np.int32))


def _require_suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = _suffix(path)
    if not any(suffix.endswith(s) for s in allowed):
        raise InputFileError(path, f"{what} must be written as {' or '.join(allowed)}, not {suffix!r}")
    return suffix


def write_labels(path: str | Path, labels: np.ndarray) -> None:
    """Atomically write ``labels`` as a zlib TIFF, uint16 when the ids fit, else uint32."""
    import tifffile

    p = Path(path)
    _require_suffix(p, _TIFF_SUFFIXES, "labels")
    lab = np.asarray(labels)
    if lab.ndim != 2 or lab.size == 0:
        raise ValueError(f"labels must be a non-empty 2-D array, got shape {lab.shape}")
    if not (np.issubdtype(lab.dtype, np.integer) or lab.dtype == np.bool_):
        raise ValueError(f"labels must be integers, got {lab.dtype}")
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0 or hi > _MAX_LABEL:
        raise ValueError(f"label ids must lie in 0..{_MAX_LABEL}, got {lo}..{hi}")
    out = lab.astype(np.uint16 if hi < 2**16 else np.uint32)
    buf = io.BytesIO()
    tifffile.imwrite(buf, out, compression="zlib", photometric="minisblack")
    atomic_write_bytes(p, buf.getvalue())


def write_image(path: str | Path, rgb_uint8: np.ndarray) -> None:
    """Atomically write an 8-bit RGB (or gray / RGBA) image as PNG or TIFF, chosen by suffix."""
    p = Path(path)
    suffix = _require_suffix(p, (".png", *_TIFF_SUFFIXES), "images")
    a = np.asarray(rgb_uint8)
    if a.dtype != np.uint8:
        raise ValueError(f"write_image expects uint8 pixels, got {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or a.size == 0:
        raise ValueError(f"write_image expects H x W, H x W x 3 or H x W x 4, got {a.shape}")
    a = np.ascontiguousarray(a)
    if suffix == ".png":
        import imagecodecs

        data = bytes(imagecodecs.png_encode(a))
    else:
        import tifffile

        buf = io.BytesIO()
        photometric = "minisblack" if a.ndim == 2 else "rgb"
        tifffile.imwrite(buf, a, compression="zlib", photometric=photometric)
        data = buf.getvalue()
    atomic_write_bytes(p, data)
