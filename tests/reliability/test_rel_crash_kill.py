"""Crash safety: SIGKILL a process while it saves labels, writes project.json or saves models,
then reopen the project and prove that every acknowledged save is there, bit for bit.

Children are forked from a preloaded forkserver (numpy, tifffile, torch and the project code
imported once), so a kill trial costs milliseconds of start-up, not seconds. Two kinds of kill:
at a random moment (timing, many trials), and deterministically at every file-system step of
the first saves (before / after each fsync, replace and rename). The count of survived kills is
printed (pytest -s) and asserted.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import rel_kill_child
from rel_helpers import labels_for, make_project, micro_segmenter, state_equal

from qsa_gui.core.errors import ModelFileError
from qsa_gui.core.model.fcn import load_fcn
from qsa_gui.core.model.segmenter import Segmenter
from qsa_gui.core.project.store import STATUS_LABELLED, STATUS_UNLABELLED, Project

pytestmark = pytest.mark.skipif(os.name != "posix" or not hasattr(signal, "SIGKILL"), reason="POSIX kill")

N_KILLS_DEFAULT = 30
N_KILLS_SLOW = 200
SURVIVED: dict[str, int] = {}


def _ctx() -> mp.context.BaseContext:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(
        [
            "rel_helpers",
            "rel_kill_child",
            "qsa_gui.core.workflow.common",
            "qsa_gui.core.data.images",
            "tifffile",
        ]
    )
    return ctx


def _read_ack(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    for line in lines:
        assert not line.startswith("error"), f"child failed: {line}"
    return [line.split() for line in lines if line]


def _run_child(
    mode: str, folder: Path, ack: Path, start: int, rng: random.Random, crash_at: int | None = None
) -> str:
    """Start a worker, SIGKILL it at a random moment after it is ready (or let it kill itself at
    ``crash_at``); return how it ended."""
    proc = _ctx().Process(target=rel_kill_child.run, args=(mode, str(folder), str(ack), start, crash_at))
    proc.start()
    try:
        deadline = time.monotonic() + 60
        if crash_at is None:
            while not any(r[0] == "ready" for r in _read_ack(ack)):
                assert proc.is_alive() or any(r[0] == "ready" for r in _read_ack(ack)), "child died early"
                assert time.monotonic() < deadline, "child never became ready"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.2))
            proc.kill()
        proc.join(60)
        assert proc.exitcode is not None, "child did not end"
        assert proc.exitcode == -signal.SIGKILL, f"child ended with {proc.exitcode}: {_read_ack(ack)[-3:]}"
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    return "killed"


# ------------------------------------------------------------------------------------ labels


class LabelLedger:
    """What the parent knows: per image the versions that may be on disk now."""

    def __init__(self, n_images: int) -> None:
        self.allowed: dict[int, set[int | None]] = {i: {None} for i in range(n_images)}
        self.done_acked: set[int] = set()
        self.pred_allowed: dict[int, set[int | None]] = {i: {None} for i in range(n_images)}
        self.next_version = 1
        self.acked = 0
        self.mid_save = 0  # kills that landed between a 'begin' and its 'saved'

    def absorb(self, rows: list[list[str]]) -> None:
        flight: tuple[int, int] | None = None
        pflight: tuple[int, int] | None = None
        for r in rows:
            if r[0] == "begin":
                flight = (int(r[1]), int(r[2]))
            elif r[0] == "saved":
                i, v = int(r[1]), int(r[2])
                self.allowed[i] = {v}
                if r[3] == "1":
                    self.done_acked.add(i)
                flight = None
                self.acked += 1
            elif r[0] == "pbegin":
                pflight = (int(r[1]), int(r[2]))
            elif r[0] == "psaved":
                self.pred_allowed[int(r[1])] = {int(r[2])}
                pflight = None
            if r[0] in ("begin", "saved"):
                self.next_version = max(self.next_version, int(r[2]) + 2)
        if flight is not None:  # the save the kill interrupted: either outcome is fine
            self.mid_save += 1
            self.allowed[flight[0]] = self.allowed[flight[0]] | {flight[1]}
        if pflight is not None:
            self.pred_allowed[pflight[0]] = self.pred_allowed[pflight[0]] | {pflight[1]}

    def verify(self, folder: Path) -> None:
        """Reopen (taking over the dead child's lock) and compare every image."""
        with Project.open(folder, read_only=True) as ro:  # readable without the lock, too
            assert len(ro.images) == len(self.allowed)
        with Project.open(folder) as proj:
            ids = [r.id for r in proj.images]
            for i, image_id in enumerate(ids):
                got = proj.load_labels(image_id)
                matches = [
                    v
                    for v in self.allowed[i]
                    if (got is None and v is None)
                    or (got is not None and v is not None and np.array_equal(got, labels_for(i, v)))
                ]
                assert matches, f"{image_id}: labels on disk are none of versions {self.allowed[i]}"
                self.allowed[i] = {matches[0]}  # now known exactly
                status = proj.image(image_id).status
                if i in self.done_acked:
                    assert status == STATUS_LABELLED, f"{image_id}: acknowledged 'done' lost ({status})"
                if got is None:
                    assert status == STATUS_UNLABELLED
                pred = proj.load_prediction(image_id)
                pmatch = [
                    v
                    for v in self.pred_allowed[i]
                    if (pred is None and v is None)
                    or (pred is not None and v is not None and np.array_equal(pred, labels_for(i, v + 50000)))
                ]
                assert pmatch, f"{image_id}: prediction on disk is none of {self.pred_allowed[i]}"
                self.pred_allowed[i] = {pmatch[0]}
            # nothing but temp files of interrupted writes is left unreferenced, and those are hidden
            for sub in ("labels", "predictions"):
                for f in (folder / sub).iterdir():
                    assert f.name.startswith(".") or f.name.startswith("img_"), f


def _kill_labels(tmp_path: Path, n_kills: int, seed: int) -> int:
    folder = tmp_path / "proj"
    make_project(folder).close()
    ledger = LabelLedger(5)
    rng = random.Random(seed)
    survived = 0
    for trial in range(n_kills):
        ack = tmp_path / f"ack{trial}.txt"
        _run_child("labels", folder, ack, ledger.next_version, rng)
        ledger.absorb(_read_ack(ack))
        ledger.verify(folder)
        survived += 1
    assert ledger.acked >= n_kills, "too few saves were acknowledged for the test to mean anything"
    assert ledger.mid_save >= n_kills // 3, "too few kills landed inside a save"
    print(f"\n{ledger.acked} acknowledged saves, {ledger.mid_save} kills inside a save")
    return survived


def test_random_kills_while_saving_labels_lose_nothing(tmp_path: Path) -> None:
    survived = _kill_labels(tmp_path, N_KILLS_DEFAULT, seed=1)
    SURVIVED["labels (random)"] = survived
    print(f"\nlabel kills survived with nothing lost: {survived}/{N_KILLS_DEFAULT}")
    assert survived == N_KILLS_DEFAULT


@pytest.mark.slow
def test_random_kills_while_saving_labels_lose_nothing_many(tmp_path: Path) -> None:
    survived = _kill_labels(tmp_path, N_KILLS_SLOW, seed=2)
    print(f"\nlabel kills survived with nothing lost: {survived}/{N_KILLS_SLOW}")
    assert survived == N_KILLS_SLOW


def test_kill_at_every_file_system_step_of_label_saves(tmp_path: Path) -> None:
    """Deterministic: the child kills itself before/after its k-th fsync/replace/rename, for every
    k over its first saves (lock, labels file, manifest, prediction, acknowledgements)."""
    folder = tmp_path / "proj"
    make_project(folder).close()
    ledger = LabelLedger(5)
    points = 40
    for k in range(1, points + 1):
        ack = tmp_path / f"ack{k}.txt"
        _run_child("labels", folder, ack, ledger.next_version, random.Random(0), crash_at=k)
        ledger.absorb(_read_ack(ack))
        ledger.verify(folder)
    print(f"\nlabel crash points survived: {points}")


# ------------------------------------------------------------------------------------ models


def _member_meta(folder: Path) -> dict:
    return load_fcn(folder / "member_0.qsam", device="cpu")[1]


def _verify_models(
    folder: Path, saved: dict[str, int], files: dict[str, int], flight: set[str], checked: set[str]
) -> int:
    """Every acknowledged model loads bit-exactly; every visible model entry loads completely.
    Model files are never rewritten, so an entry verified once (``checked``) is not reloaded."""
    with Project.open(folder) as proj:
        versions = {m.version for m in proj.models}
        for name, v in saved.items():
            assert name in versions, f"acknowledged model {name} missing from the manifest"
            if name in checked:
                continue
            seg = Segmenter.load(proj.model_path(name), device="cpu")
            want = micro_segmenter(v, n_members=2, bits=None if v % 2 else 5)
            assert len(seg.models) == 2 and all(
                state_equal(a, b) for a, b in zip(seg.models, want.models, strict=True)
            )
        if saved:
            last = max(saved, key=saved.get)
            assert proj.current_model in {last} | flight, (proj.current_model, last, flight)
        for m in proj.models:  # the manifest never points at a hidden (temporary) entry
            assert not Path(m.path).name.startswith(".")
        hidden = 0
        for entry in proj.models_dir.iterdir():
            if entry.name.startswith("."):
                hidden += 1  # an interrupted write's temp: invisible to every loader
                continue
            if entry.name in checked:
                continue
            checked.add(entry.name)
            if entry.is_dir():  # committed by rename, so complete even if not yet in the manifest
                seg = Segmenter.load(entry, device="cpu")
                meta = _member_meta(entry)
                assert len(seg.models) == meta["n_members"] == 2, entry
                want = micro_segmenter(meta["v"], n_members=2, bits=None if meta["v"] % 2 else 5)
                assert all(state_equal(a, b) for a, b in zip(seg.models, want.models, strict=True))
            else:
                model, meta = load_fcn(entry, device="cpu")  # atomic: whole or absent
                want = micro_segmenter(meta["v"], n_members=2, bits=None if meta["v"] % 2 else 5)
                assert state_equal(model, want.models[0]), entry
        for name, v in files.items():
            model, meta = load_fcn(proj.models_dir / name, device="cpu")
            assert meta["v"] == v
    return hidden


def _kill_models(tmp_path: Path, n_kills: int, seed: int, crash_points: bool = False) -> int:
    folder = tmp_path / "proj"
    make_project(folder, n_images=1).close()
    rng = random.Random(seed)
    saved: dict[str, int] = {}
    files: dict[str, int] = {}
    checked: set[str] = set()
    start = 1
    # Saves begun since the last acknowledged one: a kill after the commit but before the ack
    # leaves such a model current, also when the next trial is killed before it begins its own.
    flight: set[str] = set()
    for trial in range(n_kills):
        ack = tmp_path / f"ack{trial}.txt"
        _run_child("models", folder, ack, start, rng, crash_at=trial + 1 if crash_points else None)
        for r in _read_ack(ack):
            if r[0] == "begin":
                flight.add(r[1])
            elif r[0] == "saved":
                saved[r[1]] = int(r[2])
                flight = set()
            elif r[0] == "file":
                files[r[1]] = int(r[2])
            if r[0] in ("begin", "saved", "file"):
                start = max(start, int(r[-1]) + 1)
        _verify_models(folder, saved, files, flight, checked)
    assert saved, "no model save was acknowledged"
    return n_kills


def test_random_kills_while_saving_models_never_leave_a_half_model(tmp_path: Path) -> None:
    n = _kill_models(tmp_path, N_KILLS_DEFAULT // 2, seed=3)
    SURVIVED["models (random)"] = n
    print(f"\nmodel kills survived: {n}")


def test_kill_at_every_file_system_step_of_model_saves(tmp_path: Path) -> None:
    n = _kill_models(tmp_path, 44, seed=4, crash_points=True)
    print(f"\nmodel crash points survived: {n}")


@pytest.mark.slow
def test_random_kills_while_saving_models_many(tmp_path: Path) -> None:
    _kill_models(tmp_path, N_KILLS_SLOW // 2, seed=5)


def test_a_half_written_model_file_is_refused_not_loaded(tmp_path: Path) -> None:
    """What a kill during a non-atomic copy would leave: every truncation is a ModelFileError."""
    seg = micro_segmenter(1, bits=5)
    path = tmp_path / "m.qsam"
    from qsa_gui.core.model.fcn import save_fcn

    size = save_fcn(path, seg.models[0], bits=5, meta={"v": 1})
    data = path.read_bytes()
    cuts = sorted({1, 7, 8, 12, 20, 24, size // 3, size // 2, size - 1})
    for cut in cuts:
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError) as err:
            load_fcn(path, device="cpu")
        assert str(path) in str(err.value)
