"""``qsa-gui``: start the desktop window.

Usage::

    qsa-gui                 # reopen the last project; on a first start, offer the demo project
    qsa-gui PROJECT         # open that project folder
    qsa-gui --demo [FOLDER] # create (if missing) and open the demo project (default ~/qsa-gui-demo)

:func:`build_window` does everything except entering the event loop, so tests (and other
embedders) get a ready :class:`~qsa_gui.app.window.MainWindow` without blocking.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qsa_gui import __version__

from .recent import APPLICATION, ORGANIZATION, RecentProjects, make_settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="qsa-gui",
        description="Annotation assistant for gland segmentation: which image to label next, "
        "and a quantized network retrained on your labels.",
    )
    parser.add_argument("project", nargs="?", help="project folder to open (with --demo: where to create it)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="create (if missing) and open the demo project of generated gland images",
    )
    parser.add_argument("--demo-images", type=int, default=24, metavar="N", help="images in a new demo (24)")
    parser.add_argument("--demo-size", type=int, default=256, metavar="PX", help="demo image size (256)")
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="keep recent projects and window layout in this INI file instead of the user's settings",
    )
    parser.add_argument("--version", action="version", version=f"qsa-gui {__version__}")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.demo_images < 2 or args.demo_size < 32:
        parser.error("--demo-images must be at least 2 and --demo-size at least 32")
    return args


def ensure_app() -> Any:
    """The process's QApplication (created once, with the names QSettings uses)."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    from qsa_gui._qt import none_guard
    from qsa_gui._qt.icon import app_icon

    none_guard.install(app)  # before the splash: PySide6 leaks references to None from the start
    app.setWindowIcon(app_icon())
    return app


def build_window(
    argv: Sequence[str] | None = None,
    *,
    settings: Any | None = None,
    ask_demo: Any | None = None,
    confirm_close: Any | None = None,
    viewer: Any | None = None,
    assistant_factory: Any | None = None,
    progress: Any | None = None,
) -> Any:
    """Parse ``argv``, build the window and start opening what was asked for; no event loop.

    ``ask_demo(default_folder) -> Path | None`` answers the first-start demo offer (default: a
    dialog); ``settings``, ``confirm_close``, ``viewer``, ``assistant_factory`` go to
    :class:`~qsa_gui.app.window.MainWindow`. A demo that has to be written first opens when its
    job of the assistant finishes (``window.assistant.is_busy`` until then). ``progress(text)``
    is told what loads now (the splash shows it).
    """
    args = parse_args(argv)
    ensure_app()
    say = progress or (lambda _text: None)
    say("Loading napari…")
    from .window import MainWindow

    say("Building the window…")

    if settings is None:
        settings = make_settings(args.settings)
    last = RecentProjects(settings).paths(prune=False)[:1]  # before the window prunes gone ones
    window = MainWindow(
        settings=settings, viewer=viewer, assistant_factory=assistant_factory, confirm_close=confirm_close
    )
    if args.project or args.demo:
        say("Opening the project…")
    if args.demo:
        window.open_demo(
            Path(args.project).expanduser() if args.project else None,
            n_images=args.demo_images,
            size=args.demo_size,
        )
    elif args.project:
        window.open_project(Path(args.project).expanduser())
    elif last:
        window.reopen_last(last[0])  # unless turned off (start/reopen_last); a failure is one line
    else:
        sizes = {"n_images": args.demo_images, "size": args.demo_size}
        if ask_demo is not None:
            window.offer_demo(ask_demo, **sizes)
        else:  # ask once the window is on screen, not before it appears
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, lambda: window.offer_demo(**sizes))
    return window


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qsa-gui`` GUI script: show the window and run the event loop."""
    parse_args(argv)  # --help / --version / bad arguments exit here, before Qt needs a display
    app = ensure_app()
    from .splash import show_splash

    splash = show_splash()  # within a second: napari's import and viewer take several
    window = build_window(argv, progress=splash.step)
    window.show()
    splash.done(window)
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
