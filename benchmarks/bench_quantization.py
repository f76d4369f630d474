"""Quantization ablation: INQ at 2-7 bits and float for the suggestive ensemble (QSA) and the
segmentation FCN (QNT), as in the paper's ablation, on the generated gland benchmark; for both
also the quantizers the paper did not pick, DoReFa-Net (1 bit) and ternary weight networks
(2 bits), on the same schedule (``settings.quantizer``).

- ensemble: for each bit width the whole simulated annotation loop runs with the QSA strategy
  (10% -> 50% of the pool, same random start per seed), the 7-bit segmentation FCN trained on
  the picked images; reported: test accuracy at every round and the ensemble's diversity (mean
  per-image uncertainty over the unlabelled pool, averaged over the rounds that suggest).
- segmentation: on the images picked by the 7-bit ensemble, a segmentation FCN per bit width is
  trained on the same labels each round; reported: test accuracy per round.

    python benchmarks/bench_quantization.py --seeds 0           # about 45 min on one CPU core
    python benchmarks/bench_quantization.py --smoke              # seconds; used by the tests
    python benchmarks/bench_quantization.py --seeds 0 --ensembles dorefa,twn --merge
        # only those ensembles, their rows added to the existing quantization.json

Writes benchmarks/results/quantization.json and quantization.png.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import finish_figure, write_result  # noqa: E402
from bench_label_efficiency import SMOKE_SETTINGS, gland_data  # noqa: E402

from qsa_gui.core.jobs import run_job  # noqa: E402
from qsa_gui.core.workflow.simulation import DemoConfig, active_learning_job  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BITS: tuple[int | None, ...] = (2, 3, 4, 5, 6, 7, None)
CODEBOOKS: tuple[str, ...] = ("dorefa", "twn")  # the two quantizers the paper did not pick


def bits_name(bits: int | str | None) -> str:
    """``7bit``, ``float``, or a codebook quantizer's own name (``dorefa``, ``twn``)."""
    if isinstance(bits, str):
        return bits
    return "float" if bits is None else f"{bits}bit"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--n-pool", type=int, default=30)
    ap.add_argument("--n-test", type=int, default=8)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--ensembles",
        default=None,
        help="comma list of ensemble variants to run (2..7 bits as '7bit', 'float', 'dorefa', 'twn'); "
        "default: INQ 2-7 bits and float",
    )
    ap.add_argument("--merge", action="store_true", help="add the rows to the existing result file")
    args = ap.parse_args(argv)

    base, fractions, bits = DemoConfig().settings, DemoConfig().fractions, BITS
    if args.smoke:
        base = SMOKE_SETTINGS
        args.seeds, args.n_pool, args.n_test, args.size = [0], 6, 2, 64
        fractions, bits = (0.2, 0.5), (7, None)
    seg7 = replace(base, seg_bits=7)
    ensembles: list[int | str | None] = list(bits)
    if args.ensembles:
        names = {bits_name(b): b for b in BITS} | {q: q for q in CODEBOOKS}
        ensembles = [names[n.strip()] for n in args.ensembles.split(",") if n.strip()]
    out = args.out or RESULTS / f"quantization{'_smoke' if args.smoke else ''}.json"
    rows: list[dict] = []
    if args.merge and out.exists():
        import json

        names_run = {bits_name(e) for e in ensembles}
        kept = json.loads(out.read_text())["rows"]
        rows = [r for r in kept if not (r["seed"] in args.seeds and r["ensemble"] in names_run)]
    t0 = time.time()
    for seed in args.seeds:
        pool_i, pool_l, tests = gland_data(args.n_pool, args.n_test, args.size, seed)
        for ens_bits in ensembles:
            name = bits_name(ens_bits)
            if isinstance(ens_bits, str):  # a codebook quantizer for the members (their bits are its own)
                settings = replace(base, quantizer=ens_bits, seed=seed, tile=max(base.tile, 64))
            else:
                settings = replace(base, ensemble_bits=ens_bits, seed=seed, tile=max(base.tile, 64))
            segmenters = {"7bit": seg7}
            if ens_bits == 7:
                segmenters = {bits_name(b): replace(base, seg_bits=b) for b in bits}
                segmenters.update({q: replace(base, seg_bits=7, quantizer=q) for q in CODEBOOKS})
            got = run_job(
                active_learning_job(
                    pool_i, pool_l, tests, fractions, ("qsa",), settings, seed=seed, segmenters=segmenters
                ),
                lambda e: None,
            )
            rows += [dict(asdict(r), seed=seed, ensemble=name) for r in got]
            print(f"seed {seed} ensemble {name} done after {time.time() - t0:.0f} s", flush=True)
    result = {
        "meta": {
            "seeds": sorted({r["seed"] for r in rows}),
            "settings": asdict(base),
            "n_pool": args.n_pool,
            "n_test": args.n_test,
            "image_size": args.size,
            "fractions": fractions,
            "seconds": round(time.time() - t0, 1),  # of this run (with --merge: of the rows it added)
            "merged": bool(args.merge),
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        },
        "ensemble": summarise(rows, "ensemble", lambda r: r["segmenter"] == "7bit"),
        "segmentation": summarise(rows, "segmenter", lambda r: r["ensemble"] == "7bit"),
        "rows": rows,
    }
    write_result(out, result)
    plot(result, out.with_suffix(".png"), [bits_name(b) for b in bits] + list(CODEBOOKS))
    print_tables(result)
    print(f"wrote {out}")
    return 0


def summarise(rows: list[dict], key: str, keep) -> list[dict]:
    """Per setting: each metric at the last round and averaged over rounds 2+ (mean and std over
    seeds), and the pool's mean uncertainty averaged over the suggesting rounds."""
    sel = [r for r in rows if keep(r)]
    out = []
    for setting in dict.fromkeys(r[key] for r in sel):
        mine = [r for r in sel if r[key] == setting]
        last = max(r["round"] for r in mine)
        entry: dict = {key: setting}
        for m in ("object_f1", "object_dice", "object_hausdorff"):
            at_last = np.array([r[m] for r in mine if r["round"] == last], dtype=float)
            per_seed = [
                np.mean([r[m] for r in mine if r["seed"] == s and r["round"] > 1])
                for s in sorted({r["seed"] for r in mine})
            ]
            entry[f"{m}_last"] = float(at_last.mean())
            entry[f"{m}_last_std"] = float(at_last.std())
            entry[f"{m}_rounds_mean"] = float(np.mean(per_seed))
        unc = np.array([r["mean_uncertainty"] for r in mine], dtype=float)
        unc = unc[np.isfinite(unc)]
        entry["mean_uncertainty"] = float(unc.mean()) if len(unc) else float("nan")
        entry["by_round"] = {
            int(rnd): float(np.mean([r["object_f1"] for r in mine if r["round"] == rnd]))
            for rnd in sorted({r["round"] for r in mine})
        }
        out.append(entry)
    return out


def print_tables(result: dict) -> None:
    for part, key in (("ensemble", "ensemble"), ("segmentation", "segmenter")):
        print(
            f"\n{part}: bits | F1 at 50% | F1 rounds 2-5 | Dice at 50% | Hausdorff at 50% | mean uncertainty"
        )
        for e in result[part]:
            print(
                f"{e[key]:>6} | {e['object_f1_last']:.3f}±{e['object_f1_last_std']:.3f} | "
                f"{e['object_f1_rounds_mean']:.3f} | {e['object_dice_last']:.3f} | "
                f"{e['object_hausdorff_last']:.1f} | {e['mean_uncertainty']:.4f}"
            )


def plot(result: dict, path: Path, order: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ens = {e["ensemble"]: e for e in result["ensemble"]}
    seg = {e["segmenter"]: e for e in result["segmentation"]}
    names = [n for n in order if n in ens]
    x = np.arange(len(names))
    axes[0].bar(
        x, [ens[n]["object_f1_rounds_mean"] for n in names], color="#4c72b0", label="mean of rounds 2-5"
    )
    axes[0].plot(x, [ens[n]["object_f1_last"] for n in names], "ko", label="at 50% labelled")
    axes[0].set_title("QSA ensemble bits → object F1 (7-bit seg FCN)", fontsize=10)
    axes[1].bar(x, [ens[n]["mean_uncertainty"] for n in names], color="#dd8452")
    axes[1].set_title("QSA ensemble bits → diversity (mean pool uncertainty)", fontsize=10)
    names_s = [n for n in order if n in seg]
    xs = np.arange(len(names_s))
    axes[2].bar(
        xs, [seg[n]["object_f1_rounds_mean"] for n in names_s], color="#55a868", label="mean of rounds 2-5"
    )
    axes[2].plot(xs, [seg[n]["object_f1_last"] for n in names_s], "ko", label="at 50% labelled")
    axes[2].set_title("QNT segmentation bits → object F1", fontsize=10)
    for ax, labels, xx in ((axes[0], names, x), (axes[1], names, x), (axes[2], names_s, xs)):
        ax.set_xticks(xx, labels)
        ax.grid(alpha=0.3, axis="y")
    lo = min(
        min(e["object_f1_rounds_mean"], e["object_f1_last"])
        for e in result["ensemble"] + result["segmentation"]
    )
    for ax in (axes[0], axes[2]):
        ax.set_ylim(max(0.0, lo - 0.1), 1.12)  # headroom: the legend sits above the bars
        ax.legend(fontsize=8, loc="upper center", ncol=2)
    finish_figure(
        fig,
        path,
        f"Quantization ablation on generated glands ({result['meta']['n_pool']} pool, "
        f"{result['meta']['n_test']} test, seeds {result['meta']['seeds']})",
    )


if __name__ == "__main__":
    sys.exit(main())
