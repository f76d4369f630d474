"""End-to-end runs of the `qsa` command (tiny models) and its error contract."""

import json
import subprocess
import sys

import numpy as np
import pytest

from qsa_gui.cli import main
from qsa_gui.core.data.images import read_labels, write_labels
from qsa_gui.core.project.store import Project

TINY = ["--preset", "tiny", "--ensemble-size", "2", "--iterations", "15", "-q"]


def test_help_for_every_command():
    out = subprocess.run([sys.executable, "-m", "qsa_gui.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in (
        "init",
        "import",
        "status",
        "label",
        "suggest",
        "train",
        "segment",
        "evaluate",
        "export",
        "demo",
    ):
        assert cmd in out.stdout
        sub = subprocess.run(
            [sys.executable, "-m", "qsa_gui.cli", cmd, "--help"], capture_output=True, text=True
        )
        assert sub.returncode == 0 and "usage: qsa" in sub.stdout


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qsa: error:") and "\n" not in err
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "project.json").write_text("{ truncated")
    assert main(["status", str(tmp_path / "p")]) == 2
    assert "project.json" in capsys.readouterr().err


def test_whole_loop_through_the_cli(tmp_path, capsys):
    proj = tmp_path / "demo"
    assert main(["demo", "--write-project", str(proj)]) == 0
    assert main(["suggest", str(proj), *TINY]) == 0  # cold start: diverse picks
    out = capsys.readouterr().out
    assert "round 1: strategy diverse" in out
    p = Project.open(proj, read_only=True)
    first = p.latest_round().image_ids
    shape = p.image(first[0]).shape
    p.close()
    lab = np.zeros(shape, np.int32)
    lab[10:40, 10:40] = 1
    lab[60:90, 50:100] = 2
    write_labels(tmp_path / "l.tif", lab)
    assert main(["label", str(proj), first[0], str(tmp_path / "l.tif"), "--user", "dr-x"]) == 0
    assert main(["status", str(proj)]) == 0
    assert "labelled" in capsys.readouterr().out
    assert main(["suggest", str(proj), *TINY]) == 0
    assert "strategy qsa" in capsys.readouterr().out
    assert main(["train", str(proj), *TINY]) == 0
    assert "model seg-v" in capsys.readouterr().out
    assert main(["segment", str(proj), "-q"]) == 0
    assert "glands" in capsys.readouterr().out
    assert main(["evaluate", str(proj), "-q"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0.0 <= metrics["object_f1"] <= 1.0
    assert main(["export", str(proj), str(tmp_path / "out")]) == 0
    exported = list((tmp_path / "out" / "labels").glob("*.tif"))
    assert len(exported) >= 2  # our label + the test set's ground truth
    assert any(np.array_equal(read_labels(f), lab) for f in exported)
    assert list((tmp_path / "out" / "model").glob("member_0.qsam"))  # the model folder's files
    assert (tmp_path / "out" / "annotations.csv").is_file()


@pytest.mark.slow
def test_demo_quick_finishes_and_prints_a_table(capsys):
    assert main(["demo", "--quick", "-q"]) == 0
    out = capsys.readouterr().out
    assert "QSA" in out and "RANDOM" in out


def test_glas_reproduction_command_on_a_glas_shaped_folder(tmp_path, capsys):
    from PIL import Image

    from qsa_gui.core.data.synth import generate_dataset

    data = generate_dataset(8, seed=5, size=(64, 64))
    names = ["train_1", "train_2", "train_3", "train_4", "testA_1", "testA_2", "testB_1", "testB_2"]
    for name, s in zip(names, data, strict=True):
        Image.fromarray(s.image).save(tmp_path / f"{name}.bmp")
        Image.fromarray(s.labels.astype(np.uint8)).save(tmp_path / f"{name}_anno.bmp")
    (tmp_path / "Grade.csv").write_text(
        "name,patient ID,grade (GlaS),grade (Sirinukunwattana et al. 2015)\n"
        + "".join(f"{n},1, benign, adenomatous\n" for n in names)
    )
    args = ["glas", str(tmp_path), "--preset", "tiny", "--iterations", "2", "--patch-size", "32"]
    args += [
        "--batch-size",
        "2",
        "--seg-models",
        "1",
        "--fractions",
        "0.25,0.5",
        "--strategies",
        "qsa,full",
        "-q",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "SA, 100% data (paper)" in out
    assert "qsa 50% labelled (this run)" in out and "full 100% labelled (this run)" in out


def test_import_folder_takes_only_image_files(tmp_path, capsys):
    from qsa_gui.cli import _expand
    from qsa_gui.core.data.images import write_image

    src = tmp_path / "src"
    write_image(src / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_image(src / "b.ome.tif", np.zeros((8, 8, 3), np.uint8))
    (src / "notes.txt").write_text("x")
    (src / "folder.png").mkdir()  # a folder with an image-like name is not an image
    assert [p.name for p in _expand([str(src)])] == ["a.png", "b.ome.tif"]
    assert main(["init", str(tmp_path / "p")]) == 0
    assert main(["import", str(tmp_path / "p"), str(src)]) == 0
    assert "imported 2 images" in capsys.readouterr().out
