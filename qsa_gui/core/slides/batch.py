"""Segmenting every slide of a folder, resumably, in this process or as Ray tasks.

Each slide's outputs are written into a hidden work folder ``OUT/.<stem>.partial-<pid>/`` and
renamed to ``OUT/<stem>/`` when complete (``summary.json`` written last inside it), so a folder
``OUT/<stem>/`` with a summary is finished and skipped on the next run, and a killed run leaves
only a hidden partial folder (removed on the next run). As Ray tasks
(:mod:`qsa_gui.core.ray_tasks`) a slide is one task, which is all the parallelism this needs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Cancelled, InputFileError, QSAError
from ..jobs import CancelToken, Job, Progress, check, run_job, sub_job
from ..ray_tasks import EXECUTORS
from .files import importable_files, slide_file_name
from .reader import looks_like_slide
from .regions import DEFAULT_MAGNIFICATION
from .segment import SlideResult, read_summary, segment_slide


@dataclass
class BatchReport:
    """Per slide: its result, ``skipped`` (already finished) or the reason it failed."""

    done: list[SlideResult] = field(default_factory=list)
    skipped: list[SlideResult] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        """The summary table the CLI prints."""
        rows = [("slide", "status", "glands", "tissue", "seconds")]
        rows += [
            (r.slide, "done", str(r.n_objects), f"{r.tissue_fraction:.0%}", f"{r.seconds:.1f}")
            for r in self.done
        ]
        rows += [
            (r.slide, "skipped", str(r.n_objects), f"{r.tissue_fraction:.0%}", "-") for r in self.skipped
        ]
        rows += [(name, "failed: " + why[:60], "-", "-", "-") for name, why in self.failed]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        lines.append(
            f"{len(self.done)} segmented, {len(self.skipped)} already done, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s"
        )
        return "\n".join(lines)


def find_slides(folder: str | Path) -> list[Path]:
    """The slide files of a folder (sorted by name; a DICOM slide's files once): .svs, .ndpi,
    pyramidal / BigTIFF TIFFs and the OpenSlide formats."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "is not a folder")
    return [p for p in importable_files(folder) if looks_like_slide(p)]


def slide_stem(path: Path) -> str:
    return path.name.split(".")[0] or path.name


def clean_partials(out: Path) -> None:
    for p in out.glob(".*.partial-*"):
        with contextlib.suppress(OSError):
            shutil.rmtree(p)


def segment_one(
    model_dir: str, slide_path: str, out_dir: str, magnification: float, device: str | None,
    cancel: CancelToken | None = None, name: str | None = None,
) -> Job[SlideResult]:  # fmt: skip
    """One slide into ``out_dir/<stem>/`` (temp folder + rename); the unit a Ray task runs.
    ``name``: the slide's own file name where ``slide_path`` is a copy of it."""
    from ..model.segmenter import Segmenter

    src, out = Path(slide_path), Path(out_dir)
    stem = slide_stem(Path(name or slide_file_name(src)))
    final = out / stem
    work = out / f".{stem}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    segmenter = Segmenter.load(model_dir, device=device)
    try:
        result = yield from segment_slide(
            segmenter, src, work, magnification=magnification, device=device, name=name, cancel=cancel
        )
        if final.exists():  # an unfinished folder from an older layout: replaced
            shutil.rmtree(final)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _run_one(
    model_dir: str, slide_path: str, out_dir: str, magnification: float, device: str | None
) -> SlideResult:
    from ..runtime import configure_threads

    configure_threads()
    return run_job(segment_one(model_dir, slide_path, out_dir, magnification, device))


def segment_slides_job(
    slides: Sequence[str | Path],
    out_dir: str | Path,
    model_dir: str | Path,
    *,
    magnification: float = DEFAULT_MAGNIFICATION,
    device: str | None = None,
    executor: str = "local",
    address: str | None = None,
    ray_init: dict | None = None,
    cancel: CancelToken | None = None,
) -> Job[BatchReport]:
    """Segment ``slides`` into ``out_dir`` (see the module doc); finished slides are skipped."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}")
    t0 = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean_partials(out)
    report = BatchReport()
    todo: list[Path] = []
    for p in map(Path, slides):
        prior = read_summary(out / slide_stem(Path(slide_file_name(p))))
        if prior is not None:
            report.skipped.append(prior)
        else:
            todo.append(p)
    n = max(1, len(todo))
    yield Progress("segmenting slides", 0.0, f"{len(todo)} to do, {len(report.skipped)} already done")
    if executor == "ray":
        yield from _ray(
            todo, out, str(model_dir), magnification, device, address, ray_init or {}, report, cancel
        )
    else:
        for i, p in enumerate(todo):
            check(cancel)
            try:
                job = segment_one(str(model_dir), str(p), str(out), magnification, device, cancel)
                result = yield from sub_job(job, i / n, (i + 1) / n, f"slide {i + 1}/{len(todo)} {p.name}: ")
                report.done.append(result)
            except Cancelled:
                raise
            except (QSAError, OSError, ValueError) as e:
                report.failed.append((p.name, str(e)))
            yield Progress("segmenting slides", (i + 1) / n, f"{i + 1}/{len(todo)} slides")
    report.seconds = round(time.monotonic() - t0, 2)
    return report


def _ray(todo, out, model_dir, magnification, device, address, init, report, cancel) -> Job[None]:
    from ..ray_tasks import ray_session, run_tasks

    with ray_session(address, init) as ray:
        calls = [(model_dir, str(p), str(out), magnification, device) for p in todo]
        total = max(1, len(calls))
        for done, (i, result, error) in enumerate(
            run_tasks(ray, _run_one, calls, device=device, cancel=cancel), 1
        ):
            p = todo[i]
            if error is None:
                report.done.append(result)
            else:  # a task's failure is that slide's, not the batch's
                report.failed.append((p.name, str(error).strip().splitlines()[-1]))
            yield Progress("segmenting slides", done / total, f"{done}/{total} slides ({p.name} finished)")
