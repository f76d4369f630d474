"""The core must import in a plain Python process with every GUI toolkit blocked."""

import subprocess
import sys

CODE = r"""
import importlib, pkgutil, sys

class Blocker:
    BLOCKED = ("PySide6", "PyQt5", "PyQt6", "PySide2", "qtpy", "napari", "vispy", "magicgui")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"blocked GUI module {name}")
        return None

sys.meta_path.insert(0, Blocker())
import qsa_gui.core as core
names = [m.name for m in pkgutil.iter_modules(core.__path__)]
for name in names:
    importlib.import_module(f"qsa_gui.core.{name}")
import qsa_gui.cli
leaked = [m for m in sys.modules if m.split(".")[0] in Blocker.BLOCKED]
assert not leaked, leaked
print(len(names))
"""


def test_core_imports_without_qt_or_napari():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 15  # every core module was imported
