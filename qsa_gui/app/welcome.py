"""The desktop window's first steps, over the empty canvas while no project is open.

Why our own: napari's welcome overlay advertises napari's shortcuts (Ctrl+N a new viewer, Ctrl+O
napari's reader, Preferences, a tour) that do something else, or nothing, in this window. This one
says what to do first, offers the four ways to start as buttons and lists the window's real keys,
read from the one action table (:mod:`qsa_gui._qt.actions`). Files dropped on it are imported
like files dropped on the canvas (the window's drop filter is installed on it too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from qsa_gui._qt.actions import ACTIONS

#: (action key, what the step says) in the order a new user needs them.
STEP_KEYS: tuple[tuple[str, str], ...] = (
    ("new_project", "start a new project folder"),
    ("open_project", "or open an existing one"),
    ("import_images", "add your H&E images (or drop image files here)"),
    ("next_suggested", "go to the image the assistant suggests labelling next"),
    ("mark_done", "save its labels as finished"),
)


def keys_of(key: str) -> str:
    """The window's shortcut(s) of an action, as the menus show them (e.g. ``Ctrl+N``)."""
    return " / ".join(ACTIONS[key].menu_shortcuts)


def welcome_html() -> str:
    rows = "".join(
        f"<tr><td align='right'><b>{keys_of(k)}</b></td><td>{ACTIONS[k].menu_text.replace('&', '')}"
        f" — {why}</td></tr>"
        for k, why in STEP_KEYS
        if keys_of(k)
    )
    return (
        "<h2>Welcome to qsa-gui</h2>"
        "<p>Label a few gland images; the assistant suggests which to label next and retrains "
        "its model on your labels.</p>"
        f"<table cellspacing='4'>{rows}</table>"
        "<p>Then press <b>Suggest</b> and <b>Retrain</b> in the Assistant panel. "
        "All keys: <b>Help ▸ Keyboard shortcuts</b>.</p>"
    )


class WelcomeOverlay(QWidget):
    """First steps and four start buttons, kept the size of the canvas it covers."""

    def __init__(self, canvas: QWidget, actions: dict[str, Callable[[], Any]]) -> None:
        super().__init__(canvas)
        self.setObjectName("qsaWelcome")
        self.setAutoFillBackground(True)
        self.text_label = QLabel(welcome_html(), self)
        self.text_label.setTextFormat(Qt.TextFormat.RichText)
        self.text_label.setWordWrap(True)
        self.text_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        for i, (key, text) in enumerate(
            (
                ("new_project", "New project…"),
                ("open_project", "Open project…"),
                ("import_images", "Import images…"),
                ("demo_project", "New demo project…"),
            )
        ):
            button = QPushButton(text, self)
            button.clicked.connect(lambda _checked=False, f=actions[key]: f())
            grid.addWidget(button, i // 2, i % 2)
            self.buttons[key] = button
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(self.text_label)
        box.addLayout(grid)
        box.addStretch(2)
        box.setContentsMargins(48, 24, 48, 24)
        canvas.installEventFilter(self)
        self.setGeometry(canvas.rect())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.parent() and event.type() == QEvent.Type.Resize:
            self.setGeometry(obj.rect())  # type: ignore[attr-defined]
        return False


__all__ = ["STEP_KEYS", "WelcomeOverlay", "keys_of", "welcome_html"]
