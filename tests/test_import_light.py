"""Integrations are guests: importing lethe (CLI, API, HTTP, every store, action and sender
kind) never imports Django, and no module outside lethe.contrib imports lethe.contrib at its
top level (a sender may import its framework half lazily, when it is built)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "lethe"


def test_importing_lethe_everywhere_does_not_import_django() -> None:
    # __main__ runs the CLI and the migrations run Alembic when imported: neither is a library.
    code = (
        "import sys, pkgutil, importlib, lethe\n"
        "SKIP = ('lethe.contrib', 'lethe.__main__', 'lethe.state.migrations')\n"
        "for m in pkgutil.walk_packages(lethe.__path__, 'lethe.'):\n"
        "    if not m.name.startswith(SKIP):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n == 'django' or n.startswith('django.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_no_module_outside_contrib_imports_contrib_at_its_top_level() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if "contrib" in path.relative_to(SRC).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(SRC)}: {n}" for n in names if "contrib" in n]
    assert offenders == []
