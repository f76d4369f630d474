"""Project-wide test configuration: process-wide settings that must exist before imports.

Thread counts: the suite runs on small CI machines (2 cores), so BLAS/OpenMP pools default to
one thread (set before any test module imports numpy/torch; an explicit value wins).

Qt platform (decided once per process -- there is one QApplication, so it cannot differ per test):

- ``pytest-xvfb`` starts an Xvfb server in its ``pytest_configure`` and sets ``DISPLAY``. napari's
  viewer tests need that X display (vispy wants an OpenGL context, which the ``offscreen`` platform
  does not reliably give), so when ``DISPLAY`` is set we leave ``QT_QPA_PLATFORM`` alone and Qt uses
  ``xcb`` on Xvfb. Install Xvfb and Qt's xcb libraries with ``.ci/install_system_deps.sh``.
- Without any display (no Xvfb installed, or ``-p no:xvfb`` on a headless machine) we default
  ``QT_QPA_PLATFORM=offscreen`` so the plain Qt widget tests (``tests/gui``) still run and never
  try to open a window; napari viewer tests then skip or fail on their own terms.
- An explicit ``QT_QPA_PLATFORM`` in the environment always wins (e.g. ``QT_QPA_PLATFORM=offscreen
  pytest -p no:xvfb tests/gui`` for the fastest headless run).

The decision is taken in a ``trylast`` ``pytest_configure`` so that it runs *after* pytest-xvfb's
hook has set ``DISPLAY`` (this module itself is imported before that hook runs). Qt reads the
variable only when pytest-qt creates the QApplication, later, in the first Qt test.

Tiny settings: ``qsa_testkit.TINY_SETTINGS`` (also the ``tiny_settings`` fixture) is the one
small-model :class:`Settings` the job tests share (see ``tests/qsa_testkit.py``).
"""

from __future__ import annotations

import os
import sys

import pytest

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# pyplot (if any test uses it) must never try to open a window; Qt canvases are unaffected.
os.environ.setdefault("MPLBACKEND", "Agg")

from qsa_testkit import TINY_SETTINGS  # noqa: E402 - after the thread counts above

from qsa_gui.core.settings import Settings  # noqa: E402


@pytest.fixture
def tiny_settings() -> Settings:
    """:data:`TINY_SETTINGS` (frozen, so sharing one instance is safe)."""
    return TINY_SETTINGS


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if "QT_QPA_PLATFORM" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def pytest_report_header(config: pytest.Config) -> str:
    platform = os.environ.get("QT_QPA_PLATFORM") or "default (xcb)"
    return f"qt platform: {platform}; DISPLAY={os.environ.get('DISPLAY', '')!r}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._qsa_exitstatus = int(exitstatus)  # type: ignore[attr-defined]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End a run that used Qt without the interpreter's final garbage collection.

    After every result is reported, CPython's last GC pass over the many napari/vispy/Qt objects
    of a full GUI run sometimes aborts inside a C extension ("none_dealloc: deallocating None",
    exit 134), which would turn a passing run into a failed one. The results are final by then:
    run the atexit handlers (pytest-xvfb stops Xvfb there), flush, and exit with pytest's status.
    ``QSA_TEST_NORMAL_EXIT=1`` keeps the normal shutdown, to look for that crash.
    """
    if "PySide6" not in sys.modules or os.environ.get("QSA_TEST_NORMAL_EXIT") == "1":
        return
    import atexit

    status = getattr(config, "_qsa_exitstatus", None)
    if status is None:
        return
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
