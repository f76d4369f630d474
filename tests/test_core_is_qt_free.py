"""The core must import in a plain Python process with every GUI toolkit blocked, sub-packages included."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "qsa_gui" / "core"
BLOCKED = ("PySide6", "PyQt5", "PyQt6", "PySide2", "qtpy", "napari", "vispy", "magicgui", "superqt")

CODE = r"""
import importlib, pkgutil, sys

BLOCKED = BLOCKED_NAMES

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked GUI module {name}")
        return None

sys.meta_path.insert(0, Blocker())
import qsa_gui.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "qsa_gui.core.")]
for name in names:
    importlib.import_module(name)
for name in core.__all__:
    getattr(core, name)
import qsa_gui.cli
leaked = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
assert not leaked, leaked
print(len(names))
""".replace("BLOCKED_NAMES", repr(BLOCKED))


def test_core_imports_without_qt_or_napari():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    n_files = sum(1 for _ in CORE.rglob("*.py"))
    assert int(out.stdout.strip()) == n_files - 1  # every module and sub-package (less core/__init__)


def test_no_gui_import_statement_anywhere_under_core():
    """Also the imports a test run never reaches (inside functions, behind flags)."""
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if not names:
                continue
            where = f"{path.relative_to(CORE)}:{node.lineno}"
            offenders += [f"{where} {n}" for n in names if n.split(".")[0] in BLOCKED]
    assert not offenders, offenders
