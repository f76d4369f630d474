"""Decoded pixels of the images the user is about to see, read on a worker thread.

Why: decoding an image (and its labels and prediction) on the GUI thread at each switch is time
the window cannot repaint, and the next image is usually known in advance (the next suggested
one, the gallery neighbours). :class:`PixelCache` reads those on one background thread while the
user paints, so that a switch only copies ready arrays into the canvas. A cache miss reads on the
calling thread, as before; an entry is only used while its image's files are still the ones on
record (every save writes a new label file, so the record's paths identify the version).

Qt-free (plain :mod:`threading`), so the session and its tests use it without a GUI.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from qsa_gui.core.errors import QSAError
from qsa_gui.core.project.store import STATUS_LABELLED, ImageRecord, Project

logger = logging.getLogger(__name__)

#: Prefetched images kept at most (the current one's neighbours and the next suggestion).
CAPACITY = 4
#: Images larger than this are never prefetched (a whole slide would not fit next to another).
MAX_PREFETCH_BYTES = 256 * 1024 * 1024

Key = tuple[str, str, "str | None", "str | None"]


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """float [0, 1] (or uint8) H x W x 3 -> uint8 H x W x 3 for display (rounded, clipped)."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    f = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class Pixels:
    """One image ready for the canvas: uint8 RGB, its saved labels and prediction (or None)."""

    key: Key
    image: np.ndarray
    labels: np.ndarray | None
    prediction: np.ndarray | None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.image, self.labels, self.prediction) if a is not None)


def pixel_key(rec: ImageRecord) -> Key:
    """What identifies the files of ``rec`` now: image, labels and (if shown) prediction."""
    prediction = rec.prediction_path if rec.status != STATUS_LABELLED else None
    return (rec.id, rec.path, rec.label_path, prediction)


def read_pixels(project: Project, key: Key) -> Pixels:
    """Decode the files of ``key`` (any thread); raises QSAError for an unreadable file."""
    image_id, _path, _labels, prediction = key
    image = to_uint8_rgb(project.load_image(image_id))
    labels = project.load_labels(image_id)
    pred = project.load_prediction(image_id) if prediction is not None else None
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int32)
    return Pixels(key, image, labels, pred)


def likely_next(project: Project | None, current: str | None, order: Sequence[str]) -> list[str]:
    """The images a user opens next, most likely first: the next suggested one, then the current
    image's neighbours in ``order`` (the gallery's; every image when empty), wrapping around."""
    if project is None or current is None:
        return []
    ids = list(order) or [r.id for r in project.images]
    around = []
    if current in ids:
        i = ids.index(current)
        around = [ids[(i + 1) % len(ids)], ids[(i - 1) % len(ids)]]
    found: list[str] = []
    for candidate in (project.next_suggested(after_id=current), *around):
        if candidate is not None and candidate != current and candidate not in found:
            found.append(candidate)
    return found


class PixelCache:
    """A few decoded images of one project, prefetched on a single worker thread."""

    def __init__(self, capacity: int = CAPACITY, max_prefetch_bytes: int = MAX_PREFETCH_BYTES) -> None:
        self.capacity = int(capacity)
        self.max_prefetch_bytes = int(max_prefetch_bytes)
        self._lock = threading.Lock()
        self._ready: OrderedDict[Key, Pixels] = OrderedDict()
        self._pending: dict[Key, Future[Pixels]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.hits = 0
        self.misses = 0

    def get(self, project: Project, image_id: str) -> Pixels:
        """The pixels of ``image_id`` as on record now: prefetched, being prefetched (waited
        for), or read here. Raises QSAError like the project's readers."""
        key = pixel_key(project.image(image_id))
        with self._lock:
            ready = self._ready.pop(key, None)
            pending = self._pending.pop(key, None)
        if ready is not None:
            self.hits += 1
            return ready
        if pending is not None:
            try:
                result = pending.result()
                self.hits += 1
                return result
            except QSAError:
                pass  # read again here: the error is reported by the caller's read
            except Exception:  # noqa: BLE001 - a worker-side surprise; the direct read decides
                logger.debug("prefetch of %s failed", image_id, exc_info=True)
        self.misses += 1
        return read_pixels(project, key)

    def prefetch(self, project: Project, image_ids: Iterable[str]) -> None:
        """Start reading ``image_ids`` (best first) in the background; never raises."""
        for image_id in list(image_ids)[: self.capacity]:
            try:
                rec = project.image(image_id)
            except QSAError:
                continue
            h, w = rec.shape
            if rec.missing or h * w * 12 > self.max_prefetch_bytes:
                continue
            key = pixel_key(rec)
            with self._lock:
                if key in self._ready or key in self._pending:
                    continue
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsa-pixels")
                future = self._pool.submit(read_pixels, project, key)
                self._pending[key] = future
            future.add_done_callback(lambda f, k=key: self._done(k, f))

    def clear(self) -> None:
        """Forget everything (another project, or closing); a running read finishes unseen."""
        with self._lock:
            self._ready.clear()
            pending, self._pending = list(self._pending.values()), {}
            pool, self._pool = self._pool, None
        for future in pending:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for the prefetches in flight (tests, benchmarks); True when none is left."""
        with self._lock:
            pending = list(self._pending.values())
        for future in pending:
            try:
                future.result(timeout)
            except Exception:  # noqa: BLE001 - a failed prefetch is just not cached
                pass
        with self._lock:
            return not self._pending

    @property
    def cached_ids(self) -> list[str]:
        with self._lock:
            return [key[0] for key in self._ready]

    def _done(self, key: Key, future: Future[Pixels]) -> None:
        with self._lock:
            if self._pending.get(key) is not future:
                return  # taken by get() or cleared meanwhile
            del self._pending[key]
            if future.cancelled() or future.exception() is not None:
                return
            self._ready[key] = future.result()
            while len(self._ready) > self.capacity:
                self._ready.popitem(last=False)


__all__ = ["CAPACITY", "Pixels", "PixelCache", "likely_next", "pixel_key", "read_pixels", "to_uint8_rgb"]
