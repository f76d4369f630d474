"""Peak memory of tiled inference on a 10000 x 10000 RGB image (target: under 2 GB).

A 7-bit segmentation FCN of the demo preset, trained briefly on generated glands, segments an
uncompressed 10000 x 10000 RGB TIFF of generated glands with the product's large-image path
(`core/largeimage.py`: strips read lazily, instance labels stitched across seams, written as a
tiled TIFF). Each measurement runs in a fresh process and reports the whole process's peak
resident memory (VmHWM: Python, torch, the model and the job, everything counted) and the
increase over the memory held before the job started. `--whole` also measures, side by side,
the plain whole-image path (image read whole, tiled FCN over it, instances in RAM) for contrast.

    python benchmarks/bench_large_image.py [--size 10000] [--whole]
    python benchmarks/bench_large_image.py --smoke          # seconds; used by the tests

Writes benchmarks/results/large_image.json.
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
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from _common import write_result  # noqa: E402
from rel_helpers import write_big_tiff  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
torch.set_num_threads(1)
from qsa_gui.core.jobs import run_job
from qsa_gui.core.model.segmenter import Segmenter


def kb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])


seg = Segmenter.load(sys.argv[3], device="cpu")
mode, src, out = sys.argv[2], sys.argv[4], sys.argv[5]
with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark: the job's own peak
    fh.write("5")
base = kb("VmRSS")
t0 = time.monotonic()
if mode == "strips":
    from qsa_gui.core.model.largeimage import segment_large
    res = run_job(segment_large(seg, src, out, device="cpu"))
    extra = {"n_objects": res.n_objects, "n_strips": res.n_strips, "strip_rows": res.strip_rows,
             "margin": res.margin}
else:
    from qsa_gui.core.data.images import load_rgb, write_labels
    labels = seg.predict(load_rgb(src), device="cpu")
    write_labels(out, labels)
    extra = {"n_objects": int(labels.max())}
print(json.dumps(dict(extra, base_kb=base, peak_kb=kb("VmHWM"), seconds=time.monotonic() - t0)))
"""


def train_model(folder: Path, smoke: bool) -> dict:
    """The demo's segmentation preset, 7-bit, trained briefly so its output has real glands."""
    import numpy as np

    from qsa_gui.core.data.synth import generate_dataset
    from qsa_gui.core.jobs import run_job
    from qsa_gui.core.model.segmenter import train_segmenter
    from qsa_gui.core.settings import Settings
    from qsa_gui.core.workflow.simulation import DemoConfig

    settings = DemoConfig().settings
    if smoke:
        settings = Settings(
            preset="tiny", iterations=2, inq_iterations=1, batch_size=2, patch_size=32, tile=64
        )
    else:
        settings = settings.updated(iterations=120, inq_iterations=10, tile=512, overlap=32)
    data = generate_dataset(6, seed=7, size=(192, 192))
    seg = run_job(
        train_segmenter(
            [d.image.astype(np.float32) / 255.0 for d in data],
            [d.labels for d in data],
            settings.segmenter_config(),
        )
    )
    seg.save(folder, bits=settings.seg_bits, meta={"preset": settings.preset})
    return {"preset": settings.preset, "bits": settings.seg_bits, "tile": seg.tile, "overlap": seg.overlap}


def probe(mode: str, model: Path, src: Path, out: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT), mode, str(model), str(src), str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    if res.returncode != 0:
        raise SystemExit(f"{mode} probe failed:\n{res.stderr[-3000:]}")
    stats = json.loads(res.stdout.strip().splitlines()[-1])
    stats["peak_mb"] = round(stats["peak_kb"] / 1024, 1)
    stats["increase_mb"] = round((stats["peak_kb"] - stats["base_kb"]) / 1024, 1)
    stats["seconds"] = round(stats["seconds"], 1)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--whole", action="store_true", help="also measure the whole-image path")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    size = 600 if args.smoke else args.size
    result: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "image": f"{size} x {size} RGB uint8",
        "target_mb": 2048,
    }
    with tempfile.TemporaryDirectory(prefix="qsa-large-") as tmp:
        tmp_path = Path(tmp)
        t0 = time.monotonic()
        write_big_tiff(tmp_path / "slide.tif", size, size)
        result["write_seconds"] = round(time.monotonic() - t0, 1)
        result["model"] = train_model(tmp_path / "model", args.smoke)
        result["strips"] = probe("strips", tmp_path / "model", tmp_path / "slide.tif", tmp_path / "s.tif")
        print(f"strips: {result['strips']}", flush=True)
        if args.whole or args.smoke:
            result["whole"] = probe("whole", tmp_path / "model", tmp_path / "slide.tif", tmp_path / "w.tif")
            print(f"whole image: {result['whole']}", flush=True)
    result["meets_target"] = result["strips"]["peak_mb"] < result["target_mb"]
    out = args.out or RESULTS / f"large_image{'_smoke' if args.smoke else ''}.json"
    write_result(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
