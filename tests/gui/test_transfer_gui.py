"""Import and export through the panel's jobs: the same files as the CLI, true cancel messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from qsa_gui import cli  # noqa: E402
from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui.core.data.images import write_image  # noqa: E402
from qsa_gui.core.data.synth import generate_dataset  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

N_IMAGES, SIZE, TIMEOUT_MS = 6, 64, 60_000


@pytest.fixture
def assistant(make_assistant, qtbot):
    return make_assistant(warm_up=False)


def _run(qtbot, w: AssistantWidget, action, signal: str = "finished") -> None:
    with qtbot.waitSignal(getattr(w.runner, signal), timeout=TIMEOUT_MS):
        action()
    qtbot.waitUntil(lambda: not w.is_busy, timeout=5000)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_gui_export_writes_the_same_files_as_the_cli(assistant, tmp_path: Path, qtbot, capsys) -> None:
    w = assistant
    demo = write_demo_project(tmp_path / "p", n_images=N_IMAGES, size=SIZE)
    assert w.open_project(demo)
    a = w.current_image_id
    w.layers.labels.data = np.pad(np.ones((8, 8), np.int32), ((4, SIZE - 12), (4, SIZE - 12)))
    w.mark_done()
    _run(qtbot, w, lambda: w.export_to(tmp_path / "gui"))
    assert w.last_export_report.n_labels == 1 + len(w.project.labelled_ids("test"))
    assert w.project.image(a).status == "labelled"
    assert w.close_project()  # the CLI needs the project's lock
    assert cli.main(["export", str(demo), str(tmp_path / "cli")]) == 0
    gui, line = _files(tmp_path / "gui"), capsys.readouterr().out
    assert sorted(gui) == sorted(_files(tmp_path / "cli")) and "annotations.csv" in gui
    assert all(gui[k] == v for k, v in _files(tmp_path / "cli").items())
    assert f"exported {w.last_export_report.n_labels} label images" in line


def test_cancelled_import_says_how_many_images_stay(assistant, tmp_path: Path, qtbot) -> None:
    w = assistant
    assert w.new_project(tmp_path / "p")
    paths = []
    for k, sample in enumerate(generate_dataset(5, seed=2, size=(32, 32))):
        paths.append(str(tmp_path / f"i{k}.png"))
        write_image(paths[-1], sample.image)
    project, real = w.project, w.project.import_images
    calls = []

    def import_then_cancel(*args, **kwargs):  # the user presses Cancel after the second file
        calls.append(1)
        report = real(*args, **kwargs)
        if len(calls) == 2:
            w.runner.cancel()
        return report

    project.import_images = import_then_cancel
    _run(qtbot, w, lambda: w.import_images(paths), "cancelled")
    assert len(w.project.images) == 2  # committed one by one: they stay
    assert "2 of 5 image(s) were imported before the cancel and stay" in w.last_message
    assert "nothing was changed" not in w.last_message.lower()
    assert "2 of 5" in w.progress_panel.stage_label.text()
    assert w.gallery.model.rowCount() == 2
