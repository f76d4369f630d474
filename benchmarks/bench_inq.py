"""Benchmark INQ: vectorised vs literal rounding, INQ vs float training step, packed sizes.

Prints one JSON document and writes it to benchmarks/results/inq.json. Runs in well under a
minute on a 2-core CPU. Timings on a shared machine are noisy: the training-step comparison is
interleaved (float, INQ, float, INQ, ...) and reports medians so both see the same load.

    .venv/bin/python benchmarks/bench_inq.py [--device cpu|cuda] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qsa_gui.core.quant.inq import (
    INQController,
    inq_exponents,
    quantizable_parameters,
    quantize_literal,
    quantize_tensor,
)
from qsa_gui.core.quant.modelfile import size_report

RESULTS = Path(__file__).resolve().parent / "results" / "inq.json"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_rounding(n: int, bits: int, device: torch.device) -> dict:
    """Vectorised quantize_tensor vs the paper's per-element rule on the same n weights."""
    rng = np.random.default_rng(0)
    w_np = (rng.standard_normal(n) * 0.05).astype(np.float32)
    n1, n2 = inq_exponents(float(np.abs(w_np).max()), bits)
    t0 = time.perf_counter()
    lit = np.array([quantize_literal(float(v), n1, n2) for v in w_np], dtype=np.float32)
    literal_s = time.perf_counter() - t0
    w = torch.from_numpy(w_np).to(device)
    quantize_tensor(w, bits)  # warm-up
    times = []
    for _ in range(7):
        _sync(device)
        t0 = time.perf_counter()
        q = quantize_tensor(w, bits)
        _sync(device)
        times.append(time.perf_counter() - t0)
    vec_s = statistics.median(times)
    return {
        "weights": n,
        "bits": bits,
        "literal_s": literal_s,
        "vectorised_s": vec_s,
        "speedup": literal_s / vec_s,
        "literal_s_per_million": literal_s / n * 1e6,
        "identical": bool(np.array_equal(q.cpu().numpy(), lit)),
    }


def conv_net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 2, stride=2),
        nn.ReLU(),
        nn.Conv2d(16, 2, 1),
    )


def bench_train_step(device: torch.device, reps: int, bits: int = 7) -> dict:
    """Float step vs INQ step (mask_gradients + restore_frozen) on identical nets, interleaved."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 64, 64, generator=g).to(device)
    y = (torch.rand(4, 2, 64, 64, generator=g) > 0.5).float().to(device)
    loss_fn = nn.BCEWithLogitsLoss()
    nets = {"float": conv_net(0).to(device), "inq": conv_net(0).to(device)}
    opts = {
        k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4) for k, m in nets.items()
    }
    ctl = INQController(nets["inq"], bits)
    ctl.step(0.5)

    def step(kind: str) -> float:
        model, opt = nets[kind], opts[kind]
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        if kind == "inq":
            ctl.mask_gradients()
        opt.step()
        if kind == "inq":
            ctl.restore_frozen()
        _sync(device)
        return time.perf_counter() - t0

    for _ in range(3):  # warm-up
        step("float"), step("inq")
    times: dict[str, list[float]] = {"float": [], "inq": []}
    for i in range(reps):
        order = ("float", "inq") if i % 2 == 0 else ("inq", "float")
        for kind in order:
            times[kind].append(step(kind))
    f, q = statistics.median(times["float"]), statistics.median(times["inq"])
    n_q = sum(p.numel() for _, p in quantizable_parameters(nets["inq"]))
    return {
        "input": list(x.shape),
        "quantizable_weights": n_q,
        "frozen_fraction": ctl.frozen_fraction(),
        "reps": reps,
        "float_step_ms": f * 1e3,
        "inq_step_ms": q * 1e3,
        "inq_over_float": q / f,
    }


def realistic_net(widths: tuple[int, ...], seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for cin, cout in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], 64, 2, stride=2), nn.ReLU(), nn.Conv2d(64, 2, 1)]
    return nn.Sequential(*layers)


def bench_sizes() -> dict:
    """size_report at 3..8 bits; the model is INQ-quantized at each width before measuring."""
    out = {}
    for label, widths in (("fcn_1M", (3, 64, 128, 256, 256)), ("fcn_250k", (3, 32, 64, 128, 128))):
        rows = {}
        for bits in range(3, 9):
            model = realistic_net(widths)
            INQController(model, bits).step(1.0)
            rep = size_report(model, bits)
            rep["ideal_ratio"] = 32 / bits
            rows[str(bits)] = rep
        out[label] = {"params": sum(v.numel() for v in model.state_dict().values()), "bits": rows}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    result = {
        "env": {
            "torch": torch.__version__,
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
        },
        "rounding": bench_rounding(args.weights, 7, device),
        "train_step": bench_train_step(device, args.reps),
        "sizes": bench_sizes(),
    }
    result["total_s"] = time.perf_counter() - t0
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
