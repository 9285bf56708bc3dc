"""Helpers of the export tests: run a generated model.py in this process, list what it imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import torch


def exec_model(source: str) -> torch.nn.Module:
    """``Model()`` of a model.py source, executed in a namespace of its own."""
    namespace = {"__name__": "exported_model"}
    exec(compile(source, "model.py", "exec"), namespace)
    return namespace["Model"]()


def imports(source: str) -> set[str]:
    """Every module a source imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module)
    return names


def run_alone(path: Path) -> subprocess.CompletedProcess:
    """Run a model.py as ``__main__`` in a fresh interpreter; its output ends with whether evospace was loaded."""
    probe = ("import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__'); "
             "print('evospace loaded' if any(m.split('.')[0] == 'evospace' for m in sys.modules) else 'torch only')")
    return subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, cwd=path.parent,
                          timeout=120)
