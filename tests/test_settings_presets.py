"""Settings presets, KEY=VALUE parsing, the device calibration cache and the job-time estimate."""

from __future__ import annotations

import time
from dataclasses import fields, replace

import numpy as np
import pytest
from qsa_testkit import TINY_SETTINGS, demo_truth

from qsa_gui.core.model import calibration as cal_mod
from qsa_gui.core.settings import Settings
from qsa_gui.core.settings_presets import (
    SETTINGS_PRESETS,
    get_settings_preset,
    matching_preset,
    parse_assignments,
    parse_value,
)
from qsa_gui.core.workflow.estimate import format_duration, retrain_seconds, suggest_seconds


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QSA_CACHE_DIR", str(tmp_path / "cache"))


def test_presets_are_valid_distinct_and_recognised():
    names = {f.name for f in fields(Settings)}
    keys = None
    applied = []
    for preset in SETTINGS_PRESETS.values():
        assert set(preset.values) <= names and preset.description.startswith(preset.title + ":")
        keys = keys or set(preset.values)
        assert set(preset.values) == keys  # switching presets leaves nothing of the previous one
        settings = preset.apply(Settings(seed=3, strategy="random"))  # validated by Settings
        assert settings.seed == 3 and settings.strategy == "random"  # other fields are kept
        assert matching_preset(settings) is preset
        applied.append(tuple(sorted(preset.values.items(), key=str)))
    assert len(set(applied)) == len(applied)
    assert matching_preset(replace(get_settings_preset("quick").apply(), iterations=7)) is None
    assert get_settings_preset(" Quick ").name == "quick"
    with pytest.raises(ValueError, match="unknown settings preset 'fast'.*quick"):
        get_settings_preset("fast")


def test_key_value_parsing_types_none_and_errors():
    got = parse_assignments(["iterations=120", "lr=0.002", "device=none", "ensemble_bits=float",
                             "seg-bits=5", "k=None", "strategy=random"])  # fmt: skip
    assert got == {"iterations": 120, "lr": 0.002, "device": None, "ensemble_bits": None, "seg_bits": 5,
                   "k": None, "strategy": "random"}  # fmt: skip
    assert type(got["iterations"]) is int and type(got["lr"]) is float
    assert parse_value("device", "cuda:1") == "cuda:1"
    assert parse_value("device", "auto") is None and parse_value("k", "auto") is None
    assert parse_value("ray_address", "auto") == "auto"  # Ray's own word for the running cluster
    assert parse_value("ray_address", "none") is None
    assert parse_value("ensemble_warm_start", "false") is False and parse_value("ensemble_warm_start", "Yes")
    with pytest.raises(ValueError, match=r"settings\.ensemble_warm_start must be true or false, got 'maybe'"):
        parse_value("ensemble_warm_start", "maybe")
    with pytest.raises(ValueError, match="unknown setting 'itrations'"):
        parse_value("itrations", "3")
    with pytest.raises(ValueError, match=r"settings\.iterations must be an integer, got 'many'"):
        parse_value("iterations", "many")
    with pytest.raises(ValueError, match=r"settings\.iterations must be an integer, got 'none'"):
        parse_value("iterations", "none")  # not optional
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_assignments(["iterations"])
    with pytest.raises(ValueError, match=r"settings\.ensemble_bits"):  # range: Settings' own check
        replace(Settings(), **parse_assignments(["ensemble_bits=40"]))


def test_format_duration_rounds_like_an_estimate():
    assert [format_duration(s) for s in (3.2, 42, 200, 9000, 90000)] == [
        "3 s",
        "40 s",
        "3 min",
        "2.5 h",
        "25 h",
    ]


def test_calibration_is_cached_per_preset(tmp_path):
    folder = tmp_path / "c"
    first = cal_mod.calibrate("tiny", 2, 64, 128, "cpu", folder=folder)
    assert first.train_s > 0 and first.tile_s > 0 and first.tile == 128 and first.device == "cpu"
    assert cal_mod.cached_calibration("tiny", 2, 64, 128, "cpu", folder=folder) == first
    assert cal_mod.cached_calibration("tiny", 4, 64, 128, "cpu", folder=folder) is None  # other batch
    t0 = time.perf_counter()
    assert cal_mod.calibrate("tiny", 2, 64, 128, "cpu", folder=folder) == first
    assert time.perf_counter() - t0 < 0.5  # from the cache, not timed again
    (folder / cal_mod.CACHE_FILE).write_text("{ broken")
    assert cal_mod.cached_calibration("tiny", 2, 64, 128, "cpu", folder=folder) is None


def test_estimate_scales_with_the_recipe():
    cal = cal_mod.Calibration(train_s=0.1, tile_s=0.05, tile=256, device="cpu", threads=1)
    quick = get_settings_preset("quick").apply()
    r1, what = retrain_seconds(cal, quick, 1, [], has_model=False)
    assert r1 == pytest.approx(1.0 + (200 + 3 * 20) * 0.1) and "1 FCN(s) x 260 iterations" in what
    r_float, _ = retrain_seconds(cal, replace(quick, seg_bits=None), 1, [], has_model=False)
    assert r_float == pytest.approx(1.0 + 200 * 0.1)
    r_val, _ = retrain_seconds(cal, quick, 5, [(256, 256)], has_model=True)  # two models validated
    assert r_val > r1 + 2 * 0.05
    s1, what = suggest_seconds(cal, quick, 1, [(256, 256)] * 10)
    s2, _ = suggest_seconds(cal, quick, 1, [(256, 256)] * 20)
    assert s2 > s1 > 3 * (80 + 60) * 0.1 and "3 suggestive FCN(s)" in what
    s0, what = suggest_seconds(cal, quick, 0, [(256, 256)] * 10)  # nothing labelled: no training
    assert s0 < 5 and "no training" in what


@pytest.mark.slow  # timed: the default run keeps no timing assertions (benchmarks/ hold them)
def test_estimate_within_a_factor_of_two_of_a_measured_run(tmp_path):
    """A small real Retrain (training dominates, as in a real one) against its estimate."""
    from qsa_gui.core.jobs import run_job
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.workflow import retrain_job
    from qsa_gui.core.workflow.demo_project import write_demo_project
    from qsa_gui.core.workflow.estimate import estimate_jobs, settings_calibration

    settings = replace(TINY_SETTINGS, iterations=100, inq_iterations=10, batch_size=4, device="cpu")
    folder = write_demo_project(tmp_path / "demo", n_images=6, size=64)
    with Project.open(folder) as project:
        first = project.images[0]
        project.save_labels(first.id, demo_truth(6, 64, first.name).astype(np.int32), done=True)
        cal = settings_calibration(settings)
        estimate = estimate_jobs(project, settings, cal)["retrain"]
        t0 = time.perf_counter()
        run_job(retrain_job(project, settings))
        measured = time.perf_counter() - t0
    assert 0.5 <= estimate.seconds / measured <= 2.0, (estimate, measured, cal)


def test_the_demo_project_gets_the_quick_preset(tmp_path):
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.workflow.demo_project import write_demo_project

    folder = write_demo_project(tmp_path / "demo", n_images=4, size=32)
    with Project.open(folder, read_only=True) as project:
        assert matching_preset(Settings.from_dict(project.settings)) is get_settings_preset("quick")


def test_the_estimate_lookup_never_imports_torch():
    """The GUI looks the estimate up on its own thread before a job: a torch import there froze
    the window for ~1.4 s on the first job (the jobs themselves run in a worker process)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from qsa_gui.core.model.calibration import cached_calibration, calibration_key\n"
        "calibration_key('small', 8, 128, 256, None)\n"
        "cached_calibration('small', 8, 128, 256, None)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
