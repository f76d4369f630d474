"""The `qsa` command's plumbing: Ctrl-C around jobs, closed pipes, argument types, image lookup.

Kept apart from :mod:`qsa_gui.cli` (the commands) so that file stays a list of verbs.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import Cancelled, QSAError
from ..core.jobs import CancelToken, Job, run_job


def quit_now(signum: int = 0, frame: object = None) -> None:
    """A second Ctrl-C: the user wants out now, without a traceback or a cleanup wait."""
    os.write(2, b"\nqsa: interrupted again; quitting\n")
    os._exit(130)


def drive(job_factory: Callable[[CancelToken], Job[Any]], bar: Any = None) -> Any:
    """Run a job; Ctrl-C only sets the cancel token, so the job stops at its next safe point.

    A KeyboardInterrupt raised at an arbitrary line could land just after the job's commit and
    we would wrongly report "unchanged"; a cancelled job raises Cancelled before it commits, and
    one that returns had committed before it noticed. ``bar``: a progress callback with close().
    """
    cancel = CancelToken()
    pressed: list[bool] = []

    def on_sigint(signum: int, frame: object) -> None:
        if pressed:
            quit_now()
        pressed.append(True)
        cancel.cancel()
        os.write(2, b"\nqsa: cancelling at the next safe point (Ctrl-C again to quit at once)\n")

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    try:
        result = run_job(job_factory(cancel), bar)
    except Cancelled:
        if pressed:
            raise Cancelled(
                "cancelled with Ctrl-C before the job committed; the project is unchanged"
            ) from None
        raise
    finally:
        if bar is not None:
            bar.close()
        if main_thread:
            signal.signal(signal.SIGINT, quit_now if pressed else previous)
    if pressed:
        print("qsa: Ctrl-C came after the job had committed its result; it finished", file=sys.stderr)
    return result


def bits_arg(text: str) -> str | int:
    if text.strip().lower() == "float":
        return "float"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a bit width (e.g. 7) or 'float', got {text!r}") from None


def int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def find_image(project, key: str):
    """By id first, then exact file name, then stem; an ambiguous name is refused, never guessed."""
    rows = project.images
    for r in rows:
        if r.id == key:
            return r
    for match in (lambda r: r.name == key, lambda r: Path(r.name).stem == key):
        found = [r for r in rows if match(r)]
        if len(found) == 1:
            return found[0]
        if found:
            shown = ", ".join(f"{r.id} ({r.name})" for r in found)
            raise QSAError(f"{key!r} names {len(found)} images: {shown}; use the image id instead")
    raise QSAError(f"no image {key!r} in the project (use an id or a file name from `qsa status`)")


def json_safe(value: Any) -> Any:
    """Infinity/NaN are not JSON: strict parsers (jq, JSON.parse) reject them, so write null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def closed_pipe() -> int:
    """The reader went away (``| head``): stop quietly, like Unix tools (128 + SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a file descriptor
        pass
    return 141


def one_line(exc: BaseException) -> str:
    """The message on one line (library messages sometimes span several)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2000 else text[:1997] + "..."


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a command and map what it raises to the exit contract (2 input, 130 cancelled, 1 bug)."""
    try:
        from ..core.runtime import configure_threads

        configure_threads()
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except BrokenPipeError:
        return closed_pipe()
    except Cancelled as exc:
        print(f"qsa: {one_line(exc)}", file=sys.stderr)
        return 130
    except (QSAError, ValueError, OSError) as exc:
        print(f"qsa: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            "qsa: error: out of memory (try a smaller tile size or a machine with more RAM)", file=sys.stderr
        )
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback on request
        if os.environ.get("QSA_DEBUG"):
            raise
        print(
            f"qsa: internal error: {type(exc).__name__}: {one_line(exc)} (QSA_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
