"""Commands on a project's images and labels: init, import, status, label, export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.errors import Cancelled, QSAError
from .common import expand_paths, open_project, with_overrides
from .plumbing import find_image as _find_image
from .progress import run_with_progress
from .slide_commands import print_slides, region_spec


def cmd_init(args: argparse.Namespace) -> int:
    from qsa_gui.core.project.store import Project

    from ..core.settings import Settings

    settings = with_overrides(Settings(), args)
    project = Project.create(args.project, name=args.name, settings=settings.to_dict())
    project.close()
    print(f"created project {project.folder}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.transfer import import_job

    project = open_project(args.project)
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
            labels, paths = None, expand_paths(args.paths)
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
        spec = region_spec(args) if hasattr(args, "region_size") else None
        slides = getattr(args, "slides", None)
        try:
            reports = [
                run_with_progress(
                    lambda c, b=b: import_job(
                        project, b[0], c, copy=b[3], split=b[1], labels=b[2], slides=slides, region_spec=spec
                    ),
                    True,
                )
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
    print_slides(reports)
    print(f"imported {added} images into {project.folder}")
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return 0 if added or not skipped else 2


def cmd_status(args: argparse.Namespace) -> int:
    project = open_project(args.project, read_only=True)  # a snapshot: works beside a running job
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
        with open_project(args.project, read_only=True) as project:
            rec = _find_image(project, args.image)
            print(f"{rec.id} ({rec.name}): {len(rec.label_versions)} label versions")
            for v in project.label_versions(rec.id):
                note = f"  (restored from {v['restored_from']})" if v.get("restored_from") else ""
                objects = "?" if v.get("objects") is None else v["objects"]
                state = "done" if v.get("done") else "draft"
                print(f"  v{v['version']:<3} {state:<5} {objects!s:>4} objects  {v['by']}  {v['at']}{note}")
        return 0
    project = open_project(args.project)
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


def cmd_export(args: argparse.Namespace) -> int:
    """The GUI's export job (``transfer.export_job``): the same files from both shells."""
    from qsa_gui.core.workflow.transfer import export_job

    project = open_project(args.project, read_only=True)
    with project:
        report = run_with_progress(lambda c: export_job(project, args.out, c), True)
    model = f" and model {report.model_version}" if report.model_version else ""
    print(
        f"exported {report.n_labels} label images, {report.n_predictions} predictions, "
        f"annotations.csv{model} to {report.folder}"
    )
    return 0
