"""Qt-free core of qsa-gui: the names a script needs to run the loop on a project.

Nothing in this package may import Qt, qtpy or napari: the CLI, the napari plugin and the
PySide6 window are thin shells over it (tests walk every sub-package with those modules
blocked). The names below are resolved lazily, so ``import qsa_gui.core`` stays cheap for the
CLI (no torch until a job needs it); ``tests/test_architecture.py`` guards this list.

    from qsa_gui.core import Project, Settings, run_job, suggest_job
    with Project.open("myproject") as p:
        result = run_job(suggest_job(p, Settings()))
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC: dict[str, str] = {
    # errors and jobs
    "QSAError": "qsa_gui.core.errors",
    "InputFileError": "qsa_gui.core.errors",
    "ProjectError": "qsa_gui.core.errors",
    "ModelFileError": "qsa_gui.core.errors",
    "Cancelled": "qsa_gui.core.errors",
    "CancelToken": "qsa_gui.core.jobs",
    "Progress": "qsa_gui.core.jobs",
    "Job": "qsa_gui.core.jobs",
    "run_job": "qsa_gui.core.jobs",
    "Settings": "qsa_gui.core.settings",
    # data
    "read_image": "qsa_gui.core.data.images",
    "load_rgb": "qsa_gui.core.data.images",
    "read_labels": "qsa_gui.core.data.images",
    "write_labels": "qsa_gui.core.data.images",
    "write_image": "qsa_gui.core.data.images",
    "open_lazy": "qsa_gui.core.data.lazy",
    "read_glas_folder": "qsa_gui.core.data.glas",
    "generate_dataset": "qsa_gui.core.data.synth",
    # models
    "Segmenter": "qsa_gui.core.model.segmenter",
    "load_fcn": "qsa_gui.core.model.fcn",
    "save_fcn": "qsa_gui.core.model.fcn",
    "evaluate_set": "qsa_gui.core.model.metrics",
    # active learning
    "STRATEGIES": "qsa_gui.core.active.strategies",
    "select": "qsa_gui.core.active.strategies",
    # projects and verbs
    "Project": "qsa_gui.core.project.store",
    "suggest_job": "qsa_gui.core.workflow.suggest",
    "retrain_job": "qsa_gui.core.workflow.retrain",
    "segment_job": "qsa_gui.core.workflow.predict",
    "evaluate_job": "qsa_gui.core.workflow.predict",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'qsa_gui.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
