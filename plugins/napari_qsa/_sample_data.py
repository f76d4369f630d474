"""Sample data: generated H&E-like glands with their instance labels (nothing is downloaded)."""

from __future__ import annotations

from typing import Any


def make_sample_data(seed: int = 0, size: int = 256) -> list[tuple[Any, dict, str]]:
    """An RGB image layer and its instance Labels layer from :mod:`qsa_gui.core.data.synth`."""
    from qsa_gui.core.data.synth import generate_sample

    sample = generate_sample(seed, size=(size, size))
    return [
        (sample.image, {"name": f"glands ({sample.grade})", "rgb": True}, "image"),
        (sample.labels, {"name": "gland labels", "opacity": 0.5}, "labels"),
    ]


__all__ = ["make_sample_data"]
