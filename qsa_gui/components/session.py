"""What the annotation assistant shows, without Qt: project, current image, autosave, job, texts.

Why: the panel used to hold all of this in one 1,258-line widget, so none of it could be tested
without a display. Here the state and the decisions live in a plain object; the Qt widgets call
its methods and subscribe to its events (:class:`~qsa_gui.components.events.EventEmitter`):

- ``project_changed(project | None)``; ``image_changed(image_id)`` -- emitted by the shell once
  the image is on its canvas;
- ``records_changed(image_id | None)`` -- one record changed (None: all of them);
- ``message(text, level)`` -- a lasting outcome (level ``info`` | ``warning`` | ``error``);
- ``status(text)`` -- a passing status line;
- ``state_changed()`` -- busy, heat-map or prediction flags changed: re-evaluate the actions.

The session never owns a timer: it says when labels are dirty (``labels_edited`` returns the
autosave delay) and the shell schedules :meth:`Session.flush`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qsa_gui.core.errors import QSAError
from qsa_gui.core.project.store import (
    STATUS_IN_PROGRESS,
    STATUS_LABELLED,
    ImageRecord,
    Project,
)
from qsa_gui.core.settings import Settings
from qsa_gui.core.workflow.common import project_settings
from qsa_gui.core.workflow.heatmap import HeatmapSource, heatmap_source

from .events import EventEmitter
from .guards import AcceptMemo, count_glands
from .pixels import PixelCache, likely_next
from .records import display_record, fmt, history_rows, model_text, model_tooltip, suggestion_scores

AUTOSAVE_MS = 1500
HEATMAP_CACHE_SIZE = 8


@dataclass
class ImageView:
    """Everything the canvas needs to show one image (labels always an editable int32 copy)."""

    image_id: str
    name: str
    image: np.ndarray  # uint8 H x W x 3 for the canvas
    labels: np.ndarray
    prediction: np.ndarray | None


@dataclass(frozen=True)
class Header:
    """The panel's header: project name, counts, the labelled bar and the detail line."""

    name: str
    tooltip: str
    counts: str
    labelled: int
    total: int
    detail: str
    has_project: bool
    detail_tooltip: str = ""


class Session:
    """The assistant's state; see the module docstring for the events."""

    def __init__(self) -> None:
        self.project: Project | None = None
        self.current_image_id: str | None = None
        #: Job settings on top of the project's (dict or Settings); tests use a tiny preset.
        self.settings_override: dict | Settings | None = None
        self.autosave_ms = AUTOSAVE_MS
        self.busy = False
        self.heatmap_on = False
        self._prediction_shown = False
        #: Whether the canvas shows a prediction now (the shell sets it: the user may delete layers).
        self.prediction_probe: Callable[[], bool] | None = None
        self.last_message = ""
        self.last_level = "info"
        self.saved_labels: np.ndarray | None = None  # what is on disk for the current image
        self.dirty = False
        self.heat_cache = HeatCache()  # (image id, source key) -> map, the most recent few
        #: Where the labels being painted come from (the shell sets it: napari's labels layer data).
        self.labels_source: Callable[[], np.ndarray | None] | None = None
        self.accept = AcceptMemo()  # what Accept prediction replaced, so that Ctrl+Z restores it
        self.pixels = PixelCache()  # the next images, decoded on a worker thread
        self.project_changed = EventEmitter("project_changed")
        self.image_changed = EventEmitter("image_changed")
        self.records_changed = EventEmitter("records_changed")
        self.message = EventEmitter("message")
        self.status = EventEmitter("status")
        self.state_changed = EventEmitter("state_changed")

    # -- messages ----------------------------------------------------------------------------------
    def report(self, text: str, level: str = "info") -> None:
        """A lasting one-line outcome (the panel shows it; shells also put it in a status bar)."""
        self.last_message, self.last_level = text, level
        self.message.emit(text, level)

    def say(self, text: str) -> None:
        """A passing status line."""
        self.status.emit(text)

    def begin_job(self, name: str) -> None:
        """A job starts: the previous job's outcome must not stand next to the new one."""
        self.report("", "info")
        self.say(f"{name}…")

    def set_busy(self, busy: bool) -> None:
        self.busy = bool(busy)
        self.state_changed.emit()

    # -- project -----------------------------------------------------------------------------------
    def set_project(self, project: Project) -> None:
        self.project = project
        self._forget_shown()
        self.project_changed.emit(project)

    def take_project(self) -> Project | None:
        """Forget the project (the caller closes it) and everything shown of it."""
        project, self.project = self.project, None
        self._forget_shown()
        return project

    def _forget_shown(self) -> None:
        self._forget_image()
        self.heat_cache.clear()
        self.pixels.clear()
        self.records_changed.emit(None)

    def _forget_image(self) -> None:
        self.current_image_id = None
        self.saved_labels = None
        self.dirty = False
        self.prediction_shown = False
        self.accept.clear()
        self.last_message, self.last_level = "", "info"

    def job_settings(self) -> Settings:
        """The project's settings with :attr:`settings_override` on top."""
        base = project_settings(self.project) if self.project is not None else Settings()
        override = self.settings_override
        if isinstance(override, Settings):
            override = override.to_dict()
        return base if override is None else Settings.from_dict({**base.to_dict(), **dict(override)})

    # -- facts the actions depend on ---------------------------------------------------------------
    @property
    def prediction_shown(self) -> bool:
        """A prediction is shown for the current image (Accept prediction is possible)."""
        if self.prediction_probe is not None:
            return bool(self.prediction_probe())
        return self._prediction_shown

    @prediction_shown.setter
    def prediction_shown(self, shown: bool) -> None:
        self._prediction_shown = bool(shown)

    @property
    def has_project(self) -> bool:
        return self.project is not None

    @property
    def has_images(self) -> bool:
        return self.project is not None and bool(self.project.images)

    @property
    def has_image(self) -> bool:
        return self.project is not None and self.current_image_id is not None

    @property
    def has_model(self) -> bool:
        return self.project is not None and self.project.current_model is not None

    def heat_source(self) -> HeatmapSource | None:
        """What the heat-map would show now: the latest round's ensemble, else the model."""
        return heatmap_source(self.project) if self.project is not None else None

    @property
    def has_heatmap(self) -> bool:
        return self.heat_source() is not None

    def unlabelled(self) -> list[str]:
        return self.project.unlabelled_ids("pool") if self.project is not None else []

    def labelled(self) -> list[str]:
        return self.project.labelled_ids("pool") if self.project is not None else []

    def next_suggested_id(self) -> str | None:
        p = self.project
        return p.next_suggested(after_id=self.current_image_id) if p is not None else None

    # -- counts and texts --------------------------------------------------------------------------
    def counts(self) -> tuple[int, int, int, int]:
        """(labelled pool images, pool images, in progress, held-out test images)."""
        p = self.project
        if p is None:
            return 0, 0, 0, 0
        pool = [r for r in p.images if r.split == "pool"]
        labelled = sum(r.status == STATUS_LABELLED for r in pool)
        in_progress = sum(r.status == STATUS_IN_PROGRESS for r in pool)
        return labelled, len(pool), in_progress, len(p.images) - len(pool)

    def counts_text(self) -> str:
        labelled, total, _, _ = self.counts()
        return f"{labelled} / {total} labelled"

    def model_text(self) -> str:
        return model_text(self.project)

    def model_tooltip(self) -> str:
        return model_tooltip(self.project)

    def header(self) -> Header:
        p = self.project
        if p is None:
            return Header("No project open", "", "", 0, 0, "", False)
        labelled, total, in_progress, n_test = self.counts()
        parts = []
        if in_progress:
            parts.append(f"{in_progress} in progress")
        if n_test:
            parts.append(f"{n_test} held-out test")
        rnd = p.latest_round()
        if rnd is not None:
            parts.append(f"round {rnd.index}")
        parts.append(self.model_text().rstrip("."))
        return Header(p.name, str(p.folder), f"{labelled} / {total} labelled", labelled, total,
                      " · ".join(parts), True, self.model_tooltip())  # fmt: skip

    def ranks(self) -> dict[str, int]:
        """Image id -> 1-based rank in the latest suggestion round."""
        rnd = self.project.latest_round() if self.project is not None else None
        return {} if rnd is None else {image_id: k + 1 for k, image_id in enumerate(rnd.image_ids)}

    def display_records(self) -> list[ImageRecord]:
        if self.project is None:
            return []
        ranks = self.ranks()
        return [display_record(r, ranks) for r in self.project.images]

    def display_record(self, image_id: str) -> ImageRecord:
        assert self.project is not None
        return display_record(self.project.image(image_id), self.ranks())

    def image_text(self, colours: dict[str, str], suggestion_colour: str) -> str:
        """The rich-text line under the gallery: name, status (coloured), rank, test image."""
        p, image_id = self.project, self.current_image_id
        if p is None or image_id is None:
            return ""
        rec = p.image(image_id)
        rank = self.ranks().get(image_id)
        colour = colours.get(rec.status, colours.get("unlabelled", "#7d848f"))
        text = f"<b>{rec.name}</b> &nbsp;<span style='color:{colour}'>● {rec.status.replace('_', ' ')}</span>"
        if rank is not None:
            text += f" &nbsp;<span style='color:{suggestion_colour}'><b>suggested #{rank}</b></span>"
        if rec.split == "test":
            text += " &nbsp;(held-out test image)"
        return text

    def round_text(self) -> str:
        p = self.project
        rnd = p.latest_round() if p is not None else None
        if p is None:
            return ""
        if rnd is None:
            return "No suggestions yet: press Suggest."
        done = sum(1 for i in rnd.image_ids if p.image(i).status == STATUS_LABELLED)
        return (
            f"<b>Round {rnd.index}</b> ({rnd.strategy}) · {len(rnd.image_ids)} suggested, {done} labelled · "
            f"from {rnd.n_labelled_before} labelled images"
        )

    def suggestion_rows(self) -> list[tuple[str, list[str]]]:
        """(image id, cells: rank, name, status, uncertainty, representativeness) of the latest round."""
        p = self.project
        rnd = p.latest_round() if p is not None else None
        if p is None or rnd is None:
            return []
        rows = []
        for row, image_id in enumerate(rnd.image_ids):
            rec = p.image(image_id)
            raw = rnd.scores.get(image_id) if isinstance(rnd.scores.get(image_id), dict) else {}
            score = suggestion_scores({**raw, "strategy": rnd.strategy})
            rows.append((image_id, [
                f"#{row + 1}", rec.name, rec.status.replace("_", " "),
                fmt(score.get("uncertainty")), fmt(score.get("representativeness"), 2),
            ]))  # fmt: skip
        return rows

    def history(self) -> tuple[list[dict], str]:
        """Rows for the history plot and the line under it."""
        p = self.project
        if p is None:
            return [], ""
        rows = history_rows(p.history())
        kept_out = sum(1 for r in rows if not r.get("accepted", True))
        guard = f"; {kept_out} kept out by the regression guard" if kept_out else ""
        text = f"{len(rows)} model version(s), {len(p.rounds)} suggestion round(s){guard}"
        return rows, text + ". " + self.model_text()

    def suggest_button_text(self) -> str:
        """ "Suggest", or why there is nothing to suggest."""
        p = self.project
        if p is not None and not self.unlabelled():
            pool = [r for r in p.images if r.split == "pool"]
            all_done = bool(pool) and all(r.status == STATUS_LABELLED for r in pool)
            return "Everything is labelled" if all_done else "Nothing to suggest"
        return "Suggest"

    # -- navigation --------------------------------------------------------------------------------
    def initial_image(self) -> str | None:
        """The image to show on open: one in progress, else the next suggested, else unlabelled."""
        p = self.project
        if p is None:
            return None
        for rec in p.images:
            if rec.status == STATUS_IN_PROGRESS and not rec.missing:
                return rec.id
        nxt = p.next_suggested()
        if nxt is not None:
            return nxt
        pool = p.unlabelled_ids("pool")
        if pool:
            return pool[0]
        return p.images[0].id if p.images else None

    def step_target(self, order: Sequence[str], delta: int) -> str | None:
        """The image ``delta`` steps from the current one in ``order`` (the gallery's visible order;
        every image when empty), wrapping around."""
        ids = list(order) or ([r.id for r in self.project.images] if self.project is not None else [])
        if not ids:
            return None
        if self.current_image_id in ids:
            return ids[(ids.index(self.current_image_id) + delta) % len(ids)]
        return ids[0] if delta > 0 else ids[-1]

    def load_view(self, image_id: str) -> ImageView | None:
        """Save the current labels, load ``image_id`` and make it current; None (and an error
        message) when it cannot be read."""
        p = self.project
        if p is None:
            return None
        try:
            rec = p.image(image_id)
        except QSAError as exc:
            self.report(str(exc), "error")
            return None
        self.flush()
        try:
            pixels = self.pixels.get(p, image_id)  # after the flush: a save changes the key
        except QSAError as exc:
            self.report(str(exc), "error")
            return None
        image, labels, prediction = pixels.image, pixels.labels, pixels.prediction
        if labels is None:
            labels = np.zeros(rec.shape, dtype=np.int32)
        self.current_image_id = image_id
        self.accept.clear()
        self.saved_labels = labels.copy()
        self.dirty = False
        self.prediction_shown = prediction is not None
        return ImageView(image_id, rec.name, image, labels, prediction)

    def prefetch(self, order: Sequence[str]) -> list[str]:
        """Decode the images likely to be opened next in the background (see :mod:`.pixels`)."""
        ids = likely_next(self.project, self.current_image_id, order)
        if self.project is not None:
            self.pixels.prefetch(self.project, ids)
        return ids

    # -- labels autosave ---------------------------------------------------------------------------
    def labels_data(self) -> np.ndarray | None:
        """The labels being painted, from :attr:`labels_source` (None without a canvas)."""
        return self.labels_source() if self.labels_source is not None else None

    def labels_edited(self) -> int | None:
        """The user painted: the labels are dirty; returns the autosave delay in ms (None: nothing
        to save, no image shown)."""
        if self.project is None or self.current_image_id is None:
            return None
        self.dirty = True
        return max(0, int(self.autosave_ms))

    def flush(self, quiet: bool = True) -> bool:
        """Save the labels being painted if they differ from what is on disk; True if it wrote.

        A failed save keeps them dirty, so the next flush (image switch, close) tries again.
        """
        if not self.dirty or self.project is None or self.current_image_id is None:
            return False
        data = self.labels_data()
        self.dirty = False
        if data is None:
            return False
        saved = self.saved_labels
        if saved is not None and saved.shape == data.shape and np.array_equal(saved, data):
            return False
        image_id = self.current_image_id
        try:
            self.project.save_labels(image_id, data, done=False)
        except QSAError as exc:
            self.dirty = True
            self.report(f"Could not save the labels of {image_id}: {exc}", "error")
            return False
        self.saved_labels = np.array(data, dtype=np.int32, copy=True)
        self.records_changed.emit(image_id)
        if not quiet:
            self.say(f"Labels of {self.project.image(image_id).name} saved.")
        return True

    def accept_undone(self) -> np.ndarray | None:
        """The prediction to show again when the labels are back to their pre-Accept state."""
        prediction = self.accept.undone(self.current_image_id, self.labels_data())
        if prediction is not None:
            self.prediction_shown = True
        return prediction

    def mark_done(self) -> tuple[bool, str | None]:
        """Save the labels as finished; (saved?, the next suggested image or None).

        Never from a missing labels layer: the last autosave is not what the user sees.
        """
        p, image_id = self.project, self.current_image_id
        if p is None or image_id is None:
            return False, None
        data = self.labels_data()
        if data is None:
            self.report("There is no labels layer to save: nothing was marked done.", "warning")
            return False, None
        try:
            p.save_labels(image_id, data, done=True)
        except QSAError as exc:
            self.report(f"Could not save the labels: {exc}", "error")
            return False, None
        self.saved_labels = np.array(data, dtype=np.int32, copy=True)
        self.dirty = False
        self.accept.clear()
        self.records_changed.emit(image_id)
        n = count_glands(data)
        done = f"{p.image(image_id).name} marked done ({n} gland(s)); {self.counts_text()}."
        nxt = p.next_suggested(after_id=image_id)
        if nxt is not None:
            self.report(done)
        else:
            self.report(f"{done} No suggested image left: press Retrain, or Suggest for the next round.")
        return True, nxt

    # -- heat-map cache ----------------------------------------------------------------------------
    def cached_heat(self, source_key: str | None = None) -> np.ndarray | None:
        """The current image's heat-map from ``source_key`` (default: what :meth:`heat_source`
        shows now), if computed (marks it recent)."""
        if source_key is None:
            source = self.heat_source()
            source_key = source.cache_key if source is not None else None
        if self.project is None or self.current_image_id is None or source_key is None:
            return None
        return self.heat_cache.recent((self.current_image_id, source_key))

    def store_heat(self, image_id: str, source_key: str, heat: np.ndarray) -> None:
        self.heat_cache.put((image_id, source_key), heat)


class HeatCache(OrderedDict):
    """The last :data:`HEATMAP_CACHE_SIZE` heat-maps (least recently used dropped first)."""

    def recent(self, key: tuple[str, str]) -> np.ndarray | None:
        if key not in self:
            return None
        self.move_to_end(key)
        return self[key]

    def put(self, key: tuple[str, str], heat: np.ndarray) -> None:
        self[key] = heat
        self.move_to_end(key)
        while len(self) > HEATMAP_CACHE_SIZE:
            self.popitem(last=False)


__all__ = ["AUTOSAVE_MS", "HEATMAP_CACHE_SIZE", "Header", "ImageView", "Session"]
