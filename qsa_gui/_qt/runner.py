"""Run one core job on a worker ``QThread`` and report it to the GUI thread through signals.

Why: the window must never freeze while a model trains or predicts. The job's generator runs
entirely on a worker thread (the job factory is called there too); the GUI thread only polls the
latest :class:`~qsa_gui.core.jobs.Progress` on a timer, so a job yielding thousands of events per
second costs the GUI at most ~20 signal emissions per second (the latest event always wins and the
last one is delivered before ``finished``).

Protocol for shells::

    runner = JobRunner(parent)
    runner.finished.connect(on_result)
    runner.start(lambda cancel: retrain_job(project, settings, cancel), "Retrain")
    ...
    runner.cancel()                 # the job raises Cancelled at its next check -> cancelled()
    runner.last_cancel              # that Cancelled (e.g. an ImportCancelled with its report)
    runner.shutdown(timeout=10)     # in closeEvent: cancel and wait for the thread

Process mode: ``runner.start_spec(spec, project, name)`` runs a picklable
:class:`~qsa_gui.core.jobspec.JobSpec` in a spawned worker process
(:func:`qsa_gui.core.worker.run_in_worker`) when :attr:`JobRunner.process_jobs` is true (the
default; ``QSA_JOBS=thread`` runs it on the thread instead), with the same signals: this thread
then only relays the child's messages and applies its commit to ``project``. A worker that dies
is a ``failed`` line naming the signal; the GUI process, its project and its strokes live on.

Exactly one job runs at a time: :meth:`JobRunner.start` raises :class:`RuntimeError` while a job
is running (check :attr:`JobRunner.is_running` or listen to ``busy_changed``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Generator
from typing import Any

from qtpy.QtCore import QObject, QThread, QTimer, Signal

from qsa_gui.core.errors import Cancelled, QSAError
from qsa_gui.core.jobs import CancelToken, EtaEstimator, Progress
from qsa_gui.core.jobspec import JobSpec, start_spec

logger = logging.getLogger(__name__)

JobFactory = Callable[[CancelToken], Generator[Progress, None, Any]]

#: Minimum interval between two ``progress`` emissions (ms): at most 20 per second.
PROGRESS_INTERVAL_MS = 50

_FINISHED, _FAILED, _CANCELLED = "finished", "failed", "cancelled"


def default_process_jobs() -> bool:
    """Spec jobs run in a worker process unless ``QSA_JOBS=thread`` (debugging, profiling)."""
    return os.environ.get("QSA_JOBS", "process").strip().lower() != "thread"


def one_line(text: str) -> str:
    """Collapse a message to one line (users see one line, never a traceback)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def error_message(exc: BaseException, job_name: str) -> str:
    """The one-line text shown for a failed job: QSAError as-is, anything else marked unexpected."""
    if isinstance(exc, QSAError):
        return one_line(str(exc)) or type(exc).__name__
    detail = one_line(str(exc))
    text = f"Unexpected error in {job_name}: {type(exc).__name__}"
    return f"{text}: {detail}" if detail else text


def stage_text(progress: Progress) -> str:
    """``"Training: iteration 40/200"`` from a Progress's stage and message."""
    if progress.message and progress.stage:
        return f"{progress.stage}: {progress.message}"
    return progress.stage or progress.message


class _JobThread(QThread):
    """Worker thread: builds the generator from the factory and drives it to its end.

    It never touches widgets; it publishes the latest Progress under a lock and stores the
    outcome, which the runner reads on the GUI thread after ``QThread.finished``.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self.factory: JobFactory | None = None
        self.token = CancelToken()
        self.name = ""
        self.outcome: tuple[str, Any] | None = None
        self.worker_thread_id: int | None = None
        self._latest: Progress | None = None
        self._seq = 0

    def prepare(self, factory: JobFactory, name: str, token: CancelToken) -> None:
        self.factory, self.name, self.token = factory, name, token
        self.outcome = None
        with self._lock:
            self._latest, self._seq = None, 0

    def latest(self) -> tuple[int, Progress | None]:
        with self._lock:
            return self._seq, self._latest

    def run(self) -> None:  # noqa: D401 - Qt override, runs on the worker thread
        self.worker_thread_id = threading.get_ident()
        assert self.factory is not None
        try:
            job = self.factory(self.token)
            if not hasattr(job, "__next__"):
                raise TypeError(f"job factory returned {type(job).__name__}, not a generator")
            while True:
                try:
                    event = next(job)
                except StopIteration as stop:
                    self.outcome = (_FINISHED, stop.value)
                    break
                if isinstance(event, Progress):
                    with self._lock:
                        self._latest = event
                        self._seq += 1
        except Cancelled as exc:
            self.outcome = (_CANCELLED, exc)
        except QSAError as exc:
            logger.info("job %r failed: %s", self.name, exc)
            self.outcome = (_FAILED, error_message(exc, self.name))
        except BaseException as exc:  # noqa: BLE001 - the GUI must always get an outcome
            logger.error("Unexpected error in job %r", self.name, exc_info=exc)
            self.outcome = (_FAILED, error_message(exc, self.name))
        finally:
            self.factory = None  # drop references to project objects held by the closure


class JobRunner(QObject):
    """Runs one job at a time off the GUI thread; see the module docstring for the protocol.

    Signals (all emitted on the thread the runner lives in, i.e. the GUI thread):

    - ``started(str name)``
    - ``progress(object Progress, float fraction, str eta_text, str stage_text)`` -- throttled
    - ``finished(object result)`` -- the generator's return value
    - ``failed(str message)`` -- one line; QSAError text as-is, other exceptions as
      ``"Unexpected error in <job>: <Type>: <msg>"`` (traceback goes to :mod:`logging`)
    - ``cancelled()`` -- the job stopped at a cancel check; it committed nothing
    - ``busy_changed(bool)`` -- True on start, False just before the outcome signal, so a slot
      connected to ``finished`` may start the next job
    """

    started = Signal(str)
    progress = Signal(object, float, str, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busy_changed = Signal(bool)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        progress_interval_ms: int = PROGRESS_INTERVAL_MS,
        process_jobs: bool | None = None,
    ):
        super().__init__(parent)
        #: Whether :meth:`start_spec` runs jobs in a worker process (else on the thread).
        self.process_jobs = default_process_jobs() if process_jobs is None else bool(process_jobs)
        self._thread = _JobThread(self)
        #: The :class:`Cancelled` the last cancelled job raised (None until one is cancelled).
        self.last_cancel: Cancelled | None = None
        self._thread.finished.connect(self._on_thread_finished)
        self._poll = QTimer(self)
        self._poll.setInterval(max(1, int(progress_interval_ms)))
        self._poll.timeout.connect(self._deliver_progress)
        self._running = False
        self._name = ""
        self._eta = EtaEstimator()
        self._seen_seq = 0
        self._last_progress: Progress | None = None

    # -- state -------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        """True from :meth:`start` until the outcome signal has been emitted."""
        return self._running

    @property
    def job_name(self) -> str:
        """Name of the running (or last) job."""
        return self._name

    @property
    def last_progress(self) -> Progress | None:
        """The last Progress delivered to the GUI thread (None before the first)."""
        return self._last_progress

    @property
    def cancel_requested(self) -> bool:
        return self._running and self._thread.token.cancelled

    @property
    def worker_thread_id(self) -> int | None:
        """``threading.get_ident()`` of the worker thread of the last job (for tests)."""
        return self._thread.worker_thread_id

    # -- control -----------------------------------------------------------------------------
    def start(self, job_factory: JobFactory, name: str) -> CancelToken:
        """Start ``job_factory(token)`` on the worker thread; returns the job's CancelToken.

        Raises :class:`RuntimeError` if a job is already running (one job at a time).
        """
        if self._running:
            raise RuntimeError(f"cannot start {name!r}: job {self._name!r} is still running")
        if self._thread.isRunning():  # a finished job's thread still unwinding: let it end
            self._thread.wait()
        token = CancelToken()
        self.last_cancel = None
        self._name = name
        self._thread.prepare(job_factory, name, token)
        self._seen_seq = 0
        self._last_progress = None
        self._eta = EtaEstimator()
        self._running = True
        self.busy_changed.emit(True)
        self.started.emit(name)
        self._thread.start()
        self._poll.start()
        return token

    def spec_factory(self, spec: JobSpec, project: Any) -> JobFactory:
        """The factory that runs ``spec`` on the open ``project``: in a worker or on the thread."""
        if self.process_jobs:
            from qsa_gui.core.worker import run_in_worker

            return lambda cancel: run_in_worker(spec, project, cancel)
        return lambda cancel: start_spec(spec, project, cancel)

    def start_spec(self, spec: JobSpec, project: Any, name: str) -> CancelToken:
        """:meth:`start` for a :class:`JobSpec` (see the module docstring)."""
        return self.start(self.spec_factory(spec, project), name)

    def warm_up(self) -> None:
        """Pay torch's start-up before the first job: start the warm worker (it loads torch in
        the background), or warm torch up here in thread mode."""
        if self.process_jobs:
            from qsa_gui.core.worker import shared_pool

            shared_pool().prestart()
        else:
            from qsa_gui.core.model.warmup import warm_up_torch

            warm_up_torch()

    def cancel(self) -> None:
        """Ask the running job to stop at its next cancel check (no-op when idle)."""
        if self._running:
            self._thread.token.cancel()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the job's thread ends, then emit its outcome; False on timeout.

        ``timeout`` in seconds (None = forever). Use in tests and on shutdown; a GUI normally
        just listens to the signals.
        """
        if not self._running:
            return True
        ok = self._thread.wait() if timeout is None else self._thread.wait(max(0, int(timeout * 1000)))
        if not ok:
            return False
        self._on_thread_finished()
        return True

    def shutdown(self, timeout: float | None = 10.0) -> bool:
        """Cancel any job and wait for its thread (call from ``closeEvent``); False on timeout."""
        self.cancel()
        return self.wait_idle(timeout)

    # -- GUI-thread side ---------------------------------------------------------------------
    def _deliver_progress(self) -> None:
        seq, event = self._thread.latest()
        if event is None or seq == self._seen_seq:
            return
        self._seen_seq = seq
        self._last_progress = event
        fraction = min(max(float(event.fraction), 0.0), 1.0)
        eta = EtaEstimator.format(self._eta.eta(fraction))
        self.progress.emit(event, fraction, eta, stage_text(event))

    def _on_thread_finished(self) -> None:
        # Queued QThread.finished may arrive after wait_idle() already handled this job, or
        # (with the thread reused) while the next job runs: only act on a fresh outcome.
        if not self._running or self._thread.outcome is None:
            return
        self._thread.wait()  # finished is emitted just before the thread really ends
        self._poll.stop()
        self._deliver_progress()  # the last event before the outcome
        kind, payload = self._thread.outcome
        self._running = False
        self.busy_changed.emit(False)
        if kind == _FINISHED:
            self.finished.emit(payload)
        elif kind == _CANCELLED:
            self.last_cancel = payload
            self.cancelled.emit()
        else:
            self.failed.emit(payload)


__all__ = [
    "JobFactory",
    "JobRunner",
    "PROGRESS_INTERVAL_MS",
    "default_process_jobs",
    "error_message",
    "one_line",
    "stage_text",
]
