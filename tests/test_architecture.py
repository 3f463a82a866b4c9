"""The two layers: dlcore never imports Streamlit, and importing it stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_dlcore_module_imports_streamlit():
    offenders = [
        p.name for p in (ROOT / "dlcore").glob("*.py") if "streamlit" in imported_modules(p)
    ]
    assert offenders == []


def test_tensorflow_is_named_only_in_the_backend_module():
    offenders = [
        p.name
        for p in (ROOT / "dlcore").glob("*.py")
        if "tensorflow" in imported_modules(p) and p.name != "backend.py"
    ]
    assert offenders == []


def test_pages_never_import_a_deep_learning_framework():
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    frameworks = {"tensorflow", "keras", "jax", "torch"}
    offenders = [p.name for p in files if p.exists() and imported_modules(p) & frameworks]
    assert offenders == []


def test_light_modules_do_not_load_keras():
    code = (
        "import sys\n"
        "import dlcore.spec, dlcore.jobs, dlcore.runs, dlcore.model\n"
        "import dlcore.catalogue, dlcore.charts, dlcore.importer, dlcore.evaluate\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


# The data layer: datasets by name, their building, downloading, cleaning, importing and access.
DATA_MODULES = {
    "arrays", "builtin", "catalogue", "dataset", "digit_photo", "downloads", "folders",
    "generated", "images", "importer", "npz_import", "ownership", "server_folders", "unpack",
    "usage",
}  # fmt: skip


def dlcore_imports(path: Path, deferred: bool) -> set[str]:
    """The dlcore modules ``path`` imports: at its top level, or anywhere (``deferred``: also
    the imports inside functions, which hide a cycle without removing it)."""
    tree = ast.parse(path.read_text())
    modules = {p.stem for p in (ROOT / "dlcore").glob("*.py")}
    found = set()
    for node in ast.walk(tree) if deferred else tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("dlcore."):
                found.add(node.module.split(".")[1])
            elif node.module == "dlcore":
                found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("dlcore.")}
    return found - {path.stem}


def import_cycles(deferred: bool) -> list[set[str]]:
    """The groups of dlcore modules that import each other, directly or round a loop."""
    graph = {p.stem: dlcore_imports(p, deferred) for p in (ROOT / "dlcore").glob("*.py")}

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {name: reach(name) for name in graph}
    cycles = []
    for name in sorted(graph):
        group = {name} | {other for other in reached[name] if name in reached[other]}
        if name in reached[name] and group not in cycles:
            cycles.append(group)
    return cycles


def test_no_import_cycles_at_module_level():
    assert import_cycles(deferred=False) == []


def test_the_data_layer_has_no_import_cycle_even_through_deferred_imports():
    tangled = [sorted(group) for group in import_cycles(deferred=True) if group & DATA_MODULES]
    assert tangled == []


def test_the_cycle_check_sees_a_deferred_import(tmp_path, monkeypatch):
    """The check would have caught the old importer <-> builtin loop (a deferred import)."""
    for name, text in {
        "importer.py": "from dlcore.builtin import BUILTINS\n",
        "builtin.py": "def f():\n    from dlcore.importer import g\n",
    }.items():
        (tmp_path / "dlcore").mkdir(exist_ok=True)
        (tmp_path / "dlcore" / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert import_cycles(deferred=True) == [{"builtin", "importer"}]
    assert import_cycles(deferred=False) == []
