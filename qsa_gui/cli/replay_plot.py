"""The replay's figure: learning curves with 95% bands and the paired difference to random.

matplotlib ships with the GUI extra only; without it the replay still prints its table and says
how to get the plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsa_gui.core.workflow.curves import mean_ci, paired_difference, values_at_round
from qsa_gui.core.workflow.paired_runs import PairedRuns


def write_replay_plot(
    result: PairedRuns,
    path: Path,
    *,
    title: str,
    what: str = "held-out labelled images",
    baseline: str = "random",
) -> str:
    """Write the PNG atomically (the replay's and the demo's); returns the line to print."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install 'qsa-gui[gui]')"
    from qsa_gui.core.atomic import atomic_open

    rounds = sorted({int(r["round"]) for r in result.rows})
    fig, (ax, axd) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, s in enumerate(result.strategies):
        x, m, lo, hi, d, dlo, dhi = [], [], [], [], [], [], []
        for rnd in rounds:
            vals = values_at_round(result.rows, s, rnd)
            if not vals:
                continue
            iv = mean_ci(list(vals.values()))
            x.append(
                np.mean([r["fraction"] for r in result.rows if r["strategy"] == s and r["round"] == rnd])
            )
            m.append(iv.mean)
            lo.append(iv.low if iv.n > 1 else iv.mean)
            hi.append(iv.high if iv.n > 1 else iv.mean)
            if baseline in result.strategies and s != baseline:
                di = paired_difference(vals, values_at_round(result.rows, baseline, rnd)).interval
                d.append(di.mean)
                dlo.append(di.low if di.n > 1 else di.mean)
                dhi.append(di.high if di.n > 1 else di.mean)
        ax.plot(x, m, marker="o", color=f"C{k}", label=s)
        ax.fill_between(x, lo, hi, color=f"C{k}", alpha=0.15)
        if d:
            axd.plot(x, d, marker="o", color=f"C{k}", label=f"{s} − {baseline}")
            axd.fill_between(x, dlo, dhi, color=f"C{k}", alpha=0.15)
    axd.axhline(0.0, color="k", lw=1)
    ax.set_title(f"object F1 on {what} (mean, 95% CI)", fontsize=10)
    axd.set_title(f"object F1 − {baseline}, same seed (95% CI)", fontsize=10)
    for a in (ax, axd):
        a.set_xlabel("fraction of the labelled pool")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=90)
    plt.close(fig)
    return f"wrote {path}"
