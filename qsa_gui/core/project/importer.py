"""Importing image files into a project: each is decoded to prove it reads, then copied in.

A bad file is skipped with a reason (never raised), so one unreadable slide does not stop a
folder import; files copied for an import whose manifest write fails are removed again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from qsa_gui.core.data import images as qio
from qsa_gui.core.data import lazy as qlazy

from ..atomic import atomic_open
from ..errors import InputFileError, ProjectError
from ..slides.files import one_file_per_slide
from ..slides.reader import looks_like_slide, slide_suffix
from ..slides.regions import RegionSpec
from .files import file_sha256, image_suffix, safe_display_name, validated_labels
from .records import SPLITS, STATUS_LABELLED, ImageRecord, ImportReport, now

# Above this many pixels an image is validated lazily on import (= largeimage.LARGE_IMAGE_PIXELS).
_LARGE_IMAGE_PIXELS = 4096 * 4096


def validated_image_shape(src: Path) -> tuple[int, int]:
    """(H, W) of an importable image, decoding it to prove it reads. Large images are opened
    lazily and only their first and last rows decoded (a truncated file loses its tail), so
    importing a slide never needs its size in RAM."""
    with qlazy.open_lazy(src) as lazy:
        h, w = int(lazy.shape[0]), int(lazy.shape[1])
        if h * w <= _LARGE_IMAGE_PIXELS:
            lazy.read_rgb(0, h)  # == load_rgb(src), decoded once
        else:
            rows = max(1, min(h, 4_000_000 // max(1, w)))
            lazy.read_rgb(0, rows)
            lazy.read_rgb(max(0, h - rows), h)
    return h, w


class ImportMixin:
    """``import_images`` of :class:`~qsa_gui.core.project.store.Project`."""

    def _copy_in(self, src: Path, target: Path) -> None:
        """Copy ``src`` to ``target`` atomically, 1 MiB at a time; a rolled-back mutation removes
        it again (images and slides alike). Raises OSError."""
        with open(src, "rb") as fin, atomic_open(target, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
        self._on_rollback.append(lambda: target.unlink(missing_ok=True))

    def import_images(
        self,
        paths: Iterable[str | Path],
        *,
        copy: bool = True,
        split: str = "pool",
        labels: Mapping[str | Path, str | Path] | None = None,
        slides: bool | None = None,
        region_spec: RegionSpec | None = None,
    ) -> ImportReport:
        """Add image files. Each is validated by decoding it; a bad file is skipped with a reason,
        never raised. ``labels`` maps image path -> ground-truth label file (marks it labelled).
        Whole slides (``.svs``, ``.ndpi``, pyramidal TIFF; any TIFF when ``slides`` is True, none
        when False) become regions of ``region_spec`` covering their tissue (core/slides)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        label_map: dict[Path, Path] = {Path(k).absolute(): Path(v) for k, v in (labels or {}).items()}
        report = ImportReport()
        paths, same_slide = one_file_per_slide(paths) if slides is not False else (list(paths), [])
        for path, kept in same_slide:
            report.skipped.append((str(path), f"part of the DICOM slide {kept.name}, which is imported once"))
        with self._mutation():
            known = {r.sha256: r.id for r in self.images if r.sha256}
            for raw_path in paths:
                src = Path(raw_path)
                shown = str(src)
                try:
                    shown.encode("utf-8")
                except UnicodeEncodeError:  # non-UTF-8 file name: printable for CLI/GUI messages
                    shown = os.fsencode(src).decode("utf-8", errors="replace")
                as_slide = looks_like_slide(src) if slides is None else bool(slides and slide_suffix(src))
                spec = (region_spec or RegionSpec()) if as_slide else None
                reason = self._import_one(src, copy, split, label_map, known, report, spec)
                if reason is not None:
                    report.skipped.append((shown, reason))
        return report

    def _import_one(
        self,
        src: Path,
        copy_file: bool,
        split: str,
        label_map: dict[Path, Path],
        known: dict[str, str],
        report: ImportReport,
        slide_spec: RegionSpec | None = None,
    ) -> str | None:
        """Import one file; return a skip reason or None when added."""
        suffix = image_suffix(src, qio.SUPPORTED_SUFFIXES)
        if suffix is None and slide_spec is None:
            return f"unsupported file type (supported: {', '.join(sorted(qio.SUPPORTED_SUFFIXES))})"
        try:  # by stat alone: a FIFO must not block, /dev/zero must not be hashed forever
            qio.check_regular_file(src)
        except InputFileError as e:
            return "no such file" if e.reason == "file not found" else e.reason
        try:
            digest = file_sha256(src)
        except OSError as e:
            return f"cannot read file ({e.strerror or e})"
        if slide_spec is not None:
            return self._import_slide(src, digest, copy_file, split, slide_spec, report)  # type: ignore[attr-defined]
        if digest in known:
            return f"already in project (as {known[digest]})"
        try:
            shape = validated_image_shape(src)
        except InputFileError as e:
            return e.reason
        except Exception as e:  # noqa: BLE001 - one undecodable file must not stop the import
            return f"cannot decode image ({type(e).__name__}: {e})"
        gt = None
        label_src = label_map.get(src.absolute())
        if label_src is not None:
            try:
                gt = qio.read_labels(label_src, expected_shape=shape)
            except InputFileError as e:
                return f"labels {safe_display_name(label_src)}: {e.reason}"
            except Exception as e:  # noqa: BLE001
                return f"labels {safe_display_name(label_src)}: cannot read ({type(e).__name__}: {e})"

        image_id = f"img_{self._next_image_number:04d}"
        while image_id in self._by_id:  # hand-edited manifests may hold this id already
            self._next_image_number += 1
            image_id = f"img_{self._next_image_number:04d}"
        if copy_file:
            rel = f"images/{image_id}{suffix}"
            try:
                target = self._inside(rel, "image copy")
            except ProjectError as e:
                return str(e)
            try:
                self._copy_in(src, target)
            except OSError as e:
                return f"cannot copy into the project ({e.strerror or e})"
        else:
            rel = str(src.absolute())
        rec = ImageRecord(
            id=image_id,
            name=safe_display_name(src),
            path=rel,
            shape=shape,
            split=split,
            sha256=digest,
            copied=copy_file,
        )
        if gt is not None:
            try:
                arr = validated_labels(rec, gt, src)
                self._add_label_version(rec, arr, done=True, user="import", restored_from=None)
            except ProjectError as e:
                return f"cannot write its labels into the project ({e})"
            rec.status = STATUS_LABELLED
            rec.labelled_by = "import"
            rec.labelled_at = now()
        self._next_image_number += 1
        self.images.append(rec)
        self._by_id[image_id] = rec
        known[digest] = image_id
        report.added.append(image_id)
        return None
