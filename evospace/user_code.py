"""The user's own code (``evospace --import``): imported before a command runs, and again in every worker process
that must know what it registers (operators, data sets, objectives)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from evospace.errors import EvospaceError

__all__ = ["import_user_code"]


def import_user_code(name: str) -> None:
    """Import ``name``: a ``.py`` file, or a module found from the current directory or the installed packages.

    Raises:
        EvospaceError: it cannot be found (its own errors keep their traceback: they are the user's code's).
    """
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise EvospaceError(f"--import {name}: no such file")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name.split(".")[0] and err.name != name:
            raise
        raise EvospaceError(f"--import {name}: no module {name!r} here or among the installed packages; give a "
                            f"module name or a path to a .py file") from None
