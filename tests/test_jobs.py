import pytest

from qsa_gui.core.errors import Cancelled
from qsa_gui.core.jobs import CancelToken, EtaEstimator, Progress, check, run_job, sub_job


def counting_job(n, cancel=None):
    for i in range(n):
        check(cancel)
        yield Progress("count", (i + 1) / n, f"{i + 1}/{n}")
    return n * 10


def test_run_job_returns_value_and_reports_progress():
    seen = []
    assert run_job(counting_job(4), seen.append) == 40
    assert [e.fraction for e in seen] == [0.25, 0.5, 0.75, 1.0]


def test_sub_job_rescales_fractions_and_passes_result():
    def parent():
        a = yield from sub_job(counting_job(2), 0.0, 0.5, "first: ")
        b = yield from sub_job(counting_job(2), 0.5, 1.0, "second: ")
        return a + b

    seen = []
    assert run_job(parent(), seen.append) == 40
    assert [e.fraction for e in seen] == [0.25, 0.5, 0.75, 1.0]
    assert seen[0].stage == "first: count" and seen[-1].stage == "second: count"


def test_cancel_stops_between_batches():
    token = CancelToken()
    seen = []

    def on(e):
        seen.append(e)
        if len(seen) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        run_job(counting_job(10, token), on)
    assert len(seen) == 2


def test_eta_is_linear_in_elapsed_time():
    t = [0.0]
    eta = EtaEstimator(clock=lambda: t[0])
    t[0] = 10.0
    assert eta.eta(0.25) == pytest.approx(30.0)
    assert eta.eta(0.0) is None
    assert EtaEstimator.format(75) == "1m 15s"
    assert EtaEstimator.format(3700) == "1h 01m"
