"""Commands that train or run models on a project: suggest, train, segment, evaluate."""

from __future__ import annotations

import argparse
import json
import math
import sys

from ..core.errors import QSAError
from .common import open_project, with_overrides
from .plumbing import find_image as _find_image
from .plumbing import json_safe as _json_safe
from .progress import run_with_progress


def cmd_suggest(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.common import project_settings
    from qsa_gui.core.workflow.suggest import suggest_job

    project = open_project(args.project)
    with project:
        if not any(r.split == "pool" for r in project.images):
            raise QSAError(
                f"project {project.folder} has no images to suggest from; import some first with "
                f"`qsa import {args.project} IMAGES_OR_FOLDER`"
            )
        settings = with_overrides(project_settings(project), args)
        settings.check_device()
        result = run_with_progress(lambda c: suggest_job(project, settings, c), args.quiet)
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

    project = open_project(args.project)
    with project:
        settings = with_overrides(project_settings(project), args)
        settings.check_device()
        result = run_with_progress(
            lambda c: retrain_job(project, settings, c, start_from=args.start_from), args.quiet
        )
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

    project = open_project(args.project)
    with project:
        ids = [_find_image(project, k).id for k in args.images] if args.images else None
        settings = project_settings(project)
        settings.check_device()
        out = run_with_progress(lambda c: segment_job(project, ids, settings, c), args.quiet)
        for image_id, labels in out.items():
            print(f"{image_id}: {int(labels.max())} glands")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from qsa_gui.core.workflow.common import project_settings
    from qsa_gui.core.workflow.predict import evaluate_job

    project = open_project(args.project)
    with project:
        settings = project_settings(project)
        settings.check_device()
        metrics = run_with_progress(lambda c: evaluate_job(project, args.split, settings, c), args.quiet)
    print(json.dumps(_json_safe(metrics), indent=2, allow_nan=False))
    odd = sorted(k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v))
    if odd:
        print(
            f"qsa: note: {', '.join(odd)} not finite (e.g. no gland found or none in the ground truth); "
            "written as null",
            file=sys.stderr,
        )
    return 0
