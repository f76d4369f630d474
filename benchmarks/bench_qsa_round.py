"""Wall time of one full QSA round at GlaS size: 85 generated images of 775 x 522, 10% labelled,
5 suggestive FCNs trained with INQ on bootstrap resamples, the unlabelled pool scored, k picked.

Target (issue 5): under 5 minutes on one H100-class GPU with the ``paper`` preset. On a CPU the
same script runs (use a small preset and few iterations) so it cannot rot; the number that
matters is the CUDA one.

    python benchmarks/bench_qsa_round.py --device cuda                      # paper preset
    python benchmarks/bench_qsa_round.py --device cpu --preset compact --iterations 20
    python benchmarks/bench_qsa_round.py --smoke                            # seconds; tests

Writes benchmarks/results/qsa_round_<device>.json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import write_result  # noqa: E402

from qsa_gui.core.active.strategies import select  # noqa: E402
from qsa_gui.core.data.synth import generate_dataset  # noqa: E402
from qsa_gui.core.jobs import Progress, run_job  # noqa: E402
from qsa_gui.core.settings import Settings  # noqa: E402
from qsa_gui.core.workflow.scores import strategy_scores_job  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--n-images", type=int, default=85)
    ap.add_argument("--iterations", type=int, default=500, help="per suggestive FCN")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--patch-size", type=int, default=448)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    h, w = 522, 775
    if args.smoke:
        args.preset, args.n_images, args.iterations = "tiny", 6, 2
        args.batch_size, args.patch_size, h, w = 2, 32, 64, 96
    settings = Settings(
        preset=args.preset,
        ensemble_size=5,
        ensemble_bits=7,
        iterations=args.iterations,
        inq_iterations=max(1, args.iterations // 10),
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        tile=512 if not args.smoke else 64,
        overlap=32,
        device=args.device,
    )
    t0 = time.monotonic()
    data = generate_dataset(args.n_images, seed=0, size=(h, w))
    images = [d.image.astype(np.float32) / 255.0 for d in data]
    gen_s = time.monotonic() - t0
    n_lab = max(1, round(0.1 * args.n_images))
    pool_ids = [f"img_{i:03d}" for i in range(n_lab, args.n_images)]
    index = {s: i for i, s in enumerate(pool_ids, start=n_lab)}
    stages: dict[str, float] = {}
    last = {"stage": "", "t": time.monotonic()}

    def on_event(event: object) -> None:
        if isinstance(event, Progress) and event.stage != last["stage"]:
            now = time.monotonic()
            stages[last["stage"]] = stages.get(last["stage"], 0.0) + now - last["t"]
            last.update(stage=event.stage, t=now)

    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.monotonic()
    scores, _members = run_job(
        strategy_scores_job(
            "qsa",
            settings,
            images[:n_lab],
            [d.labels for d in data[:n_lab]],
            pool_ids,
            lambda s: images[index[s]],
            seed=0,
        ),
        on_event,
    )
    picked = select("qsa", scores, max(1, round(0.1 * args.n_images)), seed=0)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    round_s = time.monotonic() - t0
    stages[last["stage"]] = stages.get(last["stage"], 0.0) + time.monotonic() - last["t"]
    score_s = sum(v for k, v in stages.items() if k.startswith("scoring"))
    result = {
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
            "threads": torch.get_num_threads(),
        },
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"image": f"{w}x{h}"},
        "n_labelled": n_lab,
        "n_scored": len(pool_ids),
        "n_picked": len(picked),
        "generate_seconds": round(gen_s, 1),
        "round_seconds": round(round_s, 1),
        "training_seconds": round(round_s - score_s, 1),
        "scoring_seconds": round(score_s, 1),
        "target_seconds": 300,
        "meets_target": round_s < 300,
    }
    out = args.out or RESULTS / f"qsa_round_{args.device.split(':')[0]}{'_smoke' if args.smoke else ''}.json"
    write_result(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
