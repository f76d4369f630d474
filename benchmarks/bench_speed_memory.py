"""Scoring overhead, INQ training-step cost and packed model sizes, measured side by side.

- scoring: one suggestive member's pass over an image as the ensemble does it (tiled
  `predict_tiled` of a 7-bit model, probabilities + descriptor) vs a plain
  `torch.inference_mode()` forward of the same float network; interleaved, medians; target <= 1.15x.
- training: an INQ step (forward, backward, gradient masks, Adam, restore frozen) vs a float step
  of the same network; interleaved, medians; target <= 1.10x.
- sizes: packed b-bit model file vs float32 for every preset and bit width (biases, norm
  parameters and running statistics counted).

    python benchmarks/bench_speed_memory.py [--preset compact] [--device cpu|cuda]
Writes benchmarks/results/speed_memory.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qsa_gui.core.model.fcn import PRESETS, SAFCN, predict_tiled  # noqa: E402
from qsa_gui.core.model.training import segmentation_loss  # noqa: E402
from qsa_gui.core.quant.inq import INQController  # noqa: E402
from qsa_gui.core.quant.modelfile import size_report  # noqa: E402


def _median_pair(fa, fb, reps: int) -> tuple[float, float]:
    ta, tb = [], []
    for _ in range(reps):
        for f, out in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            f()
            out.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def bench_scoring(preset: str, size: int, reps: int, device: str) -> dict:
    torch.manual_seed(0)
    float_model = SAFCN(PRESETS[preset]).to(device).eval()
    q_model = SAFCN(PRESETS[preset]).to(device)
    q_model.load_state_dict(float_model.state_dict())
    ctl = INQController(q_model, 7)
    ctl.step(1.0)
    q_model.eval()
    image = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].to(device)

    def plain() -> None:
        with torch.inference_mode():
            out = float_model(x)
            torch.sigmoid(out.gland).cpu()
            torch.sigmoid(out.contour).cpu()
            out.descriptor.cpu()

    def ours() -> None:
        predict_tiled(q_model, image, tile=size, overlap=0, device=device)

    plain()
    ours()
    t_plain, t_ours = _median_pair(plain, ours, reps)
    return {
        "image": [size, size],
        "plain_ms": t_plain * 1e3,
        "scoring_ms": t_ours * 1e3,
        "ratio": t_ours / t_plain,
    }


def bench_training(preset: str, patch: int, batch: int, reps: int, device: str) -> dict:
    torch.manual_seed(0)
    models = [SAFCN(PRESETS[preset]).to(device).train() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    ctl = INQController(models[1], 7)
    ctl.step(0.5)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    x = torch.rand(batch, 3, patch, patch, device=device)
    gland = (torch.rand(batch, 1, patch, patch, device=device) > 0.5).float()
    contour = (torch.rand(batch, 1, patch, patch, device=device) > 0.9).float()

    def step(i: int) -> None:
        out = models[i](x)
        loss = segmentation_loss(out.gland, out.contour, gland, contour)
        opts[i].zero_grad()
        loss.backward()
        if i == 1:
            ctl.mask_gradients()
        opts[i].step()
        if i == 1:
            ctl.restore_frozen()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    step(0)
    step(1)
    t_float, t_inq = _median_pair(lambda: step(0), lambda: step(1), reps)
    return {
        "batch": [batch, 3, patch, patch],
        "float_ms": t_float * 1e3,
        "inq_ms": t_inq * 1e3,
        "ratio": t_inq / t_float,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed_memory.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    size, patch, reps = (64, 32, 2) if args.smoke else (256, 96, args.reps)
    result = {
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": args.device,
        },
        "preset": args.preset,
        "scoring_vs_plain_forward": bench_scoring(args.preset, size, reps, args.device),
        "inq_vs_float_training_step": bench_training(args.preset, patch, 8, reps, args.device),
        "sizes": {},
    }
    for preset in ("tiny", "compact") if args.smoke else ("compact", "small", "paper"):
        model = SAFCN(PRESETS[preset])
        result["sizes"][preset] = {
            "params": sum(p.numel() for p in model.parameters()),
            "ratio_by_bits": {b: round(size_report(model, b)["ratio"], 3) for b in (3, 4, 5, 6, 7, 8)},
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
