"""Qt building blocks shared by the napari plugin and the standalone PySide6 window.

Everything here goes through :mod:`qtpy`, so the same widgets run inside napari with whichever
Qt binding napari picked and in the PySide6 main window. Import the submodules directly
(``from qsa_gui._qt.runner import JobRunner``); this package imports nothing heavy itself so
that importing it never creates a ``QApplication`` or pulls in matplotlib.

Every module here imports Qt; what the GUI shows but needs no Qt lives in :mod:`qsa_gui.components`.

- :mod:`.assistant` -- :class:`AssistantWidget`, the annotation panel of both shells.
- :mod:`.actions` -- the one table of actions (text, shortcuts, enabled rule, handler).
- :mod:`.napari_private` -- the only module that touches napari's private API.
- :mod:`.layers` -- the image, labels, prediction and heat-map layers in a napari viewer.
- :mod:`.runner` -- :class:`JobRunner`, runs one core job on a worker ``QThread``.
- :mod:`.heartbeat` -- :class:`EventLoopMonitor`, measures event-loop stalls (responsiveness).
- :mod:`.gallery` -- :class:`GalleryWidget`, thumbnail grid with status chips and rank badges.
- :mod:`.history_plot` -- :class:`HistoryPlot` (model versions) and :class:`LiveLossPlot`.
- :mod:`.progress_panel` -- :class:`ProgressPanel`, progress bar + ETA + Cancel for a runner.
"""

from __future__ import annotations

__all__ = [
    "actions", "assistant", "gallery", "heartbeat", "history_plot", "layers", "napari_private",
    "progress_panel", "runner", "sparkline",
]  # fmt: skip
