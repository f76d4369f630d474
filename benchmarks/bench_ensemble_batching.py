"""Does training the K suggestive members as one batched network pay? Per-layer, on this device.

One forward + backward of a 3x3 convolution at each scale of the members (the stem at full patch
resolution, then the stages after each 2x2 pooling), K members:
- ``sequential``: K separate convolutions (what training K models one after the other does),
  channels-last, as training runs them;
- ``grouped``: one convolution with ``groups=K`` over the K members' stacked channels, which is
  also what ``torch.func.vmap`` over ``stack_module_state`` lowers a convolution to;
- ``vmap``: ``torch.func.vmap`` of ``functional_call`` over the stacked weights.
Interleaved repetitions, medians. On a GPU the batched forms fill the device; on a CPU the FLOPs
are the same and only the kernels' efficiency differs, which is what this measures.

    python benchmarks/bench_ensemble_batching.py [--device cpu] [--members 5] [--preset compact]
Writes benchmarks/results/ensemble_batching_<device>.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import write_result  # noqa: E402

from qsa_gui.core.model.fcn import preset_config  # noqa: E402
from qsa_gui.core.runtime import configure_threads  # noqa: E402


def _median_ms(fns: dict, reps: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: round(1000 * statistics.median(v), 2) for name, v in times.items()}


def layer_case(channels: int, size: int, batch: int, k: int, device: str, reps: int) -> dict:
    cl = torch.channels_last
    convs = [torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device, memory_format=cl)
             for _ in range(k)]  # fmt: skip
    xs = [
        torch.rand(batch, channels, size, size, device=device).contiguous(memory_format=cl) for _ in range(k)
    ]
    grouped = torch.nn.Conv2d(k * channels, k * channels, 3, padding=1, groups=k, bias=False).to(device)
    xg = torch.cat(xs, dim=1).contiguous()
    params, _ = torch.func.stack_module_state(convs)
    xv = torch.stack(xs).contiguous()

    def sequential() -> None:
        for conv, x in zip(convs, xs, strict=True):
            conv(x).sum().backward()

    def group() -> None:
        grouped(xg).sum().backward()

    def vmapped() -> None:
        p = {n: t.detach().requires_grad_() for n, t in params.items()}
        out = torch.func.vmap(lambda w, x: torch.func.functional_call(convs[0], w, (x,)))(p, xv)
        out.sum().backward()

    def sync(f):
        def run() -> None:
            f()
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        return run

    ms = _median_ms({"sequential": sync(sequential), "grouped": sync(group), "vmap": sync(vmapped)}, reps)
    return {
        "channels": channels,
        "size": size,
        "ms": ms,
        "grouped_vs_sequential": round(ms["grouped"] / ms["sequential"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    threads = configure_threads(args.threads)
    c = preset_config(args.preset)
    scales = [(c.stem_width, args.patch)]
    scales += [(max(w // c.bottleneck_ratio, 4), args.patch >> (i + 1)) for i, w in enumerate(c.stage_widths)]
    rows = [layer_case(ch, size, args.batch, args.members, args.device, args.reps) for ch, size in scales]
    for r in rows:
        print(r, flush=True)
    total = {k: round(sum(r["ms"][k] for r in rows), 1) for k in ("sequential", "grouped", "vmap")}
    result = {
        "device": args.device,
        "threads": threads,
        "preset": args.preset,
        "members": args.members,
        "patch": args.patch,
        "batch": args.batch,
        "rows": rows,
        "total_ms": total,
        "batched_pays": min(total["grouped"], total["vmap"]) < 0.9 * total["sequential"],
    }
    write_result(
        ROOT / "benchmarks" / "results" / f"ensemble_batching_{args.device.split(':')[0]}.json", result
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
