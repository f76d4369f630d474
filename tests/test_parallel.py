"""Jobs in spawned processes at once (the demo's seeds): order, merged progress, failure, cancel."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from qsa_gui.core.errors import Cancelled
from qsa_gui.core.jobs import CancelToken, Progress, check, run_job
from qsa_gui.core.parallel import default_workers, run_in_processes


def _count(n: int, fail: bool = False, cancel: CancelToken | None = None):
    """A job: n steps, each a Progress; optionally fails at the end; returns its pid and n."""
    import os

    for i in range(n):
        check(cancel)
        time.sleep(0.05)
        yield Progress("counting", (i + 1) / n)
    if fail:
        raise ValueError(f"job of {n} failed on purpose")
    return os.getpid(), n


def _forever(cancel: CancelToken | None = None):
    while True:
        check(cancel)
        time.sleep(0.05)
        yield Progress("waiting", 0.5)


def _new_children(before: set) -> list:
    """Child processes started since ``before`` (the GUI tests' warm job worker may live on)."""
    return [p for p in multiprocessing.active_children() if p.pid not in before]


def _children() -> set:
    return {p.pid for p in multiprocessing.active_children()}


def test_values_come_back_in_call_order_from_separate_processes():
    import os

    before = _children()
    events = []
    job = run_in_processes(_count, [(12,), (3,), (6,)], workers=2, stage="x", names="abc")
    got = run_job(job, events.append)
    assert [n for _, n in got] == [12, 3, 6]
    assert all(pid != os.getpid() for pid, _ in got) and len({pid for pid, _ in got}) >= 2
    assert events[-1].fraction == 1.0 and all(0 <= e.fraction <= 1 for e in events)
    assert any(e.message.endswith(("a: counting", "b: counting", "c: counting")) for e in events)
    assert not _new_children(before)


def test_a_failing_job_is_raised_here_and_stops_the_others():
    before = _children()
    with pytest.raises(ValueError, match="job of 2 failed on purpose"):
        run_job(run_in_processes(_count, [(2, True), (400,)], workers=2))
    assert not _new_children(before)


def test_cancel_stops_every_process_within_seconds():
    before = _children()
    cancel = CancelToken()
    threading.Timer(1.5, cancel.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        run_job(run_in_processes(_forever, [(), ()], workers=2, cancel=cancel))
    assert time.monotonic() - t0 < 15  # spawn start-up (~1 s each) + the grace period
    assert not _new_children(before)


def test_default_workers_one_per_core_at_most_one_per_job():
    assert default_workers(3, cpu_count=2) == 2
    assert default_workers(3, cpu_count=16) == 3
    assert default_workers(1, cpu_count=1) == 1


def test_the_demo_gives_the_same_rows_with_seeds_in_parallel():
    from dataclasses import replace

    from qsa_testkit import TINY_SETTINGS

    from qsa_gui.core.workflow.simulation import DemoConfig, demo_job

    tiny = replace(TINY_SETTINGS, iterations=3, ensemble_iterations=2, finetune_iterations=2)
    config = DemoConfig(n_pool=5, n_test=2, image_size=48, fractions=(0.2, 0.6), seeds=(0, 1), settings=tiny)
    one = run_job(demo_job(config, workers=1))
    two = run_job(demo_job(config, workers=2))
    key = ("seed", "strategy", "round", "n_labelled")
    assert [tuple(r[k] for k in key) for r in one.rows] == [tuple(r[k] for k in key) for r in two.rows]
    for a, b in zip(one.rows, two.rows, strict=True):
        assert a["object_dice"] == pytest.approx(b["object_dice"], abs=0.02)  # thread counts may differ
