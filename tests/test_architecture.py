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
        "import dlcore.builtin, dlcore.charts, dlcore.importer, dlcore.evaluate\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
