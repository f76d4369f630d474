"""The start-up splash: something on screen within a second while napari loads.

Why: importing napari and building its viewer takes several seconds (more on a busy machine);
without a splash the user saw nothing, or a black window, for 6-16 s and could not tell a slow
start from a failed one. The splash shows the icon, the version and what is being loaded now.

Why not ``QSplashScreen``: in Qt 6 its ``show()`` waits in a sleep loop (up to 1 s) for the
window manager to report the window exposed, so the splash itself arrived 1.0 s late under
Xvfb (measured: ``show()`` 1.02 s against 10 ms for this widget). A frameless top-level widget
painted at once has none of that wait.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QPainter, QPixmap
from qtpy.QtWidgets import QApplication, QWidget

from qsa_gui import __version__

SIZE = (420, 200)
_FLAGS = Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint


class Splash(QWidget):
    """A plain splash: icon, name, version and a progress line (:meth:`step`); a click hides it."""

    def __init__(self) -> None:
        super().__init__(None, _FLAGS)
        self.setObjectName("qsa-splash")
        self._pixmap = _pixmap()
        self.setFixedSize(*SIZE)
        self._message = ""
        self.steps: list[str] = []
        screen = QApplication.primaryScreen()
        if screen is not None:  # centred on the primary screen, like QSplashScreen
            centre = screen.availableGeometry().center()
            self.move(centre.x() - SIZE[0] // 2, centre.y() - SIZE[1] // 2)

    def message(self) -> str:
        """The progress line shown now."""
        return self._message

    def step(self, text: str) -> None:
        """Show ``text`` (what is loading now) and paint it at once."""
        self.steps.append(text)
        self._message = text
        if self.isVisible():
            self.repaint()
        QApplication.processEvents()

    def done(self, window: QWidget) -> None:
        """Close now that ``window`` is shown (it stays on top until then)."""
        del window  # the window is shown before this is called; nothing to wait for
        self.close()
        self.deleteLater()

    def paintEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's signature
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        if self._message:
            painter.setPen(QColor("#dddddd"))
            where = Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter
            painter.drawText(self.rect().adjusted(8, 8, -8, -10), int(where), self._message)
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's signature
        self.hide()  # as QSplashScreen: a click gets it out of the way


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
