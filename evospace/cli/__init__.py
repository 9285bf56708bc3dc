"""The ``evospace`` command: one module per command group, each registering its commands on import.

The groups are imported in the order ``evospace --help`` lists them (see :mod:`evospace.cli.parser`).
"""

# isort: off
from evospace.cli import search  # noqa: F401  (search, resume, status, validate)
from evospace.cli import groundtruth  # noqa: F401  (groundtruth)
from evospace.cli import inspect  # noqa: F401  (inspect, diff)
from evospace.cli import export  # noqa: F401  (export, train)
# isort: on
from evospace.cli.parser import build_parser, command, main

__all__ = ["main", "build_parser", "command"]
