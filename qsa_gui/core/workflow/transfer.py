"""Moving images into a project and labels, predictions and the model out of it.

Why one module: the ``qsa`` CLI and both GUI shells import and export through these same jobs,
so a project exported from the command line and from the window gives the same files, byte for
byte (they used to be two implementations with different names, clashes and contents).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsa_gui.core.atomic import atomic_write_bytes
from qsa_gui.core.errors import Cancelled
from qsa_gui.core.jobs import CancelToken, Job, Progress, check
from qsa_gui.core.project.store import ImageRecord, ImportReport, Project

CSV_COLUMNS = [
    "id", "name", "split", "status", "labelled_by", "labelled_at", "labels", "prediction", "prediction_model",
]  # fmt: skip
_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".png", ".jpeg", ".jpg", ".bmp")


class ImportCancelled(Cancelled):
    """An import stopped by its CancelToken; ``report`` holds the files imported before the cancel.

    Why a subclass: each file is committed as soon as it is imported, so "nothing was changed"
    would be false; the shells tell the user how many images stay in the project.
    """

    def __init__(self, report: ImportReport, total: int) -> None:
        self.report = report
        self.total = total
        n = len(report.added)
        super().__init__(
            f"import cancelled: {n} of {total} image(s) were imported before the cancel and stay in "
            "the project"
            if n
            else "import cancelled before any image was imported: nothing was changed"
        )


def import_job(
    project: Project,
    paths: Sequence[str | Path],
    cancel: CancelToken | None = None,
    *,
    copy: bool = True,
    split: str = "pool",
    labels: Mapping[str | Path, str | Path] | None = None,
    slides: bool | None = None,
    region_spec: Any = None,
) -> Job[ImportReport]:
    """Import files one by one (each committed), so progress shows and cancel stops between files.

    A cancel raises :class:`ImportCancelled` carrying what was imported so far.
    """
    report = ImportReport()
    paths = [str(p) for p in paths]
    for i, path in enumerate(paths):
        try:
            check(cancel)
        except Cancelled:
            raise ImportCancelled(report, len(paths)) from None
        part = project.import_images(
            [path], copy=copy, split=split, labels=labels, slides=slides, region_spec=region_spec
        )
        report.added.extend(part.added)
        report.skipped.extend(part.skipped)
        report.slides.extend(part.slides)
        yield Progress("importing images", (i + 1) / max(1, len(paths)), f"{i + 1}/{len(paths)}")
    return report


def file_stem(name: str) -> str:
    """A safe file stem from an image name (its folder and image suffix dropped)."""
    base = name.replace("\\", "/").split("/")[-1]
    for suffix in _SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._") or "image"


def export_stems(records: Sequence[ImageRecord]) -> dict[str, str]:
    """Image id -> exported file stem; every image whose stem is shared gets ``<stem>__<id>``.

    Names are compared case-insensitively (macOS and Windows folders are), and *all* images of a
    clash get the id, so a name does not depend on the order the images were imported in.
    """
    stems = {r.id: file_stem(r.name) for r in records}
    counts = Counter(s.lower() for s in stems.values())
    return {i: (f"{s}__{i}" if counts[s.lower()] > 1 else s) for i, s in stems.items()}


@dataclass
class ExportReport:
    """What :func:`export_job` wrote: the folder, how many label / prediction files, every path."""

    folder: Path
    n_labels: int = 0
    n_predictions: int = 0
    files: list[str] = field(default_factory=list)
    model_version: str | None = None  # the model copied into ``model/`` (None: no model yet)


def export_model(project: Project, out: Path) -> list[str]:
    """Copy the current model to ``out/model/`` plus a ``model.json`` (version, scores).

    A segmentation model version is a *folder* (``models/seg-vNNNN.qsam/member_<i>.qsam``, one
    packed file per ensemble member): its member files are copied; a version stored as a single
    file is copied as that file.

    Written to a hidden sibling folder first, then renamed into place, so an interrupted export
    never leaves a half-copied model behind. Returns the written paths relative to ``out``
    (empty without a current model).
    """
    version = project.current_model
    if version is None:
        return []
    src = project.model_path(version)
    final = out / "model"
    tmp = out / ".model.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    if src.is_dir():
        shutil.copytree(src, tmp)
    else:
        tmp.mkdir(parents=True)
        shutil.copy2(src, tmp / src.name)
    m = project.model(version)
    info = {
        "version": m.version, "kind": m.kind, "bits": m.bits, "n_labelled": m.n_labelled,
        "metrics": m.metrics, "created": m.created, "project": project.name,
    }  # fmt: skip
    atomic_write_bytes(tmp / "model.json", json.dumps(info, indent=2, default=str).encode("utf-8"))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return sorted(f"model/{p.relative_to(final).as_posix()}" for p in final.rglob("*") if p.is_file())


def export_job(project: Project, folder: str | Path, cancel: CancelToken | None = None) -> Job[ExportReport]:
    """Export a project: ``labels/<stem>.tif``, ``predictions/<stem>.tif``, ``annotations.csv`` and
    ``model/``. The one implementation behind ``qsa export`` and the GUI's Export.

    Where the CLI and the GUI used to differ, the choice made here and why:

    - file names: ``<stem>.tif`` in ``labels/`` and ``predictions/`` (the folder says what it is);
      images that share a name (``a/g1.png``, ``b/g1.png``) become ``g1__<id>.tif``, so no export
      overwrites another;
    - every saved annotation (in progress included) and every saved prediction, of labelled
      images too: a prediction next to its correction is what a reviewer compares, and
      ``annotations.csv`` says which model made it;
    - ``annotations.csv``, one row per image (status, who, when, files, model), so the files can
      be matched to the images without the project;
    - the current model in ``model/`` whether it is a folder or a single file (see
      :func:`export_model`), so the labels and the network trained on them travel together.
    """
    from qsa_gui.core.data.images import write_labels

    out = Path(folder)
    report = ExportReport(out)
    records = list(project.images)
    stems = export_stems(records)
    rows = []
    for i, rec in enumerate(records):
        check(cancel)
        stem = stems[rec.id]
        label_file = prediction_file = ""
        labels = project.load_labels(rec.id) if rec.label_path else None
        if labels is not None:
            label_file = f"labels/{stem}.tif"
            write_labels(out / label_file, labels)
            report.n_labels += 1
            report.files.append(label_file)
        pred = project.load_prediction(rec.id) if rec.prediction_path else None
        if pred is not None:
            prediction_file = f"predictions/{stem}.tif"
            write_labels(out / prediction_file, pred)
            report.n_predictions += 1
            report.files.append(prediction_file)
        rows.append([
            rec.id, rec.name, rec.split, rec.status, rec.labelled_by or "", rec.labelled_at or "",
            label_file, prediction_file, rec.prediction_model or "",
        ])  # fmt: skip
        yield Progress("exporting", (i + 1) / max(1, len(records)), f"{i + 1}/{len(records)} images")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    atomic_write_bytes(out / "annotations.csv", buf.getvalue().encode("utf-8"))
    report.files.append("annotations.csv")
    check(cancel)
    if project.current_model is not None:
        yield Progress("exporting", 1.0, f"model {project.current_model}")
        report.files.extend(export_model(project, out))
        report.model_version = project.current_model
    return report


__all__ = [
    "CSV_COLUMNS",
    "ExportReport",
    "ImportCancelled",
    "export_job",
    "export_model",
    "export_stems",
    "file_stem",
    "import_job",
]
