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
from qsa_gui.components.slides import slide_of

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


def _has_label_history(s: Session) -> bool:
    p, image_id = s.project, s.current_image_id
    return p is not None and image_id is not None and not s.busy and bool(p.image(image_id).label_versions)


def _has_labels(s: Session) -> bool:
    return s.has_image and s.labels_data() is not None


def _on_region(s: Session) -> bool:
    return slide_of(s.project, s.current_image_id) is not None


HEATMAP_TIP = (
    "Show, per pixel, where the latest suggestion round's models disagree (what ranked the "
    "round: its mean is the table's u), clear where they agree; before any round with "
    "models, where the segmentation model is unsure"
)

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
    ActionSpec("label_history", "Label history…", "Label &history…",
               "Every saved version of this image's labels: restore an earlier one (nothing is deleted)",
               _has_label_history, "ask_label_history", "Alt+Y", ("Ctrl+H",),
               why_not=lambda s: "No saved labels for this image yet: nothing to restore"
               if s.has_image else "Open an image to see its label history"),
    ActionSpec("new_gland", "New gland", "New &gland number",
               "Select a fresh label number (largest + 1): the next stroke starts a new gland",
               _has_labels, "new_gland", "Alt+M", ("G",)),
    ActionSpec("trace_gland", "Trace outline", "&Trace a gland outline",
               "Draw a gland's outline, freehand (drag, or click - move - click) or with Shift+P / P "
               "click by click; it is filled as a new gland. Press again to go back to the brush",
               _has_labels, "toggle_trace", "Alt+T", ("T",)),
    ActionSpec("outlines", "Outlines", "Show labels as &outlines",
               "Show the glands as outlines instead of filled, to see the tissue under them",
               _has_labels, "toggle_outlines", "Alt+O", ("O",)),
    ActionSpec("heatmap", "Heat-map", "Uncertainty &heat-map", HEATMAP_TIP,
               lambda s: s.has_heatmap and (not s.busy or s.heatmap_on), "toggle_heatmap", "Alt+U",
               why_not=lambda s: f"{HEATMAP_TIP}  [Alt+U]" if s.has_heatmap else
               "Nothing to map yet: label an image and press Suggest (or Retrain); the heat-map "
               "shows where the suggestive models disagree"),
    ActionSpec("show_slide", "Slide", "Show the whole &slide",
               "Show the whole slide this region comes from, with the suggested regions ranked on it; "
               "click a region to paint it at full resolution (press again to go back)",
               _on_region, "show_slide", "Alt+S", ("Ctrl+Shift+S",),
               why_not=lambda s: "This image is not a region of a slide (import a .svs / .ndpi / "
               "OME-TIFF slide to get regions)"),
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
    ActionSpec("segment_slide", "Segment slide", "Segment the &whole slide",
               "Segment the whole slide this region comes from with the current model and write QuPath "
               "GeoJSON and OME-Zarr labels (the glands are outlined on the slide view)",
               lambda s: _on_region(s) and s.has_model and not s.busy, "segment_slide",
               why_not=lambda s: "This image is not a region of a slide" if not _on_region(s) else
               "No model yet: label a region and press Retrain first" if not s.has_model else
               "Wait for the running job to finish"),
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
    ActionSpec("shortcuts_help", "Keyboard shortcuts…", "&Keyboard shortcuts",
               "List every keyboard shortcut: the assistant's and napari's painting keys",
               lambda s: True, "show_shortcuts", "", ("F1",)),
    ActionSpec("demo_project", "New demo project (generated glands)…", "", "A project of generated glands",
               lambda s: not s.busy, "ask_demo_project"),
)}  # fmt: skip

#: napari's own keys the annotation relies on, for the keyboard help: (keys, what, where).
NAPARI_KEYS: tuple[tuple[str, str, str], ...] = (
    ("2, P", "Paint brush", "labels layer"),
    ("1, E", "Eraser", "labels layer"),
    ("4, F", "Fill bucket", "labels layer"),
    ("5, L", "Pick a gland's number from the image", "labels layer"),
    ("3", "napari's click-by-click polygon, painted with the selected number", "labels layer"),
    ("[  /  ]", "Smaller / larger brush", "labels layer"),
    ("M", "New label number (napari's own; like the assistant's New gland)", "labels layer"),
    ("-  /  =", "Previous / next label number", "labels layer"),
    ("X", "Swap the selected number with the background (erase with the brush)", "labels layer"),
    ("B", "Preserve labels: paint (and trace) only over background", "labels layer"),
    ("Ctrl+Z  /  Ctrl+Shift+Z", "Undo / redo a stroke, fill, traced gland or deletion", "labels layer"),
    ("6, Z, hold Space", "Pan and zoom", "canvas"),
    ("Shift+P  /  P", "Lasso / click-by-click polygon while tracing", "outline layer"),
    ("Enter, Esc", "Finish the outline being drawn", "outline layer"),
    ("Delete, Backspace", "Delete the selected gland", "gland list"),
)

#: The panel's window-wide keyboard shortcuts (napari), by action key.
SHORTCUTS: dict[str, str] = {k: a.shortcut for k, a in ACTIONS.items() if a.shortcut}


def key_sequences(spec: ActionSpec) -> list[QKeySequence]:
    """The window's menu shortcuts of an action as Qt key sequences."""
    return [QKeySequence(s) for s in spec.menu_shortcuts]


__all__ = ["ACTIONS", "ActionSpec", "NAPARI_KEYS", "SHORTCUTS", "key_sequences"]
