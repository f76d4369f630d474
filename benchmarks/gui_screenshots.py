"""Screenshots of both shells for docs/gui.md, taken from a real session on generated glands.

Usage (needs a display; napari renders its canvas black without one)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/gui_screenshots.py

Nothing is staged: a demo project of generated gland images (``write_demo_project``) is labelled
with the generator's own ground truth (standing in for the pathologist), and every model,
suggestion and heat-map shown comes from the real jobs run through the GUI. The third Retrain uses
``iterations=1`` so that the regression guard has an honestly worse model to keep out.

Writes ``docs/screenshots/``: 01_suggestions.png, 02_heatmap.png, 03_annotating.png,
04_history.png, 05_training_live.png (main window) and 06_napari_plugin.png (the plugin docked in
plain napari). Each PNG is palette-quantised to stay under 400 KB.

``--part laptop`` writes ``docs/images/{window,napari}_{1366x768,1280x720}.png``: both shells at
laptop screen sizes (the window as large as the screen), a demo project open, no jobs run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

OUT = ROOT / "docs" / "screenshots"
LAPTOP_OUT = ROOT / "docs" / "images"
LAPTOP_SIZES = ((1366, 768), (1280, 720))
N_IMAGES, SIZE = 36, 256
WINDOW_SIZE = (1400, 900)
MAX_BYTES = 400_000


def settings(**changes: Any) -> dict:
    """The demo's CPU preset; 4 suggestions a round so the ranking shows."""
    from qsa_gui.core.settings import Settings

    base = Settings(
        preset="compact",
        ensemble_size=3,
        iterations=150,
        ensemble_iterations=40,
        finetune_iterations=80,
        inq_iterations=10,
        batch_size=8,
        patch_size=96,
        tile=256,
        k=4,
    )
    return base.updated(**changes).to_dict()


def truth(project: Any, image_id: str) -> Any:
    """The generator's instance labels of a demo image (the 'pathologist' of these screenshots)."""
    import numpy as np

    from qsa_gui.core.data.synth import generate_dataset

    index = int(project.image(image_id).name.split("_")[1])
    return generate_dataset(N_IMAGES, seed=0, size=(SIZE, SIZE))[index].labels.astype(np.int32)


def save_png(image: Any, path: Path) -> None:
    """QImage -> optimised palette PNG under MAX_BYTES (fewer colours only if needed)."""
    from PIL import Image

    tmp = path.with_suffix(".raw.png")
    image.save(str(tmp))
    rgb = Image.open(tmp).convert("RGB")
    tmp.unlink()
    for colours in (256, 192, 128, 96):
        rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            path, optimize=True
        )
        if path.stat().st_size <= MAX_BYTES:
            break
    print(f"wrote {path} ({rgb.width}x{rgb.height}, {path.stat().st_size // 1024} KB)", flush=True)


class Session:
    """Event-loop helpers around one QApplication."""

    def __init__(self) -> None:
        from qsa_gui.app.main import ensure_app

        self.app = ensure_app()

    def pump(self, seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait_idle(self, assistant: Any, timeout: float = 900.0) -> None:
        end = time.monotonic() + timeout
        self.pump(0.2)
        while assistant.is_busy and time.monotonic() < end:
            self.pump(0.1)
        if assistant.is_busy:
            raise TimeoutError("job did not finish")
        self.pump(0.6)


def label_as_pathologist(assistant: Any, image_id: str, done: bool = True) -> None:
    """Paint the image's glands into the labels layer (undoable edits, autosaved) and mark done."""
    import numpy as np

    assistant.show_image(image_id)
    gt = truth(assistant.project, image_id)
    layer = assistant.layers.labels
    idx = np.nonzero(gt != np.asarray(layer.data))
    layer.data_setitem(idx, gt[idx])
    if done:
        assistant.mark_done()


def window_part(work: Path) -> None:
    """Shots 1-5: the desktop main window."""
    import numpy as np

    from qsa_gui.core.project.store import Project
    from qsa_gui.core.workflow.demo_project import write_demo_project

    s = Session()
    folder = write_demo_project(work / "demo", n_images=N_IMAGES, size=SIZE)
    with Project.open(folder) as project:  # a first round the pathologist already labelled
        for rec in [r for r in project.images if r.split == "pool"][:4]:
            project.save_labels(rec.id, truth(project, rec.id), done=True)

    window = open_window(work)
    a = window.assistant
    window.open_project(folder)
    a.settings_override = settings()
    s.pump(1.0)

    def arrange(gallery: int, tabs: int) -> None:
        """Unfold the tabs and drag the gallery / tabs splitter as a user would (the gallery
        first, or the plots); a folded section keeps its title's height whatever the sizes."""
        if not a.tabs_section.expanded:
            a.tabs_section.button.click()  # as a user: the panel no longer folds it for them
        a.splitter.setSizes([gallery, tabs])

    def shot(name: str) -> None:
        a.gallery.wait_thumbnails(10)
        s.pump(1.0)
        save_png(window.grab().toImage(), OUT / name)

    # model v1 from the four labelled images, then a QSA round
    window.menu_actions["retrain"].trigger()
    s.wait_idle(a)
    print("retrain 1:", a.last_message, flush=True)
    window.menu_actions["suggest"].trigger()
    s.wait_idle(a)
    print("suggest:", a.last_message, flush=True)
    window.viewer.reset_view()
    a.tabs.setCurrentIndex(0)
    arrange(420, 160)
    a.gallery.view.scrollToTop()
    shot("01_suggestions.png")

    # annotation in progress on suggestion #1: four glands painted, the brush active
    rnd = a.project.latest_round()
    first = rnd.image_ids[0]
    a.show_image(first)
    gt = truth(a.project, first)
    ids, areas = np.unique(gt[gt > 0], return_counts=True)
    keep = ids[np.argsort(-areas)][:4]  # the four largest glands outlined so far
    partial = np.where(np.isin(gt, keep), gt, 0)
    layer = a.layers.labels
    idx = np.nonzero(partial)
    layer.data_setitem(idx, partial[idx])
    layer.selected_label = int(gt.max()) + 1
    layer.brush_size = 12
    layer.mode = "paint"
    window.viewer.layers.selection.active = layer
    s.pump(2.5)  # the autosave (1.5 s) marks it "in progress"
    shot("03_annotating.png")

    # the pathologist finishes the round; Retrain (v2), then a deliberately short one (v3)
    for image_id in rnd.image_ids:
        label_as_pathologist(a, image_id)
    s.pump(0.5)
    a.settings_override = settings(iterations=300, finetune_iterations=300)
    window.menu_actions["retrain"].trigger()
    s.wait_idle(a)
    print("retrain 2:", a.last_message, flush=True)
    a.settings_override = settings(iterations=1, finetune_iterations=1, inq_iterations=1)
    window.menu_actions["retrain"].trigger()
    s.wait_idle(a)
    print("retrain 3:", a.last_message, flush=True)

    # heat-map: the latest round's ensemble disagreement over an image nobody labelled
    target = a.project.next_suggested() or a.project.unlabelled_ids("pool")[0]
    a.show_image(target)
    a.toggle_heatmap(True)
    s.wait_idle(a)
    window.viewer.reset_view()
    a.tabs.setCurrentIndex(0)
    shot("02_heatmap.png")
    a.toggle_heatmap(False)

    history = [a.tabs.tabText(i) for i in range(a.tabs.count())].index("History")
    a.tabs.setCurrentIndex(history)
    arrange(150, 420)
    shot("04_history.png")

    # a longer retrain, caught mid-run: live loss, progress with ETA, Cancel
    a.settings_override = settings(iterations=1500)
    arrange(200, 370)
    window.menu_actions["retrain"].trigger()
    end = time.monotonic() + 300
    while len(a.loss_values) < 40 and time.monotonic() < end:
        s.pump(0.1)
    a.loss_plot.update()
    shot("05_training_live.png")
    a.cancel_job()
    s.wait_idle(a)
    print("cancelled:", a.last_message, flush=True)
    window.close()
    s.pump(0.5)


def open_window(work: Path, ini: str = "settings.ini") -> Any:
    """The desktop window as the screenshots show it: its own settings file, WINDOW_SIZE, docks
    240 / 500 px wide."""
    from qsa_gui.app.recent import make_settings
    from qsa_gui.app.window import MainWindow

    window = MainWindow(settings=make_settings(str(work / ini)), confirm_close=lambda _n: True)
    window.resize(*WINDOW_SIZE)
    window.show()
    window.resizeDocks([window.tools_dock, window.assistant_dock], [240, 500], window_orientation())
    return window


def window_orientation() -> Any:
    from qtpy.QtCore import Qt

    return Qt.Orientation.Horizontal


def napari_part(work: Path) -> None:
    """Shot 6: the plugin docked in plain napari, a prediction shown as an editable layer."""
    import napari

    project = work / "demo"
    s = Session()
    viewer = napari.Viewer(show=True, title="napari — QSA annotation assistant")
    viewer.window._qt_window.resize(*WINDOW_SIZE)
    dock, a = viewer.window.add_plugin_dock_widget("qsa-gui", "Annotation assistant")
    qt_window = viewer.window._qt_window
    qt_window.resizeDocks([dock], [520], window_orientation())
    s.pump(1.0)
    a.settings_override = settings()
    a.open_project(project)
    s.pump(0.5)
    target = a.project.next_suggested() or a.project.unlabelled_ids("pool")[0]
    a.show_image(target)
    a.segment_current()
    s.wait_idle(a)
    a.tabs.setCurrentIndex(0)
    if not a.tabs_section.expanded:
        a.tabs_section.button.click()
    a.splitter.setSizes([420, 160])
    viewer.reset_view()
    a.gallery.wait_thumbnails(10)
    s.pump(1.5)
    save_png(viewer.window._qt_window.grab().toImage(), OUT / "06_napari_plugin.png")
    print("napari:", a.last_message, flush=True)
    a.shutdown()
    viewer.close()
    s.pump(0.3)


def laptop_part(work: Path) -> None:
    """Both shells at 1366x768 and 1280x720 (Xvfb has no window decorations: the full size)."""
    import napari

    from qsa_gui.app.recent import make_settings
    from qsa_gui.app.window import MainWindow
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.workflow.demo_project import write_demo_project

    s = Session()
    folder = write_demo_project(work / "laptop", n_images=12, size=SIZE)
    with Project.open(folder) as project:
        for rec in [r for r in project.images if r.split == "pool"][:2]:
            project.save_labels(rec.id, truth(project, rec.id), done=True)
    LAPTOP_OUT.mkdir(parents=True, exist_ok=True)
    window = MainWindow(settings=make_settings(str(work / "laptop.ini")), confirm_close=lambda _n: True)
    window.show()
    window.open_project(folder)
    for w, h in LAPTOP_SIZES:
        window.resize(w, h)
        window.assistant.gallery.wait_thumbnails(10)
        s.pump(1.5)
        save_png(window.grab().toImage(), LAPTOP_OUT / f"window_{w}x{h}.png")
    window.close()
    s.pump(0.5)
    viewer = napari.Viewer(show=True, title="napari — QSA annotation assistant")
    _dock, a = viewer.window.add_plugin_dock_widget("qsa-gui", "Annotation assistant")
    a.open_project(folder)
    for w, h in LAPTOP_SIZES:
        viewer.window._qt_window.resize(w, h)
        a.gallery.wait_thumbnails(10)
        s.pump(1.5)
        save_png(viewer.window._qt_window.grab().toImage(), LAPTOP_OUT / f"napari_{w}x{h}.png")
    a.shutdown()
    viewer.close()
    s.pump(0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "window", "napari", "laptop"), default="all")
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.part == "window":
        window_part(Path(args.work))
    elif args.part == "napari":
        napari_part(Path(args.work))
    elif args.part == "laptop":
        work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="qsa-shots-"))
        laptop_part(work)
    else:  # each shell in a fresh process (one napari viewer per process keeps things simple)
        work = Path(tempfile.mkdtemp(prefix="qsa-shots-"))
        try:
            for part in ("window", "napari"):
                cmd = [sys.executable, __file__, "--part", part, "--work", str(work)]
                subprocess.run(cmd, check=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
