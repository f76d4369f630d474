"""The label-efficiency protocol's merge and report step over per-seed result files.

Each (strategy, seed) run writes ``benchmarks/results/label_efficiency/<dataset>/<strategy>-seed<N>.json``
(meta + rows), so seeds run in parallel, on other machines or in later sessions, and are merged
here. Per segmentation variant and round: every strategy's mean with a 95% t interval, its paired
difference to random (same seed) with interval and win count, AULC 10%-50% (mean, interval, and
paired difference to random), and the 100% reference at equal training budget.

    python benchmarks/protocol.py benchmarks/results/label_efficiency/he_nuclei
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import finish_figure  # noqa: E402

from qsa_gui.core.workflow.curves import (  # noqa: E402
    Interval,
    PairedDifference,
    aulc_by_seed,
    mean_ci,
    paired_difference,
    values_at_round,
)

BASELINE = "random"
REFERENCE = "full"


def load_runs(folder: Path) -> tuple[list[dict], list[dict]]:
    """(rows with their seed, metas) of every ``*-seed*.json`` in ``folder``."""
    rows, metas = [], []
    for f in sorted(folder.glob("*-seed*.json")):
        data = json.loads(f.read_text())
        metas.append(data["meta"])
        for r in data["rows"]:
            rows.append(dict(r, seed=int(data["meta"]["seed"])))
    return rows, metas


def _iv(iv: Interval) -> dict:
    return {"mean": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n}


def _pd(d: PairedDifference) -> dict:
    return dict(_iv(d.interval), wins=d.wins, losses=d.losses, significant=d.interval.excludes_zero)


def summarise(rows: list[dict], metric: str = "object_f1", lo: float = 0.1, hi: float = 0.5) -> dict:
    """The protocol's numbers per segmenter variant (see the module docstring)."""
    out: dict = {}
    for seg in dict.fromkeys(r["segmenter"] for r in rows):
        mine = [r for r in rows if r["segmenter"] == seg and r.get("test_set", "test") == "test"]
        strategies = list(dict.fromkeys(r["strategy"] for r in mine))
        rounds = sorted({int(r["round"]) for r in mine})
        per_round = []
        for rnd in rounds:
            for s in strategies:
                vals = values_at_round(mine, s, rnd, metric)
                if not vals:
                    continue
                frac = float(
                    np.mean([r["fraction"] for r in mine if r["strategy"] == s and r["round"] == rnd])
                )
                entry = {"strategy": s, "round": rnd, "fraction": frac, **_iv(mean_ci(list(vals.values())))}
                if BASELINE in strategies and s not in (BASELINE, REFERENCE):
                    entry["vs_random"] = _pd(
                        paired_difference(vals, values_at_round(mine, BASELINE, rnd, metric))
                    )
                per_round.append(entry)
        aulc: dict = {}
        base = aulc_by_seed(mine, BASELINE, metric, lo, hi) if BASELINE in strategies else {}
        for s in strategies:
            if s == REFERENCE:
                continue
            by_seed = aulc_by_seed(mine, s, metric, lo, hi)
            aulc[s] = {"by_seed": by_seed, **_iv(mean_ci(list(by_seed.values())))}
            if base and s != BASELINE:
                aulc[s]["vs_random"] = _pd(paired_difference(by_seed, base))
        reference = None
        if REFERENCE in strategies:
            last = max(int(r["round"]) for r in mine if r["strategy"] == REFERENCE)
            reference = _iv(mean_ci(list(values_at_round(mine, REFERENCE, last, metric).values())))
        out[seg] = {
            "metric": metric,
            "aulc_range": [lo, hi],
            "seeds": sorted({int(r["seed"]) for r in mine}),
            "per_round": per_round,
            "aulc": aulc,
            "reference_100": reference,
            "at_50_vs_reference": _at_end(per_round, reference),
        }
    return out


def _at_end(per_round: list[dict], reference: dict | None) -> dict:
    """Each strategy's last-round mean as a share of the 100% reference (target: >= 0.99)."""
    if not reference or not math.isfinite(reference["mean"]) or reference["mean"] <= 0:
        return {}
    last: dict[str, dict] = {}
    for e in per_round:
        if e["strategy"] != REFERENCE and e["round"] >= last.get(e["strategy"], {"round": -1})["round"]:
            last[e["strategy"]] = e
    return {s: e["mean"] / reference["mean"] for s, e in last.items()}


def _fmt(e: dict) -> str:
    if e["n"] < 2:
        return f"{e['mean']:.3f}"
    return f"{e['mean']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def _fmt_diff(d: dict) -> str:
    star = "*" if d.get("significant") else ""
    if d["n"] < 2:
        return f"{d['mean']:+.3f} ({d['wins']}/{d['n']})"
    return f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]{star} ({d['wins']}/{d['n']})"


def markdown(summary: dict) -> str:
    """Tables for docs/benchmarks.md: per round mean [95% CI] and paired difference to random."""
    lines = []
    for seg, s in summary.items():
        rounds = sorted({e["round"] for e in s["per_round"] if e["strategy"] != REFERENCE})
        # the rounds' fractions, from any strategy but the 100% reference (random may be missing)
        fr = {e["round"]: e["fraction"] for e in s["per_round"] if e["strategy"] != REFERENCE}
        head = " | ".join(f"{fr.get(r, 0):.0%}" for r in rounds)
        lines += [
            f"**{seg} segmentation FCN, {s['metric']}, seeds {s['seeds']}**",
            "",
            f"| strategy | {head} | AULC {s['aulc_range'][0]:.0%}–{s['aulc_range'][1]:.0%} |",
            "|---|" + "---|" * (len(rounds) + 1),
        ]
        for strat in dict.fromkeys(e["strategy"] for e in s["per_round"]):
            if strat == REFERENCE:
                continue
            cells = {e["round"]: e for e in s["per_round"] if e["strategy"] == strat}
            row = " | ".join(_fmt(cells[r]) if r in cells else "" for r in rounds)
            lines.append(f"| {strat} | {row} | {_fmt(s['aulc'][strat]) if strat in s['aulc'] else ''} |")
        lines += [
            "",
            "paired difference to random (mean [95% CI], * = interval excludes 0, (wins/seeds)):",
            "",
        ]
        lines += [f"| strategy | {head} | AULC |", "|---|" + "---|" * (len(rounds) + 1)]
        for strat in dict.fromkeys(e["strategy"] for e in s["per_round"]):
            if strat in (REFERENCE, BASELINE):
                continue
            cells = {e["round"]: e for e in s["per_round"] if e["strategy"] == strat and "vs_random" in e}
            row = " | ".join(_fmt_diff(cells[r]["vs_random"]) if r in cells else "" for r in rounds)
            a = s["aulc"].get(strat, {}).get("vs_random")
            lines.append(f"| {strat} | {row} | {_fmt_diff(a) if a else ''} |")
        if s["reference_100"]:
            ends = ", ".join(f"{k} {v:.1%}" for k, v in s["at_50_vs_reference"].items())
            lines += ["", f"100% reference: {_fmt(s['reference_100'])}; last round as share of it: {ends}"]
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict, path: Path, title: str) -> None:
    """Learning curves with 95% bands, and the paired difference to random with its band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segs = list(summary)
    fig, axes = plt.subplots(len(segs), 2, figsize=(10, 3.8 * len(segs)), squeeze=False)
    for si, seg in enumerate(segs):
        s = summary[seg]
        strategies = [x for x in dict.fromkeys(e["strategy"] for e in s["per_round"]) if x != REFERENCE]
        for k, strat in enumerate(strategies):
            pts = [e for e in s["per_round"] if e["strategy"] == strat]
            x = np.array([e["fraction"] for e in pts])
            y = np.array([e["mean"] for e in pts])
            ax = axes[si][0]
            ax.plot(x, y, marker="o", color=f"C{k}", label=strat)
            if all(e["n"] >= 2 for e in pts):
                ax.fill_between(
                    x, [e["low"] for e in pts], [e["high"] for e in pts], color=f"C{k}", alpha=0.15
                )
            diff = [e for e in pts if "vs_random" in e]
            if diff:
                d = [e["vs_random"] for e in diff]
                dx = np.array([e["fraction"] for e in diff])
                axes[si][1].plot(dx, [v["mean"] for v in d], marker="o", color=f"C{k}", label=strat)
                if all(v["n"] >= 2 for v in d):
                    axes[si][1].fill_between(
                        dx, [v["low"] for v in d], [v["high"] for v in d], color=f"C{k}", alpha=0.15
                    )
        if s["reference_100"]:
            axes[si][0].axhline(s["reference_100"]["mean"], color="k", ls="--", lw=1, label="100% labelled")
        axes[si][1].axhline(0.0, color="k", lw=1)
        axes[si][0].set_title(f"{s['metric']} — {seg} (mean, 95% CI)", fontsize=10)
        axes[si][1].set_title(f"{s['metric']} − random, same seed (95% CI)", fontsize=10)
        for ax in axes[si]:
            ax.set_xlabel("fraction of the pool labelled")
            ax.grid(alpha=0.3)
        axes[si][0].legend(fontsize=8)
    finish_figure(fig, path, title)


def report(folder: Path, metric: str = "object_f1") -> dict:
    """Merge ``folder``'s per-seed files, write summary.json, summary.md and learning_curves.png."""
    rows, metas = load_runs(folder)
    if not rows:
        raise SystemExit(f"no *-seed*.json result files in {folder}")
    summary = summarise(rows, metric)
    meta = {
        "dataset": metas[0]["dataset"],
        "runs": len(metas),
        "n_pool": metas[0]["n_pool"],
        "n_test": metas[0]["n_test"],
        "seconds": round(sum(m["seconds"] for m in metas), 1),
        "settings": metas[0]["settings"],
    }
    (folder / "summary.json").write_text(
        json.dumps({"meta": meta, "summary": summary}, indent=1, default=float)
    )
    text = markdown(summary)
    (folder / "summary.md").write_text(text)
    seeds = sorted({int(m["seed"]) for m in metas})
    plot(
        summary,
        folder / "learning_curves.png",
        f"{meta['dataset']}: {meta['n_pool']} pool, {meta['n_test']} test images, {len(seeds)} seeds",
    )
    print(text)
    return summary


if __name__ == "__main__":
    for arg in sys.argv[1:] or [str(ROOT / "benchmarks" / "results" / "label_efficiency")]:
        report(Path(arg))
