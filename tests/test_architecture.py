"""Rules of the layout (docs/architecture.md), checked on the source so they cannot quietly rot.

- no import cycle inside ``qsa_gui`` (graph built from the AST, imports inside functions
  included, ``if TYPE_CHECKING:`` blocks excluded);
- no module over 600 lines and no class over 400 lines;
- napari's private API only in the one adapter module that says why;
- the core's public face is exactly the list below, and every name resolves.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"qsa_gui": ROOT / "qsa_gui", "napari_qsa": ROOT / "plugins" / "napari_qsa"}
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400
NAPARI_ADAPTER = "qsa_gui._qt.napari_private"
PRIVATE_ATTRS = {"_qt_window", "_qt_viewer"}

PUBLIC_CORE = [
    "CancelToken", "Cancelled", "InputFileError", "Job", "ModelFileError", "Progress", "Project",
    "ProjectError", "QSAError", "STRATEGIES", "Segmenter", "Settings", "evaluate_job", "evaluate_set",
    "generate_dataset", "load_fcn", "load_rgb", "open_lazy", "read_glas_folder", "read_image",
    "read_labels", "retrain_job", "run_job", "save_fcn", "segment_job", "select", "suggest_job",
    "write_image", "write_labels",
]  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for top, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            parts = [top, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:  # ``from pkg import sub`` imports the sub-module
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m in modules and m != name}


def test_no_import_cycle_inside_the_package():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strongconnect(v)
    assert not cycles, f"import cycles: {cycles}"


def test_modules_and_classes_stay_small():
    too_big = []
    for name, path in _modules().items():
        text = path.read_text()
        n = text.count("\n")
        if n > MAX_MODULE_LINES:
            too_big.append(f"module {name}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                span = node.end_lineno - node.lineno + 1
                if span > MAX_CLASS_LINES:
                    too_big.append(f"class {name}.{node.name}: {span} lines")
    assert not too_big, too_big


def test_napari_private_api_only_in_its_adapter():
    users = []
    for name, path in _modules().items():
        if name == NAPARI_ADAPTER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRS:
                users.append(f"{name}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.Constant) and node.value in PRIVATE_ATTRS:
                users.append(f"{name}:{node.lineno} {node.value!r}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("napari._"):
                users.append(f"{name}:{node.lineno} from {node.module}")
            elif isinstance(node, ast.Import) and any(a.name.startswith("napari._") for a in node.names):
                users.append(f"{name}:{node.lineno} import")
    assert not users, users
    adapter = _modules().get(NAPARI_ADAPTER)
    assert adapter is not None and "why" in ast.get_docstring(ast.parse(adapter.read_text())).lower()


def test_public_face_of_the_core():
    import qsa_gui.core as core

    assert sorted(core.__all__) == sorted(PUBLIC_CORE)
    for name in PUBLIC_CORE:
        assert getattr(core, name) is not None
