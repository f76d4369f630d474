"""Qt-free core of qsa-gui: data, models, INQ, ensemble, scoring, training, metrics, projects.

Nothing in this package may import Qt, qtpy or napari: the CLI, the napari plugin and the
PySide6 window are thin shells over it (a test imports it with those modules blocked).
"""
