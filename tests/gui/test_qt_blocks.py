"""Tests of the shared Qt building blocks: job runner, heartbeat, gallery, history plot, panel."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt, QTimer
from qtpy.QtGui import QColor, QFont, QFontMetrics, QImage
from qtpy.QtWidgets import QStyleOptionViewItem

from qsa_gui._qt import gallery as g
from qsa_gui._qt.heartbeat import EventLoopMonitor, percentile
from qsa_gui._qt.history_plot import REJECTED_LABEL, HistoryPlot, LiveLossPlot
from qsa_gui._qt.progress_panel import BAR_STEPS, ProgressPanel, format_metrics
from qsa_gui._qt.runner import PROGRESS_INTERVAL_MS, error_message
from qsa_gui.core.errors import InputFileError
from qsa_gui.core.jobs import Progress, check

# ---------------------------------------------------------------------------------------------
# fake records and jobs


@dataclass
class FakeRecord:
    """Has the ImageRecord attributes the gallery reads."""

    id: str
    name: str
    status: str = "unlabelled"
    split: str = "pool"
    prediction_path: str | None = None
    suggestion: dict[str, Any] | None = None
    shape: tuple[int, int] = (64, 64)
    extra: dict[str, Any] = field(default_factory=dict)


def suggestion(rank: int, u: float, r: float) -> dict[str, Any]:
    return {"round": 2, "rank": rank, "uncertainty": u, "representativeness": r, "strategy": "qsa"}


@pytest.fixture
def fake_records() -> list[FakeRecord]:
    """Ten images covering every display status, three suggested (one of them labelled), one test."""
    return [
        FakeRecord("a1", "img_1"),
        FakeRecord("a2", "img_2", status="labelled"),
        FakeRecord("a3", "img_10", suggestion=suggestion(2, 0.412, 0.87)),
        FakeRecord("a4", "img_3", status="in_progress", suggestion=suggestion(1, 0.523, 0.91)),
        FakeRecord("a5", "img_4", prediction_path="predictions/a5.tif"),
        FakeRecord("a6", "img_5", status="labelled", suggestion=suggestion(3, 0.301, 0.66)),
        FakeRecord("a7", "img_6", split="test"),
        FakeRecord("a8", "img_7", status="labelled"),
        FakeRecord("a9", "img_8"),
        FakeRecord("a10", "img_9", prediction_path="predictions/a10.tif"),
    ]


def counting_job(n: int, seen_threads: list[int], result: object = 42, delay: float = 0.0):
    def factory(cancel):
        seen_threads.append(threading.get_ident())
        for i in range(n):
            check(cancel)
            if delay:
                time.sleep(delay)
            yield Progress("Counting", (i + 1) / n, f"{i + 1}/{n}", {"loss": 1.0 / (i + 1)})
        return result

    return factory


def cancellable_job(committed: list[str], started: threading.Event):
    def factory(cancel):
        for i in range(2000):
            started.set()
            check(cancel)
            time.sleep(0.002)
            yield Progress("Training", i / 2000)
        committed.append("model")  # only reached when not cancelled
        return "done"

    return factory


# ---------------------------------------------------------------------------------------------
# runner


def test_runner_runs_generator_off_gui_thread_and_delivers_result(qtbot, runner):
    threads: list[int] = []
    busy: list[bool] = []
    started: list[str] = []
    runner.busy_changed.connect(busy.append)
    runner.started.connect(started.append)
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start(counting_job(5, threads, result={"ok": 1}), "Count")
        assert runner.is_running
    assert blocker.args == [{"ok": 1}]
    assert threads and threads[0] != threading.get_ident()
    assert runner.worker_thread_id == threads[0]
    assert started == ["Count"] and busy == [True, False]
    assert not runner.is_running
    # the final event is always delivered before finished, whatever the throttling dropped
    assert runner.last_progress is not None and runner.last_progress.fraction == 1.0


def test_runner_progress_signal_arguments(qtbot, runner):
    events: list[tuple] = []
    runner.progress.connect(lambda *args: events.append(args))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(counting_job(3, [], delay=0.06), "Count")
    assert events
    progress, fraction, eta_text, stage = events[-1]
    assert isinstance(progress, Progress) and fraction == 1.0
    assert stage == "Counting: 3/3"
    assert isinstance(eta_text, str) and eta_text
    assert all(0.0 <= e[1] <= 1.0 for e in events)
    assert [e[1] for e in events] == sorted(e[1] for e in events)  # monotone, latest wins


def test_runner_cancel_mid_job_emits_cancelled_not_finished(qtbot, runner):
    committed: list[str] = []
    started = threading.Event()
    finished: list[object] = []
    runner.finished.connect(finished.append)
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        token = runner.start(cancellable_job(committed, started), "Train")
        assert started.wait(5.0)
        runner.cancel()
        assert token.cancelled and runner.cancel_requested
    assert finished == [] and committed == []
    assert not runner.is_running


def test_runner_qsa_error_message_shown_as_is(qtbot, runner):
    def factory(cancel):
        yield Progress("Reading", 0.1)
        raise InputFileError("/data/x.tif", "not an image file")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(factory, "Import")
    assert blocker.args[0] == str(InputFileError("/data/x.tif", "not an image file"))


def test_runner_unexpected_error_is_one_line_and_logged(qtbot, runner, caplog):
    def factory(cancel):
        yield Progress("Fitting", 0.5)
        raise ValueError("bad\nshape (3, 4)")

    caplog.set_level(logging.ERROR, logger="qsa_gui._qt.runner")
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(factory, "Retrain")
    assert blocker.args[0] == "Unexpected error in Retrain: ValueError: bad shape (3, 4)"
    records = [r for r in caplog.records if r.exc_info]
    assert records and records[0].exc_info[0] is ValueError


def test_runner_factory_error_and_non_generator_fail_cleanly(qtbot, runner):
    def bad_factory(cancel):
        raise InputFileError("/p/project.json", "manifest is corrupt")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(bad_factory, "Open")
    assert blocker.args[0].endswith("project.json: manifest is corrupt")
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(lambda cancel: 3, "Oops")
    assert blocker.args[0].startswith("Unexpected error in Oops: TypeError")


def test_error_message_formats():
    assert error_message(InputFileError("a.png", "empty"), "Job") == "a.png: empty"
    assert error_message(KeyError("k"), "Seg") == "Unexpected error in Seg: KeyError: 'k'"
    assert error_message(RuntimeError(), "Seg") == "Unexpected error in Seg: RuntimeError"


def test_runner_one_job_at_a_time_and_reusable(qtbot, runner):
    gate = threading.Event()

    def blocked(cancel):
        gate.wait(5.0)
        yield Progress("Waiting", 1.0)
        return "first"

    runner.start(blocked, "First")
    with pytest.raises(RuntimeError, match="still running"):
        runner.start(counting_job(1, []), "Second")
    assert runner.wait_idle(0.05) is False  # still blocked
    gate.set()
    results: list[object] = []
    runner.finished.connect(results.append)
    assert runner.wait_idle(5.0) is True
    assert results == ["first"] and not runner.is_running
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start(counting_job(2, [], result="second"), "Second")
    assert blocker.args == ["second"]
    qtbot.wait(20)  # the queued QThread.finished of the first job must not re-emit anything
    assert results == ["first", "second"]


def test_runner_starting_next_job_from_finished_slot(qtbot, runner):
    order: list[object] = []

    def chain(result):
        order.append(result)
        if result == 1:
            runner.start(counting_job(1, [], result=2), "Second")

    runner.finished.connect(chain)
    runner.start(counting_job(1, [], result=1), "First")
    qtbot.waitUntil(lambda: order == [1, 2] and not runner.is_running, timeout=5000)


def test_runner_throttles_progress_to_about_20_per_second(qtbot, runner):
    n_events: list[int] = [0]
    received: list[float] = []

    def flood(cancel):
        t_end = time.monotonic() + 0.6
        i = 0
        while time.monotonic() < t_end:
            i += 1
            yield Progress("Flood", min(0.99, i / 1e6))
        n_events[0] = i
        yield Progress("Flood", 1.0)
        return i

    runner.progress.connect(lambda p, f, e, s: received.append(time.monotonic()))
    t0 = time.monotonic()
    with qtbot.waitSignal(runner.finished, timeout=10000):
        runner.start(flood, "Flood")
    elapsed = time.monotonic() - t0
    assert n_events[0] > 1000  # the job really produced a flood
    max_allowed = elapsed * 1000 / PROGRESS_INTERVAL_MS + 3
    assert 1 <= len(received) <= max_allowed
    assert runner.last_progress.fraction == 1.0


# ---------------------------------------------------------------------------------------------
# heartbeat


def test_percentile_matches_numpy():
    rng = np.random.default_rng(0)
    values = rng.exponential(10.0, size=37).tolist()
    for q in (0, 12.5, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile([], 50) == 0.0
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_torch_warm_up_runs_once_and_keeps_the_random_state():
    import torch

    from qsa_gui.core.model.warmup import torch_warmed_up, warm_up_torch

    torch.manual_seed(3)
    state = torch.get_rng_state()
    warm_up_torch()
    assert torch_warmed_up() and warm_up_torch() == 0.0  # once per process
    assert warm_up_torch(force=True) > 0.0
    assert torch.equal(torch.get_rng_state(), state)  # seeded jobs are not shifted by it
    assert "torch.optim" in __import__("sys").modules


def test_heartbeat_detects_a_deliberate_block(qtbot):
    monitor = EventLoopMonitor(interval_ms=10)
    monitor.start()
    QTimer.singleShot(60, lambda: time.sleep(0.2))
    qtbot.wait(400)
    monitor.stop()
    assert monitor.max_gap_ms >= 190.0
    assert monitor.percentile(50) < 100.0  # one stall, not a slow loop
    assert monitor.ticks == len(monitor.gaps) >= 5
    summary = monitor.summary()
    assert summary["max_gap_ms"] == monitor.max_gap_ms and summary["p95_gap_ms"] <= summary["max_gap_ms"]


def test_heartbeat_stays_small_while_cpu_bound_job_runs(qtbot, runner):
    def cpu_job(cancel):
        t_end = time.monotonic() + 0.6
        x, i = 0.0, 0
        while time.monotonic() < t_end:
            for k in range(2000):  # pure Python: holds the GIL, like a training step's glue code
                x += math.sqrt(k + i)
            i += 1
            check(cancel)
            yield Progress("Crunching", min(0.99, i / 1000), metrics={"loss": 1.0 / i})
        return x

    with EventLoopMonitor(interval_ms=10) as monitor:
        with qtbot.waitSignal(runner.finished, timeout=10000):
            runner.start(cpu_job, "CPU")
    assert monitor.ticks >= 10
    assert monitor.max_gap_ms < 250.0, monitor.summary()


# ---------------------------------------------------------------------------------------------
# gallery: helpers


def test_make_thumbnail_shapes_and_area_averaging():
    big = np.zeros((1000, 600, 3), np.uint8)
    t = g.make_thumbnail(big, 128)
    assert t.dtype == np.uint8 and t.ndim == 3 and t.shape[2] == 3 and max(t.shape[:2]) <= 128
    assert max(t.shape[:2]) >= 100  # not needlessly small
    # a 1-pixel checkerboard must average to mid grey (no aliasing to black or white)
    yy, xx = np.mgrid[:512, :512]
    checker = (((yy + xx) % 2) * 255).astype(np.uint8)
    tc = g.make_thumbnail(checker, 128)
    assert tc.shape == (128, 128, 3) and np.all(np.abs(tc.astype(int) - 128) <= 1)
    # float [0, 1] and uint8 of the same picture agree
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (300, 500, 3)).astype(np.uint8)
    assert np.abs(g.make_thumbnail(img).astype(int) - g.make_thumbnail(img / 255.0).astype(int)).max() <= 1
    # small images are kept, grey -> RGB, uint16 stretched to the full range, RGBA alpha dropped
    assert g.make_thumbnail(np.full((20, 30), 0.5, np.float32)).shape == (20, 30, 3)
    u16 = np.linspace(1000, 3000, 64 * 64).reshape(64, 64).astype(np.uint16)
    t16 = g.make_thumbnail(u16)
    assert t16.min() <= 2 and t16.max() >= 253
    rgba = np.dstack([img, np.zeros(img.shape[:2], np.uint8)])
    assert np.array_equal(g.make_thumbnail(rgba), g.make_thumbnail(img))
    with pytest.raises(ValueError):
        g.make_thumbnail(np.zeros((0, 5)))


def test_status_rank_score_and_natural_sort():
    assert g.display_status(FakeRecord("x", "x", prediction_path="p.tif")) == "segmented"
    assert g.display_status(FakeRecord("x", "x", status="labelled", prediction_path="p.tif")) == "labelled"
    assert g.display_status(FakeRecord("x", "x", status="in_progress")) == "in_progress"
    assert g.display_status(FakeRecord("x", "x")) == "unlabelled"
    rec = FakeRecord("x", "x", suggestion=suggestion(1, 0.1234, 0.8712))
    assert g.suggestion_rank(rec) == 1 and g.score_text(rec) == "u=0.123 r=0.87"
    assert g.suggestion_rank(FakeRecord("y", "y")) is None and g.score_text(FakeRecord("y", "y")) == ""
    assert sorted(["img_10", "img_2", "Img_1"], key=g.natural_key) == ["Img_1", "img_2", "img_10"]


def test_wrap_name_keeps_the_distinguishing_end_visible():
    fits = lambda text: len(text) <= 13  # noqa: E731 - a 13-character tile
    elide = lambda text: "…" + text[-12:]  # noqa: E731 - what ElideLeft does
    assert g.wrap_name("img_1.png", fits, elide) == ["img_1.png"]
    # the old middle elision gave "gland_…nt.png"; now the number and the grade both show
    assert g.wrap_name("gland_18_malignant.png", fits, elide) == ["gland_18_", "malignant.png"]
    assert g.wrap_name("test_21_benign.png", fits, elide) == ["test_21_", "benign.png"]
    # no separator break fits: longest prefix, then the rest elided at its start (the end stays)
    lines = g.wrap_name("TCGA-A1-A0SB-01Z-00-DX1_tile_0042.png", fits, elide)
    assert len(lines) == 2 and all(fits(line) for line in lines)
    assert lines[0] == "TCGA-A1-A0SB-" and lines[1].startswith("…") and lines[1].endswith("_0042.png")
    lines = g.wrap_name("abcdefghijklmnopqrstuvwxyz", fits, elide)
    assert lines == ["abcdefghijklm", "nopqrstuvwxyz"]


def test_gallery_tooltip_has_full_name_status_and_scores():
    rec = FakeRecord("x", "gland_18_malignant.png", suggestion=suggestion(1, 0.0123, 0.9812))
    tip = g.tooltip_text(rec)
    assert tip.splitlines()[0] == "gland_18_malignant.png"
    assert "status: unlabelled" in tip and "suggested #1 in round 2 (qsa)" in tip
    assert "uncertainty 0.012" in tip and "representativeness 0.981" in tip


# ---------------------------------------------------------------------------------------------
# gallery: widget


def thumbs_for(records, *, calls=None, threads=None):
    rng = np.random.default_rng(3)
    images = {r.id: rng.random((96, 160, 3)).astype(np.float32) for r in records}

    def provider(image_id):
        if calls is not None:
            calls.append(image_id)
        if threads is not None:
            threads.append(threading.get_ident())
        return images.get(image_id)

    return provider


def make_gallery(qtbot, records, *, background=False, provider=None):
    w = g.GalleryWidget(background_loading=background)
    qtbot.addWidget(w)
    w.resize(760, 520)
    w.set_records(records, provider if provider is not None else thumbs_for(records))
    w.show()
    qtbot.waitExposed(w)
    return w


def test_gallery_model_roles(qtbot, fake_records):
    w = make_gallery(qtbot, fake_records)
    m = w.model
    assert m.rowCount() == len(fake_records)
    by_id = {m.index(r, 0).data(g.ID_ROLE): m.index(r, 0) for r in range(m.rowCount())}
    assert by_id["a4"].data(g.RANK_ROLE) == 1 and by_id["a4"].data(g.STATUS_ROLE) == "in_progress"
    assert by_id["a3"].data(g.UNCERTAINTY_ROLE) == pytest.approx(0.412)
    assert by_id["a3"].data(g.REPRESENTATIVENESS_ROLE) == pytest.approx(0.87)
    assert by_id["a5"].data(g.STATUS_ROLE) == "segmented" and by_id["a5"].data(g.RANK_ROLE) is None
    assert by_id["a7"].data(g.SPLIT_ROLE) == "test"
    assert by_id["a1"].data(Qt.ItemDataRole.DisplayRole) == "img_1"
    tip = by_id["a3"].data(Qt.ItemDataRole.ToolTipRole)
    assert "suggested #2 in round 2" in tip and "uncertainty 0.412" in tip
    image = by_id["a1"].data(g.THUMBNAIL_ROLE)  # synchronous mode: loaded on first request
    assert isinstance(image, QImage) and max(image.width(), image.height()) <= 128
    assert by_id["a1"].data(g.THUMBNAIL_STATE_ROLE) == "ready"


def test_gallery_default_order_puts_suggestions_first_by_rank(qtbot, fake_records):
    w = make_gallery(qtbot, fake_records)
    assert w.sort_key == "rank"
    ids = w.visible_ids()
    assert ids[:3] == ["a4", "a3", "a6"]
    rest_names = [w.model.record(i).name for i in ids[3:]]
    assert rest_names == sorted(rest_names, key=g.natural_key)
    w.set_sort("name")
    names = [w.model.record(i).name for i in w.visible_ids()]
    assert names[:3] == ["img_1", "img_2", "img_3"] and names[-1] == "img_10"


def test_gallery_filters_and_combo(qtbot, fake_records):
    w = make_gallery(qtbot, fake_records)
    w.set_filter("suggested")
    assert w.visible_ids() == ["a4", "a3", "a6"]
    w.set_filter("labelled")
    assert set(w.visible_ids()) == {"a2", "a6", "a8"}
    w.set_filter("unlabelled")
    assert set(w.visible_ids()) == {r.id for r in fake_records} - {"a2", "a6", "a8"}
    assert "7 of 10 images" in w.count_label.text()
    w.filter_combo.setCurrentIndex(w.filter_combo.findData("all"))  # the user's way
    assert w.filter_mode == "all" and len(w.visible_ids()) == 10
    with pytest.raises(ValueError):
        w.set_filter("bogus")


def test_gallery_update_record_refilters(qtbot, fake_records):
    w = make_gallery(qtbot, fake_records)
    w.set_filter("labelled")
    assert "a1" not in w.visible_ids()
    assert w.update_record(FakeRecord("a1", "img_1", status="labelled"))
    assert "a1" in w.visible_ids()
    assert not w.update_record(FakeRecord("zz", "nope"))


def test_gallery_select_current_changed_and_activation(qtbot, fake_records):
    w = make_gallery(qtbot, fake_records)
    w.set_filter("suggested")
    with qtbot.waitSignal(w.current_changed, timeout=1000) as blocker:
        assert w.select("a9")  # hidden by the filter: switches to All
    assert blocker.args == ["a9"] and w.current_id() == "a9" and w.filter_mode == "all"
    assert not w.select("missing")
    w.view.setFocus()
    with qtbot.waitSignal(w.image_activated, timeout=1000) as blocker:
        qtbot.keyClick(w.view, Qt.Key.Key_Return)
    assert blocker.args == ["a9"]
    index = w.proxy.mapFromSource(w.model.index(w.model.row_of("a3"), 0))
    centre = w.view.visualRect(index).center()
    with qtbot.waitSignal(w.current_changed, timeout=1000) as blocker:
        qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre))
    assert blocker.args == ["a3"]
    with qtbot.waitSignal(w.image_activated, timeout=1000) as blocker:
        # Qt's double-click test helper sends no press first; the view needs one on the same item
        qtbot.mousePress(w.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre))
        qtbot.mouseDClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre))
    assert blocker.args == ["a3"]


def _count_colour(image: QImage, colour: str, tol: int = 30) -> int:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    ptr = image.constBits()
    arr = np.frombuffer(ptr, np.uint8, count=image.sizeInBytes()).reshape(h, image.bytesPerLine())
    bgra = arr[:, : w * 4].reshape(h, w, 4)
    target = QColor(colour)
    ref = np.array([target.blue(), target.green(), target.red()])
    return int((np.abs(bgra[..., :3].astype(int) - ref).max(axis=2) <= tol).sum())


def test_gallery_paints_badges_only_for_suggestions(qtbot, fake_records):
    w = make_gallery(qtbot, fake_records)
    shot = w.grab().toImage()
    assert not shot.isNull() and shot.width() > 100
    assert _count_colour(shot, g.SUGGESTION_COLOUR) > 200  # badges + borders are drawn
    assert _count_colour(shot, g.STATUS_COLOURS["labelled"]) > 50  # green chips
    plain = [FakeRecord(r.id, r.name, status=r.status) for r in fake_records]
    w.set_records(plain, w.model._fn)
    assert _count_colour(w.grab().toImage(), g.SUGGESTION_COLOUR) < 20


def test_gallery_tile_shows_long_names_on_two_lines(qtbot):
    names = ["gland_18_malignant.png", "gland_19_benign.png", "short.png"]
    recs = [FakeRecord(f"n{i}", n) for i, n in enumerate(names)]
    w = make_gallery(qtbot, recs)
    delegate = w.view.itemDelegate()
    index = w.proxy.index(0, 0)
    option = QStyleOptionViewItem()
    option.font = w.view.font()
    width = delegate.sizeHint(option, index).width() - 2 * delegate.PAD - 4
    font = QFont(w.view.font())
    font.setWeight(QFont.Weight.DemiBold)
    lines = delegate.name_lines("gland_18_malignant.png", font, width)
    assert "".join(lines) == "gland_18_malignant.png"  # nothing hidden: wrapped, not elided
    assert delegate.name_lines("short.png", font, width) == ["short.png"]
    # the tile is tall enough for two name lines: it grows by one line height
    one = delegate.sizeHint(option, index).height()
    delegate.NAME_LINES = 1
    assert one - delegate.sizeHint(option, index).height() == QFontMetrics(option.font).height()


def test_gallery_filter_change_uses_no_deprecated_api(qtbot, fake_records, recwarn):
    w = make_gallery(qtbot, fake_records)
    w.set_filter("suggested")
    w.set_filter("all")
    assert not [x for x in recwarn if "invalidateFilter" in str(x.message)]
    assert len(w.visible_ids()) == len(fake_records)


def test_gallery_background_thumbnails_are_loaded_off_thread_and_cached(qtbot, fake_records):
    calls: list[str] = []
    threads: list[int] = []
    provider = thumbs_for(fake_records, calls=calls, threads=threads)
    w = make_gallery(qtbot, fake_records, background=True, provider=provider)
    qtbot.waitUntil(lambda: len(set(calls)) == len(fake_records), timeout=5000)
    assert w.wait_thumbnails(5.0)
    assert threads and threading.get_ident() not in threads
    m = w.model
    assert all(m.index(r, 0).data(g.THUMBNAIL_STATE_ROLE) == "ready" for r in range(m.rowCount()))
    w.grab()
    w.set_records(fake_records, provider)  # same provider: cache kept, nothing reloaded
    w.grab()
    assert sorted(calls) == sorted(r.id for r in fake_records)


def test_gallery_missing_or_broken_thumbnail(qtbot, fake_records):
    def provider(image_id):
        if image_id == "a1":
            raise OSError("unreadable")
        return None

    w = make_gallery(qtbot, fake_records[:2], provider=provider)
    m = w.model
    assert [m.index(r, 0).data(g.THUMBNAIL_ROLE) for r in range(2)] == [None, None]
    states = {m.index(r, 0).data(g.ID_ROLE): m.index(r, 0).data(g.THUMBNAIL_STATE_ROLE) for r in range(2)}
    assert states == {"a1": "missing", "a2": "missing"}
    assert not w.grab().isNull()


# ---------------------------------------------------------------------------------------------
# history plot


HISTORY = [
    {"round": 0, "version": "v1", "n_labelled": 4, "accepted": True,
     "metrics": {"object_f1": 0.41, "object_dice": 0.52, "pixel_dice": 0.63, "val_loss": 0.9}},
    {"round": 1, "version": "v2", "n_labelled": 8, "accepted": True,
     "metrics": {"object_f1": 0.58, "object_dice": 0.61, "pixel_dice": 0.71, "val_loss": 0.7}},
    {"round": 2, "version": "v3", "n_labelled": 12, "accepted": False,
     "metrics": {"object_f1": 0.50, "object_dice": 0.57, "pixel_dice": 0.69, "val_loss": 0.8}},
    {"round": 3, "version": "v4", "n_labelled": 16, "accepted": True,
     "metrics": {"object_f1": 0.66, "object_dice": 0.70, "pixel_dice": 0.78}},
]  # fmt: skip


def test_history_plot_draws_rows(qtbot):
    w = HistoryPlot()
    qtbot.addWidget(w)
    w.resize(640, 420)
    w.set_rows(HISTORY)
    x, y = w.metric_lines["object_f1"].get_data()
    assert list(x) == [0, 1, 3] and list(y) == pytest.approx([0.41, 0.58, 0.66])  # accepted only
    rx, ry = w.rejected_markers["pixel_dice"].get_data()
    assert list(rx) == [2] and list(ry) == pytest.approx([0.69])
    assert w.rejected_markers["pixel_dice"].get_markerfacecolor() == "none"
    assert [b.get_height() for b in w.bars] == [4, 8, 12, 16]
    legend = [t.get_text() for t in w.legend.get_texts()]
    assert REJECTED_LABEL in legend and "object F1" in legend
    assert not w.grab().isNull()
    w.set_rows([r for r in HISTORY if r["accepted"]])
    assert w.rejected_markers == {}
    assert REJECTED_LABEL not in [t.get_text() for t in w.legend.get_texts()]
    assert len(w.figure.legends) == 1  # the old legend was replaced, not stacked
    w.set_rows([])
    assert w.metric_lines == {} and w.bars is None and w.legend is None


@pytest.mark.parametrize("width", [430, 900])
def test_history_plot_axis_labels_and_legend_fit_a_narrow_panel(qtbot, width):
    """Regression: at ~430 px the left label "validation score" used to be cut off."""
    w = HistoryPlot(show_live_loss=False)
    qtbot.addWidget(w)
    w.resize(width, 300)
    w.show()
    qtbot.waitExposed(w)
    w.set_rows(HISTORY)
    w.canvas.draw()
    fig = w.figure.bbox
    assert fig.width == pytest.approx(w.canvas.width() * w.canvas.device_pixel_ratio, abs=2)
    renderer = w.canvas.get_renderer()
    assert w.axes.yaxis.label.get_text() == "validation score"
    for artist in (w.axes.yaxis.label, w.bar_axes.yaxis.label, w.legend):
        box = artist.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.width and box.y0 >= 0 and box.y1 <= fig.height, artist
    for tick in w.axes.get_xticklabels():
        assert tick.get_window_extent(renderer).y0 >= 0


def test_history_plot_missing_metric_leaves_gap_and_custom_metrics(qtbot):
    w = HistoryPlot(metrics=("val_loss",), show_live_loss=False)
    qtbot.addWidget(w)
    w.set_rows(HISTORY)
    _, y = w.metric_lines["val_loss"].get_data()
    assert list(y[:2]) == pytest.approx([0.9, 0.7]) and math.isnan(y[2])  # v4 has no val_loss
    assert w.live_loss is None


def test_live_loss_updates_are_cheap_and_throttled(qtbot):
    plot = LiveLossPlot(max_fps=5)
    qtbot.addWidget(plot)
    base = plot.redraw_count
    losses = [1.0 / (1 + 0.1 * i) for i in range(300)]
    t0 = time.perf_counter()
    for n in range(1, 301):
        plot.set_values(losses[:n])
    assert time.perf_counter() - t0 < 1.0  # storing is cheap: no redraw per call
    assert plot.redraw_count - base <= 1
    qtbot.waitUntil(lambda: plot.redraw_count > base, timeout=2000)
    plot.flush()
    x, y = plot.raw_line.get_data()
    assert len(y) == 300 and y[-1] == pytest.approx(losses[-1])
    assert "0.032" in plot.title.get_text()
    big = np.linspace(2, 1, 10_000).tolist()
    plot.set_values(big)
    qtbot.waitUntil(lambda: plot.raw_line.get_data()[1][-1] == pytest.approx(1.0), timeout=2000)
    assert len(plot.raw_line.get_data()[0]) <= plot.max_points + 1


def test_history_plot_forwards_live_loss(qtbot):
    w = HistoryPlot()
    qtbot.addWidget(w)
    w.set_live_loss([0.5, 0.4, 0.3])
    w.live_loss.flush()
    assert list(w.live_loss.raw_line.get_data()[1]) == pytest.approx([0.5, 0.4, 0.3])
    w.clear_live_loss()
    w.live_loss.flush()
    assert len(w.live_loss.raw_line.get_data()[1]) == 0


# ---------------------------------------------------------------------------------------------
# progress panel


def test_format_metrics():
    assert format_metrics({"loss": 0.21345}) == "loss 0.213"
    assert (
        format_metrics({"loss": 0.2, "object_f1": 0.8, "iter": 40})
        == "loss 0.200 · object f1 0.800 · iter 40"
    )
    assert format_metrics({"lr": 1e-4, "name": "x"}) == "lr 0.0001"


def test_progress_panel_follows_runner(qtbot, runner):
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.attach(runner)
    panel.show()
    qtbot.waitExposed(panel)
    assert not panel.cancel_button.isVisible()
    seen_visible: list[bool] = []
    runner.progress.connect(lambda *a: seen_visible.append(panel.cancel_button.isVisible()))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(counting_job(4, [], delay=0.03), "Retrain")
    assert seen_visible and all(seen_visible)
    assert panel.bar.value() == BAR_STEPS
    assert panel.metrics_label.text() == "loss 0.250"
    assert panel.title_label.text() == "Retrain — done"
    assert not panel.cancel_button.isVisible()


def test_progress_panel_cancel_button_and_failure(qtbot, runner):
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.attach(runner)
    panel.show()
    committed: list[str] = []
    started = threading.Event()
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.start(cancellable_job(committed, started), "Train")
        assert started.wait(5.0)
        assert panel.cancel_button.isVisible()
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        assert not panel.cancel_button.isEnabled()
    assert committed == [] and "cancelled" in panel.title_label.text()
    assert not panel.cancel_button.isVisible()

    def failing(cancel):
        yield Progress("Reading", 0.2)
        raise InputFileError("/x/img.png", "truncated PNG")

    with qtbot.waitSignal(runner.failed, timeout=5000):
        runner.start(failing, "Import")
    assert panel.stage_label.text() == str(InputFileError("/x/img.png", "truncated PNG"))
    assert panel.title_label.text() == "Import — failed"
    panel.detach()
    assert panel.runner is None
