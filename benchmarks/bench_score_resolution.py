"""At which resolution may the unlabelled pool be scored? Rank agreement with full resolution.

The suggestive ensemble of the default settings is trained on 9 labelled GlaS-size generated
images (775 x 522), then the pool is scored at several scales. Selection uses the *ranking* of
images by uncertainty (its top 2k, then max-cover on descriptors), so the measure is Spearman's
rank correlation of the image uncertainties against full-resolution scoring (accept >= 0.95),
plus the overlap of the k most uncertain images and of the picked sets.

    python benchmarks/bench_score_resolution.py                # 9 labelled, 40 pool images
    python benchmarks/bench_score_resolution.py --quick        # seconds; a smoke test

Writes benchmarks/results/score_resolution.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import write_result  # noqa: E402

from qsa_gui.core.active.ensemble import train_ensemble  # noqa: E402
from qsa_gui.core.active.scoring import score_pool  # noqa: E402
from qsa_gui.core.active.strategies import select  # noqa: E402
from qsa_gui.core.data.synth import generate_dataset  # noqa: E402
from qsa_gui.core.jobs import run_job  # noqa: E402
from qsa_gui.core.runtime import configure_threads  # noqa: E402
from qsa_gui.core.settings import Settings  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    from scipy.stats import spearmanr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", type=int, default=9)
    ap.add_argument("--pool", type=int, default=40)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.5, 0.35, 0.25])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    configure_threads(args.threads)
    settings = Settings(seed=args.seed)
    size = (522, 775)
    if args.quick:
        settings = replace(settings, preset="tiny", ensemble_size=2, ensemble_iterations=10, patch_size=64)
        args.labelled, args.pool, size, args.k = 3, 8, (96, 128), 3
    data = generate_dataset(args.labelled + args.pool, seed=args.seed, size=size)
    images = [d.image.astype(np.float32) / 255.0 for d in data]
    lab_i, lab_l = images[: args.labelled], [d.labels for d in data[: args.labelled]]
    ids = [f"p{i:03d}" for i in range(args.pool)]
    pool = dict(zip(ids, images[args.labelled :], strict=True))
    t0 = time.monotonic()
    members = run_job(train_ensemble(lab_i, lab_l, settings.ensemble_config()), lambda e: None)
    train_s = time.monotonic() - t0
    by_scale = {}
    for scale in [1.0, *args.scales]:
        t0 = time.monotonic()
        scores = run_job(
            score_pool(
                members, ids, pool.__getitem__, tile=settings.tile, overlap=settings.overlap, scale=scale
            ),
            lambda e: None,
        )
        by_scale[scale] = (scores, time.monotonic() - t0)
        print(f"scale {scale}: {by_scale[scale][1]:.1f} s", flush=True)
    full, full_s = by_scale[1.0]
    top_full = set(np.argsort(-full.uncertainty)[: args.k])
    picked_full = {s.image_id for s in select("qsa", full, args.k, seed=0)}
    rows = []
    for scale, (scores, secs) in by_scale.items():
        rho = float(spearmanr(full.uncertainty, scores.uncertainty).statistic) if scale != 1.0 else 1.0
        top = set(np.argsort(-scores.uncertainty)[: args.k])
        picked = {s.image_id for s in select("qsa", scores, args.k, seed=0)}
        rows.append(
            {
                "scale": scale,
                "seconds": round(secs, 1),
                "speedup": round(full_s / secs, 2),
                "spearman_vs_full": round(rho, 4),
                "top_k_overlap": len(top & top_full) / args.k,
                "picked_overlap": len(picked & picked_full) / args.k,
            }
        )
    result = {
        "settings": asdict(settings),
        "n_labelled": args.labelled,
        "n_pool": args.pool,
        "image_size": f"{size[1]}x{size[0]}",
        "k": args.k,
        "train_seconds": round(train_s, 1),
        "accept_spearman": 0.95,
        "rows": rows,
    }
    for r in rows:
        print(r)
    write_result(args.out or RESULTS / f"score_resolution{'_quick' if args.quick else ''}.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
