"""Untrusted files: model files crafted to run code are refused without running it, and a project
whose manifest (or folder) points outside itself is refused or confined, also through the jobs."""

from __future__ import annotations

import io as pyio
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from rel_helpers import labels_for, make_project, micro_segmenter

from qsa_gui import cli
from qsa_gui.core.errors import ModelFileError, ProjectError, QSAError
from qsa_gui.core.jobs import run_job
from qsa_gui.core.model.fcn import load_fcn
from qsa_gui.core.model.segmenter import Segmenter
from qsa_gui.core.project.store import ModelVersion, Project
from qsa_gui.core.quant.modelfile import load_model_state
from qsa_gui.core.settings import Settings
from qsa_gui.core.workflow.predict import segment_job


class _Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_files(folder: Path, marker: Path) -> dict[str, bytes]:
    torch_buf = pyio.BytesIO()
    torch.save({"state_dict": _Payload(marker)}, torch_buf)
    legacy = pyio.BytesIO()
    torch.save({"x": _Payload(marker)}, legacy, _use_new_zipfile_serialization=False)
    return {
        "pickle-protocol-2": pickle.dumps(_Payload(marker), protocol=2),
        "pickle-protocol-5": pickle.dumps(_Payload(marker), protocol=5),
        "pickle-protocol-0": pickle.dumps(_Payload(marker), protocol=0),
        "torch-save-zip": torch_buf.getvalue(),
        "torch-save-legacy": legacy.getvalue(),
    }


def test_pickle_and_torch_files_are_refused_without_running_them(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    # the payload really works when unpickled (so its absence below means something)
    pickle.loads(pickle.dumps(_Payload(tmp_path / "control")))
    assert (tmp_path / "control").exists()
    for name, blob in _malicious_files(tmp_path, marker).items():
        single = tmp_path / f"{name}.qsam"
        single.write_bytes(blob)
        folder = tmp_path / f"seg-{name}"
        folder.mkdir()
        (folder / "member_0.qsam").write_bytes(blob)
        for load in (
            lambda single=single: load_model_state(single),
            lambda single=single: load_fcn(single, device="cpu"),
            lambda folder=folder: Segmenter.load(folder, device="cpu"),
        ):
            with pytest.raises(ModelFileError) as err:
                load()
            assert "pickle" in str(err.value) or "not a QSA model" in str(err.value), (name, err.value)
        assert not marker.exists(), f"{name}: the payload ran"


def _project_with_model(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "p"
    proj = make_project(folder, n_images=2)
    seg = micro_segmenter(1)
    final = proj.new_model_path("seg").with_suffix("")
    seg.save(final, bits=None, meta={})
    proj.add_model(ModelVersion(version=final.name, path=f"models/{final.name}"), make_current=True)
    proj.close()
    return folder, final.name


SETTINGS = Settings(preset="tiny", tile=64, overlap=8, device="cpu")


def test_a_malicious_current_model_stops_segment_job_and_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, version = _project_with_model(tmp_path)
    marker = tmp_path / "PWNED"
    member = folder / "models" / version / "member_0.qsam"
    member.write_bytes(_malicious_files(tmp_path, marker)["torch-save-zip"])
    with Project.open(folder) as proj:
        before = (folder / "project.json").read_bytes()
        with pytest.raises(ModelFileError):
            run_job(segment_job(proj, None, SETTINGS))
        assert (folder / "project.json").read_bytes() == before
    assert cli.main(["segment", str(folder), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "member_0.qsam" in err[0] and "pickle" in err[0]
    assert not marker.exists()


def _edit_manifest(folder: Path, fn) -> None:
    data = json.loads((folder / "project.json").read_text())
    fn(data)
    (folder / "project.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    "field,value",
    [
        ("label_path", "../../outside.tif"),
        ("label_path", "/etc/passwd"),
        ("prediction_path", "predictions/../../outside.tif"),
        ("path", "../secret.png"),
    ],
)
def test_manifest_paths_outside_the_folder_are_refused(tmp_path: Path, field: str, value: str) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=1).close()
    (tmp_path / "outside.tif").write_bytes(b"x")
    _edit_manifest(folder, lambda d: d["images"][0].__setitem__(field, value))
    for read_only in (True, False):
        with pytest.raises(ProjectError, match="outside the project folder"):
            Project.open(folder, read_only=read_only)


def test_model_path_outside_the_folder_is_refused_before_any_job(tmp_path: Path) -> None:
    folder, version = _project_with_model(tmp_path)
    outside = tmp_path / "elsewhere"
    shutil.copytree(folder / "models" / version, outside)
    for path in (str(outside), f"../{outside.name}", f"models/../../{outside.name}"):
        _edit_manifest(folder, lambda d, p=path: d["models"][0].__setitem__("path", p))
        with pytest.raises(ProjectError, match="outside the project folder"):
            Project.open(folder)


def test_symlinks_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    """A label file, or a model folder, that is a symlink to a file outside the project."""
    folder, version = _project_with_model(tmp_path)
    with Project.open(folder) as proj:
        proj.save_labels("img_0001", labels_for(0, 1))
    secret = tmp_path / "secret.tif"
    shutil.copy(folder / "labels" / "img_0001.tif", secret)
    (folder / "labels" / "img_0001.tif").unlink()
    os.symlink(secret, folder / "labels" / "img_0001.tif")
    with pytest.raises(ProjectError, match="via a link"):
        Project.open(folder, read_only=True)
    (folder / "labels" / "img_0001.tif").unlink()
    shutil.copy(secret, folder / "labels" / "img_0001.tif")
    Project.open(folder, read_only=True).close()  # restored: fine again
    moved = tmp_path / "model-elsewhere"
    shutil.move(folder / "models" / version, moved)
    os.symlink(moved, folder / "models" / version)
    with pytest.raises(ProjectError, match="via a link"):
        Project.open(folder)


@pytest.mark.parametrize("sub", ["labels", "predictions", "scores", "models"])
def test_a_data_folder_swapped_for_a_symlink_is_never_written_through(tmp_path: Path, sub: str) -> None:
    """The folder is replaced by a link to somewhere else while the project is open (or in the
    project as received): saves refuse with a ProjectError and write nothing outside."""
    folder, _version = _project_with_model(tmp_path)
    outside = tmp_path / "victim"
    outside.mkdir()
    with Project.open(folder) as proj:
        shutil.rmtree(folder / sub)
        os.symlink(outside, folder / sub)
        ops = {
            "labels": lambda: proj.save_labels("img_0001", labels_for(0, 2)),
            "predictions": lambda: proj.save_prediction("img_0001", labels_for(0, 3), "seg-v0009"),
            "scores": lambda: proj.save_scores("k", {"a": np.arange(3)}),
            "models": lambda: proj.new_model_path("seg"),
        }
        with pytest.raises(QSAError, match="outside the project folder"):
            ops[sub]()
    assert list(outside.iterdir()) == [], list(outside.iterdir())


def test_segment_job_never_writes_through_a_linked_predictions_folder(tmp_path: Path) -> None:
    folder, _version = _project_with_model(tmp_path)
    outside = tmp_path / "victim"
    outside.mkdir()
    shutil.rmtree(folder / "predictions")
    os.symlink(outside, folder / "predictions")
    with pytest.raises(ProjectError, match="'predictions' points outside"):  # as received
        Project.open(folder)
    Project.open(folder, read_only=True).close()  # reading it is harmless
    os.unlink(folder / "predictions")
    (folder / "predictions").mkdir()
    with Project.open(folder) as proj:  # linked away while open
        shutil.rmtree(folder / "predictions")
        os.symlink(outside, folder / "predictions")
        before = (folder / "project.json").read_bytes()
        with pytest.raises(QSAError, match="outside the project folder"):
            run_job(segment_job(proj, None, SETTINGS))
        assert (folder / "project.json").read_bytes() == before
        assert proj.image("img_0001").prediction_path is None
    assert list(outside.iterdir()) == []
