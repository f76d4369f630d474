"""The mixed-size image-switch case of ``bench_gui_responsiveness.py`` (``--case switch``).

Why a case of its own: switching between images of *different* sizes used to remove and re-add
napari's layers, and napari runs ``gc.collect()`` on every removal (0.9-2.1 s of frozen window
per switch), while same-size switches took 30-100 ms. The project here mixes five sizes, so
every step of Next image changes the size; the 10 ms heartbeat gives the longest event-loop gap
of each switch (from the key press until the new image is on the canvas and painted).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

#: (height, width) of the images, in the order Next visits them: every step changes the size.
SIZES: tuple[tuple[int, int], ...] = ((256, 256), (1024, 768), (384, 640), (768, 1024), (512, 512))
N_ROUNDS = 3


def make_mixed_project(folder: Path, sizes: tuple[tuple[int, int], ...] = SIZES) -> Path:
    """A project of generated H&E-like images in ``sizes``, the first one labelled."""
    import numpy as np

    from qsa_gui.core.data.images import write_image
    from qsa_gui.core.data.synth import generate_sample
    from qsa_gui.core.project.store import Project

    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    paths, truths = [], []
    for i, (h, w) in enumerate(sizes):
        sample = generate_sample(i, size=(h, w))
        path = src / f"img_{i:02d}_{h}x{w}.png"
        write_image(path, sample.image)
        paths.append(path)
        truths.append(sample.labels.astype(np.int32))
    project_dir = folder / "mixed"
    with Project.create(project_dir, name="mixed sizes") as project:
        project.import_images(paths)
        first = project.images[0]
        project.save_labels(first.id, truths[0], done=False)
    return project_dir


def run_switches(app: Any, assistant: Any, n_switches: int) -> dict[str, Any]:
    """Press Next ``n_switches`` times; per switch the longest event-loop gap (ms) and its wall time."""
    from qsa_gui._qt.heartbeat import EventLoopMonitor

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)

    def measure(action: Any) -> tuple[float, float]:
        monitor = EventLoopMonitor(interval_ms=10)
        monitor.start()
        pump(0.05)
        t0 = time.perf_counter()
        action()
        wall = (time.perf_counter() - t0) * 1000.0
        pump(0.35)  # the repaint of the new image and the prefetch of the next one
        monitor.stop()
        return monitor.max_gap_ms, wall

    from qsa_gui._qt.napari_private import canvas_widget

    pump(1.0)
    canvas = canvas_widget(assistant.viewer)
    # the floor: one repaint of the whole window with nothing switched (software GL under Xvfb)
    floor = [measure(lambda: (canvas.update(), assistant.window().update()))[0] for _ in range(5)]
    gaps, walls = [], []
    for _ in range(n_switches):
        gap, wall = measure(assistant.next_image)
        gaps.append(gap)
        walls.append(wall)
    return {
        "repaint_floor_max_gap_ms": round(statistics.median(floor), 1),
        "switches": n_switches,
        "sizes": [list(s) for s in SIZES],
        "max_gap_ms_per_switch": [round(g, 1) for g in gaps],
        "max_gap_ms": round(max(gaps), 1),
        "median_gap_ms": round(statistics.median(gaps), 1),
        "median_call_ms": round(statistics.median(walls), 1),
        "prefetch_hits": assistant.session.pixels.hits,
        "prefetch_misses": assistant.session.pixels.misses,
    }


__all__ = ["N_ROUNDS", "SIZES", "make_mixed_project", "run_switches"]
