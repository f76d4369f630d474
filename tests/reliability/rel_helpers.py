"""Shared helpers of the reliability tests (imported by them and by the kill-test children).

No pytest import here: the crash tests fork children from a preloaded server that imports this.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

IMAGE_SHAPE = (24, 32)
N_IMAGES = 5


def image_pixels(i: int, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """A distinct small RGB uint8 image per index (distinct, so import never dedups them)."""
    rng = np.random.default_rng(1000 + i)
    return rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def labels_for(image_index: int, version: int, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """Deterministic instance labels for (image, version): a few rectangles, ids up to ~1000,
    different for every version so a stale or mixed-up file is always detected."""
    rng = np.random.default_rng([image_index, version, 7])
    lab = np.zeros(shape, np.int32)
    n = 1 + version % 4
    for k in range(n):
        y, x = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
        hh, ww = rng.integers(2, 5), rng.integers(2, 5)
        lab[y : y + hh, x : x + ww] = (version * 7 + k) % 1000 + 1
    lab[0, 0] = version % 60000  # the version itself, readable in a failure message
    return lab


def make_project(folder: Path, n_images: int = N_IMAGES, settings: dict | None = None):
    """A project with ``n_images`` small copied TIFF images img_0001..; returned open."""
    import tifffile

    from qsa_gui.core.project import Project

    src = folder.parent / f"{folder.name}_src"
    src.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_images):
        p = src / f"im{i}.tif"
        tifffile.imwrite(p, image_pixels(i), photometric="rgb")
        paths.append(p)
    proj = Project.create(folder, settings=settings or {})
    report = proj.import_images(paths)
    assert len(report.added) == n_images, report.skipped
    return proj


def micro_config():
    """The smallest SA-shaped FCN: one stage, a handful of channels (kill and memory tests)."""
    from qsa_gui.core.model import FCNConfig

    return FCNConfig(
        stem_width=4, stage_widths=(8,), blocks_per_stage=(1,), decoder_width=4, dropout=0.0, stem_convs=1
    )


def micro_segmenter(seed: int, n_members: int = 1, bits: int | None = None):
    """A deterministic random-weight segmenter; with ``bits`` its weights lie on the INQ grid."""
    import torch

    from qsa_gui.core.inq import quantizable_parameters, quantize_tensor
    from qsa_gui.core.model import SAFCN
    from qsa_gui.core.segment import Segmenter

    models = []
    for member in range(n_members):
        torch.manual_seed(seed * 100 + member)
        m = SAFCN(micro_config()).eval()
        with torch.no_grad():
            for p in m.parameters():  # non-trivial norms too, so every tensor is checked
                p.add_(torch.randn_like(p) * 0.01)
            if bits is not None:
                for _name, p in quantizable_parameters(m):
                    p.copy_(quantize_tensor(p, bits))
        models.append(m)
    return Segmenter(models, tile=64, overlap=8)


def state_equal(a, b) -> bool:
    """Bit-exact equality of two modules' state dicts."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype and bool((sa[k].cpu() == sb[k].cpu()).all()) for k in sa
    )


def fsync_append(fd: int, line: str) -> None:
    """Append one line to an acknowledgement file and make it durable before returning."""
    os.write(fd, line.encode() + b"\n")
    os.fsync(fd)
