"""Moving between images and putting them on the canvas: show, next, previous, mark done,
accept a prediction, the uncertainty heat-map.

Why a mixin of :class:`~.widget.AssistantWidget`: these verbs are the panel's public API
(``w.next_image()``...), but what to show next and what is saved are the session's decisions;
this part only moves arrays between the session and napari's layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer

from qsa_gui.components import guards
from qsa_gui.components.label_history import restore_version, version_rows
from qsa_gui.core.workflow.heatmap import HeatmapSource

from ..layers import ROLE_PREDICTION, to_uint8_rgb
from .label_history import LabelHistoryDialog

#: The next images are decoded this long after a switch, once the new one is on screen.
PREFETCH_DELAY_MS = 150

if TYPE_CHECKING:
    from qsa_gui.components.session import Session

    from ..layers import AnnotationLayers


class Navigation:
    """The canvas side of the assistant (mixed into AssistantWidget, which provides the attributes)."""

    session: Session
    layers: AnnotationLayers
    viewer: Any
    gallery: Any
    heatmap_button: Any
    suggestion_table: Any
    view: Any

    def show_image(self, image_id: str) -> None:
        """Show an image with its saved labels (editable) and, if unlabelled, its prediction."""
        s = self.session
        if s.project is None:
            return
        self.leave_slide()  # type: ignore[attr-defined]  # a region is painted full size, not on the slide
        if image_id == s.current_image_id and self.layers.labels is not None:
            self._select_in_gallery(image_id)
            return
        self._autosave_timer.stop()  # type: ignore[attr-defined]
        view = s.load_view(image_id)
        if view is None:
            return
        self.frame_pacer.hold()  # type: ignore[attr-defined]  # work now, one repaint next turn
        # every layer updated in place (a removal would cost napari's full gc.collect)
        reset = self.layers.show_image(to_uint8_rgb(view.image), view.name)
        source = s.heat_source() if s.heatmap_on else None
        heat = s.cached_heat(source.cache_key) if source is not None else None
        if heat is not None and source is not None:
            self.show_heat(source, heat)  # the parked layer is reused: no removal, no gc pause
        else:
            self.layers.show_heatmap(None, park=True)
        self.layers.show_prediction(view.prediction, park=True)
        self.layers.show_labels(view.labels)
        self.layers.activate_labels()
        if reset and self.viewer is not None:
            self.view_fitter.fit()  # type: ignore[attr-defined]
        self._select_in_gallery(image_id)
        self.view.refresh_image_label()
        self.view.refresh_actions()
        if s.heatmap_on and heat is None:
            self._ensure_heatmap()
        s.image_changed.emit(image_id)
        self._schedule_prefetch()

    def _schedule_prefetch(self) -> None:
        """Decode the likely next images once the new one is painted (not during its paint)."""
        timer = getattr(self, "_prefetch_timer", None)
        if timer is None:
            timer = self._prefetch_timer = QTimer(self)  # type: ignore[arg-type]
            timer.setSingleShot(True)
            timer.timeout.connect(lambda: self.session.prefetch(self.gallery.visible_ids()))
        timer.start(PREFETCH_DELAY_MS)

    def show_prediction(self, labels: np.ndarray | None) -> None:
        self.layers.show_prediction(labels)
        self.session.prediction_shown = labels is not None

    def next_suggested(self) -> None:
        """Show the best-ranked suggested image still unlabelled (after the current one)."""
        if self.session.project is None:
            return
        nxt = self.session.next_suggested_id()
        if nxt is None:
            self.session.report(
                "No suggested image left to label: press Suggest for a new round, or Retrain.", "warning"
            )
            return
        self.show_image(nxt)

    def next_image(self) -> None:
        self._step(+1)

    def previous_image(self) -> None:
        self._step(-1)

    def _step(self, delta: int) -> None:
        target = self.session.step_target(self.gallery.visible_ids(), delta)
        if target is not None:
            self.show_image(target)

    def mark_done(self) -> None:
        """Save the labels as finished (status labelled) and go to the next suggested image.

        Asks before saving 0 glands (offering to accept a shown prediction first); a deleted
        labels layer is recreated from the last saved labels instead of saving anything.
        """
        self._autosave_timer.stop()  # type: ignore[attr-defined]
        s = self.session
        if not s.has_image:
            return
        check = guards.done_check(s.labels_data())
        if check == guards.DONE_NO_LAYER and self.viewer is not None:
            self.restore_labels_layer()
            return
        if check == guards.DONE_EMPTY:
            answer = self.ask_mark_done_empty(s.prediction_shown)  # type: ignore[attr-defined]
            if answer == guards.ANSWER_ACCEPT and s.prediction_shown:
                self.accept_prediction()
            elif answer != guards.ANSWER_EMPTY:
                s.report("Not marked done: the image has no glands yet. Paint them or accept the prediction.")
                return
        saved, nxt = s.mark_done()
        if not saved:
            return
        if nxt is not None:
            self.show_image(nxt)
        else:
            self.show_prediction(None)
            self.view.refresh_actions()

    def accept_prediction(self) -> None:
        """Copy the (possibly edited) prediction into the labels layer as one undoable step.

        Nothing is written yet (the next stroke, an image switch or Mark done saves it), so that
        Ctrl+Z brings back the state before Accept: prediction shown, no label file.
        """
        s = self.session
        pred_layer = self.layers.get(ROLE_PREDICTION)
        labels_layer = self.layers.labels
        if pred_layer is None or labels_layer is None or s.current_image_id is None:
            s.report("No prediction shown for this image: press Segment image first.", "warning")
            return
        pred = np.asarray(pred_layer.data, dtype=np.int32)
        current = np.asarray(labels_layer.data)
        s.accept.remember(s.current_image_id, pred, current)
        changed = np.nonzero(current != pred)
        if changed[0].size:
            with self.layers.suppressed():  # the accept itself is not a stroke: no autosave yet
                labels_layer.data_setitem(changed, pred[changed])
        self.show_prediction(None)
        s.dirty = True  # saved on switch, close or Mark done
        self.layers.activate_labels()
        self.view.refresh_actions()
        s.report("Prediction copied into your labels: correct it, then Mark done (Ctrl+Z undoes).")

    def on_accept_undone(self, prediction: np.ndarray) -> None:
        """Ctrl+Z went back past Accept: show the prediction again (Accept is possible again)."""
        self.show_prediction(prediction)
        self.layers.activate_labels()
        self.view.refresh_actions()
        self.session.report("Accept undone: the prediction is shown again and nothing was saved for it.")

    def restore_labels_layer(self) -> None:
        """The labels layer was deleted: bring it back with the last saved labels (nothing saved)."""
        s = self.session
        if s.current_image_id is None or s.project is None:
            return
        labels = s.saved_labels
        if labels is None:
            labels = np.zeros(s.project.image(s.current_image_id).shape, np.int32)
        self.layers.show_labels(np.array(labels, dtype=np.int32, copy=True))
        self.layers.activate_labels()
        s.dirty = False
        s.report("The labels layer had been deleted: it is back with the last saved labels of "
                 f"{s.project.image(s.current_image_id).name}. Nothing was marked done; check them "
                 "and press Mark done again.", "warning")  # fmt: skip

    # -- label history -----------------------------------------------------------------------------
    def ask_label_history(self) -> LabelHistoryDialog | None:
        """Open the shown image's label history; choosing a version restores it (see
        :func:`~qsa_gui.components.label_history.restore_version`)."""
        s = self.session
        if s.project is None or s.current_image_id is None or s.busy:
            return None
        rows = version_rows(s.project, s.current_image_id)
        if not rows:
            s.report("This image has no saved labels yet: there is no history to restore from.")
            return None
        image_id = s.current_image_id
        dialog = LabelHistoryDialog(self, s.project.image(image_id).name, rows)  # type: ignore[arg-type]
        dialog.restore_requested.connect(lambda version: self.restore_label_version(image_id, version))
        dialog.finished.connect(dialog.deleteLater)
        self.label_history_dialog = dialog
        dialog.open()
        return dialog

    def restore_label_version(self, image_id: str, version: int) -> bool:
        """Restore ``version`` of ``image_id``'s labels onto the canvas (unsaved strokes saved first)."""
        s = self.session
        if s.current_image_id != image_id or s.busy:
            s.report("Not restored: the image or the project changed meanwhile.", "warning")
            return False
        self._autosave_timer.stop()  # type: ignore[attr-defined]
        labels = restore_version(s, version)
        if labels is None:
            return False
        self.layers.show_labels(labels)  # not a stroke: no autosave; its undo history starts afresh
        self.layers.activate_labels()
        self.view.refresh_image_label()
        self.view.refresh_actions()
        return True

    def _on_foreign_layer(self, layer: Any) -> None:
        """Another layer was added (sample data, a file): napari makes it the active one, so the
        brush would paint into a layer that is never saved. Once napari is done, put the project's
        layers back on top, its labels active, and say so."""
        QTimer.singleShot(0, lambda: self._keep_project_layers(getattr(layer, "name", "a layer")))

    def _keep_project_layers(self, name: str) -> None:
        if self.session.current_image_id is None or self.layers.labels is None:
            return
        self.layers.restack()
        self.layers.activate_labels()
        text = (f"“{name}” was added below the project's layers; the labels layer stays active, "
                "so your brush strokes go into the project's labels.")  # fmt: skip
        self.session.report(text, "warning")

    def _select_in_gallery(self, image_id: str) -> None:
        if self.gallery.current_id() != image_id:
            self.gallery.blockSignals(True)
            try:
                self.gallery.select(image_id)
            finally:
                self.gallery.blockSignals(False)

    def on_gallery_current(self, image_id: str) -> None:
        if image_id and image_id != self.session.current_image_id:
            self.show_image(image_id)

    def on_suggestion_clicked(self, row: int, _column: int) -> None:
        item = self.suggestion_table.item(row, 1)
        if item is not None:
            self.show_image(item.data(Qt.ItemDataRole.UserRole))

    # -- heat-map ----------------------------------------------------------------------------------
    def toggle_heatmap(self, on: bool) -> None:
        """Show / hide the per-pixel uncertainty over the image: the latest suggestion round's
        ensemble disagreement (what ranked the round), else the model's own doubt."""
        s = self.session
        if on and not s.has_heatmap:
            on = False
            s.report("Nothing to map yet: press Suggest (after labelling an image) or Retrain first.",
                     "warning")  # fmt: skip
        s.heatmap_on = bool(on)
        self.heatmap_button.blockSignals(True)
        self.heatmap_button.setChecked(s.heatmap_on)
        self.heatmap_button.blockSignals(False)
        if s.heatmap_on:
            self._ensure_heatmap()
        else:
            self.layers.show_heatmap(None)
            self.heat_legend.show_for(None, None)  # type: ignore[attr-defined]
        self.view.refresh_actions()

    def _ensure_heatmap(self) -> None:
        s = self.session
        project, image_id, source = s.project, s.current_image_id, s.heat_source()
        if project is None or image_id is None or source is None:
            return
        heat = s.cached_heat(source.cache_key)
        if heat is not None:
            self.show_heat(source, heat)
            return
        if s.busy or self.runner.is_running:  # type: ignore[attr-defined]
            s.say("The heat-map will be computed when the running job ends.")
            return
        self._start_heatmap(image_id, source)  # type: ignore[attr-defined]

    def show_heat(self, source: HeatmapSource, heat: np.ndarray) -> None:
        """Put a computed map on the canvas (transparent where certain) and its legend in the panel."""
        layer = self.layers.show_heatmap(heat, scale=source.scale, name=source.title)
        self.heat_legend.show_for(source, layer, float(np.mean(heat)))  # type: ignore[attr-defined]
        self.layers.activate_labels()


__all__ = ["Navigation"]
