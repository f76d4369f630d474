"""The GlaS challenge folder layout (Warwick QU): train / Test A / Test B images, annotations, grades.

Files are named ``train_N.bmp`` / ``testA_N.bmp`` / ``testB_N.bmp`` with ``_anno`` label
twins; ``Grade.csv`` gives each image's grade. Every problem names the file.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError

# --------------------------------------------------------------------------------------------
# GlaS folder


@dataclass(frozen=True)
class GlasItem:
    """One GlaS image: its name (``train_1``), files, and grade ("benign"/"malignant"/None)."""

    name: str
    image_path: Path
    label_path: Path | None
    grade: str | None


@dataclass
class GlasDataset:
    """The three GlaS splits, each sorted by image number."""

    root: Path
    train: list[GlasItem] = field(default_factory=list)
    test_a: list[GlasItem] = field(default_factory=list)
    test_b: list[GlasItem] = field(default_factory=list)

    def all_items(self) -> list[GlasItem]:
        """Every item, train first, then Test A, then Test B."""
        return [*self.train, *self.test_a, *self.test_b]


_GLAS_RE = re.compile(r"^(train|testa|testb)_(\d+)(_anno)?\.bmp$", re.IGNORECASE)
_SPLITS = {"train": "train", "testa": "test_a", "testb": "test_b"}


def _read_grades(path: Path) -> dict[str, str]:
    """``name -> benign|malignant`` from GlaS's Grade.csv, tolerant of spaces and case."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise InputFileError(path, "grade file is empty")
    header = [h.lower() for h in rows[0]]
    if "name" not in header[:1] and not any("name" in h for h in header):
        raise InputFileError(path, "grade file has no 'name' column")
    name_col = next(i for i, h in enumerate(header) if "name" in h)
    grade_col = next((i for i, h in enumerate(header) if "grade" in h and "glas" in h), None)
    if grade_col is None:
        grade_col = next((i for i, h in enumerate(header) if "grade" in h), None)
    if grade_col is None:
        raise InputFileError(path, "grade file has no 'grade' column")
    grades: dict[str, str] = {}
    for r in rows[1:]:
        if len(r) <= max(name_col, grade_col):
            continue
        value = r[grade_col].lower()
        if value not in ("benign", "malignant"):
            raise InputFileError(path, f"unknown grade {r[grade_col]!r} for {r[name_col]!r}")
        grades[r[name_col].lower()] = value
    return grades


def read_glas_folder(folder: str | Path) -> GlasDataset:
    """Index a GlaS (Warwick QU) folder: ``train_N.bmp`` + ``train_N_anno.bmp``, ``testA_*``, ``testB_*``."""
    root = Path(folder)
    if not root.is_dir():
        raise InputFileError(root, "GlaS folder not found" if not root.exists() else "not a folder")
    images: dict[tuple[str, int], Path] = {}
    annos: dict[tuple[str, int], Path] = {}
    grade_file: Path | None = None
    for f in root.iterdir():
        if f.is_file() and f.name.lower() == "grade.csv":
            grade_file = f
        m = _GLAS_RE.match(f.name)
        if not m or not f.is_file():
            continue
        key = (_SPLITS[m.group(1).lower()], int(m.group(2)))
        found = annos if m.group(3) else images
        if key in found:  # train_1.bmp and train_01.bmp (or TRAIN_1.bmp): never pick one silently
            raise InputFileError(f, f"two files for the same GlaS image: {found[key].name} and {f.name}")
        found[key] = f
    if not images:
        raise InputFileError(root, "no GlaS images (train_N.bmp, testA_N.bmp, testB_N.bmp) found")
    for key, f in annos.items():
        if key not in images:
            raise InputFileError(f, "annotation without its image")
        want = images[key].name[: -len(".bmp")] + "_anno.bmp"
        if f.name.casefold() != want.casefold():  # train_01_anno.bmp is not train_1.bmp's
            raise InputFileError(f, f"annotation does not match its image's name (expected {want})")
    grades = _read_grades(grade_file) if grade_file is not None else {}
    ds = GlasDataset(root=root)
    for key in sorted(images, key=lambda k: (k[0], k[1])):
        split, _num = key
        img = images[key]
        name = img.name[: -len(".bmp")]
        label = annos.get(key)
        if label is None and split != "train":
            raise InputFileError(img, "test image without its _anno.bmp annotation")
        getattr(ds, split).append(GlasItem(name, img, label, grades.get(name.lower())))
    return ds
