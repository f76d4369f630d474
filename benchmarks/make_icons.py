"""Render ``resources/icons/qsa-gui.svg`` to the PNG sizes desktops and napari want.

The PNGs are committed so that installing needs no Qt SVG module; rerun this after editing the SVG:
``python benchmarks/make_icons.py`` (needs PySide6 with QtSvg).
"""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 32, 48, 64, 128, 256)


def render(svg: Path, out_dir: Path, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Write ``qsa-gui-<N>.png`` for each size (transparent corners, antialiased)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    written = []
    for n in sizes:
        image = QImage(n, n, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"{svg.stem}-{n}.png"
        if not image.save(str(path)):
            raise SystemExit(f"{path}: could not write")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in render(ICONS / "qsa-gui.svg", ICONS):
        print(p, p.stat().st_size, "bytes")
