"""The one table of the assistant's actions: text, shortcuts, the rule that enables it, handler.

Why one table: the panel's buttons and the main window's menus used to decide "possible now?"
separately (the window copied the enabled state of the panel's private buttons). Now both read
the rule here, a function of the Qt-free :class:`~qsa_gui.components.session.Session`, and call
the same :class:`~qsa_gui._qt.assistant.AssistantWidget` method.

Shortcuts differ by shell on purpose: inside napari the panel's ``Alt+…`` keys avoid napari's own
bindings and menu mnemonics; the standalone window owns plain keys on its menus (see
``qsa_gui/app/window.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qtpy.QtGui import QKeySequence

from qsa_gui.components.session import Session

Rule = Callable[[Session], bool]


@dataclass(frozen=True)
class ActionSpec:
    """One action of the assistant (see the module docstring)."""

    key: str
    text: str  # the panel's button text
    menu_text: str  # the window's menu text (with its ``&`` mnemonic); "" = not in the menus
    tip: str
    enabled: Rule
    handler: str  # the AssistantWidget method it calls (``heatmap`` toggles)
    shortcut: str = ""  # the panel's window-wide QShortcut (napari)
    menu_shortcuts: tuple[str, ...] = ()  # the standalone window's menu action keys
    why_not: Callable[[Session], str] | None = None  # the tooltip while it is not possible

    def tooltip(self, session: Session) -> str:
        if self.why_not is not None and not self.enabled(session):
            return self.why_not(session)
        return f"{self.tip}  [{self.shortcut}]" if self.shortcut else self.tip


def _idle(s: Session) -> bool:
    return s.has_project and not s.busy


HEATMAP_TIP = "Show where the current model is unsure (4·p·(1−p) of its gland probability; bright = unsure)"

ACTIONS: dict[str, ActionSpec] = {a.key: a for a in (
    ActionSpec("previous_image", "◀ Previous", "&Previous image", "Show the previous image",
               lambda s: s.has_images, "previous_image", "Alt+Left", ("Shift+N", "Left")),
    ActionSpec("next_image", "Next ▶", "&Next image", "Show the next image",
               lambda s: s.has_images, "next_image", "Alt+Right", ("N", "Right")),
    ActionSpec("next_suggested", "Next suggested", "Next &suggested image",
               "Show the best-ranked suggested image that is not labelled yet",
               lambda s: s.next_suggested_id() is not None, "next_suggested", "Alt+N", ("Ctrl+Shift+N",)),
    ActionSpec("mark_done", "✓ Mark done", "&Mark image done",
               "Save this image's labels as finished (status: labelled) and go to the next suggested image",
               lambda s: s.has_image, "mark_done", "Alt+D", ("Ctrl+D",)),
    ActionSpec("accept_prediction", "Accept prediction", "",
               "Copy the model's prediction into your labels (undo with Ctrl+Z), then correct it",
               lambda s: s.has_image and s.prediction_shown, "accept_prediction", "Alt+A"),
    ActionSpec("heatmap", "Heat-map", "Uncertainty &heat-map", HEATMAP_TIP,
               lambda s: s.has_model and (not s.busy or s.heatmap_on), "toggle_heatmap", "Alt+U",
               why_not=lambda s: f"{HEATMAP_TIP}  [Alt+U]" if s.has_model else
               "No segmentation model yet: press Retrain first; the heat-map shows the model's uncertainty"),
    ActionSpec("suggest", "Suggest", "Su&ggest images to label",
               "Train the suggestive ensemble on your labels and rank the unlabelled images: "
               "the most uncertain and representative ones come first",
               lambda s: _idle(s) and bool(s.unlabelled()), "suggest", "Alt+G"),
    ActionSpec("retrain", "Retrain", "&Retrain the model",
               "Train the segmentation model on the labelled images; it replaces the current model only "
               "if it is at least as good on held-out labelled images",
               lambda s: _idle(s) and bool(s.labelled()), "retrain", "Alt+R",
               why_not=lambda s: "Label at least one image and press Mark done before retraining"
               if s.has_project and not s.labelled() else f"{ACTIONS['retrain'].tip}  [Alt+R]"),
    ActionSpec("segment_current", "Segment image", "Segment &this image",
               "Segment the shown image with the current model",
               lambda s: s.has_image and s.has_model and not s.busy, "segment_current", "Alt+I"),
    ActionSpec("segment_all", "Segment all", "Segment &all unlabelled images",
               "Segment every unlabelled image with the current model",
               lambda s: s.has_model and not s.busy and bool(s.unlabelled()), "segment_all"),
    ActionSpec("cancel_job", "Cancel", "&Cancel the running job",
               "Stop the running job; the previous model stays", lambda s: s.busy, "cancel_job"),
    ActionSpec("import_images", "Import images…", "&Import images…", "Add images to the project",
               _idle, "ask_import_images", menu_shortcuts=("Ctrl+I",)),
    ActionSpec("export", "Export labels and model…", "&Export labels and model…",
               "Write labels, predictions, a CSV and the current model to a folder", _idle, "ask_export"),
    ActionSpec("settings", "Settings…", "Project &settings…",
               "Model size presets (Quick / Standard / Paper), bits, ensemble size, device, and how long "
               "Suggest and Retrain take on this machine", lambda s: s.has_project, "ask_settings"),
    ActionSpec("close_project", "Close project", "", "Save the labels and close the project",
               _idle, "close_project"),
    ActionSpec("open_project", "Open project…", "&Open project…", "Open a project folder",
               lambda s: not s.busy, "ask_open_project", menu_shortcuts=("Ctrl+O",)),
    ActionSpec("new_project", "New project…", "&New project…", "Create an empty project folder",
               lambda s: not s.busy, "ask_new_project", menu_shortcuts=("Ctrl+N",)),
    ActionSpec("demo_project", "New demo project (generated glands)…", "", "A project of generated glands",
               lambda s: not s.busy, "ask_demo_project"),
)}  # fmt: skip

#: The panel's window-wide keyboard shortcuts (napari), by action key.
SHORTCUTS: dict[str, str] = {k: a.shortcut for k, a in ACTIONS.items() if a.shortcut}


def key_sequences(spec: ActionSpec) -> list[QKeySequence]:
    """The window's menu shortcuts of an action as Qt key sequences."""
    return [QKeySequence(s) for s in spec.menu_shortcuts]


__all__ = ["ACTIONS", "ActionSpec", "SHORTCUTS", "key_sequences"]
