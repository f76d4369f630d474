"""Simulated annotation on data with ground truth: `qsa demo` and `qsa glas` (the paper's table)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..core.errors import QSAError
from .progress import run_with_progress


def cmd_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from qsa_gui.core.workflow.demo_project import write_demo_project
    from qsa_gui.core.workflow.simulation import DemoConfig, demo_job

    if args.write_project:
        path = write_demo_project(args.write_project, seed=args.seed or 0)
        print(f"wrote demo project {path}")
        return 0
    seeds = (args.seed,) if args.seed is not None else tuple(args.seeds)
    config = DemoConfig.quick(seeds=seeds) if args.quick else DemoConfig(seeds=seeds)
    if args.strategies:
        config = replace(config, strategies=tuple(s.strip() for s in args.strategies.split(",")))
    from qsa_gui.core.parallel import default_workers

    workers = args.workers or default_workers(len(seeds))
    t0 = time.monotonic()
    result = run_with_progress(lambda c: demo_job(config, c, workers=workers), args.quiet)
    print()
    st = config.settings
    print(
        f"qsa demo{' --quick' if args.quick else ''}: per seed {config.n_pool} generated pool + "
        f"{config.n_test} held-out test images ({config.image_size}x{config.image_size}), preset "
        f"{st.preset}, {st.ensemble_size} suggestive FCNs at {st.ensemble_bits or 'float'} bits, "
        f"segmentation FCN at {st.seg_bits or 'float'} bits"
    )
    if args.per_seed or len(seeds) == 1:
        for seed in seeds:
            print(f"\nseed {seed}: object F1 / Dice (higher is better) / Hausdorff (px, lower is better)")
            print(result.seed_table(seed))
        print()
    print(
        f"object F1 on the test images over seeds {list(seeds)}: mean [95% CI], and the paired "
        "difference (same seed, same first labelled set)"
    )
    print(result.table())
    if "qsa" in config.strategies and "random" in config.strategies:
        print(result.verdict())
    jobs = len(seeds) * len(config.strategies)
    runs = f"{min(workers, jobs)} process(es) for {jobs} seed x strategy runs"
    print(f"total {time.monotonic() - t0:.0f} s ({runs})")
    if args.plot:
        from qsa_gui.paired_figure import write_paired_plot

        title = f"qsa demo: {config.n_pool} generated pool images, {len(seeds)} seeds"
        print(write_paired_plot(result, args.plot, title=title, what="held-out test images"))
    if args.json:
        from qsa_gui.core.atomic import atomic_write_json

        atomic_write_json(args.json, {"rows": result.rows, "seeds": list(seeds)})
    return 0


PAPER_TABLE = {
    # method.md: object F1 / object Dice / object Hausdorff on GlaS Test A | Test B
    "SA, 100% data (paper)": (0.921, 0.855, 0.904, 0.858, 44.736, 96.976),
    "QSA+QNT 7 bit, 5 seg FCNs (paper, approx.)": (0.930, 0.862, 0.914, 0.859, 41.8, 97.4),
}


def cmd_glas(args: argparse.Namespace) -> int:
    """Reproduce the paper's GlaS table: QSA to 50% of the training set, evaluated on Test A and B."""
    from qsa_gui.core.data.glas import read_glas_folder
    from qsa_gui.core.data.images import load_rgb, read_labels
    from qsa_gui.core.workflow.simulation import active_learning_job

    from ..core.settings import Settings

    ds = read_glas_folder(args.folder)
    train = [i for i in ds.train if i.label_path is not None]
    if not train or not ds.test_a or not ds.test_b:
        raise QSAError(f"{args.folder}: need annotated train, testA and testB images (GlaS layout)")

    def load(items):
        return [load_rgb(i.image_path) for i in items], [
            read_labels(i.label_path, expected_shape=None) for i in items
        ]

    pool_images, pool_labels = load(train)
    tests = {"Test A": load(ds.test_a), "Test B": load(ds.test_b)}
    settings = Settings(
        preset=args.preset,
        ensemble_size=5,
        seg_models=args.seg_models,
        iterations=args.iterations,
        ensemble_iterations=args.iterations,
        # the paper's recipe: members as wide and as long-trained as the segmentation FCN
        ensemble_preset=None,
        ensemble_patience=None,
        finetune_iterations=None,
        score_scale=1.0,
        inq_iterations=max(1, args.iterations // 5),
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        tile=512,
        overlap=64,
        seed=args.seed or 0,
        device=args.device,
    )
    strategies = tuple(s.strip() for s in args.strategies.split(","))
    fractions = tuple(float(f) for f in args.fractions.split(","))
    rows = run_with_progress(
        lambda c: active_learning_job(
            pool_images, pool_labels, tests, fractions, strategies, settings, seed=settings.seed, cancel=c
        ),
        args.quiet,
    )
    print(f"{'method':<44} {'F1 A':>6} {'F1 B':>6} {'Dice A':>7} {'Dice B':>7} {'Haus A':>7} {'Haus B':>7}")
    for name, v in PAPER_TABLE.items():
        print(f"{name:<44} {v[0]:6.3f} {v[1]:6.3f} {v[2]:7.3f} {v[3]:7.3f} {v[4]:7.2f} {v[5]:7.2f}")
    final = {}
    for r in rows:
        final[(r.strategy, r.test_set)] = r  # the last round of each strategy wins
    for strategy in strategies:
        a, b = final.get((strategy, "Test A")), final.get((strategy, "Test B"))
        if a is None or b is None:
            continue
        name = f"{strategy} {a.fraction:.0%} labelled (this run)"
        print(
            f"{name:<44} {a.object_f1:6.3f} {b.object_f1:6.3f} {a.object_dice:7.3f} {b.object_dice:7.3f} "
            f"{a.object_hausdorff:7.2f} {b.object_hausdorff:7.2f}"
        )
    if args.json:
        from dataclasses import asdict

        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Would the suggestions have saved labels here? QSA vs random on the project's own labels."""
    from qsa_gui.core.workflow.common import project_settings
    from qsa_gui.core.workflow.replay import replay_job

    from .common import open_project, with_overrides

    project = open_project(args.project, read_only=True)
    settings = with_overrides(project_settings(project), args)
    from qsa_gui.core.parallel import default_workers

    strategies = tuple(s.strip() for s in args.strategies.split(","))
    fractions = tuple(float(f) for f in args.fractions.split(","))
    workers = args.workers or default_workers(len(args.seeds) * len(strategies))
    result = run_with_progress(
        lambda c: replay_job(
            project,
            settings,
            strategies=strategies,
            seeds=tuple(args.seeds),
            fractions=fractions,
            test_fraction=args.test_fraction,
            workers=workers,
            cancel=c,
        ),
        args.quiet,
    )
    print()
    print(
        f"qsa replay: {result.n_pool} labelled pool images, {result.n_test} test images "
        f"({result.test_from}), seeds {list(result.seeds)}; object F1, mean [95% CI] over seeds, "
        "and the paired difference (same seed, same first set)"
    )
    print(result.table())
    plot_path = Path(args.plot or "replay.png")
    from qsa_gui.paired_figure import write_paired_plot

    title = f"qsa replay: {result.n_pool} pool, {result.n_test} test images, {len(result.seeds)} seeds"
    note = write_paired_plot(result, plot_path, title=title)
    print(note)
    if args.json:
        from qsa_gui.core.atomic import atomic_write_json

        atomic_write_json(args.json, {"rows": result.rows, "n_pool": result.n_pool, "n_test": result.n_test})
    return 0
