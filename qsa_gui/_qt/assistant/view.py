"""Drawing the session into the panel's widgets: header, gallery, tables, actions, messages.

Why apart: every text and rule comes from the Qt-free session (``qsa_gui/components``) and the
action table; this module only copies them into widgets, so it holds no decisions of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QTableWidgetItem

from ..actions import ACTIONS
from ..gallery import STATUS_COLOURS, SUGGESTION_COLOUR

if TYPE_CHECKING:
    from .widget import AssistantWidget

LEVEL_COLOURS = {"info": "#2e9e4f", "warning": "#d98e04", "error": "#d62728"}

#: Panel buttons by action key.
BUTTONS = {
    "previous_image": "previous_button",
    "next_image": "next_button",
    "next_suggested": "next_suggested_button",
    "mark_done": "mark_done_button",
    "accept_prediction": "accept_button",
    "heatmap": "heatmap_button",
    "new_gland": "new_gland_button",
    "trace_gland": "trace_button",
    "outlines": "outline_button",
    "suggest": "suggest_button",
    "retrain": "retrain_button",
    "segment_current": "segment_button",
    "segment_all": "segment_all_button",
    "segment_slide": "segment_slide_button",
    "show_slide": "show_slide_button",
}
#: Project menu actions by action key.
MENU = {
    "import_images": "import_action",
    "export": "export_action",
    "close_project": "close_action",
    "open_project": "open_action",
    "new_project": "new_action",
    "demo_project": "demo_action",
    "label_history": "label_history_action",
    "settings": "settings_action",
}


class PanelView:
    """Refreshes the panel of one :class:`AssistantWidget` from its session."""

    def __init__(self, widget: AssistantWidget) -> None:
        self.w = widget
        self.session = widget.session
        self.history_dirty = True

    def refresh_all(self) -> None:
        w, s = self.w, self.session
        w.gallery_stack.setCurrentIndex(0 if s.project is None else 1)
        if s.project is None:
            w.gallery.set_records([], None)
        else:
            w.gallery.set_records(s.display_records(), s.project.load_image)
        self.refresh_header()
        self.refresh_suggestions()
        self.refresh_history()
        self.refresh_image_label()
        self.refresh_actions()

    def refresh_record(self, image_id: str | None) -> None:
        """One record changed (None: all of them)."""
        if image_id is None:
            self.refresh_all()
            return
        if self.session.project is None:
            return
        self.w.gallery.update_record(self.session.display_record(image_id))
        self.refresh_header()
        self.refresh_suggestions()
        self.refresh_image_label()
        self.refresh_actions()

    def refresh_header(self) -> None:
        w, h = self.w, self.session.header()
        w.name_label.setText(h.name)
        w.name_label.setToolTip(h.tooltip)
        w.counts_label.setText(h.counts)
        w.detail_label.setText(h.detail)
        w.detail_label.setToolTip(h.detail_tooltip)
        w.labelled_bar.setVisible(h.has_project)
        if h.has_project:
            w.labelled_bar.setRange(0, max(1, h.total))
            w.labelled_bar.setValue(h.labelled)

    def refresh_image_label(self) -> None:
        self.w.image_label.setText(self.session.image_text(STATUS_COLOURS, SUGGESTION_COLOUR))

    def refresh_suggestions(self) -> None:
        w = self.w
        w.round_label.setText(self.session.round_text())
        rows = self.session.suggestion_rows()
        table = w.suggestion_table
        table.setRowCount(len(rows))
        for row, (image_id, cells) in enumerate(rows):
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 1:
                    item.setData(Qt.ItemDataRole.UserRole, image_id)
                if col in (0, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, col, item)

    def refresh_history(self) -> None:
        """Mark the history stale; it is redrawn when (or as soon as) its tab is shown.

        A matplotlib redraw costs ~100 ms on a busy machine: doing it for a hidden tab after every
        job would be a visible stall for nothing.
        """
        self.history_dirty = True
        self.draw_history_if_shown()

    def draw_history_if_shown(self) -> None:
        w = self.w
        if not self.history_dirty or w.tabs.currentWidget() is not w.history_page:
            return
        self.history_dirty = False
        rows, text = self.session.history()
        w.history_plot.set_rows(rows)
        w.history_label.setText(text)

    def refresh_actions(self) -> None:
        """Every button and menu action enabled by its rule in the action table."""
        w, s = self.w, self.session
        for key, name in BUTTONS.items():
            spec, button = ACTIONS[key], getattr(w, name)
            button.setEnabled(spec.enabled(s))
            if spec.why_not is not None:
                button.setToolTip(spec.tooltip(s))
        w.suggest_button.setText(s.suggest_button_text())
        w.segment_slide_button.setVisible(s.project is not None and bool(s.project.slides))
        for key, name in MENU.items():
            getattr(w, name).setEnabled(ACTIONS[key].enabled(s))

    def reset_job_views(self) -> None:
        """No job outcome of another project (or an earlier job) may stay on show."""
        w = self.w
        w.last_retrain = None
        w.loss_values = []
        w.loss_plot.set_values([])
        w.progress_panel.reset()
        w.heat_legend.show_for(None, None)
        w.replay.reset()
        self.show_message("", "info")
        w.validation_label.setText(self.session.model_text())
        w.validation_label.setToolTip(self.session.model_tooltip())

    def show_message(self, text: str, level: str) -> None:
        show_levelled(self.w.message_label, text, level)
        self.w.message_label.setToolTip(text)


def show_levelled(label: QLabel, text: str, level: str) -> None:
    """``text`` in ``label`` with the level's colour bar at its left; hidden when empty."""
    colour = LEVEL_COLOURS.get(level, LEVEL_COLOURS["info"])
    label.setStyleSheet(f"QLabel {{ border-left: 3px solid {colour}; padding: 2px 6px; }}")
    label.setText(text)
    label.setVisible(bool(text))


__all__ = ["BUTTONS", "LEVEL_COLOURS", "MENU", "PanelView", "show_levelled"]
