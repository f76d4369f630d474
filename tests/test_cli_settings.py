"""`qsa settings`: show, change (KEY=VALUE, --preset), one-line errors, refused while locked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qsa_testkit import small_image_project

from qsa_gui.cli import main
from qsa_gui.core.project.store import Project
from qsa_gui.core.settings import Settings
from qsa_gui.core.settings_presets import get_settings_preset, matching_preset


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("QSA_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "p"
    assert main(["init", str(folder)]) == 0
    return folder


def stored(folder) -> dict:
    return json.loads((folder / "project.json").read_text())["settings"]


def test_show_lists_every_setting_and_its_preset(project, capsys):
    capsys.readouterr()
    assert main(["settings", str(project), "--no-estimate"]) == 0
    out = capsys.readouterr().out
    preset = matching_preset(Settings())
    assert f"settings preset: {preset.name if preset else 'custom'}" in out
    assert "  iterations = " in out and "  device = none" in out and "estimated" not in out


def test_change_values_and_presets(project, capsys):
    assert main(["settings", str(project), "iterations=50", "ensemble_bits=float", "--no-estimate"]) == 0
    s = stored(project)
    assert s["iterations"] == 50 and s["ensemble_bits"] is None
    assert "saved settings: iterations, ensemble_bits" in capsys.readouterr().out
    assert main(["settings", str(project), "--preset", "quick", "--no-estimate"]) == 0
    got = Settings.from_dict(stored(project))
    assert matching_preset(got) is get_settings_preset("quick")
    assert "settings preset: quick" in capsys.readouterr().out
    assert main(["settings", str(project), "--preset", "paper", "seg_models=2", "--no-estimate"]) == 0
    got = Settings.from_dict(stored(project))
    assert got.preset == "paper" and got.seg_models == 2 and matching_preset(got) is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["iterations=many"], "settings.iterations must be an integer"),
        (["itrations=5"], "unknown setting 'itrations'"),
        (["ensemble_bits=40"], "settings.ensemble_bits"),
        (["overlap=300"], "settings.overlap must be smaller"),
        (["iterations"], "expected KEY=VALUE"),
        (["--preset", "fast"], "unknown settings preset 'fast'"),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_the_key(project, capsys, args, words):
    before = (project / "project.json").read_bytes()
    assert main(["settings", str(project), *args, "--no-estimate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qsa: error:") and "\n" not in err and words in err
    assert (project / "project.json").read_bytes() == before


def test_refused_while_another_writer_holds_the_lock(project, capsys):
    holder = Project.open(project)
    try:
        before = (project / "project.json").read_bytes()
        assert main(["settings", str(project), "iterations=5", "--no-estimate"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("qsa: error:") and err.count("\n") == 1
        assert (project / "project.json").read_bytes() == before
        assert main(["settings", str(project), "--no-estimate"]) == 0  # showing needs no lock
    finally:
        holder.close()


def test_show_estimates_the_jobs_on_this_machine(project, tmp_path, capsys):
    tiny = ["preset=tiny", "batch_size=2", "patch_size=64", "tile=128", "iterations=10", "device=cpu"]
    assert main(["settings", str(project), *tiny]) == 0
    out = capsys.readouterr().out
    assert "estimated retrain: nothing labelled: Retrain cannot run yet" in out  # why, not a number
    assert "estimated suggest: no unlabelled pool images" in out
    proj = small_image_project(tmp_path / "q", 4, seed=1)
    with proj:
        proj.save_labels(proj.images[0].id, np.ones(proj.images[0].shape, np.int32), done=True)
    assert main(["settings", str(tmp_path / "q" / "proj"), *tiny]) == 0
    out = capsys.readouterr().out
    s = Settings()
    assert "estimated suggest: about" in out and f"{s.ensemble_size} suggestive FCN(s)" in out
    assert "estimated retrain: about" in out and f"x {10 + 3 * s.inq_iterations} iterations" in out


def test_help_names_the_presets(capsys):
    from qsa_gui.core.settings_presets import SETTINGS_PRESETS

    with pytest.raises(SystemExit) as done:
        main(["settings", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0 and "KEY=VALUE" in text
    assert all(" ".join(p.description.split()) in text for p in SETTINGS_PRESETS.values())


def test_a_device_this_machine_lacks_is_refused(project, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert main(["settings", str(project), "device=cuda", "--no-estimate"]) == 2
    assert "settings.device is 'cuda' but this machine has no CUDA device" in capsys.readouterr().err
    assert stored(project).get("device") is None
