"""A project opened by a job process under its parent's lock: it writes data, never the manifest.

Why: the GUI process keeps the project lock for as long as the project is open and keeps saving
labels while a job runs in its worker process (:mod:`qsa_gui.core.worker`). If the worker wrote
project.json too, two processes would replace the same manifest from two different snapshots
and one of them would silently drop the other's change (an autosave, or the new model). So the
worker's project records what the job would have committed -- :class:`Commit`, a list of
picklable operations on files the job wrote under names no manifest points at -- and the parent,
the one writer, applies them to its own open :class:`Project` in one manifest transaction. A
killed worker therefore cannot leave a half-committed project: at worst unreferenced files.

The worker verifies the hand-over when it opens the folder: the lock must be held, by its parent
(:func:`.lock.verify_held_by`); it takes no lock itself.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsa_gui.core.data import images as qio

from ..errors import ProjectError
from .lock import verify_held_by
from .records import ModelVersion, SuggestionRound
from .store import Project

#: Scratch predictions of a worker carry this word and its pid, so the parent can sweep them.
HANDOVER = "handover"


@dataclass
class Commit:
    """What a worker's job would have written to the manifest, in order (all picklable).

    ``ops`` items: ``("round", SuggestionRound)``, ``("model", ModelVersion, make_current)``,
    ``("prediction", image_id, relative scratch path, model_version)``.
    """

    ops: list[tuple[Any, ...]] = field(default_factory=list)

    def apply(self, project: Project) -> None:
        """Record every operation in ``project`` (the parent's) with one manifest write; on a
        failure nothing is recorded and the scratch files are removed."""
        if not self.ops:
            return
        try:
            with project.batch():
                for op in self.ops:
                    kind = op[0]
                    if kind == "round":
                        project.add_round(op[1])
                    elif kind == "model":
                        project.add_model(op[1], make_current=op[2])
                    elif kind == "prediction":
                        project.save_prediction_file(op[1], project.folder / op[2], op[3])
                    else:
                        raise ProjectError(f"unknown operation {kind!r} from the job process")
        except BaseException:
            self.discard(project.folder, models=False)
            raise

    def discard(self, folder: Path, *, models: bool = True) -> None:
        """Remove what the operations point at (a job cancelled after its last step, a failed
        commit): scratch predictions, and with ``models`` the unrecorded model folders."""
        for op in self.ops:
            with contextlib.suppress(OSError):
                if op[0] == "prediction":
                    (folder / op[2]).unlink(missing_ok=True)
                elif op[0] == "model" and models:
                    path = folder / op[1].path
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink(missing_ok=True)


def sweep_scratch(folder: Path, pid: int) -> int:
    """Remove the scratch files a dead worker ``pid`` left (hidden names nobody reads); how many."""
    removed = 0
    patterns = (f".*.{HANDOVER}-{pid}-*.tif", f".*.large.{pid}.tif")
    for pattern in patterns:
        for path in (folder / "predictions").glob(pattern):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    # a model folder or a score cache being written when it died (only jobs write there)
    for path in [*(folder / "models").glob(".*.tmp"), *(folder / "scores").glob(".*.tmp")]:
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
    return removed


class DelegatedProject(Project):
    """The worker's view of a project its parent holds open (see the module docstring)."""

    def __init__(self, folder: Path, *, read_only: bool) -> None:
        super().__init__(folder, read_only=read_only)
        self.commit = Commit()

    @classmethod
    def open_delegated(cls, folder: str | Path, holder_pid: int) -> DelegatedProject:
        """Open ``folder`` for a job of process ``holder_pid``, which must hold its lock."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ProjectError(f"{folder}: no such project folder")
        proj = cls(folder, read_only=False)
        verify_held_by(proj.folder, holder_pid)
        proj._load_manifest()
        return proj

    def save(self) -> None:
        """Never writes the manifest: the parent commits (:meth:`Commit.apply`)."""
        self._check_writable()

    def add_round(self, rnd: SuggestionRound) -> SuggestionRound:
        stored = super().add_round(rnd)
        self.commit.ops.append(("round", rnd))
        return stored

    def add_model(self, mv: ModelVersion, make_current: bool = True) -> ModelVersion:
        stored = super().add_model(mv, make_current=make_current)
        self.commit.ops.append(("model", stored, bool(make_current)))
        return stored

    def _scratch_rel(self, image_id: str) -> str:
        return f"predictions/.{image_id}.{HANDOVER}-{os.getpid()}-{secrets.token_hex(3)}.tif"

    def save_prediction(self, image_id: str, labels: Any, model_version: str) -> None:
        """Write the prediction to a scratch file the parent adopts at its commit."""
        with self._mutex:
            rec = self.image(image_id)
            arr = self._validated_labels(rec, labels)
            rel = self._scratch_rel(rec.id)
            path = self._inside(rel, "prediction")
            try:
                qio.write_labels(path, arr)
            except OSError as e:
                path.unlink(missing_ok=True)
                raise ProjectError(f"{path}: could not save the prediction ({e.strerror or e})") from e
            self._record_prediction(rec, rel, model_version)

    def save_prediction_file(self, image_id: str, file: str | Path, model_version: str) -> Path:
        """Move a prediction written to disk to a scratch name the parent adopts at its commit."""
        with self._mutex:
            rec = self.image(image_id)
            rel = self._scratch_rel(rec.id)
            target = self._inside(rel, "prediction")
            try:
                os.replace(file, target)
            except OSError as e:
                raise ProjectError(f"{target}: could not save the prediction ({e.strerror or e})") from e
            self._record_prediction(rec, rel, model_version)
            return target

    def _record_prediction(self, rec: Any, rel: str, model_version: str) -> None:
        with self._mutation():  # rolled back (file removed) with the rest of a failed batch
            self._on_rollback.append(lambda: (self.folder / rel).unlink(missing_ok=True))
            rec.prediction_path = rel  # what the job reads back (a large image's memmap)
            rec.prediction_model = str(model_version)
            self.commit.ops.append(("prediction", rec.id, rel, str(model_version)))


__all__ = ["Commit", "DelegatedProject", "HANDOVER", "sweep_scratch"]
