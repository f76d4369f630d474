"""End-to-end runs of the `qsa` command (tiny models) and its error contract."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from qsa_gui.cli import main
from qsa_gui.core.data.images import read_labels, write_labels
from qsa_gui.core.project.store import Project

TINY = ["--preset", "tiny", "--ensemble-size", "2", "--iterations", "15", "-q"]


def test_help_for_every_command(capsys):
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
        with pytest.raises(SystemExit) as done:  # in-process: each subprocess would re-import torch
            main([cmd, "--help"])
        assert done.value.code == 0 and "usage: qsa" in capsys.readouterr().out


def test_choices_and_help_come_from_the_registries(capsys):
    from qsa_gui.core.active.strategies import STRATEGIES, get_strategy
    from qsa_gui.core.model.fcn import PRESETS

    with pytest.raises(SystemExit):
        main(["suggest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "{" + ",".join(STRATEGIES) + "}" in text and "{" + ",".join(sorted(PRESETS)) + "}" in text
    assert " ".join(get_strategy("mc_dropout").description.split()) in text
    with pytest.raises(SystemExit) as bad:
        main(["suggest", "p", "--strategy", "best"])
    assert bad.value.code == 2 and "invalid choice: 'best'" in capsys.readouterr().err


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
def test_demo_quick_finishes_and_prints_a_paired_summary(capsys, tmp_path):
    assert main(["demo", "--quick", "-q", "--per-seed", "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert "QSA" in out and "RANDOM" in out  # the per-seed tables
    assert "qsa − random" in out and "AULC 10%–50%" in out and "paired seeds" in out
    import json

    rows = json.loads((tmp_path / "d.json").read_text())["rows"]
    assert sorted({r["seed"] for r in rows}) == [0, 1, 2]


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
    from qsa_gui.cli.common import expand_paths as _expand
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


CLI = [sys.executable, "-m", "qsa_gui.cli"]


def _labelled_demo(tmp_path):
    """A demo project with one labelled pool image: enough for `qsa train`."""
    proj = tmp_path / "demo"
    assert main(["demo", "--write-project", str(proj)]) == 0
    with Project.open(proj) as p:
        rec = next(r for r in p.images if r.split == "pool")
        lab = np.zeros(tuple(rec.shape[:2]), np.int32)
        lab[10:60, 10:60] = 1
        p.save_labels(rec.id, lab, done=True)
    return proj


def test_float_bits_really_mean_float_weights(tmp_path, capsys):
    proj = tmp_path / "p"
    assert main(["init", str(proj), "--ensemble-bits", "float", "--seg-bits", "float"]) == 0
    with Project.open(proj, read_only=True) as p:
        assert p.settings["ensemble_bits"] is None and p.settings["seg_bits"] is None
    assert main(["init", str(tmp_path / "q"), "--ensemble-bits", "5"]) == 0
    with Project.open(tmp_path / "q", read_only=True) as p:
        assert p.settings["ensemble_bits"] == 5 and p.settings["seg_bits"] == 7
    capsys.readouterr()
    assert main(["init", str(tmp_path / "r"), "--seg-bits", "9"]) == 2
    assert "settings.seg_bits must be an integer in 2..8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["init", str(tmp_path / "s"), "--seg-bits", "lots"])
    assert bad.value.code == 2 and "expected a bit width" in capsys.readouterr().err


def test_evaluate_writes_strict_json(tmp_path, capsys, monkeypatch):
    from qsa_gui.core.workflow import predict

    def fake_evaluate_job(project, split, settings, cancel):  # an empty prediction: Hausdorff is inf
        yield from ()
        return {"object_f1": 0.0, "object_dice": 0.0, "object_hausdorff": float("inf")}

    monkeypatch.setattr(predict, "evaluate_job", fake_evaluate_job)
    assert main(["init", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "p"), "-q"]) == 0
    captured = capsys.readouterr()

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    metrics = json.loads(captured.out, parse_constant=refuse)
    assert metrics == {"object_f1": 0.0, "object_dice": 0.0, "object_hausdorff": None}
    assert "object_hausdorff not finite" in captured.err and "null" in captured.err


def test_suggest_without_images_says_how_to_import(tmp_path, capsys):
    assert main(["init", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    assert main(["suggest", str(tmp_path / "p"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no images" in err and "qsa import" in err and "labelled" not in err and "\n" not in err


def test_k_below_one_and_an_empty_folder_are_refused(tmp_path, capsys):
    assert main(["init", str(tmp_path / "p")]) == 0
    for k in ("0", "-3"):
        with pytest.raises(SystemExit) as bad:
            main(["suggest", str(tmp_path / "p"), "-k", k])
        assert bad.value.code == 2
        assert f"argument -k: must be at least 1, got {k}" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["import", str(tmp_path / "p"), str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and "no images or slides found" in err
    with Project.open(tmp_path / "p", read_only=True) as p:
        assert p.images == [] and p.rounds == []


def test_image_lookup_prefers_ids_and_refuses_ambiguous_names(tmp_path, capsys):
    from qsa_gui.core.data.images import write_image

    def img(value):  # distinct pixels: identical files would be skipped as duplicates
        return np.full((16, 16, 3), value, np.uint8)

    write_image(tmp_path / "a" / "img_0002.png", img(10))  # its name looks like the next image's id
    write_image(tmp_path / "b" / "same.png", img(20))
    write_image(tmp_path / "c" / "same.png", img(30))
    proj = str(tmp_path / "p")
    assert main(["init", proj]) == 0
    for folder in "abc":
        assert main(["import", proj, str(tmp_path / folder)]) == 0
    with Project.open(proj, read_only=True) as p:
        assert [(r.id, r.name) for r in p.images] == [
            ("img_0001", "img_0002.png"),
            ("img_0002", "same.png"),
            ("img_0003", "same.png"),
        ]
    lab = np.zeros((16, 16), np.int32)
    lab[2:8, 2:8] = 1
    write_labels(tmp_path / "l.tif", lab)
    capsys.readouterr()
    assert main(["label", proj, "img_0002", str(tmp_path / "l.tif")]) == 0
    assert capsys.readouterr().out.startswith("img_0002 (same.png)")
    assert main(["label", proj, "same.png", str(tmp_path / "l.tif")]) == 2
    err = capsys.readouterr().err
    assert "img_0002" in err and "img_0003" in err and "id" in err
    assert main(["label", proj, "same", str(tmp_path / "l.tif")]) == 2  # the stem is ambiguous too
    assert main(["label", proj, "img_0002.png", str(tmp_path / "l.tif"), "--draft"]) == 0
    assert capsys.readouterr().out.startswith("img_0001 (img_0002.png)")
    with Project.open(proj, read_only=True) as p:
        assert [r.status for r in p.images] == ["in_progress", "labelled", "unlabelled"]


def test_closed_pipe_ends_quietly(tmp_path):
    proj = tmp_path / "demo"
    assert main(["demo", "--write-project", str(proj)]) == 0
    proc = subprocess.Popen([*CLI, "status", str(proj)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""
    # and a reader that takes a little and leaves (`| head -1`) on a long listing
    proc = subprocess.Popen(
        [*CLI, "status", str(proj), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline().startswith(b"project ")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141) and "Broken pipe" not in err and "Traceback" not in err


def _interrupt_when(proc, marker: bytes, times: int = 1, gap: float = 0.05) -> bytes:
    """Read stderr until ``marker`` shows, then send SIGINT ``times`` times; the rest of stderr."""
    import signal
    import time

    seen = b""
    while marker not in seen:
        line = proc.stderr.readline()
        assert line, f"process ended before {marker!r}: {seen.decode()}"
        seen += line
    for _ in range(times):
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
    return seen + proc.stderr.read()


def test_ctrl_c_at_start_up_is_quiet(tmp_path):
    import signal
    import time

    assert main(["init", str(tmp_path / "p")]) == 0
    proc = subprocess.Popen(
        [*CLI, "status", str(tmp_path / "p")], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(0.8)  # inside the heavy imports
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # pragma: no cover - a very fast machine finished first
        pytest.skip("status finished before the signal")
    # 130 from main(); rarely (about 1 run in 5 under load) the process instead ends killed by
    # SIGINT after printing the same one line, which a shell reports as the same $? = 130 (see
    # test_second_ctrl_c_quits_with_130); the cause inside the interpreter's exit is not found
    assert proc.returncode in (130, -signal.SIGINT), err.decode()[-2000:]
    assert b"Traceback" not in err and err.decode().strip() == "qsa: cancelled with Ctrl-C"


def test_ctrl_c_while_the_cli_modules_load_is_quiet():
    """The window before main()'s handler: a first run compiles the modules (CI caught a Ctrl-C
    there dying by SIGINT with a traceback). The import is interrupted deterministically by a
    finder that raises KeyboardInterrupt when a command module loads."""
    code = (
        "import sys\n"
        "class Stop:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'qsa_gui.cli.project_commands':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Stop())\n"
        "from qsa_gui.cli import main\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip() == "qsa: cancelled with Ctrl-C"


def test_ctrl_c_during_train_cancels_before_the_commit(tmp_path):
    proj = _labelled_demo(tmp_path)
    cmd = [*CLI, "train", str(proj), "--preset", "tiny", "--iterations", "100000", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = _interrupt_when(proc, b"%]").decode()
    assert proc.wait(timeout=120) == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "cancelling at the next safe point" in err and "the project is unchanged" in err
    with Project.open(proj, read_only=True) as p:
        assert p.models == [] and p.current_model is None


def test_second_ctrl_c_quits_with_130(tmp_path):
    proj = _labelled_demo(tmp_path)
    cmd = [*CLI, "train", str(proj), "--preset", "tiny", "--iterations", "100000", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = _interrupt_when(proc, b"%]", times=2).decode()
    # 130 from quit_now; a second Ctrl-C landing while the interpreter shuts down after the first
    # one's clean cancel meets Python's restored default handler: killed by SIGINT, which a shell
    # reports as the same $? = 130
    assert proc.wait(timeout=120) in (130, -signal.SIGINT), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_ctrl_c_after_the_commit_reports_that_the_job_finished(capsys):
    import os
    import signal

    from qsa_gui.cli.progress import run_with_progress as _drive
    from qsa_gui.core.errors import Cancelled
    from qsa_gui.core.jobs import Progress, check

    committed = []

    def committing_job(cancel):
        yield Progress("working", 0.5)
        committed.append(True)  # the job's commit
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands just after it
        yield Progress("done", 1.0)
        return "result"

    previous = signal.getsignal(signal.SIGINT)
    assert _drive(committing_job, quiet=True) == "result" and committed
    assert "after the job had committed" in capsys.readouterr().err
    signal.signal(signal.SIGINT, previous)

    def cancelled_job(cancel):
        yield Progress("working", 0.1)
        os.kill(os.getpid(), signal.SIGINT)
        check(cancel)  # the job's next safe point, before any commit
        committed.append("too far")
        return "never"

    with pytest.raises(Cancelled, match="before the job committed; the project is unchanged"):
        _drive(cancelled_job, quiet=True)
    assert committed == [True]
    signal.signal(signal.SIGINT, previous)


def test_bad_settings_in_project_json_exit_2_naming_the_field(tmp_path, capsys):
    proj = tmp_path / "p"
    assert main(["init", str(proj)]) == 0
    manifest = json.loads((proj / "project.json").read_text())
    manifest["settings"]["lr"] = "fast"
    (proj / "project.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["train", str(proj), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "settings.lr must be a positive number, got 'fast'" in err
    assert main(["init", str(tmp_path / "q")]) == 0
    assert main(["train", str(tmp_path / "q"), "-q", "--device", "gpu"]) == 2
    assert "settings.device must be None, 'cpu', 'cuda', 'cuda:N' or 'mps'" in capsys.readouterr().err
