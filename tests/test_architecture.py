"""The shape of the code: dlcore never imports Streamlit and importing it stays light; its
modules are grouped by the workshop's steps, import only down the steps, and form no cycle."""

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
        p.name for p in (ROOT / "dlcore").rglob("*.py") if "streamlit" in imported_modules(p)
    ]
    assert offenders == []


def test_tensorflow_is_named_only_in_the_backend_module():
    offenders = [
        p.name
        for p in (ROOT / "dlcore").rglob("*.py")
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
        "import dlcore.spec, dlcore.train.jobs, dlcore.train.runs, dlcore.model.build\n"
        "import dlcore.data.catalogue, dlcore.charts, dlcore.data.importer\n"
        "import dlcore.results.evaluate\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


# The workshop's steps, in order: a module imports from its own step and those above it, never
# from a later one (results may import train and model; data imports none of them). The modules
# directly in dlcore (spec, limits, storage, attendees, text, charts, backend...) are shared by
# every step and import no step; the cli package, the top, imports them all.
STEPS = ("data", "model", "train", "results", "cli")


def module_names(root: Path) -> dict[str, Path]:
    """Every dlcore module by its dotted name below dlcore: "spec", "data.catalogue"..."""
    names = {}
    for path in (root / "dlcore").rglob("*.py"):
        parts = path.relative_to(root / "dlcore").with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and parts != ("__main__",):
            names[".".join(parts)] = path
    return names


def dlcore_imports(path: Path, deferred: bool, modules: set[str]) -> set[str]:
    """The dlcore modules ``path`` imports: at its top level, or anywhere (``deferred``: also
    the imports inside functions, which hide a cycle without removing it)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree) if deferred else tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dlcore"):
            package = node.module.removeprefix("dlcore").lstrip(".")
            named = {f"{package}.{a.name}".lstrip(".") for a in node.names}
            found |= (named & modules) or ({package} & modules)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("dlcore.") for a in node.names} & modules
    return found


def import_graph(deferred: bool) -> dict[str, set[str]]:
    modules = module_names(ROOT)
    names = set(modules)
    return {name: dlcore_imports(path, deferred, names) - {name} for name, path in modules.items()}


def import_cycles(deferred: bool) -> list[set[str]]:
    """The groups of dlcore modules that import each other, directly or round a loop."""
    graph = import_graph(deferred)

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


def step_of(module: str) -> int:
    """A module's place in the workshop's steps; -1 for the shared modules directly in dlcore."""
    first = module.split(".")[0]
    return STEPS.index(first) if first in STEPS else -1


def imports_against_the_steps() -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in import_graph(deferred=True).items()
        for target in targets
        if step_of(target) > step_of(module)
    )


def test_no_import_cycles_at_module_level():
    assert import_cycles(deferred=False) == []


def test_no_import_cycles_even_through_deferred_imports():
    assert import_cycles(deferred=True) == []


def test_imports_point_down_the_workshop_s_steps():
    assert imports_against_the_steps() == []


def test_every_module_but_the_package_s_own_lives_in_a_step():
    """A newcomer finds a behaviour by its step: only the shared modules stay directly in dlcore."""
    shared = sorted(name for name in module_names(ROOT) if step_of(name) < 0)
    assert shared == [
        "attendees", "backend", "charts", "limits", "recipes", "runtime", "spec", "storage",
        "system", "text",
    ]  # fmt: skip
    assert {name.split(".")[0] for name in module_names(ROOT) if "." in name} == set(STEPS)


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / "dlcore" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_cycle_check_sees_a_deferred_import(tmp_path, monkeypatch):
    """The check would have caught the old importer <-> builtin loop (a deferred import)."""
    _tree(
        tmp_path,
        {
            "data/__init__.py": "",
            "data/importer.py": "from dlcore.data.builtin import BUILTINS\n",
            "data/builtin.py": "def f():\n    from dlcore.data import importer\n",
        },
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert import_cycles(deferred=True) == [{"data.builtin", "data.importer"}]
    assert import_cycles(deferred=False) == []


def test_the_step_check_sees_an_import_from_a_later_step(tmp_path, monkeypatch):
    """The check would have caught the worker's old import of the results step's evaluation."""
    _tree(
        tmp_path,
        {
            "train/__init__.py": "",
            "results/__init__.py": "",
            "results/evaluate.py": "",
            "train/worker.py": "def train():\n    from dlcore.results.evaluate import f\n",
            "spec.py": "from dlcore import LayerLabError\n",
        },
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert imports_against_the_steps() == ["train.worker -> results.evaluate"]
