"""The main loop of a job worker process (spawned by :mod:`qsa_gui.core.worker`, never forked).

Why a separate module: this is all a spawned child imports before its first job (the core, torch
and the workflow verbs -- never Qt), and it is the only code that runs there. Messages to the
parent are tuples on one pipe: ``("ready", seconds)``, ``("progress", Progress)``,
``("done", packed result, Commit)``, ``("cancelled", text)``,
``("failed", "qsa" | "unexpected", type name, text)``. From the parent: ``("run", JobSpec,
holder pid)`` and ``("stop",)``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from .errors import Cancelled, QSAError
from .jobs import EventCancelToken, Progress

#: The child sends at most one Progress per this many seconds (plus the last before the result);
#: the GUI shows at most 20 per second anyway.
SEND_INTERVAL_S = 0.05


def _watch_parent(parent_pid: int) -> None:
    """Exit when the parent is gone (killed GUI): a job must not run on, unseen, holding memory."""

    def loop() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=loop, name="qsa-parent-watch", daemon=True).start()


def child_main(conn: Any, cancel_event: Any, parent_pid: int) -> None:
    """Warm up, say ready, then run jobs one after another until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the parent's to handle
    _watch_parent(parent_pid)
    t0 = time.perf_counter()
    from .jobspec import preload
    from .model.warmup import warm_up_torch
    from .runtime import configure_threads, lower_priority

    lower_priority()  # the window's repaints (and the display server's) come first
    configure_threads()
    preload()
    warm_up_torch()
    conn.send(("ready", time.perf_counter() - t0))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        if msg[0] == "run":
            _serve(conn, cancel_event, msg[1], msg[2])


def _serve(conn: Any, cancel_event: Any, spec: Any, holder_pid: int) -> None:
    from .jobspec import VERBS, start_spec
    from .project.delegated import DelegatedProject

    token = EventCancelToken(cancel_event)
    project = None
    try:
        project = DelegatedProject.open_delegated(spec.folder, holder_pid)
        job = start_spec(spec, project, token)
        last, pending = 0.0, None
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                result = stop.value
                break
            if not isinstance(event, Progress):
                continue
            now = time.monotonic()
            if now - last >= SEND_INTERVAL_S:
                conn.send(("progress", event))
                last, pending = now, None
            else:
                pending = event
        if pending is not None:
            conn.send(("progress", pending))
        conn.send(("done", VERBS[spec.verb].pack(result), project.commit))
    except Cancelled as exc:
        conn.send(("cancelled", str(exc)))
    except QSAError as exc:
        conn.send(("failed", "qsa", type(exc).__name__, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - the parent must always get an outcome
        traceback.print_exc(file=sys.stderr)
        conn.send(("failed", "unexpected", type(exc).__name__, str(exc)))
    finally:
        if project is not None:
            project.close()


__all__ = ["SEND_INTERVAL_S", "child_main"]
