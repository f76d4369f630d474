"""Fixtures for the Qt building-block tests: leak-checked runners, no stray loader threads."""

from __future__ import annotations

import threading
import time

import pytest

try:  # without a Qt binding the GUI tests are not collected at all (core-only installs)
    import qtpy  # noqa: F401
    from qtpy.QtWidgets import QApplication  # noqa: F401
except Exception:  # noqa: BLE001 - any import failure means "no usable Qt here"
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/gui/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.gui)


#: PySide6 6.12's ``QApplication.processEvents()`` and ``QTimer.singleShot`` each drop one
#: reference to ``None`` (measured: -1000 after 1000 calls). qtbot's wait loops call it
#: constantly, so a long GUI run can drive ``None``'s count to zero and abort ("none_dealloc").
#: Holding spare references (8 bytes each, never released: the run ends with ``os._exit``) keeps
#: a whole ``tests/gui`` run clear of it.
_NONE_RESERVE: list[None] = [None] * 4_000_000


@pytest.fixture
def runner(qtbot):
    """A JobRunner that is checked to be idle (thread ended) at the end of the test."""
    from qsa_gui._qt.runner import JobRunner

    r = JobRunner()
    yield r
    r.cancel()
    assert r.wait_idle(10.0), "job thread did not stop within 10 s"
    assert not r._thread.isRunning()
    r.deleteLater()


@pytest.fixture(autouse=True)
def _no_leaked_python_threads():
    """Thumbnail loader threads must end once their queue is drained."""
    yield
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        alive = [t for t in threading.enumerate() if t.name == "qsa-thumbnails" and t.is_alive()]
        if not alive:
            return
        time.sleep(0.01)
    pytest.fail(f"leaked thumbnail threads: {alive}")


@pytest.fixture
def make_assistant(make_napari_viewer):
    """``make(settings, warm_up=True, show=False, **attributes)``: an AssistantWidget in a fresh
    napari viewer (the panel the GUI tests drive), shut down when the test ends, before its
    viewer closes. ``settings``: the Settings its jobs run with; keywords set attributes (e.g.
    ``autosave_ms``)."""
    made = []

    def make(settings=None, *, warm_up: bool = True, show: bool = False, **attributes):
        from qsa_gui._qt.assistant import AssistantWidget

        w = AssistantWidget(make_napari_viewer(show=show), warm_up=warm_up)
        if settings is not None:
            w.settings_override = settings.to_dict()
        for name, value in attributes.items():
            setattr(w, name, value)
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()
