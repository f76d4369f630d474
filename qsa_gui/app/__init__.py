"""The standalone PySide6 desktop application (``qsa-gui``).

- :mod:`.main` -- ``main(argv)`` entry point and ``build_window(argv)`` (everything but the event loop).
- :mod:`.window` -- :class:`MainWindow`: napari's canvas, the assistant dock, menus, shortcuts.
- :mod:`.recent` -- recent projects and window state in ``QSettings``.
- :mod:`.dialogs` -- About, first-start demo offer, confirm-close.

Importing this package imports nothing heavy (no Qt, no napari) so ``qsa-gui --help`` stays quick.
"""

from __future__ import annotations

__all__ = ["dialogs", "main", "recent", "window"]
