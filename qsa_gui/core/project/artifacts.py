"""What jobs add to a project: suggestion rounds, predictions, model versions, score caches.

Jobs write their files first and record them last; a prediction for a version gets a new file
name each time, so a failed manifest write never leaves the manifest pointing at changed data.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from qsa_gui.core.data import images as qio
from qsa_gui.core.data import lazy as qlazy

from ..atomic import atomic_open
from ..errors import InputFileError, ProjectError
from .files import PREFIX_RE, safe_key
from .records import STATUS_UNLABELLED, ModelVersion, SuggestionRound, normalized, now
from .schema import model_from_dict, round_from_dict

_MODEL_NUM_RE = re.compile(r"-v(\d+)$")


class ArtifactsMixin:
    """Round, prediction, model and score-cache methods of
    :class:`~qsa_gui.core.project.store.Project`."""

    # ---------------------------------------------------------------- rounds

    def add_round(self, rnd: SuggestionRound) -> SuggestionRound:
        """Record a suggestion round and mark each suggested image's ``suggestion``; images not in
        it lose theirs (suggestion describes the latest round). Returns the stored round."""
        with self._mutation():
            ids = list(rnd.image_ids)
            for i in ids:
                self.image(i)
            if len(set(ids)) != len(ids):
                raise ProjectError("a suggestion round lists the same image twice")
            stored = round_from_dict(normalized(asdict(rnd)) | {"index": 0})
            # 1-based like workflow.suggest_job; auto = one after the latest
            auto = self.rounds[-1].index + 1 if self.rounds else 1
            stored.index = auto if rnd.index is None else int(rnd.index)
            if self.rounds and stored.index <= self.rounds[-1].index:
                raise ProjectError(
                    f"round index {stored.index} is not after the latest round ({self.rounds[-1].index})"
                )
            stored.created = rnd.created or now()
            if rnd.n_labelled_before is None:
                stored.n_labelled_before = len(self.labelled_ids())
            self.rounds.append(stored)
            for rec in self.images:
                rec.suggestion = None
            for rank, i in enumerate(ids, start=1):  # 1 = label first
                s = stored.scores.get(i, {}) if isinstance(stored.scores.get(i), dict) else {}
                self._by_id[i].suggestion = {
                    "round": stored.index,
                    "rank": rank,
                    "uncertainty": s.get("uncertainty"),
                    "representativeness": s.get("representativeness"),
                    "strategy": stored.strategy,
                }
        return stored

    def latest_round(self) -> SuggestionRound | None:
        return self.rounds[-1] if self.rounds else None

    def next_suggested(self, after_id: str | None = None) -> str | None:
        """The next still-unlabelled image of the latest round's ranking, cycling after
        ``after_id`` (which comes last, if still unlabelled); None when none is left."""
        rnd = self.latest_round()
        if rnd is None:
            return None
        ids = rnd.image_ids
        if after_id in ids:
            k = ids.index(after_id)
            order = ids[k + 1 :] + ids[: k + 1]
        else:
            order = ids
        for i in order:
            rec = self._by_id.get(i)
            if rec is not None and rec.status == STATUS_UNLABELLED and not rec.missing:
                return i
        return None

    # ---------------------------------------------------------------- predictions

    def _prediction_rel(self, image_id: str, model_version: str, old: str | None) -> str:
        """predictions/<id>.<version>.tif, or a fresh name when that is the file in use (a new
        prediction of the same version must not replace the recorded one before the commit)."""
        rel = f"predictions/{image_id}.{safe_key(str(model_version))}.tif"
        if rel == old:
            rel = f"predictions/{image_id}.{safe_key(str(model_version))}-{secrets.token_hex(3)}.tif"
        return rel

    def _switch_prediction(self, rec: Any, rel: str, model_version: str, old: str | None) -> None:
        rec.prediction_path = rel
        rec.prediction_model = str(model_version)
        if old and old != rel:
            self._after_save.append(lambda: self._inside(old, "old prediction").unlink())

    def save_prediction(self, image_id: str, labels: Any, model_version: str) -> None:
        """Store a model's instance labels for an image. A new file per save, so a crash never
        leaves the manifest pointing at another version's file; the old one goes after."""
        with self._mutex:
            rec = self.image(image_id)
            old = rec.prediction_path
            with self._mutation():
                arr = self._validated_labels(rec, labels)
                rel = self._prediction_rel(rec.id, model_version, old)
                path = self._inside(rel, "prediction")
                self._on_rollback.append(lambda: path.unlink(missing_ok=True))
                try:
                    qio.write_labels(path, arr)
                except OSError as e:
                    raise ProjectError(f"{path}: could not save the prediction ({e.strerror or e})") from e
                self._switch_prediction(rec, rel, model_version, old)

    def save_prediction_file(self, image_id: str, file: str | Path, model_version: str) -> Path:
        """Adopt a label TIFF already written to disk as the prediction (large images are written
        strip by strip and never held in memory). The file is *moved* into predictions/; it must
        lie on the project's file system (write it inside the project folder). Returns its path."""
        src = Path(file)
        with self._mutex:
            rec = self.image(image_id)
            old = rec.prediction_path
            with qlazy.open_lazy(src) as lazy:
                if len(lazy.shape) != 2 or tuple(lazy.shape) != tuple(rec.shape):
                    raise InputFileError(
                        src, f"prediction shape {lazy.shape} does not match image {rec.id} {rec.shape}"
                    )
                if not np.issubdtype(lazy.dtype, np.integer):
                    raise InputFileError(src, f"prediction pixels are {lazy.dtype}, not instance ids")
            with self._mutation():
                rel = self._prediction_rel(rec.id, model_version, old)
                target = self._inside(rel, "prediction")
                try:
                    os.replace(src, target)
                except OSError as e:
                    raise ProjectError(f"{target}: could not save the prediction ({e.strerror or e})") from e
                self._switch_prediction(rec, rel, model_version, old)
            return target

    # ---------------------------------------------------------------- models

    @property
    def models_dir(self) -> Path:
        return self.folder / "models"

    def _used_model_numbers(self) -> set[int]:
        nums = set(self._reserved_model_numbers)
        for m in self.models:
            if mm := _MODEL_NUM_RE.search(m.version):
                nums.add(int(mm.group(1)))
        if self.models_dir.is_dir():
            for p in self.models_dir.iterdir():
                if not p.name.startswith(".") and (mm := _MODEL_NUM_RE.search(p.name.split(".")[0])):
                    nums.add(int(mm.group(1)))
        return nums

    def new_model_path(self, prefix: str) -> Path:
        """An unused models/<prefix>-vNNNN.qsam path; numbers only grow (across prefixes), so
        version order is creation order and no model file is ever overwritten."""
        if not PREFIX_RE.match(prefix):
            raise ValueError(f"model prefix {prefix!r} must be letters, digits, '-' or '_'")
        with self._mutex:
            self._check_writable()
            n = max(self._used_model_numbers(), default=0) + 1
            self._reserved_model_numbers.add(n)
            self.models_dir.mkdir(exist_ok=True)
            return self._inside(f"models/{prefix}-v{n:04d}.qsam", "new model")

    def add_model(self, mv: ModelVersion, make_current: bool = True) -> ModelVersion:
        """Record a model file already written inside models/. make_current=False keeps the
        previous current model (regression guard: pass accepted=False and the reason)."""
        with self._mutation():
            if any(m.version == mv.version for m in self.models):
                raise ProjectError(f"model version {mv.version!r} already exists")
            p = Path(mv.path)
            if p.is_absolute():
                try:
                    rel = p.resolve().relative_to(self.folder.resolve()).as_posix()
                except ValueError:
                    raise ProjectError(f"model file {p} is not inside {self.folder}") from None
            else:
                rel = p.as_posix()
            full = self._inside(rel, f"model {mv.version}: path")
            if not full.exists():  # a file, or a folder for multi-file models
                raise ProjectError(f"model file {full} does not exist; write it before add_model")
            if mv.parent is not None and not any(m.version == mv.parent for m in self.models):
                raise ProjectError(f"parent model {mv.parent!r} of {mv.version!r} is unknown")
            try:
                stored = model_from_dict(normalized(asdict(mv)))
            except ValueError as e:
                raise ProjectError(f"model {mv.version!r} cannot be recorded ({e})") from None
            stored.path = rel
            stored.created = mv.created or now()
            if stored.round_index is None and self.rounds:
                stored.round_index = self.rounds[-1].index
            self.models.append(stored)
            if make_current:
                self.current_model = stored.version
        return stored

    def model(self, version: str) -> ModelVersion:
        for m in self.models:
            if m.version == version:
                return m
        raise ProjectError(f"no model version {version!r} in project {self.name!r}")

    def model_path(self, version: str) -> Path:
        """Absolute path of a model version's file."""
        return self._inside(self.model(version).path, f"model {version}: path")

    def set_current_model(self, version: str | None) -> None:
        """Choose any earlier version as the current one (e.g. to start from it)."""
        with self._mutation():
            if version is not None:
                self.model(version)
            self.current_model = version

    # ---------------------------------------------------------------- scores cache

    def scores_path(self, model_key: str) -> Path:
        return self._inside(f"scores/{safe_key(model_key)}.npz", "scores cache")

    def ensemble_folder(self, model_key: str) -> Path:
        """scores/<key>.members/: the suggestive ensemble whose disagreement gave those scores
        (the heat-map shows it per pixel); written by :mod:`qsa_gui.core.workflow.members`."""
        return self._inside(f"scores/{safe_key(model_key)}.members", "suggestive ensemble")

    def save_ensemble(self, model_key: str, write: Callable[[Path], object]) -> Path:
        """Store the suggestive ensemble of ``model_key``: ``write(folder)`` fills a fresh temp
        folder inside scores/, which then replaces :meth:`ensemble_folder` by a rename (a crash
        leaves the old members or none, never half of them). Returns the folder."""
        with self._mutex:
            self._check_writable()
            final = self.ensemble_folder(model_key)
            final.parent.mkdir(exist_ok=True)
            tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
            try:
                tmp.mkdir()
                write(tmp)
                if final.exists():
                    old = final.with_name(f".{final.name}.{secrets.token_hex(4)}.old")
                    os.replace(final, old)
                    shutil.rmtree(old, ignore_errors=True)
                os.replace(tmp, final)
            except OSError as e:
                why = e.strerror or e
                raise ProjectError(f"{final}: could not save the suggestive ensemble ({why})") from e
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            return final

    def save_scores(self, model_key: str, arrays: Mapping[str, Any]) -> None:
        """Cache suggestion scores (plain numeric/string arrays only: never pickles)."""
        with self._mutex:
            self._check_writable()
            data = {str(k): np.asarray(v) for k, v in arrays.items()}
            for k, v in data.items():
                if v.dtype == object:
                    raise ValueError(f"scores array {k!r} has dtype object; only plain arrays are stored")
            try:
                with atomic_open(self.scores_path(model_key), "wb") as fh:
                    np.savez(fh, **data)
            except OSError as e:
                raise ProjectError(
                    f"{self.scores_path(model_key)}: could not save ({e.strerror or e})"
                ) from e

    def load_scores(self, model_key: str) -> dict[str, np.ndarray] | None:
        """The cached arrays, or None when absent or unreadable (a cache is recomputed)."""
        try:
            path = self.scores_path(model_key)
        except ProjectError:  # scores/ linked out of the project: not ours to read
            return None
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception:  # noqa: BLE001 - zip/npy errors vary; a bad cache is just recomputed
            return None
