"""Label efficiency: object F1 / Dice / Hausdorff per round for each selection strategy.

Simulated annotation (the ground truth answers every suggestion) from 10% to 50% of the pool, on
generated glands, the real nuclei stack and real H&E nuclei (he_nuclei) in ../shared/data.

The protocol (issue 13): the seed varies the pool order, the initial set, the ensembles and the
segmentation FCN's initialisation; within a seed every strategy starts from the same initial set
(stored in each result) with the same recipe; ``full`` is the 100% reference at equal training
budget. Each (strategy, seed) run is one file,
``benchmarks/results/label_efficiency/<dataset>[_<tag>]/<strategy>-seed<N>.json``, written as soon as
it ends and skipped when it exists (``--force`` reruns), so seeds run in parallel and across
sessions; ``benchmarks/protocol.py`` merges them (CI, paired differences, AULC, plots).

    python benchmarks/bench_label_efficiency.py --dataset he_nuclei --seeds 0 1 2 --strategies random,qsa
    python benchmarks/protocol.py benchmarks/results/label_efficiency/he_nuclei
    python benchmarks/bench_label_efficiency.py --smoke          # seconds; used by the tests
    python benchmarks/bench_label_efficiency.py --merge /tmp/s0.json /tmp/s1.json ...  # older files
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import finish_figure  # noqa: E402

from qsa_gui.core.atomic import atomic_write_json  # noqa: E402
from qsa_gui.core.data.he_nuclei import find_he_nuclei, load_he_nuclei  # noqa: E402
from qsa_gui.core.data.synth import generate_dataset  # noqa: E402
from qsa_gui.core.jobs import run_job  # noqa: E402
from qsa_gui.core.settings import Settings  # noqa: E402
from qsa_gui.core.workflow.simulation import DemoConfig, active_learning_job, initial_set  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PROTOCOL = RESULTS / "label_efficiency"
# seconds-long runs for the smoke tests: the loop's every step, none of its accuracy
SMOKE_SETTINGS = Settings(
    preset="tiny",
    ensemble_size=2,
    iterations=4,
    ensemble_iterations=2,
    inq_iterations=1,
    batch_size=2,
    patch_size=32,
    tile=64,
)
# the smallest budget that still learns something (the first measurements on 2 shared cores)
SMALL_SETTINGS = Settings(
    preset="tiny",
    ensemble_size=3,
    iterations=40,
    ensemble_iterations=20,
    finetune_iterations=20,
    inq_iterations=3,
    batch_size=4,
    patch_size=64,
    tile=128,
)
BUDGETS = {
    "demo": DemoConfig().settings,
    "quick": DemoConfig.quick().settings,
    "small": SMALL_SETTINGS,
    "smoke": SMOKE_SETTINGS,
}
SHARED = [ROOT.parent / "shared" / "data", Path("/work/shared/data")]
ALL_STRATEGIES = "random,stratified,qsa,qsa_centred,sa,uncertainty,mc_dropout,full"


def gland_data(n_pool: int, n_test: int, size: int, seed: int):
    """Mostly benign, a minority malignant, three stain styles (the demo's generator)."""
    data = generate_dataset(n_pool + n_test, seed=1000 + seed, size=(size, size), malignant_fraction=0.3)
    imgs = [d.image.astype(np.float32) / 255.0 for d in data]
    labs = [d.labels for d in data]
    return imgs[:n_pool], labs[:n_pool], {"test": (imgs[n_pool:], labs[n_pool:])}


def nuclei_data():
    """2-D slices of the real nuclei stack; train and test are separate slabs (no leakage)."""
    import tifffile

    folder = next((p / "nuclei3d" for p in SHARED if (p / "nuclei3d" / "nuclei.tif").is_file()), None)
    if folder is None:
        raise SystemExit("nuclei data not found next to the repository (../shared/data/nuclei3d)")
    raw = tifffile.imread(folder / "nuclei.tif").astype(np.float32)
    lab = tifffile.imread(folder / "nuclei_label.tif").astype(np.int32)
    lo, hi = np.percentile(raw, [0.5, 99.8])
    norm = np.clip((raw - lo) / (hi - lo), 0, 1)

    def rgb(i: int) -> np.ndarray:
        return np.repeat(norm[i][..., None], 3, axis=2)

    pool = list(range(16, 44))  # slab 1
    test = list(range(47, 54))  # slab 2, two slices apart
    return (
        [rgb(i) for i in pool],
        [lab[i] for i in pool],
        {"test": ([rgb(i) for i in test], [lab[i] for i in test])},
    )


def he_nuclei_data(tile: int, test_rows: int):
    """Real H&E tiles of two tissue types; the test set is a separate block of each image."""
    folder = find_he_nuclei(SHARED)
    if folder is None:
        raise SystemExit("he_nuclei data not found next to the repository (../shared/data/he_nuclei)")
    p = load_he_nuclei(folder, tile=tile, test_rows=test_rows)
    return p.pool_images, p.pool_labels, {"test": (p.test_images, p.test_labels)}


def load_data(args: argparse.Namespace, seed: int):
    """The dataset, its pool in this seed's order (the seed varies the pool order too)."""
    if args.dataset == "glands":
        pool_i, pool_l, tests = gland_data(args.n_pool, args.n_test, args.size, seed)
    elif args.dataset == "nuclei":
        pool_i, pool_l, tests = nuclei_data()
    else:
        pool_i, pool_l, tests = he_nuclei_data(args.tile, args.test_rows)
    order = np.random.default_rng(10_000 + seed).permutation(len(pool_i))
    return [pool_i[i] for i in order], [pool_l[i] for i in order], tests


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["glands", "nuclei", "he_nuclei"], default="glands")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategies", default=ALL_STRATEGIES, help="comma-separated; full = 100%% reference")
    ap.add_argument("--segmenters", default="7bit", help="float and/or 7bit segmentation FCNs")
    ap.add_argument("--budget", choices=sorted(BUDGETS), default="demo", help="training settings")
    ap.add_argument("--fractions", default="0.1,0.2,0.3,0.4,0.5")
    ap.add_argument("--initial", choices=["random", "typical"], default="random", help="first 10%% set")
    ap.add_argument("--n-pool", type=int, default=80, help="glands: pool images")
    ap.add_argument("--n-test", type=int, default=20, help="glands: test images")
    ap.add_argument("--size", type=int, default=160, help="glands: image side")
    ap.add_argument("--tile", type=int, default=150, help="he_nuclei: tile side")
    ap.add_argument("--test-rows", type=int, default=2, help="he_nuclei: tile rows per image held out")
    ap.add_argument("--tag", default="", help="suffix of the results folder (a variant of the protocol)")
    ap.add_argument("--results-dir", default=None, help="per-seed files here (default: see above)")
    ap.add_argument("--force", action="store_true", help="rerun (strategy, seed) pairs already on disk")
    ap.add_argument("--smoke", action="store_true", help="tiny run (tests): 2 strategies, 1 seed")
    ap.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override base settings (JSON values, e.g. score_scale=1.0 ensemble_patience=null)",
    )
    ap.add_argument("--out", default=None, help="also write one combined file (+ PNG) of this run")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="combine earlier combined result files")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    base = BUDGETS[args.budget]
    fractions = tuple(float(f) for f in args.fractions.split(","))
    if args.smoke:
        base = SMOKE_SETTINGS
        args.seeds, args.strategies, args.segmenters, args.dataset = [0], "random,qsa", "float,7bit", "glands"
        args.n_pool, args.n_test, args.size, fractions = 6, 2, 64, (0.2, 0.5)
        args.out = args.out or str(RESULTS / "label_efficiency_glands_smoke.json")
    folder_name = args.dataset + (f"_{args.tag}" if args.tag else "")
    if args.results_dir:
        folder = Path(args.results_dir)
    elif args.smoke:
        folder = Path(args.out).with_suffix("")  # never mixed into the protocol's results
    else:
        folder = PROTOCOL / folder_name
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    base = replace(base, **overrides)
    variants = {
        name: replace(base, seg_bits=None if name == "float" else int(name.rstrip("bit")))
        for name in args.segmenters.split(",")
    }
    strategies = [s.strip() for s in args.strategies.split(",")]
    rows, t0 = [], time.time()
    for seed in args.seeds:
        pool_i, pool_l, tests = load_data(args, seed)
        settings = replace(base, seed=seed, tile=max(base.tile, 64))
        counts0 = max(1, int(round(fractions[0] * len(pool_i))))
        first = initial_set(pool_i, counts0, args.initial, seed)
        for strategy in strategies:
            path = folder / f"{strategy}-seed{seed}.json"
            if path.is_file() and not args.force:
                data = json.loads(path.read_text())
                rows += [dict(r, seed=seed) for r in data["rows"]]
                print(f"{path.name}: on disk, skipped", flush=True)
                continue
            t1 = time.time()
            job = active_learning_job(
                pool_i,
                pool_l,
                tests,
                fractions,
                (strategy,),
                settings,
                seed=seed,
                segmenters=variants,
                initial=first,
            )
            got = [asdict(r) for r in run_job(job, lambda e: None)]
            meta = {
                "dataset": args.dataset,
                "tag": args.tag,
                "strategy": strategy,
                "seed": seed,
                "initial": args.initial,
                "initial_indices": first,
                "segmenters": list(variants),
                "budget": args.budget,
                "settings": asdict(settings),
                "n_pool": len(pool_i),
                "n_test": len(next(iter(tests.values()))[0]),
                "fractions": fractions,
                "seconds": round(time.time() - t1, 1),
                "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
            }
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, {"meta": meta, "rows": got})
            rows += [dict(r, seed=seed) for r in got]
            f1 = ", ".join(f"{r['object_f1']:.3f}" for r in got)
            print(f"{path.name}: {time.time() - t1:.0f} s, object F1 per round {f1}", flush=True)
    if args.out:
        meta = {
            "dataset": args.dataset,
            "seeds": args.seeds,
            "strategies": strategies,
            "segmenters": list(variants),
            "settings": asdict(base),
            "n_pool": len(pool_i),
            "n_test": len(next(iter(tests.values()))[0]),
            "fractions": fractions,
            "seconds": round(time.time() - t0, 1),
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        }
        write(Path(args.out), meta, rows)
    else:
        from protocol import report

        report(folder)
    return 0


def write(out: Path, meta: dict, rows: list[dict]) -> None:
    summary = summarise(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1, default=float))
    plot(summary, out.with_suffix(".png"), meta, rows)
    print_table(summary)
    print(f"wrote {out}")


def merge(files: list[str], out_path: str | None) -> int:
    """One result from several runs (e.g. one process per seed on a multi-core machine)."""
    by_key: dict[tuple, dict] = {}
    metas = []
    for f in files:
        data = json.loads(Path(f).read_text())
        metas.append(data["meta"])
        for r in data["rows"]:
            by_key[(r["strategy"], r["segmenter"], r["round"], r["seed"], r.get("test_set"))] = r
    rows = sorted(by_key.values(), key=lambda r: (r["seed"], r["strategy"], r["segmenter"], r["round"]))
    meta = dict(metas[-1])
    meta["seeds"] = sorted({r["seed"] for r in rows})
    meta["strategies"] = list(dict.fromkeys(r["strategy"] for r in rows))
    meta["seconds"] = round(sum(m["seconds"] for m in metas), 1)
    meta["merged_from"] = [Path(f).name for f in files]
    out = Path(out_path) if out_path else RESULTS / f"label_efficiency_{meta['dataset']}.json"
    write(out, meta, rows)
    return 0


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds per (strategy, segmenter, round)."""
    keys = sorted({(r["strategy"], r["segmenter"], r["round"]) for r in rows})
    out = []
    for strategy, seg, rnd in keys:
        sel = [r for r in rows if (r["strategy"], r["segmenter"], r["round"]) == (strategy, seg, rnd)]
        entry = {
            "strategy": strategy,
            "segmenter": seg,
            "round": rnd,
            "fraction": sel[0]["fraction"],
            "n": len(sel),
        }
        for m in ("object_f1", "object_dice", "object_hausdorff", "pixel_dice", "mean_uncertainty"):
            vals = np.array([r.get(m, np.nan) for r in sel], dtype=float)
            finite = vals[np.isfinite(vals)]
            entry[m] = (
                float(finite.mean()) if len(finite) else float("inf" if m == "object_hausdorff" else "nan")
            )
            entry[m + "_std"] = float(finite.std()) if len(finite) > 1 else 0.0
        out.append(entry)
    return out


def print_table(summary: list[dict]) -> None:
    print(f"{'strategy':<12} {'seg':<6} {'labelled':>8} {'F1':>13} {'Dice':>13} {'Hausdorff':>15}")
    for e in summary:
        print(
            f"{e['strategy']:<12} {e['segmenter']:<6} {e['fraction']:>8.0%} "
            f"{e['object_f1']:6.3f}±{e['object_f1_std']:.3f} "
            f"{e['object_dice']:6.3f}±{e['object_dice_std']:.3f} "
            f"{e['object_hausdorff']:7.1f}±{e['object_hausdorff_std']:5.1f}"
        )


def paired_diffs(
    rows: list[dict], strategy: str, seg: str, rnd: int, metric: str = "object_f1"
) -> list[float]:
    """(strategy − random) per seed at round ``rnd``, each seed against its own random run. Seeds
    differ in data as much as in selection, so the paired difference is what separates strategies."""
    random = {
        r["seed"]: r for r in rows if (r["strategy"], r["segmenter"], r["round"]) == ("random", seg, rnd)
    }
    return [
        r[metric] - random[r["seed"]][metric]
        for r in rows
        if (r["strategy"], r["segmenter"], r["round"]) == (strategy, seg, rnd) and r["seed"] in random
    ]


def paired_gain(rows: list[dict], strategy: str, seg: str) -> tuple[list[float], list[float], list[float]]:
    """Per round with paired seeds: the labelled fraction, and mean and std of :func:`paired_diffs`."""
    fractions, means, stds = [], [], []
    mine = {r["round"]: r["fraction"] for r in rows if (r["strategy"], r["segmenter"]) == (strategy, seg)}
    for rnd in sorted(mine):
        diffs = paired_diffs(rows, strategy, seg, rnd)
        if diffs:
            fractions.append(mine[rnd])
            means.append(float(np.mean(diffs)))
            stds.append(float(np.std(diffs)))
    return fractions, means, stds


def plot(summary: list[dict], path: Path, meta: dict, rows: list[dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segs = list(dict.fromkeys(e["segmenter"] for e in summary))
    metrics = [
        ("object_f1", "object F1 ↑"),
        ("object_dice", "object Dice ↑"),
        ("object_hausdorff", "object Hausdorff ↓"),
    ]
    strategies = list(dict.fromkeys(e["strategy"] for e in summary))
    paired = rows is not None and "random" in strategies
    n_cols = 4 if paired else 3
    fig, axes = plt.subplots(len(segs), n_cols, figsize=(4.4 * n_cols, 3.6 * len(segs)), squeeze=False)
    for si, seg in enumerate(segs):
        if paired:
            ax = axes[si][3]
            ax.axhline(0.0, color=f"C{strategies.index('random')}", lw=1, label="random")
            for k, strategy in enumerate(s for s in strategies if s not in ("random", "full")):
                x, y, sd = paired_gain(rows, strategy, seg)
                x = np.array(x) + 0.004 * (k - 2)  # small offsets keep the error bars apart
                color = f"C{strategies.index(strategy)}"
                ax.errorbar(x, y, yerr=sd, marker="o", capsize=3, label=strategy, color=color)
            ax.set_title(f"object F1 − random, same seed — {seg}", fontsize=10)
            ax.set_xlabel("fraction of the pool labelled")
            ax.grid(alpha=0.3)
        for mi, (m, title) in enumerate(metrics):
            ax = axes[si][mi]
            for strategy in strategies:
                pts = [e for e in summary if e["strategy"] == strategy and e["segmenter"] == seg]
                x = [e["fraction"] for e in pts]
                y = np.array([e[m] for e in pts])
                sd = np.array([e[m + "_std"] for e in pts])
                if strategy == "full":
                    # same rounds and training budget as the strategies; its last round is the reference
                    ax.axhline(y[-1], color="k", ls="--", lw=1, label="100% labelled")
                    continue
                color = f"C{strategies.index(strategy)}"
                ax.errorbar(x, y, yerr=sd, marker="o", capsize=3, label=strategy, color=color)
            ax.set_title(f"{title} — {seg} segmentation FCN", fontsize=10)
            ax.set_xlabel("fraction of the pool labelled")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if paired:
        axes[0][3].legend(fontsize=8)
    finish_figure(
        fig,
        path,
        f"Label efficiency on {meta['dataset']} ({meta['n_pool']} pool, {meta['n_test']} test images, "
        f"seeds {meta['seeds']}); mean ± std over seeds",
    )


if __name__ == "__main__":
    sys.exit(main())
