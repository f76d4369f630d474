"""Jobs named by a picklable spec: the verbs a worker process can run, and how to run one here.

Why: a job given as a closure over an open :class:`Project` cannot cross a process boundary. A
:class:`JobSpec` (verb, project folder, settings dict, plain arguments) can; :data:`VERBS` maps
each name to the same workflow job every shell runs, plus how its result travels back (a large
image's prediction is a memory map of a file, which must not be copied through a pipe).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .jobs import CancelToken, Job
from .settings import Settings

if TYPE_CHECKING:
    from .project.store import Project


@dataclass(frozen=True)
class JobSpec:
    """One job for a worker: ``verb`` of :data:`VERBS` on the project in ``folder``."""

    verb: str
    folder: str
    settings: dict[str, Any]
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, verb: str, project: Project, settings: Settings, **args: Any) -> JobSpec:
        if verb not in VERBS:
            raise ValueError(f"unknown job {verb!r}; known: {', '.join(sorted(VERBS))}")
        return cls(verb, str(project.folder), settings.to_dict(), dict(args))


@dataclass(frozen=True)
class Verb:
    """How to start one verb's job, and how its result is packed to travel and unpacked."""

    start: Callable[[Project, Settings, CancelToken | None, Mapping[str, Any]], Job[Any]]
    pack: Callable[[Any], Any] = lambda result: result
    unpack: Callable[[Project, Any], Any] = lambda _project, packed: packed


def _suggest(project: Project, settings: Settings, cancel: CancelToken | None, _args: Mapping) -> Job[Any]:
    from .workflow.suggest import suggest_job

    return suggest_job(project, settings, cancel)


def _retrain(project: Project, settings: Settings, cancel: CancelToken | None, args: Mapping) -> Job[Any]:
    from .workflow.retrain import retrain_job

    return retrain_job(project, settings, cancel, start_from=args.get("start_from"))


def _segment(project: Project, settings: Settings, cancel: CancelToken | None, args: Mapping) -> Job[Any]:
    from .workflow.predict import segment_job

    return segment_job(project, args.get("image_ids"), settings, cancel)


def _heatmap(project: Project, settings: Settings, cancel: CancelToken | None, args: Mapping) -> Job[Any]:
    from .workflow.heatmap import heatmap_job

    source = args.get("source", args.get("model_version"))  # a HeatmapSource (or a model version)
    return heatmap_job(project, args["image_id"], source, settings, cancel)


def _replay(project: Project, settings: Settings, cancel: CancelToken | None, args: Mapping) -> Job[Any]:
    import os

    from .parallel import default_workers
    from .workflow.replay import replay_job

    seeds = tuple(args.get("seeds", (0, 1, 2)))
    workers = default_workers(2 * len(seeds), max(1, (os.cpu_count() or 1) - 1))  # a core for the GUI
    return replay_job(project, settings, seeds=seeds, workers=workers, cancel=cancel)


def _segment_slide(
    project: Project, settings: Settings, cancel: CancelToken | None, args: Mapping
) -> Job[Any]:
    from .workflow.slide_segment import slide_segment_job

    return slide_segment_job(project, args["slide_id"], settings, cancel)


def _pack_segment(result: dict[str, Any]) -> dict[str, Any]:
    """Arrays travel; a memory-mapped (large) prediction becomes None, reopened by the parent."""
    import numpy as np

    return {k: (None if isinstance(v, np.memmap) else np.asarray(v)) for k, v in result.items()}


def _unpack_segment(project: Project, packed: dict[str, Any]) -> dict[str, Any]:
    import tifffile

    out = {}
    for image_id, labels in packed.items():
        if labels is None:  # committed by now: the parent's record names the adopted file
            labels = tifffile.memmap(
                Path(project.folder) / str(project.image(image_id).prediction_path), mode="r"
            )
        out[image_id] = labels
    return out


VERBS: dict[str, Verb] = {
    "suggest": Verb(_suggest),
    "retrain": Verb(_retrain),
    "segment": Verb(_segment, _pack_segment, _unpack_segment),
    "heatmap": Verb(_heatmap),
    "replay": Verb(_replay),  # reads only: its commit is empty
    "segment_slide": Verb(_segment_slide),  # writes outputs for QuPath, not the manifest
}


def start_spec(spec: JobSpec, project: Project, cancel: CancelToken | None = None) -> Job[Any]:
    """The spec's job on an already open ``project`` (in this process: threads, the CLI)."""
    try:
        verb = VERBS[spec.verb]
    except KeyError:
        raise ValueError(f"unknown job {spec.verb!r}") from None
    return verb.start(project, Settings.from_dict(spec.settings), cancel, spec.args)


def preload() -> None:
    """Import every verb's modules (a warm worker pays this before its first job)."""
    from .workflow import heatmap, predict, replay, retrain, slide_segment, suggest  # noqa: F401


__all__ = ["JobSpec", "VERBS", "Verb", "preload", "start_spec"]
