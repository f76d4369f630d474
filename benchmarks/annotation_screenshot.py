"""A screenshot of the annotation tools, driven the way a user does it (real mouse on the canvas).

Usage (needs a display; napari renders its canvas black without one)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/annotation_screenshot.py [OUT]

A demo project is opened in the desktop window; three glands are painted from the generator's
ground truth, one more is traced with the lasso by a mouse drag on the canvas (press, moves,
release: napari's own lasso code path), the Glands tab lists them, one is selected, and the
keyboard help is opened. Writes ``07_annotation_tools.png`` and ``08_shortcuts.png`` into OUT
(default ``docs/screenshots``) and prints timings of the pieces that run per edit.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _drag(canvas, points, pump) -> None:
    """Press at the first point, move through the rest with the button held, release."""
    from qtpy.QtCore import QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mod = Qt.KeyboardModifier.NoModifier

    def send(kind, p, button, buttons) -> None:
        pos = QPointF(*p)
        glob = QPointF(canvas.mapToGlobal(pos.toPoint()))
        QApplication.sendEvent(canvas, QMouseEvent(kind, pos, glob, button, buttons, mod))

    send(QMouseEvent.Type.MouseButtonPress, points[0], left, left)
    pump(0.05)
    for p in points[1:]:
        send(QMouseEvent.Type.MouseMove, p, none, left)
        pump(0.01)
    send(QMouseEvent.Type.MouseButtonRelease, points[-1], left, none)
    pump(0.2)


def save_png(pixmap, path: Path, max_bytes: int = 400_000) -> None:
    """A palette PNG under ``max_bytes`` (as benchmarks/gui_screenshots.py writes them)."""
    from PIL import Image

    tmp = path.with_suffix(".raw.png")
    pixmap.save(str(tmp))
    rgb = Image.open(tmp).convert("RGB")
    tmp.unlink()
    for colours in (256, 192, 128):
        rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            path, optimize=True
        )
        if path.stat().st_size <= max_bytes:
            break
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main(out: Path) -> None:
    import numpy as np

    from qsa_gui.app.main import ensure_app
    from qsa_gui.app.recent import make_settings
    from qsa_gui.app.window import MainWindow
    from qsa_gui.components.annotation import gland_areas, polygon_indices
    from qsa_gui.core.data.synth import generate_dataset
    from qsa_gui.core.workflow.demo_project import write_demo_project

    app = ensure_app()

    def pump(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    work = Path(tempfile.mkdtemp(prefix="qsa-annot-"))
    n, size = 8, 256
    folder = write_demo_project(work / "demo", n_images=n, size=size)
    window = MainWindow(settings=make_settings(str(work / "s.ini")), confirm_close=lambda _n: True)
    window.resize(1400, 900)
    window.show()
    window.open_project(folder)
    pump(1.5)
    a = window.assistant
    layer = a.layers.labels
    print(f"on open: mode={layer.mode} brush={layer.brush_size} selected={layer.selected_label}")

    name = a.project.image(a.current_image_id).name
    gt = generate_dataset(n, seed=0, size=(size, size))[int(name.split("_")[1])].labels.astype(np.int32)
    ids, areas = np.unique(gt[gt > 0], return_counts=True)
    order = ids[np.argsort(-areas)]
    for k, g in enumerate(order[:3], start=1):  # three glands painted, one number each
        idx = np.nonzero(gt == g)
        layer.data_setitem(idx, k)
    pump(0.3)

    # the fourth gland traced with the lasso: a mouse drag around its outline on the canvas
    target = order[3]
    rr, cc = np.nonzero(gt == target)
    cy, cx = rr.mean(), cc.mean()
    radius = 0.5 * max(np.ptp(rr), np.ptp(cc)) + 3
    window.menu_actions["trace_gland"].trigger()
    pump(0.3)
    canvas = window.qt_viewer.canvas.native
    cam = window.viewer.camera
    zoom, (crow, ccol) = cam.zoom, cam.center[-2:]
    w_px, h_px = canvas.width(), canvas.height()
    angles = np.linspace(0, 2 * np.pi, 48)
    ring = [(cy + radius * np.sin(t), cx + radius * np.cos(t)) for t in angles]
    screen = [(w_px / 2 + (c - ccol) * zoom, h_px / 2 + (r - crow) * zoom) for r, c in ring]
    before = np.array(layer.data, copy=True)
    _drag(canvas, screen, pump)
    changed = np.asarray(layer.data) != before
    new_ids = np.unique(np.asarray(layer.data)[changed])
    print(f"lasso drag: {changed.sum()} px -> {new_ids.tolist()}; selected now {layer.selected_label}")
    print("message:", a.last_message)

    window.menu_actions["trace_gland"].trigger()  # back to the brush
    a.tabs.setCurrentIndex(a.tabs.indexOf(a.glands.list))
    pump(0.6)
    a.glands.list.table.selectRow(3)  # the traced gland: selected, the view centred on it
    print(f"centred on gland 4: camera {tuple(round(x, 1) for x in window.viewer.camera.center[-2:])}")
    window.viewer.reset_view()  # the whole image for the picture
    window.menu_actions["outlines"].trigger()
    pump(1.0)
    out.mkdir(parents=True, exist_ok=True)
    save_png(window.grab(), out / "07_annotation_tools.png")
    dialog = window.show_shortcuts()
    pump(0.5)
    save_png(dialog.grab(), out / "08_shortcuts.png")

    # per-edit costs on a large labels image (a 4000 x 4000 slide crop with 2,000 glands)
    rng = np.random.default_rng(0)
    big = np.zeros((4000, 4000), np.int32)
    for i in range(1, 2001):
        r, c = rng.integers(0, 3950, size=2)
        big[r : r + 40, c : c + 40] = i
    t = time.perf_counter()
    for _ in range(5):
        gland_areas(big)
    print(f"gland_areas 4000x4000, 2000 glands: {(time.perf_counter() - t) / 5 * 1000:.1f} ms")
    poly = np.array([[100.0, 100.0], [100.0, 900.0], [900.0, 900.0], [900.0, 100.0]])
    t = time.perf_counter()
    rr, _ = polygon_indices(poly, big.shape, big, preserve=True)
    print(f"polygon_indices 800x800 px outline (preserve): {(time.perf_counter() - t) * 1000:.1f} ms")
    dialog.close()
    window.close()
    pump(0.3)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
