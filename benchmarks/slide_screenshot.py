"""The slide-view screenshot for docs/gui.md: the CMU Aperio region (tests/data/) imported into a
new project through the main window, a real Suggest round, the slide overview shown.

Usage (needs a display; napari renders its canvas black without one)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/slide_screenshot.py

Nothing is staged: the import, the regions, the ranking and one region labelled through the
panel (a few painted discs standing in for glands, then Mark done) are the GUI's own. Writes
``docs/screenshots/07_slide_view.png``; then Retrain and Segment slide (the whole slide in the
job process, GeoJSON + OME-Zarr written) and ``08_slide_segmented.png`` with the glands outlined.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gui_screenshots import OUT, Session, open_window, save_png, settings  # noqa: E402

CMU = ROOT / "tests" / "data" / "cmu_small_region.svs"


def main() -> int:
    import numpy as np
    from skimage.draw import disk

    s = Session()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        window = open_window(work)
        a = window.assistant
        a.new_project(work / "slides", name="CMU slide")
        a.settings_override = settings()
        a.import_images([str(CMU)])
        s.wait_idle(a)
        print("import:", a.last_message, flush=True)
        a.suggest()
        s.wait_idle(a)
        print("suggest:", a.last_message, flush=True)
        # the pathologist labels suggestion #1: three discs painted, Mark done
        first = a.project.latest_round().image_ids[0]
        a.show_image(first)
        layer = a.layers.labels
        for k, (cy, cx) in enumerate(((150, 200), (300, 420), (380, 620)), start=1):
            rr, cc = disk((cy, cx), 45, shape=layer.data.shape)
            layer.data_setitem((rr, cc), np.full(rr.shape, k, np.int32))
        a.mark_done()
        s.pump(0.5)
        window.menu_actions["show_slide"].trigger()
        s.pump(1.5)
        print("slide:", a.last_message, flush=True)
        a.gallery.wait_thumbnails(10)
        s.pump(1.0)
        OUT.mkdir(parents=True, exist_ok=True)
        save_png(window.grab().toImage(), OUT / "07_slide_view.png")
        a.retrain()
        s.wait_idle(a)
        print("retrain:", a.last_message, flush=True)
        window.menu_actions["segment_slide"].trigger()
        s.wait_idle(a)
        print("segment slide:", a.last_message, flush=True)
        s.pump(1.5)
        save_png(window.grab().toImage(), OUT / "08_slide_segmented.png")
        window.close()
        s.pump(0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
