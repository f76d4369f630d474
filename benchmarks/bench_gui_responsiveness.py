"""GUI responsiveness while the model retrains: does the window ever freeze?

Usage (needs a display; on a headless machine run it under Xvfb)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_gui_responsiveness.py
    ... [--shell window|napari] [--iterations 60] [--variants warm,cold] [--out FILE]
    ... --case switch [--shell window|napari]    # image switches between mixed sizes
    ... --case switch --rounds 3 --baseline /tmp/base   # side by side with an older checkout

``--case switch`` (see ``benchmarks/_switch_case.py``) presses Next image through a project of five
image sizes and reports the longest event-loop gap of each switch (max and median; target < 50 ms)
into ``benchmarks/results/gui_switch.json``. ``--baseline DIR`` (a checkout of an older commit,
e.g. ``git worktree add /tmp/base <rev>``) runs that checkout's switch case alternately with this
one, ``--rounds`` times each in fresh processes, so the two are compared in one run on one machine
state; the report then holds both and the ratio of their medians.
    ... [--mode process|thread] [--jobs retrain,suggest]

Opens the desktop main window (or the assistant docked in a plain napari viewer) on a generated
demo project with 4 labelled images, and runs Retrain twice with realistic settings (preset
"compact", patch 96, batch 8, 60 iterations + INQ) while
:class:`qsa_gui._qt.heartbeat.EventLoopMonitor` ticks every 10 ms on the GUI thread. Every gap
between ticks is time the window could not repaint or react; the target is a longest gap
< 30 ms. On a shared, loaded machine much of a gap is the GUI thread waiting for a CPU that other
programs hold, so each gap is also reported without the time the GUI thread sat runnable in the
kernel's run queue (``/proc/thread-self/schedstat``): ``own_max_gap_ms`` is what this program's
own work (its GIL, its redraws) cost the window. Each variant runs in a fresh process, because
the *first* job of a process is the one that pays torch's one-time start-up: ``warm`` is the
shipped behaviour (torch warmed up before the first job), ``cold`` skips the warm-up.
``--mode process`` (the shipped default) runs the jobs in the spawned worker process
(:mod:`qsa_gui.core.worker`; ``warm`` = the worker started and warmed up before the first job),
``--mode thread`` on the GUI process's worker thread (the behaviour before). ``--jobs`` picks the
jobs measured, each run twice (Suggest retrains its ensemble: the labels changed in between).
Writes ``benchmarks/results/gui_responsiveness.json`` (``..._thread.json`` for thread mode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

TARGET_MS = 30.0  # issue 11: longest event-loop gap during Suggest and Retrain
SWITCH_TARGET_MS = 50.0
RESULTS = ROOT / "benchmarks" / "results"
N_IMAGES, SIZE, N_LABELLED = 24, 256, 4


def _settings(iterations: int) -> dict:
    from qsa_gui.core.settings import Settings

    return Settings(
        preset="compact",
        iterations=iterations,
        inq_iterations=10,
        batch_size=8,
        patch_size=96,
        tile=256,
        ensemble_size=3,
    ).to_dict()


def _make_project(folder: Path) -> Path:
    """The demo project with the first pool images labelled by the generator's ground truth."""
    import numpy as np

    from qsa_gui.core.data.synth import generate_dataset
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.workflow.demo_project import write_demo_project

    path = write_demo_project(folder, n_images=N_IMAGES, size=SIZE)
    truth = generate_dataset(N_IMAGES, seed=0, size=(SIZE, SIZE))
    with Project.open(path) as project:
        for rec in [r for r in project.images if r.split == "pool"][:N_LABELLED]:
            index = int(rec.name.split("_")[1])
            project.save_labels(rec.id, truth[index].labels.astype(np.int32), done=True)
    return path


def _build_shell(shell: str, app: Any, tmp: Path, project: Path) -> tuple[Any, Any]:
    """(window or viewer, assistant) of ``shell`` with ``project`` open, shown at 1500x950."""
    from qsa_gui._qt.assistant import AssistantWidget
    from qsa_gui.app.recent import make_settings

    if shell == "window":
        from qsa_gui.app.window import MainWindow

        window = MainWindow(
            settings=make_settings(str(tmp / "settings.ini")),
            assistant_factory=lambda v: AssistantWidget(v, shortcuts=False, warm_up=False),
            confirm_close=lambda _name: True,
        )
        window.resize(1500, 950)
        window.show()
        window.open_project(project)
        return window, window.assistant
    import napari

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    assistant = AssistantWidget(viewer, warm_up=False)
    viewer.window.add_dock_widget(assistant, name="Annotation assistant", area="right")
    assistant.open_project(project)
    return viewer, assistant


def switch_child(shell: str, out: Path) -> None:
    """One fresh process: Next image through a project of mixed image sizes, gap per switch."""
    from _switch_case import N_ROUNDS, SIZES, make_mixed_project, run_switches

    from qsa_gui.app.main import ensure_app

    app = ensure_app()
    tmp = Path(tempfile.mkdtemp(prefix="qsa-bench-switch-"))
    project = make_mixed_project(tmp)
    window, assistant = _build_shell(shell, app, tmp, project)
    result = run_switches(app, assistant, N_ROUNDS * len(SIZES))
    result["shell"] = shell
    print(f"[{shell}] switch: max gap {result['max_gap_ms']} ms, median {result['median_gap_ms']} ms "
          f"(per switch {result['max_gap_ms_per_switch']})", flush=True)  # fmt: skip
    if shell == "window":
        window.close()
    else:
        assistant.shutdown()
        window.close()
    out.write_text(json.dumps(result, indent=2))


def _sched_monitor(interval_ms: int = 10) -> Any:
    """An EventLoopMonitor that also reads the GUI thread's run-queue wait at every tick."""
    from qsa_gui._qt.heartbeat import EventLoopMonitor

    class SchedMonitor(EventLoopMonitor):
        PATH = "/proc/thread-self/schedstat"

        def __init__(self) -> None:
            self.waits: list[float] = []
            self.cpus: list[float] = []
            self._last_wait: tuple[float, float] | None = None
            super().__init__(interval_ms=interval_ms)

        def _wait_ms(self) -> tuple[float, float] | None:
            """(ms run on a CPU, ms waited in the run queue) of this thread so far."""
            try:
                with open(self.PATH) as fh:
                    run, wait = fh.read().split()[:2]
                return int(run) / 1e6, int(wait) / 1e6
            except (OSError, ValueError):
                return None

        def _record(self, now: float) -> None:
            super()._record(now)
            wait = self._wait_ms()
            if wait is not None and self._last_wait is not None:
                self.cpus.append(wait[0] - self._last_wait[0])
                self.waits.append(wait[1] - self._last_wait[1])
            self._last_wait = wait

        def worst(self, n: int = 5) -> list[list[float]]:
            """The ``n`` longest gaps as [gap, run-queue wait, CPU used] in ms."""
            rows = list(zip(self.gaps, self.waits, self.cpus, strict=False))
            return [[round(x, 1) for x in r] for r in sorted(rows, reverse=True)[:n]]

        def start(self) -> None:
            self.waits.clear()
            self.cpus.clear()
            self._last_wait = None
            super().start()  # its first _record only sets the start time
            self._last_wait = self._wait_ms()

        def own_gaps(self) -> list[float]:
            """Each gap minus the run-queue wait inside it."""
            gaps = self.gaps
            if len(self.waits) != len(gaps):
                return []
            return [max(0.0, g - w) for g, w in zip(gaps, self.waits, strict=True)]

    return SchedMonitor()


class StallSampler:
    """Samples the GUI thread's stack while the event loop stalls (``--trace-stalls``).

    Why: a gap says *that* the window froze, not *where*. A thread polls the monitor every 5 ms;
    once the last tick is over ``threshold_ms`` old it records the GUI thread's innermost frames
    (and, when the GUI thread only waits for the GIL, whichever thread held it shows up in the
    next sample's other stacks), so a freeze names its line of code.
    """

    def __init__(self, monitor: Any, threshold_ms: float = 35.0) -> None:
        import threading

        self.monitor, self.threshold_ms = monitor, threshold_ms
        self.gui_ident = threading.get_ident()
        self.samples: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(1.0)
        return dict(sorted(self.samples.items(), key=lambda kv: -kv[1]))

    @staticmethod
    def _where(frame: Any, depth: int = 6) -> str:
        import traceback

        rows = traceback.extract_stack(frame)[-depth:]
        return " <- ".join(f"{Path(r.filename).name}:{r.lineno} {r.name}" for r in reversed(rows))

    def _run(self) -> None:
        import sys as _sys

        while not self._stop.wait(0.005):
            last = self.monitor._last
            if last is None or (time.perf_counter() - last) * 1000.0 < self.threshold_ms:
                continue
            frames = _sys._current_frames()
            gui = frames.get(self.gui_ident)
            if gui is not None:
                key = "GUI: " + self._where(gui)
                self.samples[key] = self.samples.get(key, 0) + 1


def _display_floor(app: Any, assistant: Any, updates: int = 12) -> dict[str, float]:
    """The longest event-loop gap one status-line update costs with *no* job running.

    Why: in a window that holds napari's OpenGL canvas, Qt composes every repaint, however
    small, through OpenGL; under Xvfb that is software GL (llvmpipe) and a full-window image
    sent to the X server. That cost is the display's, not the product's: no job can make the
    window freeze for less, so it is measured and reported beside the jobs' gaps.
    """
    from statistics import median

    from qsa_gui._qt.heartbeat import EventLoopMonitor

    worst = []
    for i in range(updates):
        monitor = EventLoopMonitor(interval_ms=10)
        monitor.start()
        assistant.view.show_message(f"display floor {i}", "info")
        end = time.monotonic() + 0.15
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)
        monitor.stop()
        worst.append(monitor.max_gap_ms)
    assistant.view.show_message("", "info")
    return {"updates": updates, "max_gap_ms": round(max(worst), 1), "median_gap_ms": round(median(worst), 1)}


def _label_one_more(assistant: Any) -> None:
    """Mark one more pool image done with the generator's truth (so Suggest has new labels)."""
    import numpy as np

    from qsa_gui.core.data.synth import generate_dataset

    project = assistant.project
    image_id = project.unlabelled_ids("pool")[0]
    index = int(project.image(image_id).name.split("_")[1])
    labels = generate_dataset(N_IMAGES, seed=0, size=(SIZE, SIZE))[index].labels.astype(np.int32)
    project.save_labels(image_id, labels, done=True)


def child(
    shell: str, warm: bool, iterations: int, out: Path, mode: str = "process", jobs: tuple = ("retrain",),
    trace: bool = False,
) -> None:
    """One fresh process: build the GUI, run each job twice under the event-loop monitor."""
    os.environ["QSA_JOBS"] = mode
    from qtpy.QtWidgets import QApplication

    from qsa_gui._qt.assistant import AssistantWidget
    from qsa_gui.app.main import ensure_app
    from qsa_gui.app.recent import make_settings
    from qsa_gui.core.model.warmup import warm_up_torch

    app = ensure_app()
    tmp = Path(tempfile.mkdtemp(prefix="qsa-bench-gui-"))
    project = _make_project(tmp / "demo")

    t0 = time.perf_counter()
    worker_s = None
    if warm and mode == "process":
        from qsa_gui.core.worker import shared_pool

        worker = shared_pool().prestart()
        worker.wait_ready(300)
        worker_s = worker.startup_seconds
        warm_s = 0.0
    else:
        warm_s = warm_up_torch() if warm else 0.0
    if shell == "window":
        from qsa_gui.app.window import MainWindow

        window = MainWindow(
            settings=make_settings(str(tmp / "settings.ini")),
            assistant_factory=lambda v: AssistantWidget(v, shortcuts=False, warm_up=False),
            confirm_close=lambda _name: True,
        )
        assistant = window.assistant
        window.resize(1500, 950)
        window.show()
        window.open_project(project)
    else:
        import napari

        viewer = napari.Viewer(show=True)
        viewer.window._qt_window.resize(1500, 950)
        assistant = AssistantWidget(viewer, warm_up=False)
        viewer.window.add_dock_widget(assistant, name="Annotation assistant", area="right")
        assistant.open_project(project)
        window = viewer
    build_s = time.perf_counter() - t0

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    pump(1.5)  # thumbnails, first paint
    display_floor = _display_floor(app, assistant)
    floor_max, floor_median = display_floor["max_gap_ms"], display_floor["median_gap_ms"]
    print(f"[{shell}] display floor (no job): a status-line update blocks up to {floor_max:.0f} ms, "
          f"{floor_median:.0f} ms median", flush=True)  # fmt: skip
    assistant.settings_override = _settings(iterations)
    runs = []
    plan = [(job, label) for job in jobs for label in ("first", "second")]
    for job, label in plan:
        if job == "suggest" and label == "second":  # new labels: the ensemble retrains
            _label_one_more(assistant)
        monitor = _sched_monitor(interval_ms=10)
        monitor.start()
        sampler = StallSampler(monitor) if trace else None
        if sampler is not None:
            sampler.start()
        t1 = time.perf_counter()
        getattr(assistant, job)()
        while assistant.is_busy or assistant.runner.is_running:
            app.processEvents()
            time.sleep(0.002)
        job_s = time.perf_counter() - t1
        pump(0.3)  # the result handlers (gallery, history, message) are part of what the user feels
        monitor.stop()
        summary = monitor.summary()
        if sampler is not None:
            summary["stall_samples"] = sampler.stop()
            for where, n in list(summary["stall_samples"].items())[:8]:
                print(f"  {n:4d} x 5 ms  {where}", flush=True)
        own = sorted(monitor.own_gaps())
        if own:
            summary.update(
                own_max_gap_ms=own[-1],
                own_p99_gap_ms=own[int(0.99 * (len(own) - 1))],
                run_queue_ms=sum(monitor.waits),
                worst_gaps_wait_cpu_ms=monitor.worst(),
            )
        # when the long gaps happened (s since Retrain was pressed): at the start, during, at the end?
        t, long_gaps = 0.0, []
        for gap in monitor.gaps:
            t += gap / 1000.0
            if gap > 50.0:
                long_gaps.append([round(t, 2), round(gap, 1)])
        summary.update(
            job=job,
            retrain=label,
            long_gaps_s_ms=long_gaps,
            job_seconds=round(job_s, 2),
            loss_updates=len(assistant.loss_values),  # reset when a retrain starts
            outcome=assistant.last_message,
        )
        runs.append(summary)
        print(
            f"[{shell}, {mode}, {'warm' if warm else 'cold'}] {label} {job}: "
            f"max gap {summary['max_gap_ms']:.0f} ms, "
            f"p99 {summary['p99_gap_ms']:.1f} ms, mean {summary['mean_gap_ms']:.1f} ms, "
            f"{int(summary['ticks'])} ticks in {job_s:.1f} s; "
            f"own max {summary.get('own_max_gap_ms', -1):.0f} ms",
            flush=True,
        )
    if shell == "window":
        window.close()
    else:
        assistant.shutdown()
        window.close()
    QApplication.processEvents()
    result = {
        "shell": shell,
        "warm_up": warm,
        "mode": mode,
        "warm_up_seconds": round(warm_s, 3),
        "worker_startup_seconds": None if worker_s is None else round(worker_s, 2),
        "startup_seconds": round(build_s, 2),
        "display_floor": display_floor,
        "runs": runs,
    }
    out.write_text(json.dumps(result, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shell", choices=("window", "napari"), default="window")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--variants", default="warm,cold", help="comma list of warm, cold")
    parser.add_argument("--mode", choices=("process", "thread"), default="process")
    parser.add_argument("--jobs", default="retrain,suggest", help="comma list of retrain, suggest")
    parser.add_argument("--out", help="default: benchmarks/results/gui_responsiveness.json (gui_switch.json)")
    parser.add_argument("--case", choices=("retrain", "switch"), default="retrain")
    parser.add_argument("--rounds", type=int, default=1, help="--case switch: fresh processes per checkout")
    parser.add_argument("--baseline", help="--case switch: an older checkout run alternately with this one")
    parser.add_argument("--trace-stalls", action="store_true", help="sample the GUI thread's stack in gaps")
    parser.add_argument("--child", choices=("warm", "cold", "switch"), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "switch":
        switch_child(args.shell, Path(args.child_out))
        return 0
    if args.child:
        jobs = tuple(j.strip() for j in args.jobs.split(",") if j.strip())
        child(args.shell, args.child == "warm", args.iterations, Path(args.child_out), args.mode, jobs,
              trace=args.trace_stalls)  # fmt: skip
        return 0
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        parser.error("no display: run under xvfb-run (see the module docstring)")
    if args.case == "switch":
        return _switch_main(args)

    results: dict[str, Any] = {}
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        with tempfile.TemporaryDirectory() as tmp:
            part = Path(tmp) / "part.json"
            cmd = [sys.executable, __file__, "--shell", args.shell, "--iterations", str(args.iterations)]
            cmd += ["--mode", args.mode, "--jobs", args.jobs]
            cmd += ["--child", variant, "--child-out", str(part)] + ["--trace-stalls"] * args.trace_stalls
            subprocess.run(cmd, check=True)
            results[variant] = json.loads(part.read_text())
    warm = results.get("warm")
    report = {
        "benchmark": "gui_responsiveness",
        "what": "longest time the GUI event loop could not run (10 ms heartbeat) during Retrain / Suggest",
        "mode": args.mode,
        "target_max_gap_ms": TARGET_MS,
        "settings": _settings(args.iterations),
        "project": f"demo, {N_IMAGES} generated images of {SIZE} px, {N_LABELLED} labelled",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "note": "shared 2-core machine: timings are noisy",
        },
        "variants": results,
        "meets_target": (None if warm is None else all(r["max_gap_ms"] < TARGET_MS for r in warm["runs"])),
        "own_meets_target": (
            None if warm is None else all(r.get("own_max_gap_ms", 1e9) < TARGET_MS for r in warm["runs"])
        ),
    }
    default = "gui_responsiveness.json" if args.mode == "process" else "gui_responsiveness_thread.json"
    out = Path(args.out) if args.out else RESULTS / default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    for name, res in results.items():
        floor = res.get("display_floor") or {}
        print(f"  {name:4s} display floor (a status-line update, no job): max {floor.get('max_gap_ms')} ms, "
              f"median {floor.get('median_gap_ms')} ms")  # fmt: skip
        for r in res["runs"]:
            print(
                f"  {name:4s} {r['job']:8s} {r['retrain']:6s}: max {r['max_gap_ms']:6.1f} ms  "
                f"p99 {r['p99_gap_ms']:5.1f} ms  "
                f"mean {r['mean_gap_ms']:5.1f} ms  ticks {int(r['ticks'])}  job {r['job_seconds']} s  "
                f"own max {r.get('own_max_gap_ms', -1):6.1f} ms  "
                f"own p99 {r.get('own_p99_gap_ms', -1):5.1f} ms"
            )
    return 0


def _switch_child(root: Path, shell: str) -> dict[str, Any]:
    """One fresh process of ``root``'s checkout: its switch case on ``shell``."""
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part.json"
        script = root / "benchmarks" / Path(__file__).name
        cmd = [sys.executable, str(script), "--shell", shell, "--child", "switch", "--child-out", str(part)]
        subprocess.run(cmd, check=True, cwd=root)
        return json.loads(part.read_text())


def _pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every switch of ``runs`` pooled: the longest gap, the median and the 90th percentile."""
    import statistics

    gaps = sorted(g for r in runs for g in r["max_gap_ms_per_switch"])
    return {
        "switches": len(gaps),
        "max_gap_ms": round(max(gaps), 1),
        "median_gap_ms": round(statistics.median(gaps), 1),
        "p90_gap_ms": round(gaps[min(len(gaps) - 1, int(0.9 * len(gaps)))], 1),
        "share_under_target": round(sum(g < SWITCH_TARGET_MS for g in gaps) / len(gaps), 3),
    }


def _switch_main(args: argparse.Namespace) -> int:
    baseline = Path(args.baseline).resolve() if args.baseline else None
    runs: list[dict[str, Any]] = []
    base_runs: list[dict[str, Any]] = []
    for _ in range(max(1, args.rounds)):
        if baseline is not None:  # alternately: both see the same machine state
            base_runs.append(_switch_child(baseline, args.shell))
            last = base_runs[-1]
            print(f"  baseline: max {last['max_gap_ms']} ms, median {last['median_gap_ms']} ms")
        runs.append(_switch_child(ROOT, args.shell))
        print(f"  this:     max {runs[-1]['max_gap_ms']} ms, median {runs[-1]['median_gap_ms']} ms")
    result = dict(runs[-1], **_pooled(runs), rounds=len(runs), runs=runs)
    if base_runs:
        base = _pooled(base_runs)
        result["baseline"] = dict(base, checkout=_describe(baseline), runs=base_runs)  # type: ignore[arg-type]
        result["median_ratio_baseline_over_this"] = round(base["median_gap_ms"] / result["median_gap_ms"], 2)
    out = Path(args.out or RESULTS / "gui_switch.json")
    previous = json.loads(out.read_text()) if out.exists() else {}
    shells = dict(previous.get("shells", {}))
    shells[args.shell] = result
    report = {
        "benchmark": "gui_switch",
        "what": "longest event-loop gap (10 ms heartbeat) per Next image, images of mixed sizes",
        "target_max_gap_ms": SWITCH_TARGET_MS,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "note": "shared machine: noisy"},
        "checkout": _describe(ROOT),
        "shells": shells,
        "meets_target": all(r["max_gap_ms"] < SWITCH_TARGET_MS for r in shells.values()),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _describe(root: Path) -> str:
    """``root``'s commit (short hash, ``+`` when it has uncommitted changes)."""
    try:
        git = ["git", "-C", str(root)]
        rev = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        status = [*git, "status", "--porcelain", "--untracked-files=no"]
        dirty = subprocess.run(status, capture_output=True, text=True)
    except OSError:
        return str(root)
    return rev.stdout.strip() + ("+" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    sys.exit(main())
