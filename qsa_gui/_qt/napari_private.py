"""The only module that touches napari's private API; every use says why it is needed.

Why a single adapter: napari's private names (``napari._qt...``, ``Window._qt_window``,
``Window._qt_viewer``) change between releases without notice. Kept here, an upgrade that breaks
one breaks one small module, and each function degrades gracefully where it can.

- :func:`viewer_window` -- ``viewer.window._qt_window``: the dock widget gets no ``closeEvent``
  when napari's window closes, so the assistant watches that window's Close event (to ask about
  a running job and save the labels); napari offers no public hook for "window closing".
- :func:`qt_viewer` -- ``viewer.window._qt_viewer``: the standalone window embeds napari's canvas,
  layer controls and layer list in its own docks; napari has no public way to embed them.
- :func:`napari_stylesheet` -- ``napari._qt.qt_resources.get_stylesheet``: the reparented napari
  controls only keep their icons and colours with napari's stylesheet on the new window.
- :func:`guard_dock_close` -- ``QtViewerDockWidget.destroyOnClose``: a dock's x button calls it
  directly and it removes the dock at once (no closeEvent, no veto), so a running job would go
  on with no way to cancel it and the project stay locked; the assistant wraps it to ask first.
- :func:`canvas_widget` -- ``viewer.window._qt_viewer.canvas.native``: the view is re-fitted
  when the canvas is resized; napari has no public resize event for its canvas.
- :func:`forget_window_geometry` -- ``_save_current_window_settings``: napari's hidden window
  would otherwise store its own meaningless geometry in napari's settings when it closes.
- :func:`drop_targets` -- ``QtViewer`` and its ``canvas.native`` (and the welcome overlay): the
  widgets a file drop lands on, so that the shells' drop filter sees the drop before napari's
  ``dropEvent`` sends it to a reader (napari has no public hook for "files dropped").
- :func:`hide_napari_welcome` -- ``QtViewer.show_welcome_screen``: the desktop window shows its
  own first steps; napari's welcome text advertises napari shortcuts (Ctrl+N, Ctrl+O, a tour)
  that mean something else, or nothing, in that window.
- :func:`keep_label_colours_on_data` -- ``QtViewer.canvas.layer_to_visual`` and
  ``VispyLabelsLayer._on_colormap_change``: napari rebuilds a labels layer's colour lookup (a new
  colormap object, so a new shader program, compiled and linked again) on *every* data
  assignment, though its own ``_on_data_change`` already rebuilds it when the data's dtype
  changes; an image switch assigns new labels each time and paid 5-8 ms for nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QWidget

logger = logging.getLogger(__name__)


def viewer_window(viewer: Any | None) -> QWidget | None:
    """napari's ``QMainWindow`` of ``viewer`` (None without a viewer or with a stand-in)."""
    window = getattr(getattr(viewer, "window", None), "_qt_window", None)
    return window if isinstance(window, QWidget) else None


def qt_viewer(viewer: Any) -> Any:
    """napari's ``QtViewer`` of ``viewer``: canvas, dims, ``.controls`` and ``.layers`` widgets."""
    return viewer.window._qt_viewer


def canvas_widget(viewer: Any | None) -> QWidget | None:
    """The Qt widget of ``viewer``'s vispy canvas (None without a real viewer)."""
    try:
        native = viewer.window._qt_viewer.canvas.native  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - no viewer, a stand-in, or another napari layout
        return None
    return native if isinstance(native, QWidget) else None


def napari_stylesheet(theme: str | None) -> str | None:
    """napari's stylesheet for ``theme`` (the user's napari theme when None); None if unavailable."""
    try:
        from napari._qt.qt_resources import get_stylesheet
        from napari.settings import get_settings

        settings = get_settings()
        name = theme or settings.appearance.theme
        if name == "system":
            from napari.utils.theme import get_system_theme

            name = get_system_theme()
        return get_stylesheet(name, extra_variables={"font_size": f"{settings.appearance.font_size}pt"})
    except Exception:  # noqa: BLE001 - cosmetic only: the window works unstyled
        logger.warning("could not apply napari's stylesheet", exc_info=True)
        return None


def guard_dock_close(dock: Any, on_close: Callable[[], bool]) -> bool:
    """Make napari's x button on ``dock`` call ``on_close()`` first; the dock closes only if it
    returns True. False when ``dock`` is not a napari dock (or is guarded already)."""
    original = getattr(dock, "destroyOnClose", None)
    if not callable(original) or getattr(dock, "_qsa_close_guard", False):
        return False

    def guarded() -> None:
        if on_close():
            original()

    dock.destroyOnClose = guarded  # the title bar looks it up on each click
    dock._qsa_close_guard = True
    return True


def forget_window_geometry(window: Any) -> None:
    """Stop napari's hidden window from saving its geometry into napari's settings on close."""
    window._save_current_window_settings = lambda *args, **kwargs: None


def drop_targets(viewer: Any) -> list[QWidget]:
    """napari's widgets a file drop over the canvas lands on (empty with a stand-in viewer)."""
    try:
        qv = qt_viewer(viewer)
    except AttributeError:
        return []
    found = [qv, getattr(getattr(qv, "canvas", None), "native", None), getattr(qv, "_welcome_widget", None)]
    return [w for w in found if isinstance(w, QWidget)]


def hide_napari_welcome(viewer: Any) -> bool:
    """Turn napari's welcome overlay off for good; False if this napari has none to turn off."""
    try:
        qv = qt_viewer(viewer)
    except AttributeError:
        return False
    if hasattr(type(qv), "show_welcome_screen"):
        qv.show_welcome_screen = False
        return True
    welcome = getattr(qv, "_welcome_widget", None)
    if isinstance(welcome, QWidget):
        welcome.hide()
        return True
    return False


def keep_label_colours_on_data(viewer: Any, layer: Any) -> bool:
    """Stop napari rebuilding ``layer``'s label colours (and shader) on every new data array.

    napari still rebuilds them when the data's dtype changes (``_on_data_change``), and on every
    colormap, selected-label and show-selected change; the assistant keeps its labels int32. False
    when this napari has no such connection (nothing changed)."""
    try:
        visual = qt_viewer(viewer).canvas.layer_to_visual[layer]
        rebuild = visual._on_colormap_change
        on_data = visual._on_data_change  # the dtype check that makes the disconnect safe
        layer.events.data.disconnect(rebuild)
    except Exception:  # noqa: BLE001 - another napari: the rebuild merely costs a few ms
        return False
    return callable(on_data)


__all__ = [
    "canvas_widget", "drop_targets", "forget_window_geometry", "guard_dock_close", "hide_napari_welcome",
    "keep_label_colours_on_data", "napari_stylesheet", "qt_viewer", "viewer_window",
]  # fmt: skip
