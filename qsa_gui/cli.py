"""`qsa`: the command-line shell over the core jobs, with a terminal progress bar.

Bad input exits with status 2 and one line on stderr; Ctrl-C cancels the running job at its next
safe point, which leaves the project as it was before the job started (a second Ctrl-C quits at
once, status 130). A closed output pipe (``qsa status p | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from .cli_tools import bits_arg as _bits_arg
from .cli_tools import drive as _drive_job
from .cli_tools import find_image as _find_image
from .cli_tools import int_at_least as _int_at_least
from .cli_tools import json_safe as _json_safe
from .cli_tools import quit_now as _quit_now
from .cli_tools import run_command as _run_command
from .core.errors import InputFileError, QSAError
from .core.jobs import CancelToken, EtaEstimator, Job, Progress


class TerminalProgress:
    """A one-line progress bar with stage, message and ETA (plain lines when not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.eta = EtaEstimator()
        self.tty = self.stream.isatty()
        self._last_stage = ""
        self._last_pct = -10
        self._last_len = 0

    def __call__(self, event: Progress) -> None:
        frac = min(max(event.fraction, 0.0), 1.0)
        eta = EtaEstimator.format(self.eta.eta(frac))
        metrics = " ".join(f"{k} {v:.3g}" for k, v in list(event.metrics.items())[:3])
        text = (
            f"{event.stage}"
            + (f" — {event.message}" if event.message else "")
            + (f" [{metrics}]" if metrics else "")
        )
        if self.tty:
            filled = int(round(frac * self.width))
            bar = "█" * filled + "·" * (self.width - filled)
            cols = shutil.get_terminal_size((100, 20)).columns
            line = f"\r{bar} {frac:4.0%} ETA {eta:>8}  {text}"[: cols + 1]
            pad = max(0, self._last_len - len(line))
            self.stream.write(line + " " * pad)
            self._last_len = len(line)
            self.stream.flush()
        else:
            pct = int(frac * 100)
            if event.stage != self._last_stage or pct >= self._last_pct + 10:
                self.stream.write(f"[{pct:3d}%] ETA {eta}  {text}\n")
                self._last_stage, self._last_pct = event.stage, pct
                self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last_len:
            self.stream.write("\n")
            self.stream.flush()


def _open(path: str, *, read_only: bool = False):
    from qsa_gui.core.project.store import Project

    return Project.open(path, read_only=read_only)


def _settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The knobs given on the command line; ``float`` bits become ``None`` (kept: float weights)."""
    keys = ("preset", "strategy", "k", "ensemble_size", "iterations", "seed", "device")
    out = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    for name in ("ensemble_bits", "seg_bits"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = None if value == "float" else int(value)
    return out


def _with_overrides(settings, args: argparse.Namespace):
    """``dataclasses.replace``, not ``Settings.updated``: that drops ``None``, i.e. float bits."""
    from dataclasses import replace

    return replace(settings, **_settings_overrides(args))


def _drive(job_factory: Callable[[CancelToken], Job[Any]], quiet: bool = False) -> Any:
    return _drive_job(job_factory, None if quiet else TerminalProgress())


def cmd_init(args: argparse.Namespace) -> int:
    from qsa_gui.core.project.store import Project

    from .core.settings import Settings

    settings = _with_overrides(Settings(), args)
    project = Project.create(args.project, name=args.name, settings=settings.to_dict())
    project.close()
    print(f"created project {project.folder}")
    return 0


def _expand(paths: Sequence[str]) -> list[Path]:
    """Files as given; folders replaced by their supported image files, sorted by name."""
    from qsa_gui.core.data.images import SUPPORTED_SUFFIXES

    def is_image(f: Path) -> bool:
        name = f.name.lower()
        return f.is_file() and any(name.endswith(suffix) for suffix in SUPPORTED_SUFFIXES)

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if is_image(f))
            if not found:
                kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
                raise InputFileError(p, f"no images found in this folder (supported: {kinds})")
            out.extend(found)
        else:
            out.append(p)
    return out


def cmd_import(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.transfer import import_job

    project = _open(args.project)
    with project:
        batches: list[tuple[list[Path], str, dict[str, str] | None, bool]] = []
        if args.glas:
            from qsa_gui.core.data.glas import read_glas_folder

            ds = read_glas_folder(args.glas)
            train_labels = {str(i.image_path): str(i.label_path) for i in ds.train if i.label_path}
            test = ds.test_a + ds.test_b
            batches.append(
                ([i.image_path for i in ds.train], "pool", train_labels if args.with_labels else None, True)
            )
            batches.append(
                (
                    [i.image_path for i in test],
                    "test",
                    {str(i.image_path): str(i.label_path) for i in test if i.label_path},
                    True,
                )
            )
        else:
            labels, paths = None, _expand(args.paths)
            if args.labels:
                from qsa_gui.core.data.matching import match_label_folder

                match = match_label_folder(paths, args.labels)  # exact stems; ambiguity raises
                labels = {str(img): str(lab) for img, lab in match.pairs.items()}
                as_labels = set(match.labels_given_as_images)
                paths = [p for p in paths if p not in as_labels]  # a label file is no image
                for what, files in (
                    ("images without labels", match.unlabelled),
                    ("label files not used", match.unused),
                    ("imported as labels, not as images", match.labels_given_as_images),
                ):
                    if files:
                        print(f"{what} ({len(files)}): {', '.join(f.name for f in files)}")
            batches.append((paths, "test" if args.test else "pool", labels, not args.no_copy))
        n_before = len(project.images)
        try:
            reports = [
                _drive(lambda c, b=b: import_job(project, b[0], c, copy=b[3], split=b[1], labels=b[2]), True)
                for b in batches
            ]
        except Cancelled:  # each file is committed when imported: say what stays
            n = len(project.images) - n_before
            raise Cancelled(
                f"import cancelled with Ctrl-C: {n} image(s) imported before the cancel stay in the project"
                if n
                else "import cancelled with Ctrl-C before any image was imported: nothing was changed"
            ) from None
    added = sum(len(r.added) for r in reports)
    skipped = [s for r in reports for s in r.skipped]
    print(f"imported {added} images into {project.folder}")
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return 0 if added or not skipped else 2


def cmd_status(args: argparse.Namespace) -> int:
    project = _open(args.project, read_only=True)  # a snapshot: works beside a running job
    with project:
        rows = project.images
        counts: dict[str, int] = {}
        for r in rows:
            counts[f"{r.split}/{r.status}"] = counts.get(f"{r.split}/{r.status}", 0) + 1
        print(f"project {project.name} at {project.folder}")
        print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
        print(f"  model: {project.current_model or 'none yet'}; rounds: {len(project.rounds)}")
        if args.json:
            print(json.dumps([r.__dict__ for r in rows], default=str, indent=1))
            return 0
        print(f"{'id':<10} {'split':<5} {'status':<12} {'rank':>4} {'uncert.':>8} {'repr.':>6}  name")
        for r in rows:
            s = r.suggestion or {}
            rank = f"#{s['rank']}" if "rank" in s and r.status == "unlabelled" else ""
            unc = f"{s['uncertainty']:.4f}" if rank else ""
            rep = f"{s['representativeness']:.3f}" if rank else ""
            print(f"{r.id:<10} {r.split:<5} {r.status:<12} {rank:>4} {unc:>8} {rep:>6}  {r.name}")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from qsa_gui.core.data.images import read_labels

    if args.history:
        with _open(args.project, read_only=True) as project:
            rec = _find_image(project, args.image)
            print(f"{rec.id} ({rec.name}): {len(rec.label_versions)} label versions")
            for v in project.label_versions(rec.id):
                note = f"  (restored from {v['restored_from']})" if v.get("restored_from") else ""
                objects = "?" if v.get("objects") is None else v["objects"]
                state = "done" if v.get("done") else "draft"
                print(f"  v{v['version']:<3} {state:<5} {objects!s:>4} objects  {v['by']}  {v['at']}{note}")
        return 0
    project = _open(args.project)
    with project:
        rec = _find_image(project, args.image)
        if args.restore is not None:
            entry = project.restore_labels(rec.id, args.restore, user=args.user)
            print(
                f"{rec.id} ({rec.name}): restored version {args.restore} as version {entry['version']}, "
                f"status {project.image(rec.id).status}"
            )
            return 0
        if args.labels is None:
            raise QSAError("give a label image file, --history or --restore N")
        labels = read_labels(args.labels, expected_shape=tuple(rec.shape))
        project.save_labels(rec.id, labels, done=not args.draft, user=args.user)
        print(
            f"{rec.id} ({rec.name}): {int(labels.max())} objects saved, status {project.image(rec.id).status}"
        )
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.common import project_settings
    from qsa_gui.core.workflow.suggest import suggest_job

    project = _open(args.project)
    with project:
        if not any(r.split == "pool" for r in project.images):
            raise QSAError(
                f"project {project.folder} has no images to suggest from; import some first with "
                f"`qsa import {args.project} IMAGES_OR_FOLDER`"
            )
        settings = _with_overrides(project_settings(project), args)
        settings.check_device()
        result = _drive(lambda c: suggest_job(project, settings, c), args.quiet)
        rnd = result.round
        note = " (scores reused: labels unchanged)" if result.reused_scores else ""
        print(f"round {rnd.index}: strategy {rnd.strategy}, {len(rnd.image_ids)} images to label next{note}")
        for image_id in rnd.image_ids:
            s = rnd.scores[image_id]
            print(
                f"  #{s['rank']:<3} {image_id:<10} uncertainty {s['uncertainty']:.4f}  "
                f"representativeness {s['representativeness']:.3f}  {project.image(image_id).name}"
            )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.common import project_settings
    from qsa_gui.core.workflow.retrain import retrain_job

    project = _open(args.project)
    with project:
        settings = _with_overrides(project_settings(project), args)
        settings.check_device()
        result = _drive(lambda c: retrain_job(project, settings, c, start_from=args.start_from), args.quiet)
        v = result.version
        m = {k: round(x, 4) for k, x in v.metrics.items() if isinstance(x, float)}
        print(f"model {v.version}: {v.reason}")
        print(f"  held-out metrics: {m}")
        if result.previous_metrics:
            old = {k: round(x, 4) for k, x in result.previous_metrics.items()}
            print(f"  current model on the same images: {old}")
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.common import project_settings
    from qsa_gui.core.workflow.predict import segment_job

    project = _open(args.project)
    with project:
        ids = [_find_image(project, k).id for k in args.images] if args.images else None
        settings = project_settings(project)
        settings.check_device()
        out = _drive(lambda c: segment_job(project, ids, settings, c), args.quiet)
        for image_id, labels in out.items():
            print(f"{image_id}: {int(labels.max())} glands")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.common import project_settings
    from qsa_gui.core.workflow.predict import evaluate_job

    project = _open(args.project)
    with project:
        settings = project_settings(project)
        settings.check_device()
        metrics = _drive(lambda c: evaluate_job(project, args.split, settings, c), args.quiet)
    print(json.dumps(_json_safe(metrics), indent=2, allow_nan=False))
    odd = sorted(k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v))
    if odd:
        print(
            f"qsa: note: {', '.join(odd)} not finite (e.g. no gland found or none in the ground truth); "
            "written as null",
            file=sys.stderr,
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The GUI's export job (``transfer.export_job``): the same files from both shells."""
    from qsa_gui.core.workflow.transfer import export_job

    project = _open(args.project, read_only=True)
    with project:
        report = _drive(lambda c: export_job(project, args.out, c), True)
    model = f" and model {report.model_version}" if report.model_version else ""
    print(
        f"exported {report.n_labels} label images, {report.n_predictions} predictions, "
        f"annotations.csv{model} to {report.folder}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.demo_project import write_demo_project
    from qsa_gui.core.workflow.simulation import DemoConfig, demo_job

    if args.write_project:
        path = write_demo_project(args.write_project, seed=args.seed or 0)
        print(f"wrote demo project {path}")
        return 0
    config = DemoConfig.quick(seed=args.seed or 0) if args.quick else DemoConfig(seed=args.seed or 0)
    if args.strategies:
        from dataclasses import replace

        config = replace(config, strategies=tuple(s.strip() for s in args.strategies.split(",")))
    t0 = time.monotonic()
    result = _drive(lambda c: demo_job(config, c), args.quiet)
    print()
    st = config.settings
    print(
        f"qsa demo{' --quick' if args.quick else ''}: {config.n_pool} pool + {config.n_test} held-out test "
        f"images ({config.image_size}x{config.image_size}), preset {st.preset}, {st.ensemble_size} "
        f"suggestive FCNs at {st.ensemble_bits or 'float'} bits, "
        f"segmentation FCN at {st.seg_bits or 'float'} bits"
    )
    print(
        "object F1 / object Dice (higher is better) / object Hausdorff (px, lower is better) on the test set"
    )
    print(result.table())
    print(f"total {time.monotonic() - t0:.0f} s")
    if args.json:
        from dataclasses import asdict

        Path(args.json).write_text(json.dumps([asdict(r) for r in result.rows], indent=2))
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

    from .core.settings import Settings

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
    rows = _drive(
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qsa",
        description="Quantized suggestive annotation: which histology images to label next, "
        "and a quantized segmentation FCN retrained on your labels, offline.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    from .core.active import strategies as registry
    from .core.model.fcn import PRESETS
    from .core.quant.inq import MAX_BITS, MIN_BITS

    presets = sorted(PRESETS)
    preset_help = f"model width preset: {', '.join(presets)}"
    strategy_help = "; ".join(f"{s}: {registry.get_strategy(s).description}" for s in registry.STRATEGIES)
    bits_help = f"INQ bits ({MIN_BITS}..{MAX_BITS}) of the %s, or 'float' for float weights"

    def knobs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", choices=presets, help=preset_help)
        sp.add_argument(
            "--ensemble-bits", dest="ensemble_bits", type=_bits_arg, help=bits_help % "suggestive FCNs"
        )
        sp.add_argument("--seg-bits", dest="seg_bits", type=_bits_arg, help=bits_help % "segmentation FCN")
        sp.add_argument(
            "--ensemble-size",
            dest="ensemble_size",
            type=_int_at_least(1),
            help="number of suggestive FCNs (K)",
        )
        sp.add_argument("--iterations", type=_int_at_least(0), help="training iterations per model")
        sp.add_argument("--seed", type=int)
        sp.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sp = add("init", cmd_init, "create an empty project folder")
    sp.add_argument("project")
    sp.add_argument("--name")
    knobs(sp)
    sp.add_argument("--strategy", choices=registry.STRATEGIES, help=strategy_help)

    sp = add("import", cmd_import, "import images (files or folders; TIFF/OME-TIFF, PNG, JPEG, BMP)")
    sp.add_argument("project")
    sp.add_argument("paths", nargs="*")
    sp.add_argument(
        "--labels",
        help="folder of label images (imported as done). A label file matches an image whose name it "
        "repeats exactly (case ignored, suffix such as .png/.tif free), optionally followed by _anno, "
        "_label, _labels, _mask, _masks, -label, -labels, -mask or -masks: g1.png <- g1_anno.tif, "
        "never g12.tif. Two candidates for one image, or one label file for two images, is an error; "
        "images without labels and label files left unused are listed",
    )
    sp.add_argument("--test", action="store_true", help="import as held-out test images (need --labels)")
    sp.add_argument("--no-copy", action="store_true", help="reference the files instead of copying them")
    sp.add_argument("--glas", help="a GlaS challenge folder: train as the pool, testA/testB as test sets")
    sp.add_argument(
        "--with-labels", action="store_true", help="with --glas: import the train annotations too"
    )

    sp = add("status", cmd_status, "show every image's status and the latest suggestions (label-status)")
    sp.add_argument("project")
    sp.add_argument("--json", action="store_true")

    sp = add("label", cmd_label, "attach a label image (instance labels) to an image and mark it done")
    sp.add_argument("project")
    sp.add_argument("image", help="image id or file name")
    sp.add_argument("labels", nargs="?", help="label image file (0 = background, 1..N = glands)")
    sp.add_argument("--user", default=None)
    sp.add_argument("--draft", action="store_true", help="save without marking the image done")
    sp.add_argument("--history", action="store_true", help="list the kept versions of the image's labels")
    sp.add_argument("--restore", type=int, metavar="N", help="make label version N current (a new version)")

    sp = add("suggest", cmd_suggest, "train the suggestive ensemble and pick the images to label next")
    sp.add_argument("project")
    sp.add_argument("--strategy", choices=registry.STRATEGIES, help=strategy_help)
    sp.add_argument(
        "-k", type=_int_at_least(1), help="how many images to suggest, at least 1 (default: 10%% of the pool)"
    )
    knobs(sp)

    sp = add("train", cmd_train, "retrain the segmentation FCN on all labels (kept out if it is worse)")
    sp.add_argument("project")
    sp.add_argument("--from", dest="start_from", help="fine-tune from this earlier model version")
    knobs(sp)

    sp = add("segment", cmd_segment, "segment images with the current model (default: all unlabelled)")
    sp.add_argument("project")
    sp.add_argument("images", nargs="*")
    sp.add_argument("-q", "--quiet", action="store_true")

    sp = add("evaluate", cmd_evaluate, "GlaS metrics of the current model on labelled test images")
    sp.add_argument("project")
    sp.add_argument("--split", default="test")
    sp.add_argument("-q", "--quiet", action="store_true")

    sp = add("export", cmd_export, "export labels (and predictions) as TIFF and the current model")
    sp.add_argument("project")
    sp.add_argument("out")
    sp.add_argument(
        "--predictions", action="store_true", help="kept for old scripts: predictions are always exported"
    )

    sp = add("demo", cmd_demo, "the whole loop on generated glands: QSA vs random, 10%% to 50%% labelled")
    sp.add_argument("--quick", action="store_true", help="a smaller run that finishes in under a minute")
    sp.add_argument("--seed", type=int)
    sp.add_argument(
        "--strategies",
        help=f"comma-separated, from {','.join(s for s in registry.STRATEGIES if s != 'diverse')}",
    )
    sp.add_argument("--json", help="also write the table rows as JSON here")
    sp.add_argument(
        "--write-project", metavar="FOLDER", help="instead: write a demo project folder to open in the GUI"
    )
    sp.add_argument("-q", "--quiet", action="store_true")

    sp = add("glas", cmd_glas, "reproduce the paper's GlaS table from a GlaS challenge folder (GPU advised)")
    sp.add_argument("folder", help="folder with train_N.bmp, train_N_anno.bmp, testA_*, testB_*, Grade.csv")
    sp.add_argument("--preset", default="paper", choices=presets, help=preset_help)
    sp.add_argument("--strategies", default="qsa,full", help="e.g. qsa,random,full (full = 100%% reference)")
    sp.add_argument("--fractions", default="0.1,0.2,0.3,0.4,0.5")
    sp.add_argument("--iterations", type=int, default=4000)
    sp.add_argument("--patch-size", dest="patch_size", type=int, default=448)
    sp.add_argument("--batch-size", dest="batch_size", type=int, default=8)
    sp.add_argument("--seg-models", dest="seg_models", type=int, default=5)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--device")
    sp.add_argument("--json")
    sp.add_argument("-q", "--quiet", action="store_true")
    return p


def _tolerant_streams() -> None:
    """Never fail on printing: file names need not be valid in the terminal's encoding."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that refuses
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit 0 ok, 2 bad input / file / project problem (one line on stderr),
    130 cancelled, 1 an internal error (one line too; QSA_DEBUG=1 shows the traceback)."""
    try:  # everything, imports and parsing included, inside the Ctrl-C handler
        _tolerant_streams()
        args = build_parser().parse_args(argv)
        return _run_command(args.func, args)
    except KeyboardInterrupt:
        # Outside a job (start-up, imports, parsing, plain file work): nothing was committed by us.
        signal.signal(signal.SIGINT, _quit_now)
        print("qsa: cancelled with Ctrl-C", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
