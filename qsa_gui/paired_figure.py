"""The figure of a multi-seed run (`qsa replay`, `qsa demo --plot`, the GUI's History tab):
learning curves with 95% bands, and the paired difference to random with its band.

Drawn on a plain matplotlib ``Figure`` (no pyplot), so the CLI renders it with Agg into a PNG and
the GUI embeds the same drawing in a Qt canvas. matplotlib ships with the GUI extra only: the CLI
says so and prints its table without the plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qsa_gui.core.workflow.curves import mean_ci, paired_difference, values_at_round
from qsa_gui.core.workflow.paired_runs import PairedRuns

#: Metrics bounded to [0, 1]: their bands are drawn clipped to it (a t interval of 3 seeds can
#: reach past 1; the tables print the interval unclipped).
BOUNDED = frozenset({"object_f1", "object_dice", "pixel_dice"})


def _band(iv: Any, lo: float = -np.inf, hi: float = np.inf) -> tuple[float, float, float]:
    low, high = (iv.low, iv.high) if iv.n > 1 else (iv.mean, iv.mean)
    return iv.mean, float(np.clip(low, lo, hi)), float(np.clip(high, lo, hi))


def draw_paired_curves(
    fig: Any,
    runs: PairedRuns,
    *,
    what: str = "held-out labelled images",
    baseline: str = "random",
    metric: str = "object_f1",
    metric_label: str = "object F1",
) -> None:
    """Two axes on ``fig``: each strategy's mean curve with its band; strategy − baseline, paired.
    Bands of a metric bounded to [0, 1] are clipped to it (:data:`BOUNDED`)."""
    ax, axd = fig.subplots(1, 2)
    floor, ceil = (0.0, 1.0) if metric in BOUNDED else (-np.inf, np.inf)
    rounds = sorted({int(r["round"]) for r in runs.rows})
    for k, s in enumerate(runs.strategies):
        curve, diff = [], []
        for rnd in rounds:
            vals = values_at_round(runs.rows, s, rnd, metric)
            if not vals:
                continue
            x = float(np.mean([r["fraction"] for r in runs.rows if r["strategy"] == s and r["round"] == rnd]))
            curve.append((x, *_band(mean_ci(list(vals.values())), floor, ceil)))
            if baseline in runs.strategies and s not in (baseline, "full"):
                d = paired_difference(vals, values_at_round(runs.rows, baseline, rnd, metric)).interval
                diff.append((x, *_band(d, floor - ceil, ceil - floor)))
        for axis, pts, label in ((ax, curve, s), (axd, diff, f"{s} − {baseline}")):
            if pts:
                x, m, lo, hi = map(list, zip(*pts, strict=True))
                axis.plot(x, m, marker="o", color=f"C{k}", label=label)
                axis.fill_between(x, lo, hi, color=f"C{k}", alpha=0.15)
    axd.axhline(0.0, color="k", lw=1)
    ax.set_title(f"{metric_label} on {what} (mean, 95% CI)", fontsize=9)
    axd.set_title(f"{metric_label} − {baseline}, same seed (95% CI)", fontsize=9)
    for a in (ax, axd):
        a.set_xlabel("fraction of the pool labelled")
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)


def write_paired_plot(runs: PairedRuns, path: str | Path, *, title: str, **kwargs: Any) -> str:
    """Write the PNG atomically; returns the line to print."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return "no plot: matplotlib is not installed (pip install 'qsa-gui[gui]')"
    from qsa_gui.core.atomic import atomic_open

    fig = Figure(figsize=(10, 3.8))
    FigureCanvasAgg(fig)
    draw_paired_curves(fig, runs, **kwargs)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=90)
    return f"wrote {path}"
