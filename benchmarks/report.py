"""Markdown tables for docs/benchmarks.md from the JSON results (so the docs show what was run).

python benchmarks/report.py label_efficiency_glands     # per-round table, mean ± std over seeds
python benchmarks/report.py targets label_efficiency_glands
python benchmarks/report.py quantization
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from bench_label_efficiency import paired_diffs

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _cell(e: dict) -> str:
    return (
        f"{e['object_f1']:.3f}±{e['object_f1_std']:.3f} / {e['object_dice']:.3f} / "
        f"{e['object_hausdorff']:.1f}"
    )


def label_efficiency(name: str) -> str:
    """One table per segmentation FCN: rows strategies, columns rounds; F1±std / Dice / Hausdorff."""
    data = load(name)
    summary = data["summary"]
    out = []
    for seg in dict.fromkeys(e["segmenter"] for e in summary):
        mine = [e for e in summary if e["segmenter"] == seg and e["strategy"] != "full"]
        rounds = sorted({e["round"] for e in mine})
        fracs = {e["round"]: e["fraction"] for e in mine}
        out.append(
            f"\n{seg} segmentation FCN (object F1 ± std over seeds / object Dice / object Hausdorff):\n"
        )
        out.append("| strategy | " + " | ".join(f"{fracs[r]:.0%}" for r in rounds) + " |")
        out.append("|---|" + "---|" * len(rounds))
        for strategy in dict.fromkeys(e["strategy"] for e in mine):
            by = {e["round"]: e for e in mine if e["strategy"] == strategy}
            out.append(
                f"| {strategy} | " + " | ".join(_cell(by[r]) if r in by else "" for r in rounds) + " |"
            )
        full = [e for e in summary if e["segmenter"] == seg and e["strategy"] == "full"]
        if full:
            ref = max(full, key=lambda e: e["round"])
            blanks = " |" * (len(rounds) - 1)
            out.append(f"| **100% labelled**, same rounds and budget (last round) |{blanks} {_cell(ref)} |")
    return "\n".join(out)


def targets(name: str) -> str:
    """QSA at 50% vs the 100% reference, and QSA vs random from 30%, per segmentation FCN and seed."""
    data = load(name)
    rows = data["rows"]
    out = [
        "| segmentation FCN | QSA at 50% | 100% reference | QSA / reference | QSA − random, 30% / 40% / 50% |"
    ]
    out.append("|---|---|---|---|---|")
    for seg in dict.fromkeys(r["segmenter"] for r in rows):

        def f1(strategy: str, seg: str = seg) -> np.ndarray:
            """Object F1 per seed at the strategy's last round."""
            sel = [r for r in rows if r["strategy"] == strategy and r["segmenter"] == seg]
            last = max(r["round"] for r in sel)
            return np.array([r["object_f1"] for r in sel if r["round"] == last])

        qsa, full = f1("qsa"), f1("full")
        gaps = []
        for rnd in (3, 4, 5):
            d = np.array(paired_diffs(rows, "qsa", seg, rnd))
            gaps.append(f"{d.mean():+.3f} ({(d > 0).sum()}/{len(d)} seeds above)")
        out.append(
            f"| {seg} | {qsa.mean():.3f}±{qsa.std():.3f} | {full.mean():.3f}±{full.std():.3f} | "
            f"{qsa.mean() / full.mean():.1%} | {' / '.join(gaps)} |"
        )
    return "\n".join(out)


def quantization() -> str:
    data = load("quantization")
    out = ["Suggestive ensemble (QSA strategy, 7-bit segmentation FCN):\n"]
    out.append(
        "| ensemble bits | object F1 at 50% | mean F1, rounds 2–5 | Dice at 50% | Hausdorff at 50% "
        "| mean pool uncertainty |"
    )
    out.append("|---|---|---|---|---|---|")
    for e in data["ensemble"]:
        out.append(
            f"| {e['ensemble']} | {e['object_f1_last']:.3f} | {e['object_f1_rounds_mean']:.3f} | "
            f"{e['object_dice_last']:.3f} | {e['object_hausdorff_last']:.1f} | {e['mean_uncertainty']:.4f} |"
        )
    out.append("\nSegmentation FCN (QNT), on the images picked by the 7-bit ensemble:\n")
    out.append(
        "| segmentation bits | object F1 at 50% | mean F1, rounds 2–5 | Dice at 50% | Hausdorff at 50% |"
    )
    out.append("|---|---|---|---|---|")
    for e in data["segmentation"]:
        out.append(
            f"| {e['segmenter']} | {e['object_f1_last']:.3f} | {e['object_f1_rounds_mean']:.3f} | "
            f"{e['object_dice_last']:.3f} | {e['object_hausdorff_last']:.1f} |"
        )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if argv[:1] == ["quantization"]:
        print(quantization())
    elif argv[:1] == ["targets"]:
        print(targets(argv[1]))
    else:
        print(label_efficiency(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
