"""Model benchmark: parameter counts, training throughput, inference time, INQ step overhead.

Usage: ``python benchmarks/bench_model.py [--threads 2] [--quick] [--train-seconds 90]``.
Writes ``benchmarks/results/model.json``. Timings on a shared machine are noisy: each figure is
the median of several repeats, and the float/INQ step comparison is interleaved so both see the
same load. ``--quick`` skips the short "small preset learns synthetic glands" run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qsa_gui.core.atomic import atomic_write_json  # noqa: E402
from qsa_gui.core.jobs import run_job  # noqa: E402
from qsa_gui.core.model.fcn import PRESETS, SAFCN, count_parameters, predict_tiled  # noqa: E402
from qsa_gui.core.model.training import PatchSampler, TrainConfig, segmentation_loss, train_fcn  # noqa: E402
from qsa_gui.core.quant import inq  # noqa: E402


def _train_step(
    model: SAFCN, opt: torch.optim.Optimizer, sampler: PatchSampler, batch: int, ctl=None
) -> None:
    x, g, c = sampler.sample(batch)
    out = model(x)
    loss = segmentation_loss(out.gland, out.contour, g, c, contour_pos_weight=sampler.contour_pos_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if ctl is not None:
        ctl.mask_gradients()
    opt.step()
    if ctl is not None:
        ctl.restore_frozen()


def _sampler(size: int, patch: int, seed: int = 0) -> PatchSampler:
    from qsa_gui.core.data import synth

    samples = synth.generate_dataset(4, seed=seed, size=(size, size))
    images = [s.image for s in samples]
    labels = [s.labels for s in samples]
    return PatchSampler(images, labels, patch, np.random.default_rng(seed))


def bench_throughput(name: str, batch: int, repeats: int) -> dict:
    """Forward+backward (Adam step included) images per second at 128x128."""
    torch.manual_seed(0)
    model = SAFCN(PRESETS[name]).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = _sampler(192, 128)
    _train_step(model, opt, sampler, batch)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        _train_step(model, opt, sampler, batch)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"batch": batch, "seconds_per_step_median": med, "images_per_s": batch / med}


def bench_inference(name: str, repeats: int) -> dict:
    torch.manual_seed(0)
    model = SAFCN(PRESETS[name]).eval()
    rng = np.random.default_rng(0)
    out = {}
    for h, w, label in ((256, 256, "256x256"), (522, 775, "glas_775x522")):
        img = rng.random((h, w, 3), dtype=np.float32)
        predict_tiled(model, img, tile=256, overlap=32)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            predict_tiled(model, img, tile=256, overlap=32)
            times.append(time.perf_counter() - t)
        out[f"seconds_{label}"] = statistics.median(times)
    return out


def bench_inq_ratio(name: str, batch: int, repeats: int) -> dict:
    """Float step vs INQ step (gradient mask + restore) timed alternately on twin models."""
    torch.manual_seed(0)
    f_model = SAFCN(PRESETS[name]).train()
    q_model = SAFCN(PRESETS[name]).train()
    q_model.load_state_dict(f_model.state_dict())
    ctl = inq.INQController(q_model, bits=7)
    ctl.step(0.5)
    f_opt = torch.optim.Adam(f_model.parameters(), lr=1e-3)
    q_opt = torch.optim.Adam(q_model.parameters(), lr=1e-3)
    sampler = _sampler(192, 128)
    _train_step(f_model, f_opt, sampler, batch)
    _train_step(q_model, q_opt, sampler, batch, ctl)
    ft, qt = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        _train_step(f_model, f_opt, sampler, batch)
        ft.append(time.perf_counter() - t)
        t = time.perf_counter()
        _train_step(q_model, q_opt, sampler, batch, ctl)
        qt.append(time.perf_counter() - t)
    t = time.perf_counter()
    ctl2 = inq.INQController(SAFCN(PRESETS[name]), bits=7)
    for p in (0.5, 0.75, 0.875, 1.0):
        ctl2.step(p)
    schedule_s = time.perf_counter() - t
    return {
        "batch": batch,
        "float_step_s_median": statistics.median(ft),
        "inq_step_s_median": statistics.median(qt),
        "inq_over_float": statistics.median(q / f for q, f in zip(qt, ft, strict=True)),
        "all_four_quantize_steps_s": schedule_s,
    }


def bench_small_learns(iterations: int) -> dict:
    """Train the small preset on synthetic H&E glands and score pixel Dice on held-out images."""
    from qsa_gui.core.data import synth

    train = synth.generate_dataset(8, seed=1, size=(256, 256))
    test = synth.generate_dataset(4, seed=2, size=(256, 256))
    torch.manual_seed(0)
    model = SAFCN(PRESETS["small"])
    cfg = TrainConfig(iterations=iterations, batch_size=8, patch_size=128, lr=2e-3, seed=0, device="cpu")
    t = time.perf_counter()
    result = run_job(train_fcn(model, [s.image for s in train], [s.labels for s in train], cfg))
    seconds = time.perf_counter() - t
    dices = []
    for s in test:
        pred = predict_tiled(model, s.image.astype(np.float32) / 255.0, tile=256, overlap=32)
        seg, gt = pred.gland > 0.5, s.labels > 0
        dices.append(float(2 * (seg & gt).sum() / max(seg.sum() + gt.sum(), 1)))
    return {
        "iterations": iterations,
        "batch": 8,
        "patch": 128,
        "train_seconds": seconds,
        "first10_loss": float(np.mean(result.loss_history[:10])),
        "final_loss": result.final_loss,
        "heldout_pixel_dice_mean": float(np.mean(dices)),
        "heldout_pixel_dice": dices,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the small-preset learning run")
    ap.add_argument("--train-iterations", type=int, default=150)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "model.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "note": "shared 2-core machine: timings are noisy medians",
        },
        "parameters": {name: count_parameters(SAFCN(cfg)) for name, cfg in PRESETS.items()},
        "size_multiple": {name: 2 ** len(cfg.stage_widths) for name, cfg in PRESETS.items()},
        "train_throughput_128": {},
    }
    for name in ("tiny", "small"):
        result["train_throughput_128"][name] = bench_throughput(name, 8, args.repeats)
        print(name, result["train_throughput_128"][name], flush=True)
    result["inference_small"] = bench_inference("small", max(2, args.repeats // 2))
    print("inference", result["inference_small"], flush=True)
    result["inq_vs_float_step_small"] = bench_inq_ratio("small", 8, args.repeats)
    print("inq", result["inq_vs_float_step_small"], flush=True)
    if not args.quick:
        result["small_learns_synthetic"] = bench_small_learns(args.train_iterations)
        print("learn", result["small_learns_synthetic"], flush=True)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
