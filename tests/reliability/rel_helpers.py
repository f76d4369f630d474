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

    from qsa_gui.core.project.store import Project

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
    from qsa_gui.core.model.fcn import FCNConfig

    return FCNConfig(
        stem_width=4, stage_widths=(8,), blocks_per_stage=(1,), decoder_width=4, dropout=0.0, stem_convs=1
    )


def micro_segmenter(seed: int, n_members: int = 1, bits: int | None = None):
    """A deterministic random-weight segmenter; with ``bits`` its weights lie on the INQ grid."""
    import torch

    from qsa_gui.core.model.fcn import SAFCN
    from qsa_gui.core.model.segmenter import Segmenter
    from qsa_gui.core.quant.inq import quantizable_parameters, quantize_tensor

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


class GlandsFromImage:
    """A segmenter for the large-image tests: a real (micro) FCN forward on every window, for the
    cost and memory of inference, but gland / contour maps taken from the synthetic image itself
    (dark = gland, a thin band around it = contour), so the post-processing sees real glands."""

    def __init__(self, segmenter) -> None:
        self.inner = segmenter
        self.tile, self.overlap = segmenter.tile, segmenter.overlap

    def probabilities(self, image, device=None, cancel=None):
        from scipy import ndimage

        net_gland, _net_contour = self.inner.probabilities(image, device, cancel)
        dark = image.mean(axis=2) < 0.6
        edge = dark & ~ndimage.binary_erosion(dark, iterations=2)
        gland = np.where(dark, 0.9, 0.1).astype(np.float32) + 0.01 * net_gland
        contour = np.where(edge, 0.9, 0.1).astype(np.float32)
        return gland, contour


def write_big_tiff(path: Path, height: int, width: int, tile_size: int = 512, seed: int = 0) -> None:
    """An uncompressed RGB TIFF of generated glands, written strip by strip (never whole in RAM)."""
    import tifffile

    from qsa_gui.core.data.synth import generate_sample

    tile = generate_sample(seed, size=(tile_size, tile_size)).image
    reps = -(-width // tile_size)
    row_block = np.tile(tile, (1, reps, 1))[:, :width]

    def strips():
        for y in range(0, height, tile_size):
            yield row_block[: min(tile_size, height - y)]

    tifffile.imwrite(
        path, strips(), shape=(height, width, 3), dtype=np.uint8, photometric="rgb", rowsperstrip=tile_size
    )


MEMORY_PROBE = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
torch.set_num_threads(1)
from rel_helpers import GlandsFromImage, micro_segmenter
from qsa_gui.core.data.lazy import open_lazy
from qsa_gui.core.jobs import run_job
from qsa_gui.core.model.largeimage import segment_large


def status_kb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


seg = GlandsFromImage(micro_segmenter(3))
src = open_lazy(sys.argv[2])
strip_rows = int(sys.argv[4]) if len(sys.argv) > 4 else None
try:  # Linux: reset the high-water mark, so import-time peaks do not hide the job's peak
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base, how = status_kb("VmRSS"), "VmHWM"
except OSError:
    base, how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
t0 = time.monotonic()
res = run_job(segment_large(seg, src, sys.argv[3], strip_rows=strip_rows, min_size=64, device="cpu"))
peak = status_kb("VmHWM") if how == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kb": base, "peak_kb": peak, "how": how, "seconds": time.monotonic() - t0,
                  "n_objects": res.n_objects, "strip_rows": res.strip_rows, "margin": res.margin,
                  "n_strips": res.n_strips, "shape": res.shape}))
"""
