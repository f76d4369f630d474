"""The verbs every shell runs on a project, one module per verb.

The CLI, the PySide6 window and the napari plugin call these same jobs; each reads what it needs
from the project, computes without touching it and commits its result at the very end.

The names are resolved lazily (PEP 562), as in :mod:`qsa_gui.core`: the GUI imports
``workflow.common`` and ``workflow.transfer`` at start-up, and the verbs below import torch,
which only a running job needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC: dict[str, str] = {
    "project_settings": "qsa_gui.core.workflow.common",
    "evaluate_job": "qsa_gui.core.workflow.predict",
    "segment_job": "qsa_gui.core.workflow.predict",
    "RetrainResult": "qsa_gui.core.workflow.results",
    "retrain_job": "qsa_gui.core.workflow.retrain",
    "SuggestResult": "qsa_gui.core.workflow.results",
    "suggest_job": "qsa_gui.core.workflow.suggest",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'qsa_gui.core.workflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
