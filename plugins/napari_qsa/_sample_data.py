"""Sample data: generated H&E-like glands with their instance labels, and the real H&E images that
ship with qsa-gui (``resources/samples``, provenance in PROVENANCE.txt). Nothing is downloaded."""

from __future__ import annotations

from typing import Any

LayerData = list[tuple[Any, dict, str]]
HE_TISSUE = "histo_300x500.jpg"
HE_TUMOUR = "tumour_384.png"


def make_sample_data(seed: int = 0, size: int = 256) -> LayerData:
    """An RGB image layer and its instance Labels layer from :mod:`qsa_gui.core.data.synth`."""
    from qsa_gui.core.data.synth import generate_sample

    sample = generate_sample(seed, size=(size, size))
    return [
        (sample.image, {"name": f"glands ({sample.grade})", "rgb": True}, "image"),
        (sample.labels, {"name": "gland labels", "opacity": 0.5}, "labels"),
    ]


def _shipped_image(name: str) -> LayerData:
    """One shipped real H&E image as an RGB layer (no labels: the user paints them)."""
    from qsa_gui.core.data.images import read_image
    from qsa_gui.resources import resource_path

    image = read_image(resource_path(f"samples/{name}"))
    return [(image, {"name": name, "rgb": True}, "image")]


def make_he_tissue() -> LayerData:
    """Real H&E tissue, 300x500 (stardist's sample, BSD-3-Clause)."""
    return _shipped_image(HE_TISSUE)


def make_he_tumour() -> LayerData:
    """Real H&E tumour tile, 384x384 (a crop of tiatoolbox's sample, BSD-3-Clause)."""
    return _shipped_image(HE_TUMOUR)


__all__ = ["make_he_tissue", "make_he_tumour", "make_sample_data"]
