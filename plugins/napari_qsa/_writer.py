"""Writer: a Labels layer as a compressed instance-label TIFF (the format projects use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def write_labels(path: str, data: Any, attributes: dict) -> list[str]:
    """npe2 single-layer writer: ``data`` (H x W integer labels) -> ``path`` (.tif/.tiff), atomic."""
    from qsa_gui.core.data.images import write_labels as _write

    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"labels layer {attributes.get('name', '')!r} is {arr.ndim}-D; only 2-D labels")
    p = Path(path)
    if p.suffix.lower() not in (".tif", ".tiff"):
        p = p.with_name(p.name + ".tif")
    _write(p, arr)
    return [str(p)]


__all__ = ["write_labels"]
