"""Why QSA may pick almost at random: the spread of the pool's descriptor cosines and uncertainties.

Trains the quantized suggestive ensemble on a random 10% of the pool (the first round of the
label-efficiency protocol), scores the rest, and reports the off-diagonal cosine similarities of
the descriptors raw (the paper's), centred on the pool mean, and centred + whitened, with the
image uncertainties, and how many of each variant's picks the raw max-cover shares.

    python benchmarks/bench_descriptor_spread.py --dataset he_nuclei --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import write_result  # noqa: E402
from bench_label_efficiency import BUDGETS, _parser, load_data  # noqa: E402

from qsa_gui.core.active.scoring import default_k  # noqa: E402
from qsa_gui.core.active.selection import centred, cosine_similarity  # noqa: E402
from qsa_gui.core.active.strategies import select  # noqa: E402
from qsa_gui.core.jobs import run_job  # noqa: E402
from qsa_gui.core.workflow.scores import strategy_scores_job  # noqa: E402
from qsa_gui.core.workflow.simulation import initial_set  # noqa: E402

QUANTILES = (0.0, 0.05, 0.5, 0.95, 1.0)


def spread(desc: np.ndarray) -> dict[str, float]:
    """Quantiles of the off-diagonal pairwise cosines."""
    sim = cosine_similarity(desc, desc)
    off = sim[~np.eye(len(sim), dtype=bool)]
    return {f"q{int(q * 100)}": float(np.quantile(off, q)) for q in QUANTILES}


def one_seed(args: argparse.Namespace, seed: int) -> dict:
    pool_i, pool_l, _ = load_data(args, seed)
    settings = replace(BUDGETS[args.budget], seed=seed)
    first = initial_set(pool_i, max(1, round(0.1 * len(pool_i))), args.initial, seed)
    rest = [i for i in range(len(pool_i)) if i not in set(first)]
    ids = [f"p{i}" for i in rest]
    scores, _ = run_job(
        strategy_scores_job(
            "qsa",
            settings,
            [pool_i[i] for i in first],
            [pool_l[i] for i in first],
            ids,
            lambda s: pool_i[int(s[1:])],
            seed=seed,
        ),
        lambda e: None,
    )
    k = default_k(len(pool_i))
    picks = {
        s: {p.image_id for p in select(s, scores, k, seed=seed)}
        for s in ("qsa", "qsa_centred", "qsa_whitened")
    }
    unc = scores.uncertainty
    return {
        "seed": seed,
        "n_scored": len(ids),
        "k": k,
        "cosine_raw": spread(scores.descriptors),
        "cosine_centred": spread(centred(scores.descriptors)),
        "cosine_whitened": spread(centred(scores.descriptors, whiten=True)),
        "uncertainty": {"min": float(unc.min()), "median": float(np.median(unc)), "max": float(unc.max())},
        "picks_shared_with_qsa": {s: len(p & picks["qsa"]) for s, p in picks.items()},
        "descriptor_dim": int(scores.descriptors.shape[1]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    t0 = time.time()
    per_seed = []
    for seed in args.seeds:
        r = one_seed(args, seed)
        per_seed.append(r)
        print(
            f"seed {seed}: raw cos {r['cosine_raw']['q0']:.3f}..{r['cosine_raw']['q100']:.3f} "
            f"(median {r['cosine_raw']['q50']:.3f}); centred {r['cosine_centred']['q0']:.3f}.."
            f"{r['cosine_centred']['q100']:.3f} (median {r['cosine_centred']['q50']:.3f}); "
            f"uncertainty {r['uncertainty']['min']:.4f}..{r['uncertainty']['max']:.4f}; "
            f"picks shared with qsa {r['picks_shared_with_qsa']}",
            flush=True,
        )
    out = (
        Path(args.out)
        if args.out
        else ROOT / "benchmarks" / "results" / f"descriptor_spread_{args.dataset}.json"
    )
    write_result(
        out,
        {
            "dataset": args.dataset,
            "budget": args.budget,
            "seconds": round(time.time() - t0, 1),
            "seeds": per_seed,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
