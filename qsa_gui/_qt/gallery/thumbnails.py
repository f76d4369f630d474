"""Thumbnails for the gallery: downscaled previews loaded lazily, off the GUI thread.

Why a loader thread: decoding a large TIFF for a tile must never stall the event loop.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable

import numpy as np
from qtpy.QtGui import QImage

logger = logging.getLogger(__name__)

ThumbnailProvider = Callable[[str], "np.ndarray | None"]


def _to_unit_range(a: np.ndarray) -> np.ndarray:
    """Float image scaled to [0, 1] for display, whatever the input dtype."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == bool:
        return a.astype(np.float32)
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if np.issubdtype(a.dtype, np.floating) and f.size and f.min() >= 0.0 and f.max() <= 1.0:
        return f
    lo, hi = np.percentile(f, (0.5, 99.5)) if f.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((f - lo) / (hi - lo), 0.0, 1.0)


def make_thumbnail(image: np.ndarray, size: int = 128) -> np.ndarray:
    """Downscale ``image`` (HxW or HxWxC; uint8, uint16, bool or float) to fit ``size`` px.

    Returns a contiguous uint8 ``h x w x 3`` array with ``max(h, w) <= size`` (smaller images are
    kept as they are). Cheap on large images: a stride subsample to at most ~4x the target, then
    a block mean (area averaging, so no aliasing).
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {np.shape(image)}")
    a = a[..., :3] if a.shape[2] >= 3 else a[..., :1]
    h, w = a.shape[:2]
    if max(h, w) > size:
        step = max(1, max(h, w) // (4 * size))
        a = a[::step, ::step]
        h, w = a.shape[:2]
        f = math.ceil(max(h, w) / size)
        fh, fw = min(f, h), min(f, w)
        h2, w2 = h // fh, w // fw
        a = _to_unit_range(a[: h2 * fh, : w2 * fw]).reshape(h2, fh, w2, fw, a.shape[2]).mean(axis=(1, 3))
    else:
        a = _to_unit_range(a)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(np.round(a * 255.0).astype(np.uint8))


def array_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 HxWx3 array -> QImage that owns its pixels (safe after the array is freed)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


# -- model -----------------------------------------------------------------------------------------
class _ThumbnailLoader:
    """One short-lived Python thread draining a queue of thumbnail requests.

    A plain ``threading.Thread`` (not a QThread child of the widget) so that destroying the
    widget while a thumbnail is being read can never abort the process; the thread exits as soon
    as the queue is empty. Results are handed back through ``notify`` (a Qt signal emit).
    """

    def __init__(self, notify: Callable[[], None], size: int) -> None:
        self._notify = notify
        self.size = size
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._done: list[tuple[int, str, np.ndarray | None]] = []
        self._thread: threading.Thread | None = None
        self._fn: ThumbnailProvider | None = None
        self._generation = 0

    def reset(self, fn: ThumbnailProvider | None) -> None:
        with self._lock:
            self._queue.clear()
            self._queued.clear()
            self._done.clear()
            self._fn = fn
            self._generation += 1

    @property
    def generation(self) -> int:
        return self._generation

    def request(self, image_id: str) -> None:
        with self._lock:
            if image_id in self._queued:
                return
            self._queue.append(image_id)
            self._queued.add(image_id)
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="qsa-thumbnails", daemon=True)
            thread = self._thread
        thread.start()

    def take(self) -> list[tuple[int, str, np.ndarray | None]]:
        """Loaded results; their ids stay "requested" until taken so none is loaded twice."""
        with self._lock:
            done, self._done = self._done, []
            for _generation, image_id, _thumb in done:
                self._queued.discard(image_id)
        return done

    def wait(self, timeout: float | None = None) -> bool:
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    return
                image_id = self._queue.popleft()
                fn, generation = self._fn, self._generation
            thumb = load_thumbnail(fn, image_id, self.size)
            with self._lock:
                first = not self._done
                self._done.append((generation, image_id, thumb))
            if first:
                try:
                    self._notify()
                except RuntimeError:  # the model was deleted (widget closed): stop quietly
                    with self._lock:
                        self._queue.clear()
                        self._thread = None
                    return


def load_thumbnail(fn: ThumbnailProvider | None, image_id: str, size: int) -> np.ndarray | None:
    """Call the provider and downscale; any error -> None (a "no preview" tile, logged)."""
    if fn is None:
        return None
    try:
        image = fn(image_id)
        return None if image is None else make_thumbnail(image, size)
    except Exception as exc:  # noqa: BLE001 - one unreadable image must not break the gallery
        logger.warning("no thumbnail for %s: %s", image_id, exc)
        return None
