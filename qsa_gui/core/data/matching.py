"""Pairing image files with their label files by name (``qsa import --labels FOLDER``).

Why a matcher of its own: matching by file-name prefix (a glob ``stem*``) gives ``g1.png`` the
labels of ``g12.tif``, treats ``[1]`` in a name as a pattern and can pair an image with itself;
every one of those silently imports wrong ground truth. The rules here are exact:

* A label file belongs to an image when its stem (the name less a supported image suffix such as
  ``.png`` or ``.ome.tif``) equals the image's stem, or the image's stem followed by one of
  :data:`LABEL_SUFFIXES` (``_anno``, ``_label``, ``_labels``, ``_mask``, ``_masks``, ``-label``,
  ``-labels``, ``-mask``, ``-masks``). Comparison ignores case (names that differ only in case are
  the same file on macOS and Windows).
* An image never gets itself as labels (images and labels may share one folder, as in GlaS).
* Ambiguity is refused, never resolved by order: two label files for one image, or one label file
  claimed by two images, raise :class:`LabelMatchError` listing the candidates.
* What is left over is reported (:class:`LabelMatch`): images without labels, label files unused,
  and label files that were also given as images (the caller imports those as labels only).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError

LABEL_SUFFIXES: tuple[str, ...] = (
    "_anno", "_label", "_labels", "_mask", "_masks", "-label", "-labels", "-mask", "-masks",
)  # fmt: skip


class LabelMatchError(InputFileError):
    """Two label files for one image, or one label file for two images."""


@dataclass
class LabelMatch:
    """The outcome of matching: ``pairs`` maps image path -> label path."""

    pairs: dict[Path, Path] = field(default_factory=dict)
    unlabelled: list[Path] = field(default_factory=list)
    unused: list[Path] = field(default_factory=list)
    labels_given_as_images: list[Path] = field(default_factory=list)


def _suffixes() -> tuple[str, ...]:
    from .images import SUPPORTED_SUFFIXES

    return tuple(sorted(SUPPORTED_SUFFIXES, key=len, reverse=True))


def image_stem(path: str | Path) -> str:
    """The file name less its supported image suffix (``a.ome.tif`` -> ``a``), case kept."""
    name = Path(path).name
    lower = name.lower()
    for s in _suffixes():
        if lower.endswith(s) and len(name) > len(s):
            return name[: -len(s)]
    return Path(name).stem


def label_keys(path: str | Path) -> set[str]:
    """The image stems (case-folded) that the label file ``path`` may belong to."""
    stem = image_stem(path).casefold()
    keys = {stem}
    for suf in LABEL_SUFFIXES:
        if stem.endswith(suf) and len(stem) > len(suf):
            keys.add(stem[: -len(suf)])
    return keys


def _identity(path: Path) -> str:
    """What makes two paths the same file (resolved, case-normalised where the OS ignores case)."""
    return os.path.normcase(os.path.realpath(path))


def match_labels(images: Sequence[Path], label_files: Sequence[Path]) -> LabelMatch:
    """Pair ``images`` with ``label_files`` by the module's rules; raise on any ambiguity."""
    images = [Path(p) for p in images]
    labels = [Path(p) for p in label_files]
    image_ids = {_identity(p): p for p in images}
    by_key: dict[str, list[Path]] = {}
    for lab in labels:
        for key in label_keys(lab):
            by_key.setdefault(key, []).append(lab)
    pairs: dict[Path, Path] = {}
    claimed: dict[str, Path] = {}  # label identity -> image
    for img in images:
        own = _identity(img)
        cands = [c for c in by_key.get(image_stem(img).casefold(), []) if _identity(c) != own]
        cands = list({_identity(c): c for c in cands}.values())
        if len(cands) > 1:
            shown = ", ".join(sorted(c.name for c in cands))
            raise LabelMatchError(img, f"{len(cands)} candidate label files ({shown}); keep only one")
        if not cands:
            continue
        lab_id = _identity(cands[0])
        if lab_id in claimed:
            raise LabelMatchError(
                cands[0], f"is claimed as labels by two images ({claimed[lab_id].name}, {img.name})"
            )
        claimed[lab_id] = img
        pairs[img] = cands[0]
    for img, lab in pairs.items():
        if _identity(lab) in image_ids and image_ids[_identity(lab)] in pairs:
            raise LabelMatchError(
                lab, f"is both the labels of {img.name} and an image with labels "
                f"{pairs[image_ids[_identity(lab)]].name}; rename one",
            )  # fmt: skip
    report = LabelMatch(pairs=pairs)
    report.labels_given_as_images = [p for p in images if _identity(p) in claimed]
    skip = {_identity(p) for p in report.labels_given_as_images}
    report.unlabelled = [p for p in images if p not in pairs and _identity(p) not in skip]
    used = set(claimed) | set(image_ids)
    report.unused = [lab for lab in labels if _identity(lab) not in used]
    return report


def list_label_folder(folder: str | Path) -> list[Path]:
    """Regular files with a supported image suffix in ``folder``, sorted; refuses a missing folder."""
    p = Path(folder)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputFileError(p, "labels folder not found") from None
    except OSError as exc:
        raise InputFileError(p, f"cannot open labels folder: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise InputFileError(p, "--labels must be a folder of label images, not a file")
    suffixes = _suffixes()
    out = []
    for f in sorted(p.iterdir()):
        if any(f.name.lower().endswith(s) for s in suffixes) and f.is_file():
            out.append(f)
    return out


def match_label_folder(images: Sequence[Path], folder: str | Path) -> LabelMatch:
    """:func:`match_labels` against every label file in ``folder``."""
    return match_labels(images, list_label_folder(folder))
