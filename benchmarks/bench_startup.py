"""Start-up times: the desktop window's first paint and the napari dock's open time.

Usage (needs a display; on a headless machine run it under Xvfb)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_startup.py [--runs 3]

Each measurement is a fresh process (imports are what is measured):

- ``desktop``: from the process start (before the interpreter loads) to the first paint of
  anything on screen (the splash, or the window itself without one), to the first paint of the
  main window, and whether torch was imported by then. The window opens a small demo project.
- ``napari_dock``: in a napari viewer already on screen, from the click (``add_plugin_dock_widget``)
  to the dock's first paint, and whether it imported torch.

Writes ``benchmarks/results/startup.json`` (medians over ``--runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DESKTOP_CHILD = r"""
import os, sys, time
t0 = float(os.environ["QSA_T0"])
from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
seen = {}
class Watch(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and isinstance(obj, QWidget):
            now = time.time() - t0
            seen.setdefault("first_paint_s", now)
            if obj.window().objectName() == "qsa-main-window" and "window_paint_s" not in seen:
                seen["window_paint_s"] = now
                seen["torch_imported_at_window"] = "torch" in sys.modules
                QTimer.singleShot(0, app.quit)
        return False
watch = Watch()
app.installEventFilter(watch)
QTimer.singleShot(120_000, app.quit)
from qsa_gui.app.main import main
main([sys.argv[1], "--settings", sys.argv[2]])
import json
print("RESULT " + json.dumps(seen), flush=True)
os._exit(0)
"""

DOCK_CHILD = r"""
import os, sys, time, json
import napari
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QApplication, QWidget
viewer = napari.Viewer(show=True)
app = QApplication.instance()
end = time.monotonic() + 2.0
while time.monotonic() < end:
    app.processEvents(); time.sleep(0.01)
seen = {}
class Watch(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and "t" in seen:
            w = obj
            while w is not None and w.objectName() != "qsaAssistant":
                w = w.parentWidget()
            if w is not None and "dock_paint_s" not in seen:
                seen["dock_paint_s"] = time.perf_counter() - seen["t"]
        return False
watch = Watch()
app.installEventFilter(watch)
had_torch = "torch" in sys.modules
seen["t"] = time.perf_counter()
viewer.window.add_plugin_dock_widget("qsa-gui", "Annotation assistant")
seen["add_call_s"] = time.perf_counter() - seen["t"]
end = time.monotonic() + 30
while "dock_paint_s" not in seen and time.monotonic() < end:
    app.processEvents(); time.sleep(0.002)
seen.pop("t")
seen["torch_imported"] = (not had_torch) and "torch" in sys.modules
print("RESULT " + json.dumps(seen), flush=True)
os._exit(0)
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> dict:
    env = dict(env, QSA_T0=repr(time.time()))
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"no result: {out.stderr[-2000:]}")


def _median(rows: list[dict], key: str) -> float | None:
    values = [
        r[key] for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
    ]
    return round(statistics.median(values), 2) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "startup.json"))
    parser.add_argument("--label", default="", help="a note stored with the result (e.g. 'before')")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        parser.error("no display: run under xvfb-run (see the module docstring)")
    sys.path.insert(0, str(ROOT))
    from qsa_gui.core.workflow.demo_project import write_demo_project

    env = dict(os.environ, OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        project = write_demo_project(Path(tmp) / "demo", n_images=8, size=256)
        ini = str(Path(tmp) / "settings.ini")
        desktop = [_run(DESKTOP_CHILD, [str(project), ini], env) for _ in range(args.runs)]
        dock = [_run(DOCK_CHILD, [], env) for _ in range(args.runs)]
    report = {
        "benchmark": "startup",
        "label": args.label,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "note": "shared machine: noisy"},
        "desktop": {
            "first_paint_s": _median(desktop, "first_paint_s"),
            "window_paint_s": _median(desktop, "window_paint_s"),
            "torch_imported_at_window": any(r.get("torch_imported_at_window") for r in desktop),
            "runs": desktop,
        },
        "napari_dock": {
            "open_call_s": _median(dock, "add_call_s"),
            "dock_paint_s": _median(dock, "dock_paint_s"),
            "torch_imported": any(r.get("torch_imported") for r in dock),
            "runs": dock,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
