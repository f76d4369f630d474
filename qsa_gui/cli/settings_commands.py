"""``qsa settings PROJECT [KEY=VALUE ...] [--preset NAME]``: show and change a project's settings."""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..core.errors import ProjectError
from .common import open_project


def _stored_settings(project):
    """The project's Settings without the device check: a project made on a GPU machine must stay
    fixable here (``device=none``); a bad stored value is a ProjectError naming project.json."""
    from ..core.settings import Settings

    try:
        return Settings.from_dict(project.settings)
    except (ValueError, TypeError) as exc:
        raise ProjectError(f"{project.manifest_path}: {str(exc)[:300]}") from None


def _print_settings(project, settings, estimate: bool) -> None:
    from ..core.settings_presets import describe_value, matching_preset

    preset = matching_preset(settings)
    print(f"project {project.name} at {project.folder}")
    print(f"  settings preset: {preset.name if preset else 'custom (matches no preset)'}")
    for f in fields(settings):
        print(f"  {f.name} = {describe_value(getattr(settings, f.name))}")
    if not estimate:
        return
    from ..core.workflow.estimate import estimate_jobs

    try:
        settings.check_device()
        estimates = estimate_jobs(project, settings)
    except ValueError as exc:
        print(f"  estimated times: unavailable ({exc})")
        return
    for job in ("suggest", "retrain"):
        est = estimates[job]
        if est.seconds <= 0:  # the job cannot run yet: say why instead of a number
            print(f"  estimated {job}: {est.detail}")
        else:
            print(f"  estimated {job}: {est.text} on this machine ({est.detail})")


def cmd_settings(args: argparse.Namespace) -> int:
    from ..core.settings_presets import apply_changes, get_settings_preset, parse_assignments

    changes = parse_assignments(args.assignments)  # a bad KEY=VALUE fails before any lock is taken
    preset = get_settings_preset(args.preset) if args.preset else None
    if preset is None and not changes:
        with open_project(args.project, read_only=True) as project:  # a snapshot, beside a running job
            _print_settings(project, _stored_settings(project), not args.no_estimate)
        return 0
    with open_project(args.project) as project:  # the writer lock: refused while a job runs
        settings = _stored_settings(project)
        if preset is not None:
            settings = preset.apply(settings)
        settings = apply_changes(settings, changes)
        if "device" in changes:
            settings.check_device()
        project.set_settings(settings.to_dict())
        parts = ([f"preset {preset.name}"] if preset else []) + ([", ".join(changes)] if changes else [])
        print(f"saved settings: {' + '.join(parts)}")
        _print_settings(project, settings, not args.no_estimate)
    return 0


def add_settings_parser(add) -> None:
    """The ``settings`` sub-command (``add`` is main.py's helper)."""
    from ..core.settings_presets import SETTINGS_PRESETS

    sp = add(
        "settings",
        cmd_settings,
        "show the project's settings and estimated times, or change them (KEY=VALUE, --preset)",
    )
    sp.add_argument("project")
    sp.add_argument(
        "assignments",
        nargs="*",
        metavar="KEY=VALUE",
        help="e.g. iterations=200 ensemble_bits=float device=none ('none' clears an optional value)",
    )
    sp.add_argument(
        "--preset",
        metavar="NAME",
        help="apply a settings preset first; "
        + "; ".join(p.description for p in SETTINGS_PRESETS.values())
        + " (the model width alone is the key preset=..., e.g. preset=small)",
    )
    sp.add_argument(
        "--no-estimate", action="store_true", help="skip the estimated times (they time this device once)"
    )


__all__ = ["add_settings_parser", "cmd_settings"]
