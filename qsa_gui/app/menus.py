"""The main window's actions and menus, enabled by the one action table (``_qt/actions.py``).

Why apart from the window: the menus are a table walk plus the rules of :mod:`qsa_gui._qt.actions`
evaluated on the assistant's Qt-free session; the window no longer copies the enabled state of
the assistant's private buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QAction, QKeySequence
from qtpy.QtWidgets import QMenu

from qsa_gui._qt.actions import ACTIONS
from qsa_gui._qt.shortcuts_help import WINDOW, ShortcutsDialog, shortcut_rows, show_shortcuts

from .dialogs import show_about

#: The Annotate menu's actions that call the assistant (keys of ACTIONS).
ASSISTANT_MENU_ACTIONS = (
    "next_image", "previous_image", "next_suggested", "mark_done",
    "suggest", "retrain", "segment_current", "segment_all", "cancel_job", "label_history",
    "new_gland", "trace_gland", "outlines", "show_slide", "segment_slide",
)  # fmt: skip
#: Menu status tips worded for the window where they differ from the panel's button tooltips.
WINDOW_TIPS = {
    "next_image": "Show the next image of the gallery",
    "previous_image": "Show the previous image of the gallery",
    "next_suggested": "Show the next image the assistant suggests",
    "mark_done": "Save this image's labels as finished and go on",
    "suggest": "Rank the unlabelled images: which to label next",
    "retrain": "Train the segmentation network on your finished labels",
    "segment_current": "Predict glands on the image shown",
    "segment_all": "Predict glands on every unlabelled image",
    "label_history": "Earlier versions of this image's labels: restore one",
    "show_slide": "The whole slide of this region, its suggested regions ranked on it",
    "segment_slide": "Segment this region's whole slide; QuPath GeoJSON and OME-Zarr labels",
}
#: Window actions whose rule is another key's in ACTIONS.
RULE_OF = {"open_demo": "demo_project"}


class WindowMenus:
    """Actions, menus, recent projects and the shortcut list of MainWindow (a mixin)."""

    menu_actions: dict[str, QAction]
    assistant: Any
    viewer: Any
    recent: Any

    def _action(
        self,
        key: str,
        text: str,
        slot: Callable[..., Any],
        shortcuts: tuple[str, ...] | QKeySequence.StandardKey = (),
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcuts, QKeySequence.StandardKey):
            action.setShortcut(QKeySequence(shortcuts))
        elif shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        self.menu_actions[key] = action
        return action

    def _build_actions(self) -> None:
        a, t = self._action, ACTIONS
        a(
            "new_project",
            t["new_project"].menu_text,
            self.new_project_dialog,
            t["new_project"].menu_shortcuts,
            "Create an empty project folder",
        )
        a(
            "open_project",
            t["open_project"].menu_text,
            self.open_project_dialog,
            t["open_project"].menu_shortcuts,
            "Open a project folder",
        )
        a("open_demo", "Open the &demo project", self.open_demo, (), "Create (if needed) and open the demo")
        a(
            "import_images",
            t["import_images"].menu_text,
            self.import_images_dialog,
            t["import_images"].menu_shortcuts,
            "Add images to the project",
        )
        a("export", t["export"].menu_text, self.export_dialog, (), t["export"].tip)
        settings = t["settings"]
        a("settings", settings.menu_text, lambda: self.assistant.trigger("settings"), (), settings.tip)
        a("quit", "&Quit", self.close, ("Ctrl+Q",), "Save and quit")
        a("undo", "&Undo", self.undo, ("Ctrl+Z",), "Undo the last paint, fill or erase")
        a("redo", "&Redo", self.redo, ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo what was undone")
        for key in ASSISTANT_MENU_ACTIONS:
            spec = t[key]
            a(
                key,
                spec.menu_text,
                lambda k=key: self._run_assistant_action(k),
                spec.menu_shortcuts,
                WINDOW_TIPS.get(key, spec.tip),
            )
        a("heatmap", t["heatmap"].menu_text, self._toggle_heatmap, (), "Show where the model is unsure", True)
        a("fit", "&Fit image to window", self.viewer.reset_view, ("Ctrl+R",), "Zoom to show the whole image")
        help_spec = t["shortcuts_help"]
        a("shortcuts", help_spec.menu_text, self.show_shortcuts, help_spec.menu_shortcuts, help_spec.tip)
        a("about", "&About qsa-gui", lambda: show_about(self), (), "Version, method, licence")  # fmt: skip

    def _build_menus(self) -> None:
        bar = self.menuBar()
        acts = self.menu_actions
        file_menu = bar.addMenu("&File")
        file_menu.addActions([acts["new_project"], acts["open_project"]])
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addAction(acts["open_demo"])
        file_menu.addSeparator()
        file_menu.addActions([acts["import_images"], acts["export"], acts["settings"]])
        file_menu.addSeparator()
        file_menu.addAction(acts["quit"])
        self.file_menu = file_menu

        self.edit_menu = bar.addMenu("&Edit")
        self.edit_menu.addActions([acts["undo"], acts["redo"]])
        self.edit_menu.addSeparator()
        self.edit_menu.addAction(acts["label_history"])

        annotate = bar.addMenu("&Annotate")
        annotate.addActions(
            [acts[k] for k in ("next_image", "previous_image", "next_suggested", "mark_done")]
        )
        annotate.addSeparator()
        annotate.addActions([acts[k] for k in ("new_gland", "trace_gland", "outlines")])
        annotate.addSeparator()
        annotate.addActions(
            [acts[k] for k in ("suggest", "retrain", "segment_current", "segment_all", "segment_slide")]
        )
        annotate.addSeparator()
        annotate.addAction(acts["cancel_job"])
        self.annotate_menu = annotate

        view = bar.addMenu("&View")
        for key, dock, text in (
            ("toggle_assistant", self.assistant_dock, "&Assistant panel"),
            ("toggle_tools", self.tools_dock, "&Painting tools"),
            ("toggle_layers", self.layers_dock, "&Layers"),
        ):
            toggle = dock.toggleViewAction()
            toggle.setText(text)
            self.menu_actions[key] = toggle
            view.addAction(toggle)
        view.addSeparator()
        view.addActions([acts["heatmap"], acts["show_slide"], acts["fit"]])
        self.view_menu = view

        for menu in (self.file_menu, self.edit_menu, annotate, view):
            menu.aboutToShow.connect(self._update_actions)
        self.help_menu = bar.addMenu("&Help")
        self.help_menu.addActions([acts["shortcuts"], acts["about"]])
        self._rebuild_recent_menu()

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(action, shortcuts) for every action that has one: the Help > Keyboard shortcuts table."""
        rows = []
        for action in self.menu_actions.values():
            keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
            if keys:
                rows.append((action.text().replace("&", "").rstrip("…"), ", ".join(keys)))
        return rows

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help > Keyboard shortcuts: the action table's menu keys, the window's own, napari's."""
        return show_shortcuts(self, shortcut_rows(WINDOW, self.shortcut_rows()))

    # -- recent projects ---------------------------------------------------------------------
    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        paths = self.recent.paths()  # prunes folders that are gone
        for i, path in enumerate(paths, start=1):
            action = menu.addAction(f"&{i}  {Path(path).name}   ({path})")
            action.setData(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_project(p))
        if not paths:
            empty = menu.addAction("No recent projects")
            empty.setEnabled(False)
        menu.addSeparator()
        clear = menu.addAction("Clear the list")
        clear.setEnabled(bool(paths))
        clear.triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.recent.clear()
        self._rebuild_recent_menu()

    def _run_assistant_action(self, key: str) -> None:
        """Menu/shortcut -> assistant, unless the action's rule says it is not possible now."""
        self._update_actions()
        action = self.menu_actions[key]
        if not action.isEnabled():
            reason = action.toolTip() or action.statusTip()
            self.show_message(f"{action.text().replace('&', '')}: not possible now. {reason}".strip())
            return
        self.assistant.trigger(key)
        self._update_actions()

    def _update_actions(self) -> None:
        """Each menu action enabled by its rule in the action table, on the assistant's session."""
        session = self.assistant.session
        for key, action in self.menu_actions.items():
            spec = ACTIONS.get(RULE_OF.get(key, key))
            if spec is None:
                continue
            action.setEnabled(spec.enabled(session))
            if key in ASSISTANT_MENU_ACTIONS and key != "cancel_job":  # the panel button's tooltip
                action.setToolTip(spec.tooltip(session))
        self.recent_menu.setEnabled(not session.busy)
        base = ACTIONS["suggest"].menu_text
        note = session.suggest_button_text()
        self.menu_actions["suggest"].setText(base if note == "Suggest" else f"{base} ({note.lower()})")
        heat = self.menu_actions["heatmap"]
        heat.blockSignals(True)
        heat.setChecked(session.heatmap_on)
        heat.blockSignals(False)
        source = session.heat_source()
        heat.setToolTip(
            f"Show the {source.title.lower()} per pixel (clear where certain)"
            if source is not None
            else "Available after a suggestion round or a model: label an image, press Suggest or Retrain"
        )


__all__ = ["ASSISTANT_MENU_ACTIONS", "WindowMenus"]
