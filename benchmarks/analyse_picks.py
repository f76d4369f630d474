"""What did each strategy pick? The images added per round, described against their pool.

The label-efficiency files record every round's picks (``added``: pool indices in the seed's
order). This rebuilds each seed's pool exactly as ``bench_label_efficiency.py`` did and describes
the picks by what a pathologist would see: glands per image, the share of the image that is gland
(foreground), and, on generated glands, the share of malignant images and of each stain style; on
real H&E (he_nuclei) the share of tiles from the tumour image. The pool's own mean is what random
picks get on average, so a strategy's bias shows as its difference to it.

    python benchmarks/analyse_picks.py benchmarks/results/label_efficiency/glands_picks --dataset glands

Writes ``picks.json`` and ``picks.md`` into the folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def describe_pool(dataset: str, seed: int, meta: dict[str, Any]) -> list[dict[str, float]]:
    """One record per pool image, in the seed's pool order (the benchmark's ``load_data``)."""
    from bench_label_efficiency import SHARED

    if dataset == "glands":
        from qsa_gui.core.data.synth import generate_dataset

        n_pool = int(meta.get("n_pool", 80))
        size = int(meta.get("size", 160))
        data = generate_dataset(n_pool + int(meta.get("n_test", 20)), seed=1000 + seed, size=(size, size),
                                malignant_fraction=0.3)[:n_pool]  # fmt: skip
        records = [
            {
                "glands": float(len(np.unique(d.labels)) - 1),
                "foreground": float(np.mean(d.labels > 0)),
                "malignant": float(d.grade == "malignant"),
                **{f"stain_{s}": float(d.stain == s) for s in range(3)},
            }
            for d in data
        ]
    elif dataset == "he_nuclei":
        from qsa_gui.core.data.he_nuclei import find_he_nuclei, load_he_nuclei

        pool = load_he_nuclei(find_he_nuclei(SHARED), tile=int(meta.get("tile", 150)),
                              test_rows=int(meta.get("test_rows", 2)))  # fmt: skip
        first = pool.pool_sources[0].image
        records = [
            {
                "glands": float(len(np.unique(lab)) - 1),
                "foreground": float(np.mean(lab > 0)),
                f"from_{first}": float(src.image == first),
            }
            for lab, src in zip(pool.pool_labels, pool.pool_sources, strict=True)
        ]
    else:
        raise SystemExit(f"picks of dataset {dataset!r} are not described (glands, he_nuclei)")
    order = np.random.default_rng(10_000 + seed).permutation(len(records))
    return [records[i] for i in order]


def analyse(folder: Path, dataset: str) -> dict[str, Any]:
    """Per strategy and round: the picks' mean of each feature minus the pool's mean, over seeds."""
    diffs: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    pools: dict[int, list[dict[str, float]]] = {}
    for path in sorted(folder.glob("*-seed*.json")):
        data = json.loads(path.read_text())
        meta, rows = data["meta"], data["rows"]
        seed, strategy = int(meta["seed"]), meta["strategy"]
        if strategy == "full" or not any(r.get("added") for r in rows):
            continue
        if seed not in pools:
            pools[seed] = describe_pool(dataset, seed, meta)
        pool = pools[seed]
        for row in rows:
            added = row.get("added") or []
            if not added or row["round"] == 1:
                continue
            for key in pool[0]:
                mean_pool = statistics.fmean(p[key] for p in pool)
                diffs[(strategy, int(row["round"]))][key].append(
                    statistics.fmean(pool[i][key] for i in added) - mean_pool
                )
    out: dict[str, Any] = {"dataset": dataset, "folder": str(folder), "rows": []}
    for (strategy, rnd), features in sorted(diffs.items()):
        seeds = len(next(iter(features.values())))
        entry: dict[str, Any] = {"strategy": strategy, "round": rnd, "seeds": seeds}
        for key, values in features.items():
            mean = statistics.fmean(values)
            half = 1.96 * statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
            entry[key] = [round(mean, 4), round(mean - half, 4), round(mean + half, 4)]
        out["rows"].append(entry)
    pool_means = {
        key: round(statistics.fmean(statistics.fmean(p[key] for p in pool) for pool in pools.values()), 4)
        for key in (next(iter(pools.values()))[0] if pools else {})
    }
    out["pool_mean"] = pool_means
    return out


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    if not rows:
        return "no rounds with recorded picks\n"
    keys = [k for k in rows[0] if k not in ("strategy", "round", "seeds")]
    lines = [
        "picks minus pool mean (mean [95% CI] over seeds); pool mean: "
        + ", ".join(f"{k} {v}" for k, v in result["pool_mean"].items()),
        "",
        "| strategy | round | seeds | " + " | ".join(keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    for r in rows:
        cells = [f"{r[k][0]:+.3f} [{r[k][1]:+.3f}, {r[k][2]:+.3f}]" for k in keys]
        lines.append(f"| {r['strategy']} | {r['round']} | {r['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--dataset", choices=["glands", "he_nuclei"], required=True)
    args = ap.parse_args(argv)
    result = analyse(args.folder, args.dataset)
    (args.folder / "picks.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (args.folder / "picks.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
