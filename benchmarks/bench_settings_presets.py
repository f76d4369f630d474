"""Retrain and Suggest on the demo project per settings preset: estimate vs measured.

The demo project (``write_demo_project``, 24 generated 256 px images plus the shipped samples)
with one then two images labelled (ground truth), as a new user's first rounds: Suggest with one
label, Retrain with one label, then Suggest and Retrain with two (a current model exists, so the
Retrain also validates it). Each job's estimate (``estimate_jobs``, calibration cached per
device) is printed beside its wall time. ``--estimate-only`` prints only the estimates (e.g. the
paper preset on a CPU).

    python benchmarks/bench_settings_presets.py --presets quick,standard [--device cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", default="quick,standard")
    ap.add_argument("--device")
    ap.add_argument("--estimate-only", action="store_true")
    ap.add_argument("--jobs", default="suggest,retrain", help="which jobs to run per step")
    ap.add_argument("--labelled", type=int, default=2, help="steps: 1, then 2 labelled images, ...")
    ap.add_argument("--recalibrate", action="store_true", help="time the device again before each job")
    ap.add_argument("--json")
    args = ap.parse_args()

    from dataclasses import replace

    from qsa_gui.core.data.synth import generate_dataset
    from qsa_gui.core.jobs import run_job
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.runtime import configure_threads
    from qsa_gui.core.settings_presets import get_settings_preset
    from qsa_gui.core.workflow import retrain_job, suggest_job
    from qsa_gui.core.workflow.demo_project import write_demo_project
    from qsa_gui.core.workflow.estimate import estimate_jobs, settings_calibration

    threads = configure_threads()
    truth = generate_dataset(24, seed=0, size=(256, 256))
    rows = []
    for name in args.presets.split(","):
        settings = replace(get_settings_preset(name).apply(), device=args.device)
        t0 = time.monotonic()
        cal = settings_calibration(settings)
        print(f"[{name}] calibration {time.monotonic() - t0:.1f} s: {cal}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_demo_project(Path(tmp) / "demo", real_samples=True)
            with Project.open(folder) as project:
                pool = [r for r in project.images if r.split == "pool" and r.name.startswith("gland_")]
                for step, image in enumerate(pool[: args.labelled], start=1):
                    index = int(image.name.split("_")[1])
                    project.save_labels(image.id, truth[index].labels.astype(np.int32), done=True)
                    for job in args.jobs.split(","):
                        if args.recalibrate:  # a shared machine's load changes from minute to minute
                            from qsa_gui.core.model.calibration import calibrate

                            s = settings
                            args_ = (s.preset, s.batch_size, s.patch_size, s.tile, s.device)
                            cal = calibrate(*args_, refresh=True)
                        est = estimate_jobs(project, settings, cal)[job]
                        measured = None
                        if not args.estimate_only:
                            factory = suggest_job if job == "suggest" else retrain_job
                            t0 = time.monotonic()
                            run_job(factory(project, settings))
                            measured = time.monotonic() - t0
                        row = {
                            "preset": name,
                            "job": job,
                            "labelled": step,
                            "estimate_s": round(est.seconds, 1),
                            "measured_s": None if measured is None else round(measured, 1),
                            "train_s": round(cal.train_s, 4),
                            "device": cal.device,
                            "threads": threads,
                            "extrapolated": est.extrapolated,
                        }
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
