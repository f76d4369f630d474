"""The application icon from the shipped ``resources/icons`` (SVG, plus PNGs where Qt lacks SVG)."""

from __future__ import annotations

from qtpy.QtGui import QIcon

from qsa_gui.resources import ICON_SIZES, ICON_SVG, icon_png, resource_path


def app_icon() -> QIcon:
    """One icon for the window, the taskbar and dialogs; napari's own icon is not ours to show."""
    icon = QIcon(str(resource_path(ICON_SVG)))
    for size in ICON_SIZES:
        icon.addFile(str(icon_png(size)))
    return icon
