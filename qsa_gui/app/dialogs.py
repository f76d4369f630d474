"""The main window's small dialogs: About, the first-start demo offer, confirm-close.

Each question is a plain function returning the user's answer, so the window takes them as
injectable callables and tests answer without a modal dialog blocking the event loop.
"""

from __future__ import annotations

import html
from pathlib import Path

from qtpy.QtWidgets import QFileDialog, QMessageBox, QWidget

from qsa_gui import __version__

METHOD_REFERENCES = (
    (
        "X. Xu et al.: Quantization of Fully Convolutional "
        "Networks for Accurate Biomedical Image Segmentation. CVPR 2018.",
        "https://arxiv.org/abs/1803.04907",
    ),
    (
        "L. Yang et al.: Suggestive Annotation: A Deep Active "
        "Learning Framework for Biomedical Image Segmentation. MICCAI 2017.",
        "https://arxiv.org/abs/1706.04737",
    ),
    (
        "A. Zhou et al.: Incremental Network Quantization. ICLR 2017.",
        "https://arxiv.org/abs/1702.03044",
    ),
)
LICENCE = "BSD-3-Clause"


def about_html() -> str:
    """The About text: version, what the method is and where it comes from, licence."""
    refs = "".join(
        f"<li>{html.escape(text)} <a href='{url}'>{html.escape(url)}</a></li>"
        for text, url in METHOD_REFERENCES
    )
    return (
        f"<h3>qsa-gui {html.escape(__version__)}</h3>"
        "<p>An annotation assistant for gland segmentation in histology: it suggests which "
        "images to label next (quantized suggestive annotation) and retrains a quantized "
        "segmentation network on your labels, entirely offline on this computer.</p>"
        f"<p><b>Method</b></p><ul>{refs}</ul>"
        f"<p>Licence: {LICENCE}. No data leaves this computer.</p>"
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(parent, "About qsa-gui", about_html())


def confirm_close_text(job_name: str) -> str:
    return f"A job is running ({job_name or 'job'}). Cancel it and quit?"


def ask_confirm_close(parent: QWidget | None, job_name: str) -> bool:
    """True = cancel the running job and quit; False = keep working (the default button)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Quit qsa-gui")
    box.setText(confirm_close_text(job_name))
    box.setInformativeText("Cancelling keeps everything saved so far; the job's partial result is discarded.")
    quit_button = box.addButton("Cancel job and quit", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is quit_button


def ask_open_demo(parent: QWidget | None, default_folder: Path) -> Path | None:
    """First start (no recent project): offer to create and open the demo project.

    Returns the folder to create it in (the default, or one the user chose), or None for 'not now'.
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("Welcome to qsa-gui")
    box.setText("No project yet. Create and open the demo project?")
    box.setInformativeText(
        "The demo holds generated H&E-like gland images to try the assistant on: ask for "
        "suggestions, paint a few glands, retrain.\n\n"
        f"It will be created in {default_folder}."
    )
    create = box.addButton("Create demo", QMessageBox.ButtonRole.AcceptRole)
    elsewhere = box.addButton("Choose folder…", QMessageBox.ButtonRole.ActionRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(create)
    box.exec()
    clicked = box.clickedButton()
    if clicked is create:
        return default_folder
    if clicked is elsewhere:
        parent_dir = QFileDialog.getExistingDirectory(parent, "Folder for the demo project", str(Path.home()))
        return Path(parent_dir) / "qsa-gui-demo" if parent_dir else None
    return None


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.warning(parent, title, message)


__all__ = [
    "LICENCE",
    "METHOD_REFERENCES",
    "about_html",
    "ask_confirm_close",
    "ask_open_demo",
    "confirm_close_text",
    "show_about",
    "show_error",
]
