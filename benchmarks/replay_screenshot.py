"""The replay screenshot for docs/gui.md: "Would suggestions have saved labels here?" answered in
the History tab of the main window, and its learning-curve dialog.

Usage (needs a display)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/replay_screenshot.py

A generated demo project whose images are all labelled (the generator's glands standing in for
the pathologist's), the button pressed, the real replay job run in the worker process with the
screenshots' CPU settings and 3 repeats. Writes ``docs/screenshots/09_replay.png`` (the window)
and ``10_replay_curves.png`` (the dialog).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gui_screenshots import OUT, Session, open_window, save_png, settings  # noqa: E402

N_IMAGES, SIZE = 16, 192  # a small lab project: 12 pool + 4 test images


def truth(name: str):
    """The generator's glands of demo image ``name`` (``gland_03_benign.png``)."""
    import numpy as np

    from qsa_gui.core.data.synth import generate_dataset

    index = int(name.split("_")[1])
    return generate_dataset(N_IMAGES, seed=0, size=(SIZE, SIZE))[index].labels.astype(np.int32)


def main() -> int:
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.workflow.demo_project import write_demo_project

    s = Session()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = write_demo_project(work / "demo", n_images=N_IMAGES, size=SIZE)
        with Project.open(folder) as p:
            for image_id in p.unlabelled_ids():
                p.save_labels(image_id, truth(p.image(image_id).name), done=True)
        window = open_window(work)
        a = window.assistant
        a.open_project(folder)
        a.settings_override = settings(iterations=80, ensemble_iterations=20, finetune_iterations=20)
        s.pump(0.5)
        if a.annotate_section.expanded:  # the pathologist opens the History tab to ask
            a.annotate_section.button.click()
        if not a.tabs_section.expanded:
            a.tabs_section.button.click()
        a.tabs.setCurrentWidget(a.history_page)
        from qtpy.QtWidgets import QSplitter

        split = a.findChild(QSplitter)  # the pathologist drags the gallery smaller to read the tab
        if split is not None:
            split.setSizes([160, 600])
        s.pump(0.5)
        a.replay.button.click()
        s.wait_idle(a, timeout=1800)
        print("replay:", a.replay.answer.text(), flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        save_png(window.grab().toImage(), OUT / "09_replay.png")
        a.replay.curves.click()
        s.pump(1.5)
        save_png(a.replay.dialog.grab().toImage(), OUT / "10_replay_curves.png")
        window.close()
        s.pump(0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
