"""Whole slides: peak memory of import (tissue detection + region tiling) on a generated 60000 x 60000
slide (target < 1.5 GB), and slides/hour of batch segmentation.

The slide is generated tile by tile (never whole in memory) as a JPEG-tiled BigTIFF, once as a
pyramidal OME-TIFF (levels /2 ... /64) and once single-level, the worst case: tissue detection
then decodes every level-0 tile, a band of rows at a time. Each import runs in a fresh process
(``qsa_gui`` + numpy + skimage + zarr loaded first) and reports its peak resident memory (VmHWM)
and the increase over the memory held before the import. Batch speed: ``segment_slides_job`` on
generated slides with the default preset (untrained: speed does not depend on the weights),
CPU, one torch thread, as ``qsa segment-slides`` runs them.

    python benchmarks/bench_slides.py [--size 60000] [--batch-slides 3 --batch-size 4096]
    python benchmarks/bench_slides.py --smoke

Writes benchmarks/results/slides.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, skimage.filters, skimage.measure, skimage.morphology, zarr
from qsa_gui.core.project.store import Project
from qsa_gui.core.slides.regions import RegionSpec


def kb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])


with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
base = kb("VmRSS")
t0 = time.monotonic()
with Project.create(sys.argv[3]) as p:
    rep = p.import_images([sys.argv[2]], copy=False, slides=True)
    assert rep.slides, rep.skipped
    t_import = time.monotonic() - t0
    views = p.slide_regions(p.slides[0].id)
    t1 = time.monotonic()
    for v in views[:: max(1, len(views) // 20)]:  # read 20 regions spread over the slide
        p.load_image(v.image_id)
    t_regions = (time.monotonic() - t1) / len(views[:: max(1, len(views) // 20)])
print(json.dumps({"regions": len(views), "import_seconds": t_import, "region_read_ms": 1000 * t_regions,
                  "base_kb": base, "peak_kb": kb("VmHWM"), "notes": rep.slides[0]["notes"]}))
"""


def generate(path: Path, size: int, levels: int) -> float:
    from qsa_gui.core.slides.synth import SyntheticSlide, write_slide

    t0 = time.monotonic()
    kind = "ome" if levels > 1 else "bigtiff"
    slide = SyntheticSlide((size, size), seed=1, content="plain")
    write_slide(path, slide, kind=kind, levels=levels, tile=512, mpp=0.5)
    return round(time.monotonic() - t0, 1)


def probe(slide: Path, project: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), str(slide), str(project)],
                         capture_output=True, text=True, env=env)  # fmt: skip
    if res.returncode != 0:
        raise SystemExit(f"import probe failed:\n{res.stderr[-3000:]}")
    s = json.loads(res.stdout.strip().splitlines()[-1])
    s["peak_mb"] = round(s.pop("peak_kb") / 1024, 1)
    s["increase_mb"] = round(s["peak_mb"] - s.pop("base_kb") / 1024, 1)
    s["import_seconds"] = round(s["import_seconds"], 1)
    s["region_read_ms"] = round(s["region_read_ms"], 1)
    return s


def batch_speed(tmp: Path, n: int, size: int, smoke: bool) -> dict:
    import torch

    from qsa_gui.core.jobs import run_job
    from qsa_gui.core.model.fcn import PRESETS, SAFCN
    from qsa_gui.core.model.segmenter import Segmenter
    from qsa_gui.core.settings import Settings
    from qsa_gui.core.slides.batch import segment_slides_job
    from qsa_gui.core.slides.synth import SyntheticSlide, write_slide

    torch.set_num_threads(1)
    torch.manual_seed(0)
    preset = "tiny" if smoke else Settings().preset
    Segmenter([SAFCN(PRESETS[preset])], tile=512, overlap=32).save(tmp / "model", bits=None, meta={})
    slides = [
        write_slide(
            tmp / "in" / f"b{i}.ome.tif", SyntheticSlide((size, size), seed=10 + i, block=512), levels=3
        )
        for i in range(n)
    ]
    t0 = time.monotonic()
    report = run_job(segment_slides_job(slides, tmp / "out", tmp / "model", device="cpu"))
    sec = time.monotonic() - t0
    return {
        "slides": n, "slide": f"{size} x {size} at 20x (0.5 um/px), generated glands", "preset": preset,
        "seconds": round(sec, 1), "slides_per_hour": round(3600 * n / sec, 1),
        "tissue": [r.tissue_fraction for r in report.done], "glands": [r.n_objects for r in report.done],
        "failed": report.failed,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=60000)
    ap.add_argument("--batch-slides", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--skip-single-level", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    size = 3000 if args.smoke else args.size
    result: dict = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs",
        "slide": f"{size} x {size} RGB, JPEG tiles 512 x 512, 0.5 um/px", "target_mb": 1536,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="qsa-slides-") as tmp:
        t = Path(tmp)
        kinds = [("pyramid", 7 if not args.smoke else 3)] + (
            [] if args.skip_single_level else [("single_level", 1)]
        )
        for name, levels in kinds:
            path = t / f"{name}.tif"
            result[f"{name}_write_seconds"] = generate(path, size, levels)
            result[f"{name}_file_mb"] = round(path.stat().st_size / 2**20, 1)
            result[name] = probe(path, t / f"proj_{name}")
            print(name, result[name], flush=True)
            path.unlink()
        n, bsize = (1, 1024) if args.smoke else (args.batch_slides, args.batch_size)
        result["batch"] = batch_speed(t, n, bsize, args.smoke)
    write_result(args.out or RESULTS / ("slides_smoke.json" if args.smoke else "slides.json"), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
