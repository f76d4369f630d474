"""Run a job in a spawned worker process: progress through a pipe, cancel through an Event.

Why: training and scoring in the GUI process hold the GIL and the allocator for seconds at a
time, so the window stutters; a crash or out-of-memory kill in torch would take the window, the
open project and unsaved strokes with it. In a child process the GUI only moves small messages.

How it is safe:

- The child is *spawned* (a fresh interpreter), never forked from a process running Qt threads.
- The parent keeps the project lock for the whole job; the child opens the folder as a
  :class:`~qsa_gui.core.project.delegated.DelegatedProject`, which checks that lock is held by
  its parent and never writes project.json. It writes its data (model folder, score cache,
  predictions) under names no manifest points at and sends back a ``Commit``; the parent applies
  it to its own open Project in one manifest write (:func:`run_in_worker`), so the parent's
  Project is current at once and its own saves (autosaved strokes) are never overwritten.
- Cancel sets an Event the child's CancelToken reads (the job stops at its next safe point); a
  child that has not stopped :data:`CANCEL_GRACE_S` later is killed. A child that dies (SIGKILL,
  out of memory, segfault) becomes :class:`WorkerDied`, one line naming the signal or exit code.
  Either way the manifest is the last good one; the child's scratch files are swept.
- Start-up (Python, torch, one warm-up step) costs seconds, so a worker is kept warm and reused
  (:class:`WorkerPool`); a job that finds it still starting reports "starting worker".
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from .errors import Cancelled, QSAError
from .jobs import CancelToken, Job, Progress
from .jobspec import VERBS, JobSpec
from .project.delegated import sweep_scratch

logger = logging.getLogger(__name__)

#: Seconds a cancelled job may take to reach its next safe point before its process is killed.
CANCEL_GRACE_S = 0.75
#: How often the parent looks at the pipe, the cancel token and the child's health.
POLL_S = 0.05

_SIGNAL_WHY = {
    signal.SIGKILL: "was killed (out of memory, or by another program)",
    signal.SIGSEGV: "crashed (segmentation fault)",
    signal.SIGBUS: "crashed (bus error)",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "was terminated",
}


class WorkerDied(QSAError):
    """The job process ended without an outcome; the project is as before the job."""


class WorkerFailed(QSAError):
    """An unexpected error inside the job process (its traceback went to the process's stderr)."""


def describe_exit(code: int | None) -> str:
    """``"was killed (out of memory, or by another program): signal 9 (SIGKILL)"`` and the like."""
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"ended by signal {-code}"
        return f"{_SIGNAL_WHY.get(sig, 'ended')}: signal {-code} ({sig.name})"
    return f"exited with code {code}"


class Worker:
    """One spawned child running jobs one at a time (see :mod:`.worker_child`)."""

    def __init__(self) -> None:
        from .worker_child import child_main

        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.cancel_event = ctx.Event()
        self.process = ctx.Process(
            target=child_main,
            args=(child_conn, self.cancel_event, os.getpid()),
            name="qsa-job-worker",
            daemon=True,
        )
        self.spawned_at = time.monotonic()
        self.process.start()
        child_conn.close()  # the child's end: only the child may hold it, so its death is an EOF
        self.ready = False
        self.busy = False
        #: Seconds from spawn to ready (interpreter, imports, torch warm-up), once known.
        self.startup_seconds: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def recv(self, timeout: float) -> tuple | None:
        """The next message within ``timeout`` s (None if none); raises WorkerDied at its end."""
        try:
            if not self.conn.poll(timeout):
                if self.process.is_alive():
                    return None
                if not self.conn.poll(0):
                    raise EOFError
            msg = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(2.0)
            self.busy = False
            raise WorkerDied(f"The job process {describe_exit(self.process.exitcode)}.") from None
        if msg[0] == "ready":
            self.ready = True
            self.startup_seconds = time.monotonic() - self.spawned_at
            logger.info("job worker %s ready after %.1f s", self.pid, self.startup_seconds)
        elif msg[0] in ("done", "cancelled", "failed"):
            self.busy = False
        return msg

    def wait_ready(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self.ready and time.monotonic() < end:
            self.recv(min(POLL_S * 5, max(0.0, end - time.monotonic())))
        return self.ready

    def run(self, spec: JobSpec) -> None:
        self.cancel_event.clear()
        self.busy = True
        self.conn.send(("run", spec, os.getpid()))

    def kill(self) -> None:
        """Stop the child now (SIGTERM, then SIGKILL); its partial files are for the caller to sweep."""
        self.busy = False
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(0.5)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2.0)
        self.conn.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask an idle child to exit; kill it if it does not."""
        try:
            self.conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self.process.join(timeout)
        self.kill()


class WorkerPool:
    """Keeps up to ``keep`` idle, warm workers; a job takes one and gives it back when done."""

    def __init__(self, keep: int = 1) -> None:
        self.keep = keep
        self._idle: list[Worker] = []
        self._active: list[Worker] = []
        self._lock = threading.Lock()

    def prestart(self) -> Worker:
        """Start a worker now (it warms up in the background) unless one is idle already."""
        with self._lock:
            self._idle = [w for w in self._idle if w.alive]
            if not self._idle:
                self._idle.append(Worker())
            return self._idle[0]

    def acquire(self) -> Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop(0)
                if worker.alive:
                    self._active.append(worker)
                    return worker
        worker = Worker()
        with self._lock:
            self._active.append(worker)
        return worker

    def active_pids(self) -> list[int]:
        """Process ids of the workers running a job now (for tests and diagnostics)."""
        with self._lock:
            return [w.pid for w in self._active if w.pid is not None]

    def release(self, worker: Worker) -> None:
        with self._lock:
            if worker in self._active:
                self._active.remove(worker)
        if worker.alive and not worker.busy:
            with self._lock:
                if len(self._idle) < self.keep:
                    self._idle.append(worker)
                    return
            worker.stop()
        else:
            worker.kill()

    def idle_workers(self) -> list[Worker]:
        with self._lock:
            return list(self._idle)

    def shutdown(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The process's pool (its workers are stopped at exit)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool()
            atexit.register(_pool.shutdown)
        return _pool


def run_in_worker(
    spec: JobSpec, project: Any, cancel: CancelToken | None = None, pool: WorkerPool | None = None
) -> Job[Any]:
    """Run ``spec`` in a worker and commit its result to ``project`` (the parent's, open and locked).

    A job like any other: yields the child's Progress, raises Cancelled / QSAError, returns the
    verb's result (unpacked against ``project``, which is current when it returns).
    """
    pool = pool or shared_pool()
    worker = pool.acquire()
    try:
        return (yield from _drive(worker, spec, project, cancel))
    finally:
        abandoned = worker.busy  # e.g. the generator was closed mid-job
        pool.release(worker)  # killed if it is still busy
        if abandoned and worker.pid is not None:
            sweep_scratch(project.folder, worker.pid)


def _drive(worker: Worker, spec: JobSpec, project: Any, cancel: CancelToken | None) -> Job[Any]:
    if not worker.ready:
        yield Progress("starting worker", 0.0, "starting the job process (loading torch)…")
        while not worker.ready:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("cancelled by the user")
            worker.recv(POLL_S)
    worker.run(spec)
    cancel_at: float | None = None
    try:
        while True:
            if cancel is not None and cancel.cancelled and cancel_at is None:
                worker.cancel_event.set()
                cancel_at = time.monotonic()
            if cancel_at is not None and time.monotonic() - cancel_at > CANCEL_GRACE_S:
                worker.kill()
                raise Cancelled("cancelled by the user (the job process was stopped)")
            msg = worker.recv(POLL_S)
            if msg is None or msg[0] == "ready":
                continue
            if msg[0] == "progress":
                yield msg[1]
            elif msg[0] == "done":
                packed, commit = msg[1], msg[2]
                break
            elif msg[0] == "cancelled":
                raise Cancelled(msg[1] or "cancelled by the user")
            elif msg[0] == "failed":
                _, kind, type_name, text = msg
                if kind == "qsa":
                    raise QSAError(text or type_name)
                if type_name == "MemoryError":
                    raise WorkerFailed(
                        f"{spec.verb.capitalize()} ran out of memory in the job process; "
                        "the project is as it was before the job."
                    )
                raise WorkerFailed(
                    f"Unexpected error in the job process: {type_name}" + (f": {text}" if text else "")
                )
    except WorkerDied as exc:
        sweep_scratch(project.folder, worker.pid or 0)
        raise WorkerDied(
            f"{spec.verb.capitalize()} stopped: {exc} The project is as it was before the job."
        ) from None
    except BaseException:
        if not worker.alive and worker.pid is not None:
            sweep_scratch(project.folder, worker.pid)
        raise
    if cancel is not None and cancel.cancelled:  # past the job's last safe point: commit nothing
        commit.discard(project.folder)
        raise Cancelled("cancelled by the user")
    commit.apply(project)
    return VERBS[spec.verb].unpack(project, packed)


__all__ = [
    "CANCEL_GRACE_S",
    "Worker",
    "WorkerDied",
    "WorkerFailed",
    "WorkerPool",
    "describe_exit",
    "run_in_worker",
    "shared_pool",
]
