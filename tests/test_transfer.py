"""Import and export (core/workflow/transfer.py): one implementation for the CLI and the GUI."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from qsa_gui import cli
from qsa_gui.core.data.images import read_labels, write_image
from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.jobs import CancelToken, run_job
from qsa_gui.core.project.store import Project
from qsa_gui.core.workflow.transfer import ImportCancelled, export_job, export_stems, import_job


def _images(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    data = generate_dataset(len(names), seed=seed, size=(32, 48))
    out = []
    for name, sample in zip(names, data, strict=True):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, sample.image)
        out.append(path)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def clashing(tmp_path: Path) -> Path:
    """A project of 6 labelled images, two pairs of which share a file name (a/g1.png, b/g1.png...)."""
    paths = _images(tmp_path / "src", ["a/g1.png", "b/g1.png", "a/G2.png", "b/g2.tif", "c/g3.png", "g4.png"])
    folder = tmp_path / "proj"
    with Project.create(folder) as p:
        report = p.import_images(paths)
        assert len(report.added) == 6
        for k, image_id in enumerate(report.added):
            lab = np.zeros(p.image(image_id).shape, np.int32)
            lab[2 : 4 + k, 3:9] = k + 1
            p.save_labels(image_id, lab, done=True)
        p.save_prediction(report.added[0], np.ones(p.image(report.added[0]).shape, np.int32), "seg-v0001")
    return folder


def test_images_that_share_a_name_do_not_overwrite_each_other(clashing: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Project.open(clashing) as p:
        report = run_job(export_job(p, out))
        written = sorted(f.name for f in (out / "labels").iterdir())
        assert report.n_labels == 6 and len(written) == 6, written  # was "exported 6", 5 files
        for rec in p.images:
            stem = export_stems(p.images)[rec.id]
            np.testing.assert_array_equal(read_labels(out / "labels" / f"{stem}.tif"), p.load_labels(rec.id))
    assert "g3.tif" in written and "g4.tif" in written  # unique names stay plain
    assert sum(n.startswith("g1__") for n in written) == 2  # both of a clash carry their id
    assert sum(n.lower().startswith("g2__") for n in written) == 2  # case-insensitive clash
    assert report.n_predictions == 1 and (out / "predictions").is_dir()


def test_cli_and_gui_job_write_the_same_files(clashing: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(["export", str(clashing), str(tmp_path / "cli")]) == 0
    assert "exported 6 label images, 1 predictions" in capsys.readouterr().out
    with Project.open(clashing) as p:
        run_job(export_job(p, tmp_path / "gui"))
    a, b = _files(tmp_path / "cli"), _files(tmp_path / "gui")
    assert sorted(a) == sorted(b) and "annotations.csv" in a
    assert all(a[k] == b[k] for k in a)


def test_cancelled_import_says_how_many_images_stay(tmp_path: Path) -> None:
    paths = _images(tmp_path / "src", [f"i{k}.png" for k in range(4)])
    cancel = CancelToken()
    with Project.create(tmp_path / "proj") as p:
        job = import_job(p, paths, cancel)
        next(job), next(job)  # two files imported (each committed)
        cancel.cancel()
        with pytest.raises(ImportCancelled) as info:
            next(job)
        assert len(info.value.report.added) == 2 and len(p.images) == 2
        assert "2 of 4 image(s) were imported before the cancel" in str(info.value)
        assert "nothing was changed" not in str(info.value).lower()
        early = CancelToken()
        early.cancel()
        with pytest.raises(ImportCancelled, match="nothing was changed"):
            run_job(import_job(p, paths, early))


def test_cli_import_goes_through_the_job(tmp_path: Path, capsys) -> None:
    paths = _images(tmp_path / "src", ["x.png", "y.png"])
    (tmp_path / "src" / "bad.png").write_bytes(b"not a png")
    folder = tmp_path / "proj"
    Project.create(folder).close()
    assert cli.main(["import", str(folder), str(tmp_path / "src")]) == 0
    captured = capsys.readouterr()
    assert "imported 2 images" in captured.out and "bad.png" in captured.err
    with Project.open(folder, read_only=True) as p:
        assert sorted(r.name for r in p.images) == sorted(q.name for q in paths)


def test_cli_import_interrupted_says_how_many_images_stay(tmp_path: Path, capsys, monkeypatch) -> None:
    paths = _images(tmp_path / "src", [f"i{k}.png" for k in range(4)])
    folder = tmp_path / "proj"
    Project.create(folder).close()
    real, calls = Project.import_images, []

    def ctrl_c_on_the_third_file(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # a real Ctrl-C: the CLI's handler sets the cancel token
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Project, "import_images", ctrl_c_on_the_third_file)
    assert cli.main(["import", str(folder), *map(str, paths)]) != 0
    err = capsys.readouterr().err.strip()
    # the third file was being imported when Ctrl-C came: it finishes, then the job stops
    assert "3 image(s) imported before the cancel stay in the project" in err
    monkeypatch.setattr(Project, "import_images", real)
    with Project.open(folder, read_only=True) as p:
        assert len(p.images) == 3
