"""The project settings dialog (offscreen Qt): presets fill the fields and the estimate, OK saves,
an invalid value blocks OK with a message, a running job refuses the save; opened from the panel."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from qsa_testkit import TINY_SETTINGS, demo_truth

from qsa_gui._qt.settings_dialog import SettingsDialog, available_devices, estimate_text
from qsa_gui.core.project.store import Project
from qsa_gui.core.settings import Settings
from qsa_gui.core.settings_presets import get_settings_preset, matching_preset
from qsa_gui.core.workflow.demo_project import write_demo_project

ESTIMATE_TIMEOUT_MS = 120_000  # timing a model on a busy 2-core machine


@pytest.fixture
def project(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("QSA_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_demo_project(tmp_path / "p", n_images=6, size=64)
    p = Project.open(folder)
    p.set_settings(replace(TINY_SETTINGS, device="cpu").to_dict())
    first = p.images[0]
    p.save_labels(first.id, demo_truth(6, 64, first.name), done=True)
    yield p
    p.close()


def estimated(qtbot, dialog: SettingsDialog) -> str:
    qtbot.waitUntil(lambda: "Retrain" in dialog.estimate_label.text(), timeout=ESTIMATE_TIMEOUT_MS)
    return dialog.estimate_label.text()


def test_preset_fills_fields_and_estimate_and_ok_saves(qtbot, project):
    dialog = SettingsDialog(project, Settings.from_dict(project.settings))
    qtbot.addWidget(dialog)
    assert dialog.preset_box.currentData() == "custom"  # the tiny test settings match no preset
    estimated(qtbot, dialog)
    quick = get_settings_preset("quick")
    dialog.preset_box.setCurrentIndex(dialog.preset_box.findData("quick"))
    assert dialog.width_box.currentData() == quick.values["preset"]
    assert dialog.ensemble_size.value() == quick.values["ensemble_size"]
    assert dialog.iterations.value() == quick.values["iterations"]
    assert dialog.preset_help.text() == quick.description
    qtbot.waitUntil(lambda: dialog.estimates and "3 suggestive" in dialog.estimates["suggest"].detail,
                    timeout=ESTIMATE_TIMEOUT_MS)  # fmt: skip
    text, before = estimated(qtbot, dialog), dialog.estimates["retrain"].seconds
    assert text.startswith("On this machine (cpu): Suggest about")
    dialog.iterations.setValue(quick.values["iterations"] * 4)  # same model: timing from the cache
    assert dialog.preset_box.currentData() == "custom"
    qtbot.waitUntil(lambda: dialog.estimates["retrain"].seconds > 2 * before, timeout=10_000)
    dialog.ok_button.click()
    assert dialog.result() == dialog.DialogCode.Accepted
    reopened = Settings.from_dict(Project.open(project.folder, read_only=True).settings)
    assert reopened == replace(quick.apply(replace(TINY_SETTINGS, device="cpu")), iterations=800)
    assert reopened.seed == TINY_SETTINGS.seed and matching_preset(reopened) is None


def test_invalid_value_blocks_ok_with_a_message(qtbot, project):
    dialog = SettingsDialog(project, Settings.from_dict(project.settings))
    qtbot.addWidget(dialog)
    before = dict(project.settings)
    dialog.extra.setText("overlap=999")
    assert not dialog.ok_button.isEnabled() and "settings.overlap" in dialog.message_label.text()
    dialog.extra.setText("iterations=5")  # has its own field: said, not silently overridden
    assert not dialog.ok_button.isEnabled() and "settings.iterations" in dialog.message_label.text()
    dialog.extra.setText("patchsize=96")
    assert not dialog.ok_button.isEnabled() and "unknown setting 'patchsize'" in dialog.message_label.text()
    dialog.save()
    assert dialog.result() != dialog.DialogCode.Accepted and project.settings == before
    dialog.extra.setText("patch_size=32 inq_iterations=none")  # not optional
    assert "settings.inq_iterations" in dialog.message_label.text()
    dialog.extra.setText("patch_size=32")
    assert dialog.ok_button.isEnabled() and dialog.message_label.text() == ""


def test_ok_refused_while_a_job_runs(qtbot, project):
    busy = [True]
    dialog = SettingsDialog(project, Settings.from_dict(project.settings), is_busy=lambda: busy[0])
    qtbot.addWidget(dialog)
    before = dict(project.settings)
    dialog.iterations.setValue(42)
    qtbot.waitUntil(lambda: "running job" in dialog.estimate_label.text(), timeout=5000)  # no timing now
    dialog.save()
    assert "A job is running" in dialog.message_label.text() and project.settings == before
    busy[0] = False
    dialog.save()
    assert project.settings["iterations"] == 42


def test_devices_are_only_this_machines():
    import torch

    devices = available_devices()
    assert devices[:2] == [None, "cpu"]
    assert all(d.startswith("cuda") for d in devices[2:] if d != "mps") and (
        torch.cuda.is_available() or not any(str(d).startswith("cuda") for d in devices)
    )


def test_opened_from_the_panel_and_estimate_before_a_job(qtbot, project, tmp_path):
    from qsa_gui._qt.actions import ACTIONS
    from qsa_gui._qt.assistant import AssistantWidget

    folder = project.folder
    project.close()
    w = AssistantWidget(None, warm_up=False)
    qtbot.addWidget(w)
    try:
        assert not ACTIONS["settings"].enabled(w.session)  # no project yet
        assert w.open_project(folder)
        assert w.trigger("settings") and w.settings_dialog.isVisible()
        estimated(qtbot, w.settings_dialog)  # times the settings once: cached for the job below
        w.settings_dialog.reject()
        settings = w.job_settings()
        text = estimate_text(w.project, settings, "retrain")
        assert text.startswith("about ") and text.endswith("with custom settings")
        with qtbot.waitSignal(w.runner.finished, timeout=120_000):
            w.retrain()
            assert w.progress_panel.eta_label.text() == text  # before the first measured ETA
    finally:
        w.shutdown()


def test_the_window_menu_opens_it(qtbot, project, tmp_path, make_napari_viewer):
    pytest.importorskip("napari")
    import gc

    from qsa_gui.app.recent import make_settings
    from qsa_gui.app.window import MainWindow

    folder = project.folder
    project.close()
    window = MainWindow(settings=make_settings(tmp_path / "w.ini"), viewer=make_napari_viewer(),
                        confirm_close=lambda name: True)  # fmt: skip
    try:
        action = window.menu_actions["settings"]
        assert action in window.file_menu.actions() and action.text() == "Project &settings…"
        window._update_actions()
        assert not action.isEnabled()  # no project open
        assert window.assistant.open_project(folder)
        window._update_actions()
        assert action.isEnabled()
        action.trigger()
        dialog = window.assistant.settings_dialog
        assert dialog.isVisible() and dialog.project is window.assistant.project
        dialog.reject()
    finally:
        window.close()
        window.deleteLater()
        qtbot.wait(10)
        gc.collect()
