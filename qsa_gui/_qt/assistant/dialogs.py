"""The assistant's dialogs: file pickers, the "a job is running" question, message boxes.

Why non-blocking boxes: a job's result must never wait on a dialog, so information boxes are
opened with ``open()`` (never ``exec()``); only the question before cancelling a job blocks.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog, QMessageBox, QWidget

from ..drops import sort_drop

#: Whole slides (.svs, .ndpi, OME-TIFF, pyramidal TIFF) import as regions (docs/slides.md).
IMAGE_FILTER = ("Images and slides (*.tif *.tiff *.png *.jpg *.jpeg *.bmp *.svs *.ndpi *.ome.tif "
                "*.ome.tiff *.btf *.mrxs *.dcm *.scn *.vms *.bif);;Whole slides (*.svs *.ndpi *.ome.tif "
                "*.ome.tiff *.tif *.tiff *.btf *.mrxs *.dcm *.scn *.vms *.bif);;All files (*)")  # fmt: skip


def ask_folder(parent: QWidget, title: str) -> str:
    """A folder chosen by the user ("" when cancelled)."""
    return QFileDialog.getExistingDirectory(parent, title)


def ask_image_files(parent: QWidget) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Import images", "", IMAGE_FILTER)
    return list(paths)


def confirm_cancel(parent: QWidget, job_name: str) -> bool:
    """Ask whether to cancel the running job; True = cancel it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("A job is running")
    box.setText(f"“{job_name}” is still running.")
    box.setInformativeText("Cancel it? Cancelling changes nothing: the previous model and all labels stay.")
    cancel = box.addButton("Cancel job and close", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is cancel


def ask_empty_done(parent: QWidget, name: str, prediction_shown: bool) -> str:
    """Mark done with 0 glands: accept the shown prediction first, save it empty, or keep editing."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("No glands labelled")
    box.setText(f"{name or 'This image'} has no glands in its labels.")
    hint = " A prediction is shown: accept it as your labels first?" if prediction_shown else ""
    box.setInformativeText("Marking it done saves it as an image without glands." + hint)
    buttons = {}
    if prediction_shown:
        accept = box.addButton("Accept prediction and mark done", QMessageBox.ButtonRole.AcceptRole)
        buttons[accept] = "accept"
    buttons[box.addButton("Mark done with no glands", QMessageBox.ButtonRole.DestructiveRole)] = "empty"
    keep = box.addButton("Keep editing", QMessageBox.ButtonRole.RejectRole)
    buttons[keep] = "keep"
    box.setDefaultButton(keep)
    box.exec()
    return buttons.get(box.clickedButton(), "keep")


class AskDialogs:
    """The Project menu's dialogs (a mixin of AssistantWidget): ask, then call the public API."""

    open_project: Any
    new_project: Any
    new_demo_project: Any
    import_images: Any
    export_to: Any
    session: Any

    def ask_mark_done_empty(self, prediction_shown: bool) -> str:
        """Ask what to do with 0 glands (tests replace this method): a ``guards.ANSWER_*``."""
        s = self.session
        name = s.project.image(s.current_image_id).name if s.has_image else ""
        return ask_empty_done(self, name, prediction_shown)  # type: ignore[arg-type]

    def ask_open_project(self) -> None:
        folder = ask_folder(self, "Open project folder")
        if folder:
            self.open_project(folder)

    def ask_new_project(self) -> None:
        folder = ask_folder(self, "Choose an empty folder for the new project")
        if folder:
            self.new_project(folder)

    def ask_demo_project(self) -> None:
        folder = ask_folder(self, "Choose an empty folder for the demo project")
        if folder:
            self.new_demo_project(folder)

    def ask_import_images(self, paths: list[str] | None = None) -> None:
        """Import ``paths`` (default: ask for files); with no project open, first ask for a
        folder and create the project there (first steps: images before a project)."""
        paths = list(paths) if paths else ask_image_files(self)  # type: ignore[arg-type]
        if not paths:
            return
        if self.session.project is None:
            folder = ask_folder(self, "New project for these images: choose an empty folder")  # type: ignore[arg-type]
            if not folder or not self.new_project(folder):
                return
        self.import_images(paths)

    def drop_files(self, paths: list[str]) -> None:
        """Files dropped on the window or canvas: a project folder opens, images are imported
        into the project through the same import job as the menu (never napari's reader)."""
        dropped = sort_drop(paths)
        if dropped.project is not None:
            self.open_project(dropped.project)
        elif not dropped.files:
            self.session.report("Nothing to import there: drop image files (.png, .tif, …) or a "
                                "project folder.", "warning")  # fmt: skip
        else:
            self.ask_import_images(dropped.files)

    def ask_settings(self) -> None:
        """The project settings dialog (window-modal; OK saves, refused while a job runs)."""
        from ..settings_dialog import open_settings_dialog

        if getattr(self, "project", None) is not None:
            self.settings_dialog = open_settings_dialog(self)

    def ask_export(self) -> None:
        folder = ask_folder(self, "Export labels and model to folder")
        if folder:
            self.export_to(folder)


class MessageBoxes:
    """Non-blocking message boxes of one parent; keeps them referenced until they close."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.open_boxes: list[QMessageBox] = []

    def info(self, title: str, text: str, details: str = "", icon: Any = None) -> None:
        box = QMessageBox(self.parent)
        box.setIcon(icon if icon is not None else QMessageBox.Icon.Information)
        box.setWindowTitle(title)
        box.setText(text)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.finished.connect(lambda _r, b=box: self.open_boxes.remove(b) if b in self.open_boxes else None)
        self.open_boxes.append(box)
        box.open()

    def warning(self, title: str, text: str) -> None:
        self.info(title, text, icon=QMessageBox.Icon.Warning)


__all__ = [
    "AskDialogs", "IMAGE_FILTER", "MessageBoxes", "ask_empty_done", "ask_folder", "ask_image_files",
    "confirm_cancel",
]  # fmt: skip
