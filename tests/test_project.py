"""Project folder: round trip, lock, read-only, corrupt manifests, path safety, import, statuses,
suggestions, models, atomicity and a property test over random operation sequences."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsa_gui.core.errors import InputFileError, ProjectError
from qsa_gui.core.project import store as project_mod
from qsa_gui.core.project.store import (
    STATUS_IN_PROGRESS,
    STATUS_LABELLED,
    STATUS_UNLABELLED,
    ImageRecord,
    ModelVersion,
    Project,
    SuggestionRound,
)


def write_rgb(path: Path, h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    img = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    tifffile.imwrite(path, img)
    return img


def blob_labels(h: int, w: int, n: int = 2, seed: int = 0) -> np.ndarray:
    lab = np.zeros((h, w), np.int32)
    rng = np.random.default_rng(seed)
    for k in range(1, n + 1):
        y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
        lab[y : y + 3, x : x + 3] = k
    return lab


@pytest.fixture
def src(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "src"
    folder.mkdir()
    paths = []
    for i in range(4):
        p = folder / f"gland_{i}.tif"
        write_rgb(p, seed=i)
        paths.append(p)
    return paths


@pytest.fixture
def proj(tmp_path: Path, src: list[Path]):
    p = Project.create(tmp_path / "proj", name="demo", settings={"k": 2})
    p.import_images(src)
    yield p
    p.close()


def state(p: Project) -> tuple:
    return (p.name, p.settings, p.images, p.rounds, p.models, p.current_model)


def read_manifest(p: Project) -> dict:
    return json.loads((p.folder / "project.json").read_text("utf-8"))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ------------------------------------------------------------------------ round trip


def test_create_open_round_trip_restores_everything(tmp_path: Path, src: list[Path]) -> None:
    gt = blob_labels(12, 16, seed=5)
    gt_path = tmp_path / "gt.tif"
    tifffile.imwrite(gt_path, gt.astype(np.uint16))
    with Project.create(tmp_path / "proj", settings={"k": 2, "bits": 4}) as p:
        rep = p.import_images(src[:3])
        assert rep.added == ["img_0001", "img_0002", "img_0003"] and rep.skipped == []
        rep = p.import_images([src[3]], split="test", labels={str(src[3]): gt_path})
        assert rep.added == ["img_0004"]
        lab = blob_labels(12, 16, seed=1)
        p.save_labels("img_0001", lab, done=True, user="ann")
        p.save_labels("img_0002", blob_labels(12, 16, seed=2))  # autosave, not done
        p.add_round(
            SuggestionRound(
                strategy="qsa",
                model_key="ens-1",
                image_ids=["img_0003", "img_0002"],
                scores={"img_0003": {"uncertainty": 0.5, "representativeness": 0.25}},
            )
        )
        pred = blob_labels(12, 16, n=3, seed=9)
        mpath = p.new_model_path("seg")
        mpath.write_bytes(b"model-1")
        p.add_model(
            ModelVersion(
                version=mpath.stem,
                path=str(mpath),
                bits=4,
                n_labelled=1,
                metrics={"object_f1": np.float32(0.5)},
            ),
            make_current=True,
        )
        p.save_prediction("img_0003", pred, mpath.stem)
        p.save_scores("ens-1", {"uncertainty": np.array([0.1, 0.2]), "ids": np.array(["a", "b"])})
        before = state(p)
        folder = p.folder
    assert not (folder / ".lock").exists()

    with Project.open(folder) as q:
        assert state(q) == before
        assert q.name == "proj" and q.settings == {"k": 2, "bits": 4}
        assert q.image("img_0001").status == STATUS_LABELLED
        assert q.image("img_0001").labelled_by == "ann"
        assert q.image("img_0002").status == STATUS_IN_PROGRESS
        assert q.image("img_0004").labelled_by == "import" and q.image("img_0004").split == "test"
        np.testing.assert_array_equal(q.load_labels("img_0001"), lab)
        assert q.load_labels("img_0001").dtype == np.int32
        np.testing.assert_array_equal(q.load_labels("img_0004"), gt)
        assert q.load_labels("img_0003") is None
        np.testing.assert_array_equal(q.load_prediction("img_0003"), pred)
        assert q.image("img_0003").prediction_model == "seg-v0001"
        assert q.models[0].metrics == {"object_f1": 0.5} and q.current_model == "seg-v0001"
        assert q.model_path("seg-v0001").read_bytes() == b"model-1"
        sc = q.load_scores("ens-1")
        np.testing.assert_array_equal(sc["uncertainty"], [0.1, 0.2])
        assert list(sc["ids"]) == ["a", "b"]
        img = q.load_image("img_0002")
        assert img.dtype == np.float32 and img.shape == (12, 16, 3)
        np.testing.assert_allclose(img, tifffile.imread(src[1]) / 255.0, atol=1e-6)
        # the copy is byte-identical and named by id, original name kept
        assert (folder / q.image("img_0002").path).read_bytes() == src[1].read_bytes()
        assert q.image("img_0002").path == "images/img_0002.tif" and q.image("img_0002").name == "gland_1.tif"
        assert q.image("img_0003").suggestion == {
            "round": 1,
            "rank": 1,
            "uncertainty": 0.5,
            "representativeness": 0.25,
            "strategy": "qsa",
        }
        assert q.image("img_0001").suggestion is None


def test_manifest_header_and_timestamps(proj: Project) -> None:
    proj.save_labels("img_0001", blob_labels(12, 16), done=True)
    m = read_manifest(proj)
    assert m["schema_version"] == 1 and m["app"] == "qsa-gui" and m["name"] == "demo"
    at = dt.datetime.fromisoformat(proj.image("img_0001").labelled_at)
    assert at.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.timezone.utc) - at).total_seconds()) < 120
    assert proj.image("img_0001").labelled_by  # a default user name


def test_create_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file.txt").write_text("hi")
    with pytest.raises(ProjectError, match="not empty"):
        Project.create(tmp_path / "x")
    with Project.create(tmp_path / "y"):
        pass
    with pytest.raises(ProjectError, match="already contains a project"):
        Project.create(tmp_path / "y")


# ------------------------------------------------------------------------ lock / read-only


def test_lock_conflict_and_read_only_alongside(proj: Project) -> None:
    lock = json.loads((proj.folder / ".lock").read_text())
    assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname() and lock["time"]
    with pytest.raises(ProjectError, match=rf"open in another window \(pid {os.getpid()}\)"):
        Project.open(proj.folder)
    ro = Project.open(proj.folder, read_only=True)  # viewing needs no lock
    assert state(ro) == state(proj)
    ro.close()
    assert (proj.folder / ".lock").exists()  # closing a reader leaves the writer's lock
    proj.close()
    with Project.open(proj.folder) as again:
        assert again.images == proj.images


def test_stale_lock_is_taken_over(proj: Project) -> None:
    folder = proj.folder
    proj.close()
    pid = dead_pid()
    (folder / ".lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "time": "x"}))
    with Project.open(folder) as p:
        assert json.loads((folder / ".lock").read_text())["pid"] == os.getpid()
        p.set_status("img_0001", STATUS_IN_PROGRESS)  # writable
    # unreadable leftover lock (older than a few seconds) is stale too
    (folder / ".lock").write_bytes(b"\x00garbage")
    old = time.time() - 60
    os.utime(folder / ".lock", (old, old))
    with Project.open(folder):
        pass
    # a lock from another computer cannot be checked: refused with its host named
    (folder / ".lock").write_text(json.dumps({"pid": 1, "host": "other-host-xyz", "time": "x"}))
    with pytest.raises(ProjectError, match="other-host-xyz"):
        Project.open(folder)


def test_read_only_refuses_every_write(proj: Project) -> None:
    proj.close()
    before = (proj.folder / "project.json").read_bytes()
    with Project.open(proj.folder, read_only=True) as ro:
        assert ro.load_labels("img_0001") is None
        writes = [
            lambda: ro.save_labels("img_0001", blob_labels(12, 16)),
            lambda: ro.set_status("img_0001", STATUS_IN_PROGRESS),
            lambda: ro.import_images([]),
            lambda: ro.add_round(SuggestionRound(image_ids=["img_0001"])),
            lambda: ro.save_prediction("img_0001", blob_labels(12, 16), "v"),
            lambda: ro.new_model_path("seg"),
            lambda: ro.save_scores("k", {"a": np.zeros(2)}),
            ro.save,
        ]
        for w in writes:
            with pytest.raises(ProjectError, match="read-only"):
                w()
    assert (proj.folder / "project.json").read_bytes() == before
    assert not (proj.folder / "labels" / "img_0001.tif").exists()
    closed = Project.open(proj.folder)
    closed.close()
    with pytest.raises(ProjectError, match="closed"):
        closed.set_status("img_0001", STATUS_IN_PROGRESS)


# ------------------------------------------------------------------------ corrupt manifests


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda b: b[: len(b) // 2], r"project\.json is corrupt or truncated \(.* at line \d+"),
        (lambda b: b"", r"project\.json is empty"),
        (lambda b: b"\xff\xfe\x00garbage\x80", r"project\.json is not UTF-8"),
        (lambda b: b"[1, 2, 3]", r"project\.json is not a JSON object"),
        (
            lambda b: b.replace(b'"schema_version": 1', b'"schema_version": 7'),
            r"made by a newer version of qsa-gui \(schema 7 > 2\)",
        ),
        (lambda b: b.replace(b'"app": "qsa-gui"', b'"app": "other"'), r"not a qsa-gui project"),
        (
            lambda b: b.replace(b'"status": "unlabelled"', b'"status": "done?"', 1),
            r"images\[0\] is malformed",
        ),
        (
            lambda b: b.replace(b'"current_model": null', b'"current_model": "ghost"'),
            r"current_model 'ghost'",
        ),
    ],
)
def test_bad_manifest_is_a_clear_project_error(proj: Project, mangle, expected: str) -> None:
    proj.close()
    mf = proj.folder / "project.json"
    good = mf.read_bytes()
    mf.write_bytes(mangle(good))
    with pytest.raises(ProjectError, match=expected) as info:
        Project.open(proj.folder)
    assert "project.json" in str(info.value)
    assert not (proj.folder / ".lock").exists()  # a failed open leaves no lock behind
    mf.write_bytes(good)
    Project.open(proj.folder).close()


def test_not_a_project_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such project folder"):
        Project.open(tmp_path / "nope")
    with pytest.raises(ProjectError, match="no project.json"):
        Project.open(tmp_path)


# ------------------------------------------------------------------------ path safety


def _edit_manifest(folder: Path, edit) -> None:
    mf = folder / "project.json"
    data = json.loads(mf.read_text("utf-8"))
    edit(data)
    mf.write_text(json.dumps(data), "utf-8")


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (lambda d: d["images"][0].update(label_path="../evil.tif"), "label_path"),
        (lambda d: d["images"][0].update(prediction_path="predictions/../../evil.tif"), "prediction_path"),
        (lambda d: d["images"][0].update(path="/etc/passwd"), "copied image path"),
        (lambda d: d["images"][0].update(path="../src/gland_0.tif"), "path"),
        (lambda d: d["models"].append({"version": "v1", "path": "../evil.qsam"}), "model v1"),
        (lambda d: d["models"].append({"version": "v1", "path": "/tmp/evil.qsam"}), "model v1"),
        (lambda d: d["images"][0].update(id="../img"), "not a valid image id"),
    ],
)
def test_manifest_paths_escaping_the_folder_are_refused(proj: Project, edit, what: str) -> None:
    proj.close()
    _edit_manifest(proj.folder, edit)
    with pytest.raises(ProjectError, match="outside the project folder|must be relative|not a valid") as info:
        Project.open(proj.folder)
    assert what in str(info.value)


def test_symlink_escaping_the_folder_is_refused(proj: Project, tmp_path: Path) -> None:
    proj.save_labels("img_0001", blob_labels(12, 16), done=True)
    proj.close()
    outside = tmp_path / "outside.tif"
    outside.write_bytes(b"x")
    link = proj.folder / "labels" / "img_0001.tif"
    link.unlink()
    link.symlink_to(outside)
    with pytest.raises(ProjectError, match="via a link"):
        Project.open(proj.folder)
    link.unlink()
    (proj.folder / "labels").rmdir()
    (proj.folder / "labels").symlink_to(tmp_path, target_is_directory=True)  # whole folder linked out
    with pytest.raises(ProjectError, match="outside the project folder"):
        Project.open(proj.folder)


def test_reference_images_may_be_absolute_and_missing_is_flagged(tmp_path: Path, src: list[Path]) -> None:
    with Project.create(tmp_path / "p") as p:
        rep = p.import_images(src[:2], copy=False)
        assert p.image(rep.added[0]).path == str(src[0].absolute())
        assert not any((p.folder / "images").iterdir())
        assert p.missing_images() == []
    src[0].unlink()
    with Project.open(tmp_path / "p") as p:
        assert p.missing_images() == ["img_0001"]
        assert p.image("img_0001").missing and not p.image("img_0002").missing
        assert p.unlabelled_ids() == ["img_0002"]
        with pytest.raises(InputFileError, match="missing"):
            p.load_image("img_0001")
        p.set_status("img_0002", STATUS_IN_PROGRESS)  # still usable and writable


# ------------------------------------------------------------------------ import


def test_bad_files_are_skipped_with_reasons(tmp_path: Path, src: list[Path]) -> None:
    garbage = tmp_path / "broken.tif"
    garbage.write_bytes(b"II*\x00" + b"\x13" * 40)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with Project.create(tmp_path / "p") as p:
        rep = p.import_images([src[0], garbage, notes, empty, tmp_path / "absent.tif", src[1], src[0]])
        assert rep.added == ["img_0001", "img_0002"]
        skipped = dict(rep.skipped)
        assert set(skipped) == {
            str(garbage),
            str(notes),
            str(empty),
            str(tmp_path / "absent.tif"),
            str(src[0]),
        }
        assert "unsupported file type" in skipped[str(notes)]
        assert "no such file" in skipped[str(tmp_path / "absent.tif")]
        assert skipped[str(garbage)] and skipped[str(empty)]
        assert skipped[str(src[0])].startswith("already in project")
        # the same content under another name is a duplicate too
        twin = tmp_path / "twin.tif"
        twin.write_bytes(src[1].read_bytes())
        rep = p.import_images([twin, src[2]])
        assert rep.added == ["img_0003"] and rep.skipped == [(str(twin), "already in project (as img_0002)")]
        assert sorted(x.name for x in (p.folder / "images").iterdir()) == [
            "img_0001.tif",
            "img_0002.tif",
            "img_0003.tif",
        ]


def test_import_with_bad_labels_skips_that_image(tmp_path: Path, src: list[Path]) -> None:
    wrong = tmp_path / "wrong.tif"
    tifffile.imwrite(wrong, np.zeros((5, 5), np.uint16))
    with Project.create(tmp_path / "p") as p:
        rep = p.import_images(src[:2], labels={src[0]: wrong})
        assert rep.added == ["img_0001"]
        assert rep.skipped[0][0] == str(src[0]) and "wrong.tif" in rep.skipped[0][1]
        assert p.image("img_0001").status == STATUS_UNLABELLED


def test_odd_file_names_are_sanitized(tmp_path: Path) -> None:
    weird = tmp_path / os.fsdecode(b"caf\xe9 \xff\x01name.tif")  # not UTF-8, with a control char
    write_rgb(weird, seed=1)
    long = tmp_path / ("g" * 240 + ".png")
    from PIL import Image  # not io.write_image: its temp name would exceed 255 bytes here

    Image.fromarray(np.full((6, 7, 3), 9, np.uint8)).save(long)
    with Project.create(tmp_path / "p") as p:
        rep = p.import_images([weird, long])
        assert rep.skipped == [] and len(rep.added) == 2
        rep = p.import_images([weird])
        assert rep.skipped[0][0].encode("utf-8") and "already in project" in rep.skipped[0][1]
        for rec in p.images:
            rec.name.encode("utf-8")  # valid text
            assert rec.name.isprintable() and len(rec.name) <= 120
            assert Path(rec.path).name in ("img_0001.tif", "img_0002.png")
        assert p.image("img_0001").name.startswith("caf")
        assert p.image("img_0002").name.endswith(".png")
    with Project.open(tmp_path / "p") as q:
        assert q.image("img_0002").shape == (6, 7)


# ------------------------------------------------------------------------ labels and statuses


def test_save_labels_validates_shape_and_dtype(proj: Project) -> None:
    with pytest.raises(InputFileError, match=r"img_0001.*gland_0\.tif.*\(12, 17\)") as info:
        proj.save_labels("img_0001", np.zeros((12, 17), np.int32))
    assert info.value.path.name == "img_0001.tif"
    with pytest.raises(InputFileError, match="negative"):
        proj.save_labels("img_0001", np.full((12, 16), -1, np.int64))
    with pytest.raises(InputFileError, match="whole numbers"):
        proj.save_labels("img_0001", np.full((12, 16), 0.5))
    with pytest.raises(InputFileError):
        proj.save_labels("img_0001", np.zeros((12, 16, 3), np.int32))
    assert proj.image("img_0001").status == STATUS_UNLABELLED and proj.image("img_0001").label_path is None
    lab = blob_labels(12, 16).astype(np.float64)
    proj.save_labels("img_0001", lab)
    out = proj.load_labels("img_0001")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, lab)
    proj.save_labels("img_0002", np.ones((12, 16), bool), done=True)
    assert proj.load_labels("img_0002").max() == 1


def test_status_transitions(proj: Project) -> None:
    lab = blob_labels(12, 16)
    proj.save_labels("img_0001", lab)  # autosave while painting
    assert proj.image("img_0001").status == STATUS_IN_PROGRESS
    assert "img_0001" not in proj.unlabelled_ids() and "img_0001" not in proj.labelled_ids()
    proj.save_labels("img_0001", lab, done=True, user="ann")
    rec = proj.image("img_0001")
    assert (rec.status, rec.labelled_by) == (STATUS_LABELLED, "ann")
    proj.save_labels("img_0001", lab)  # later autosave of a labelled image keeps it labelled
    assert proj.image("img_0001").status == STATUS_LABELLED
    proj.set_status("img_0001", STATUS_UNLABELLED)
    assert proj.image("img_0001").labelled_by is None and proj.image("img_0001").labelled_at is None
    proj.set_status("img_0001", STATUS_LABELLED, user="bob")  # labels exist
    assert proj.image("img_0001").labelled_by == "bob"
    with pytest.raises(ProjectError, match="no labels"):
        proj.set_status("img_0002", STATUS_LABELLED)
    with pytest.raises(ValueError):
        proj.set_status("img_0002", "done")
    with pytest.raises(ProjectError, match="no image 'img_9999'"):
        proj.image("img_9999")
    assert proj.labelled_ids() == ["img_0001"]
    assert proj.unlabelled_ids() == ["img_0002", "img_0003", "img_0004"]
    proj.set_split("img_0004", "test")
    assert proj.unlabelled_ids("test") == ["img_0004"]


# ------------------------------------------------------------------------ rounds and suggestions


def test_next_suggested_order_and_skipping(proj: Project) -> None:
    assert proj.next_suggested() is None  # no round yet
    proj.add_round(SuggestionRound(index=1, strategy="qsa", image_ids=["img_0003", "img_0001", "img_0004"]))
    assert proj.next_suggested() == "img_0003"
    assert proj.next_suggested("img_0003") == "img_0001"
    assert proj.next_suggested("img_0001") == "img_0004"
    assert proj.next_suggested("img_0004") == "img_0003"  # cyclic
    assert proj.next_suggested("img_0002") == "img_0003"  # not in the round: from the top
    proj.save_labels("img_0001", blob_labels(12, 16))  # in progress: not re-served
    assert proj.next_suggested("img_0003") == "img_0004"
    proj.save_labels("img_0004", blob_labels(12, 16), done=True)
    assert proj.next_suggested("img_0003") == "img_0003"  # only itself is left
    proj.save_labels("img_0003", blob_labels(12, 16), done=True)
    assert proj.next_suggested("img_0003") is None and proj.next_suggested() is None
    # a newer round replaces the walk and the images' suggestion fields
    r = proj.add_round(SuggestionRound(strategy="random", image_ids=["img_0002"]))
    assert r.index == 2 and r.n_labelled_before == 2 and r.created
    assert proj.next_suggested() == "img_0002"
    assert proj.image("img_0002").suggestion["round"] == 2
    assert all(proj.image(i).suggestion is None for i in ("img_0001", "img_0003", "img_0004"))
    with pytest.raises(ProjectError, match="not after"):
        proj.add_round(SuggestionRound(index=2, image_ids=["img_0002"]))
    with pytest.raises(ProjectError, match="no image"):
        proj.add_round(SuggestionRound(image_ids=["ghost"]))
    assert len(proj.rounds) == 2 and len(read_manifest(proj)["rounds"]) == 2


# ------------------------------------------------------------------------ models and history


def test_model_versions_and_history(proj: Project) -> None:
    p1 = proj.new_model_path("seg")
    assert p1 == proj.folder / "models" / "seg-v0001.qsam"
    assert proj.new_model_path("seg") != p1  # reserved even before it is written
    p1.write_bytes(b"1")
    m1 = proj.add_model(ModelVersion(version="seg-v0001", path=str(p1), n_labelled=2, metrics={"f1": 0.4}))
    assert m1.path == "models/seg-v0001.qsam" and m1.round_index is None and proj.current_model == "seg-v0001"
    proj.save_labels("img_0001", blob_labels(12, 16), done=True)
    proj.add_round(SuggestionRound(index=1, image_ids=["img_0002", "img_0003"]))
    (proj.folder / "models" / "ens-v0007.qsam").write_bytes(b"other prefix")  # file already on disk
    p3 = proj.new_model_path("seg")
    assert p3.name == "seg-v0008.qsam"  # monotone across prefixes and existing files
    p3.mkdir()  # a model may be a folder
    proj.add_model(
        ModelVersion(
            version="seg-v0008",
            path="models/seg-v0008.qsam",
            n_labelled=3,
            metrics={"f1": 0.3},
            accepted=False,
            reason="worse",
            parent="seg-v0001",
        ),
        make_current=False,
    )
    assert proj.current_model == "seg-v0001"  # regression guard kept the old one
    assert proj.model("seg-v0008").accepted is False and proj.model("seg-v0008").reason == "worse"
    with pytest.raises(ProjectError, match="already exists"):
        proj.add_model(ModelVersion(version="seg-v0001", path=str(p1)))
    with pytest.raises(ProjectError, match="does not exist"):
        proj.add_model(ModelVersion(version="seg-v0009", path="models/seg-v0009.qsam"))
    with pytest.raises(ProjectError, match="not inside"):
        proj.add_model(ModelVersion(version="x", path=str(proj.folder.parent / "x.qsam")))
    with pytest.raises(ValueError):
        proj.new_model_path("../seg")
    hist = proj.history()
    assert [h["round"] for h in hist] == [None, 1]
    assert hist[0]["models"][0]["version"] == "seg-v0001" and hist[0]["models"][0]["current"]
    assert hist[1]["n_suggested"] == 2 and hist[1]["n_labelled_before"] == 1 and hist[1]["n_labelled"] == 1
    assert hist[1]["models"] == [
        {
            "version": "seg-v0008",
            "n_labelled": 3,
            "bits": None,
            "metrics": {"f1": 0.3},
            "accepted": False,
            "reason": "worse",
            "current": False,
            "created": proj.model("seg-v0008").created,
        }
    ]
    proj.set_current_model("seg-v0008")
    assert Project.open(proj.folder, read_only=True).current_model == "seg-v0008"


def test_prediction_replaced_per_version(proj: Project) -> None:
    a, b = blob_labels(12, 16, seed=1), blob_labels(12, 16, seed=2)
    proj.save_prediction("img_0001", a, "seg-v0001")
    first = proj.folder / proj.image("img_0001").prediction_path
    proj.save_prediction("img_0001", b, "seg-v0002")
    assert not first.exists()
    assert proj.image("img_0001").prediction_model == "seg-v0002"
    np.testing.assert_array_equal(proj.load_prediction("img_0001"), b)
    assert proj.load_prediction("img_0002") is None


def test_batch_writes_manifest_once_and_rolls_back_together(
    proj: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = []
    real = project_mod.atomic_write_json
    monkeypatch.setattr(project_mod, "atomic_write_json", lambda p, o: (writes.append(p), real(p, o)))
    preds = {i: blob_labels(12, 16, seed=k) for k, i in enumerate(["img_0001", "img_0002", "img_0003"])}
    with proj.batch():
        for image_id, lab in preds.items():
            proj.save_prediction(image_id, lab, "seg-v0001")
        assert writes == []
    assert len(writes) == 1
    old_file = proj.folder / proj.image("img_0001").prediction_path
    with pytest.raises(InputFileError), proj.batch():
        proj.save_prediction("img_0001", preds["img_0002"], "seg-v0002")
        proj.save_prediction("img_0002", np.zeros((3, 3), np.int32), "seg-v0002")  # wrong shape
    assert len(writes) == 1
    assert old_file.exists()  # not removed: the manifest still points at it
    with Project.open(proj.folder, read_only=True) as ro:
        for image_id, lab in preds.items():
            assert ro.image(image_id).prediction_model == "seg-v0001"
            np.testing.assert_array_equal(ro.load_prediction(image_id), lab)
    assert proj.image("img_0001").prediction_model == "seg-v0001"


def test_scores_cache(proj: Project) -> None:
    assert proj.load_scores("nope") is None
    arrays = {"uncertainty": np.arange(3, dtype=np.float32), "desc": np.ones((3, 4))}
    proj.save_scores("ens/v1:qsa", arrays)  # odd characters in the key
    got = proj.load_scores("ens/v1:qsa")
    assert set(got) == set(arrays) and got["uncertainty"].dtype == np.float32
    np.testing.assert_array_equal(got["desc"], arrays["desc"])
    assert proj.load_scores("ens_v1_qsa") is None  # sanitizing never collides with another key
    with pytest.raises(ValueError, match="object"):
        proj.save_scores("bad", {"x": np.array([{"a": 1}], dtype=object)})
    proj.scores_path("ens/v1:qsa").write_bytes(b"PK\x03\x04 truncated")
    assert proj.load_scores("ens/v1:qsa") is None  # a broken cache is recomputed, not fatal


# ------------------------------------------------------------------------ atomicity


def test_failed_manifest_write_keeps_previous_state(proj: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    proj.save_labels("img_0001", blob_labels(12, 16), done=True, user="ann")
    proj.add_round(SuggestionRound(index=1, image_ids=["img_0002", "img_0003"]))
    on_disk = read_manifest(proj)
    before = copy.deepcopy(state(proj))
    rec2 = proj.image("img_0002")  # a reference a GUI might hold
    real_replace = os.replace

    def crashing_replace(a, b):  # the label file lands, the manifest rename dies
        if Path(b).name == "project.json":
            raise OSError(28, "No space left on device")
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(ProjectError, match="could not save"):
        proj.save_labels("img_0002", blob_labels(12, 16, seed=3), done=True)
    with pytest.raises(ProjectError, match="could not save"):
        proj.add_round(SuggestionRound(index=2, image_ids=["img_0004"]))
    with pytest.raises(ProjectError):
        proj.import_images([proj.folder / "images" / "img_0001.tif"])  # nothing new, still saves
    monkeypatch.setattr(os, "replace", real_replace)

    assert state(proj) == before  # in-memory state rolled back to what is on disk
    assert rec2 is proj.image("img_0002") and rec2.status == STATUS_UNLABELLED and rec2.label_path is None
    assert read_manifest(proj) == on_disk
    assert not [p for p in proj.folder.iterdir() if p.name.endswith(".tmp")]  # no temp leftovers
    with Project.open(proj.folder, read_only=True) as ro:
        assert state(ro) == before
        assert ro.image("img_0002").status == STATUS_UNLABELLED and ro.next_suggested() == "img_0002"
    proj.save_labels("img_0002", blob_labels(12, 16, seed=3), done=True)  # works again afterwards
    assert proj.image("img_0002").status == STATUS_LABELLED


# ------------------------------------------------------------------------ property test

_IDS = ["img_0001", "img_0002", "img_0003"]
_op = st.one_of(
    st.tuples(st.just("save"), st.sampled_from(_IDS), st.booleans(), st.integers(0, 3)),
    st.tuples(
        st.just("status"),
        st.sampled_from(_IDS),
        st.sampled_from([STATUS_UNLABELLED, STATUS_IN_PROGRESS, STATUS_LABELLED]),
    ),
    st.tuples(st.just("round"), st.permutations(_IDS), st.integers(1, 3), st.floats(0, 1)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_op, max_size=8))
def test_random_operations_survive_reopen(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for i in range(3):
            write_rgb(tmp_path / f"s{i}.tif", h=6, w=5, seed=i)
        saved: dict[str, np.ndarray] = {}
        with Project.create(tmp_path / "p") as p:
            p.import_images([tmp_path / f"s{i}.tif" for i in range(3)])
            for op in ops:
                if op[0] == "save":
                    lab = blob_labels(6, 5, n=1, seed=op[3]) * op[3]
                    p.save_labels(op[1], lab, done=op[2], user="u")
                    saved[op[1]] = lab
                elif op[0] == "status":
                    if op[2] == STATUS_LABELLED and op[1] not in saved:
                        with pytest.raises(ProjectError):
                            p.set_status(op[1], op[2])
                    else:
                        p.set_status(op[1], op[2], user="u")
                else:
                    ids = list(op[1][: op[2]])
                    p.add_round(
                        SuggestionRound(
                            strategy="qsa", image_ids=ids, scores={i: {"uncertainty": op[3]} for i in ids}
                        )
                    )
            expected = state(p)
            expected_next = p.next_suggested()
        with Project.open(tmp_path / "p", read_only=True) as q:
            assert state(q) == expected
            assert q.next_suggested() == expected_next
            for image_id in _IDS:
                got = q.load_labels(image_id)
                if image_id in saved:
                    np.testing.assert_array_equal(got, saved[image_id])
                else:
                    assert got is None
                rec = q.image(image_id)
                assert (rec.labelled_at is not None) == (rec.status == STATUS_LABELLED)


def test_image_record_is_a_plain_dataclass() -> None:
    rec = ImageRecord(id="img_0001", name="a.tif", path="images/img_0001.tif", shape=(2, 3))
    assert rec.status == STATUS_UNLABELLED and rec.split == "pool" and rec.suggestion is None
    assert project_mod.SCHEMA_VERSION == 2  # 2 adds slides; a project without slides is written as 1
    assert rec.region is None
