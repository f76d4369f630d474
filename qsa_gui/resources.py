"""Where the shipped data files are: icons, the .desktop entry, the real H&E sample images.

The files live in the top-level ``resources/`` folder of the source tree, which the wheel installs as
the package ``qsa_gui._resources``. A source checkout (or an editable install made before the
mapping existed) has no such package, so the folder next to ``qsa_gui/`` is used when it is there.
Qt-free; ``python -m qsa_gui.resources NAME`` prints a file's path (for install scripts).
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import resources as _importlib_resources
from pathlib import Path

from qsa_gui.core.errors import InputFileError

ICON_SVG = "icons/qsa-gui.svg"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
DESKTOP_ENTRY = "qsa-gui.desktop"
SAMPLES = "samples"
SAMPLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})


@cache
def resources_root() -> Path:
    """The folder holding the shipped files (source checkout first, then the installed package)."""
    checkout = Path(__file__).resolve().parent.parent
    # pyproject.toml beside it tells a checkout from a stray top-level "resources" in site-packages
    if (checkout / "pyproject.toml").is_file() and (checkout / "resources" / "__init__.py").is_file():
        return checkout / "resources"
    try:
        root = _importlib_resources.files("qsa_gui._resources")
    except ModuleNotFoundError as exc:
        raise InputFileError(checkout / "resources", "qsa-gui's data files are not installed") from exc
    return Path(str(root))  # wheels install unzipped, so this is a real folder


def resource_path(name: str) -> Path:
    """The path of a shipped file, e.g. ``resource_path("icons/qsa-gui.svg")``; an unknown name raises."""
    path = resources_root() / name
    if not path.is_file():
        raise InputFileError(path, "no such file among qsa-gui's shipped resources")
    return path


def icon_png(size: int) -> Path:
    """The application icon rendered at ``size`` pixels (one of :data:`ICON_SIZES`)."""
    if size not in ICON_SIZES:
        raise ValueError(f"icon size {size} not shipped; choose one of {ICON_SIZES}")
    return resource_path(f"icons/qsa-gui-{size}.png")


def sample_images() -> list[Path]:
    """The real H&E sample images (no labels), sorted by name; their provenance is in PROVENANCE.txt."""
    folder = resources_root() / SAMPLES
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES)


def main(argv: list[str] | None = None) -> int:
    """Print the path of each named resource (or the root); exit 2 with one line for an unknown one."""
    names = sys.argv[1:] if argv is None else argv
    try:
        for name in names or [""]:
            print(resource_path(name) if name else resources_root())
    except InputFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
