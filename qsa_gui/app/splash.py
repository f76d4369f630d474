"""The start-up splash: something on screen within a second while napari loads.

Why: importing napari and building its viewer takes several seconds (more on a busy machine);
without a splash the user saw nothing, or a black window, for 6-16 s and could not tell a slow
start from a failed one. The splash shows the icon, the version and what is being loaded now.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QPainter, QPixmap
from qtpy.QtWidgets import QApplication, QSplashScreen, QWidget

from qsa_gui import __version__

SIZE = (420, 200)


class Splash(QSplashScreen):
    """A plain splash: icon, name, version and a progress line (:meth:`step`)."""

    def __init__(self) -> None:
        super().__init__(_pixmap())
        self.steps: list[str] = []

    def step(self, text: str) -> None:
        """Show ``text`` (what is loading now) and paint it at once."""
        self.steps.append(text)
        where = Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter
        self.showMessage(text, where, QColor("#dddddd"))
        QApplication.processEvents()

    def done(self, window: QWidget) -> None:
        """Close once ``window`` is on screen."""
        self.finish(window)


def _pixmap() -> QPixmap:
    from qsa_gui._qt.icon import app_icon

    pixmap = QPixmap(*SIZE)
    pixmap.fill(QColor("#262930"))  # napari's dark background: no flash when the window comes
    painter = QPainter(pixmap)
    painter.drawPixmap(24, 40, app_icon().pixmap(96, 96))
    painter.setPen(QColor("#f0f1f2"))
    font = painter.font()
    font.setPointSizeF(font.pointSizeF() * 1.6)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(140, 80, "qsa-gui")
    font.setPointSizeF(font.pointSizeF() / 1.6)
    font.setBold(False)
    painter.setFont(font)
    painter.drawText(140, 104, f"annotation assistant · {__version__}")
    painter.end()
    return pixmap


def show_splash() -> Splash:
    """The splash, shown and painted (call on the GUI thread, after the QApplication exists)."""
    splash = Splash()
    splash.show()
    splash.step("Starting…")
    return splash


__all__ = ["Splash", "show_splash"]
