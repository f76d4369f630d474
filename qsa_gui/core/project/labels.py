"""Expert labels of a project: saving, statuses, and the kept versions of each image's labels.

Every save writes a *new* file and lets the manifest switch be the commit: a save that reports
failure leaves the previous labels file and project.json untouched, and earlier labellings stay
on disk (listed in ``ImageRecord.label_versions``) so a mistaken overwrite can be undone later.
Consecutive drafts (autosaves) collapse into one version, so history grows per finished
labelling, not per brush stroke.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from qsa_gui.core.data import images as qio

from ..errors import InputFileError, ProjectError
from .records import (
    STATUS_IN_PROGRESS,
    STATUS_LABELLED,
    STATUS_UNLABELLED,
    STATUSES,
    ImageRecord,
    default_user,
    now,
)


def legacy_versions(rec: ImageRecord) -> None:
    """Give a record saved before label history its one implied version (in place)."""
    if rec.label_path is not None and not rec.label_versions:
        rec.label_versions = [
            {
                "version": 1,
                "path": rec.label_path,
                "by": rec.labelled_by,
                "at": rec.labelled_at,
                "objects": None,
                "done": rec.status == STATUS_LABELLED,
                "restored_from": None,
            }
        ]


class LabelsMixin:
    """Label methods of :class:`~qsa_gui.core.project.store.Project` (uses its transaction)."""

    def _new_label_rel(self, rec: ImageRecord, number: int) -> str:
        used = {v["path"] for v in rec.label_versions}
        plain = f"labels/{rec.id}.tif"
        if plain not in used and not rec.label_versions:
            return plain
        return f"labels/{rec.id}.v{number}-{secrets.token_hex(3)}.tif"

    def _add_label_version(
        self, rec: ImageRecord, arr: np.ndarray, *, done: bool, user: str | None, restored_from: int | None
    ) -> dict:
        """Write ``arr`` to a fresh file and append (or replace a trailing draft with) a version.
        Must run inside ``_mutation``: a failed manifest write removes the new file again. A
        restore never replaces the trailing draft: it must not discard unfinished work."""
        versions = rec.label_versions
        draft = versions and not versions[-1].get("done")
        replaces = versions[-1] if draft and restored_from is None else None
        number = replaces["version"] if replaces else (versions[-1]["version"] + 1 if versions else 1)
        rel = self._new_label_rel(rec, number)
        path = self._inside(rel, "labels")  # refuses a labels/ linked elsewhere
        self._on_rollback.append(lambda: path.unlink(missing_ok=True))
        try:
            qio.write_labels(path, arr)
        except OSError as e:
            raise ProjectError(f"{path}: could not save the labels ({e.strerror or e})") from e
        entry = {
            "version": number,
            "path": rel,
            "by": user or default_user(),
            "at": now(),
            "objects": int(np.unique(arr[arr > 0]).size) if arr.size else 0,
            "done": bool(done),
            "restored_from": restored_from,
        }
        if replaces is not None:
            old = replaces["path"]
            rec.label_versions = [*versions[:-1], entry]
            if old != rel and all(v["path"] != old for v in rec.label_versions):
                self._after_save.append(lambda: self._inside(old, "old draft labels").unlink())
        else:
            rec.label_versions = [*versions, entry]
        rec.label_path = rel
        return entry

    def save_labels(self, image_id: str, labels: Any, *, done: bool = False, user: str | None = None) -> None:
        """Autosave (done=False: an unlabelled image becomes in_progress, others keep their
        status) or finish (done=True: labelled, by ``user`` at now). Earlier finished labels are
        kept as versions (:meth:`label_versions`)."""
        with self._mutation():
            rec = self.image(image_id)
            arr = self._validated_labels(rec, labels)
            entry = self._add_label_version(rec, arr, done=done, user=user, restored_from=None)
            if done:
                rec.status = STATUS_LABELLED
                rec.labelled_by = entry["by"]
                rec.labelled_at = entry["at"]
            elif rec.status == STATUS_UNLABELLED:
                rec.status = STATUS_IN_PROGRESS

    def label_versions(self, image_id: str) -> list[dict]:
        """Every kept labelling of the image, oldest first: version, path, by, at, objects,
        done, restored_from; the last one is the current labels."""
        return [dict(v) for v in self.image(image_id).label_versions]

    def load_label_version(self, image_id: str, version: int) -> np.ndarray:
        """The labels of one kept version (int32 H x W)."""
        rec = self.image(image_id)
        entry = self._label_version(rec, version)
        path = self._inside(entry["path"], f"image {image_id}: label version {version}")
        if not path.is_file():
            raise InputFileError(path, f"label version {version} of {image_id} is missing")
        return qio.read_labels(path, expected_shape=rec.shape)

    def _label_version(self, rec: ImageRecord, version: int) -> dict:
        for v in rec.label_versions:
            if v["version"] == version:
                return v
        known = ", ".join(str(v["version"]) for v in rec.label_versions) or "none"
        raise ProjectError(f"image {rec.id} has no label version {version} (versions: {known})")

    def restore_labels(self, image_id: str, version: int, *, user: str | None = None) -> dict:
        """Make an earlier version current again, as a *new* version (so restoring can itself be
        undone); the image's status follows the restored version's ``done``. Returns the entry."""
        with self._mutation():
            rec = self.image(image_id)
            src = self._label_version(rec, version)
            arr = self.load_label_version(image_id, version)
            entry = self._add_label_version(
                rec, arr, done=bool(src.get("done")), user=user, restored_from=version
            )
            if entry["done"]:
                rec.status = STATUS_LABELLED
                rec.labelled_by = entry["by"]
                rec.labelled_at = entry["at"]
            else:
                rec.status = STATUS_IN_PROGRESS
                rec.labelled_by = rec.labelled_at = None
        return dict(entry)

    def set_status(self, image_id: str, status: str, *, user: str | None = None) -> None:
        """Change the status. labelled needs saved labels; leaving labelled clears who/when."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        with self._mutation():
            rec = self.image(image_id)
            if status == STATUS_LABELLED:
                if rec.label_path is None:
                    raise ProjectError(f"cannot mark {image_id} as labelled: no labels were saved for it")
                if rec.status != STATUS_LABELLED or user is not None:
                    rec.labelled_by = user or default_user()
                    rec.labelled_at = now()
            else:
                rec.labelled_by = None
                rec.labelled_at = None
            rec.status = status
