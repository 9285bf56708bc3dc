"""One exception hierarchy for every error a user can cause.

The CLI turns any :class:`EvospaceError` into one line on stderr and exit status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "EvospaceError",
    "SpaceError",
    "RunError",
    "DataError",
    "Interrupted",
    "BudgetExhausted",
    "closest",
]


class EvospaceError(Exception):
    """Base class: something the user can fix (a file, a flag, a directory)."""


class SpaceError(EvospaceError):
    """A space file (or a ``--set`` override) is malformed.

    Args:
        source: the file the value came from (or ``--set``).
        key: dotted key path inside the file, e.g. ``search.population.size``.
        message: what was wrong and what is expected.
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class RunError(EvospaceError):
    """A run directory is missing, damaged or belongs to another space."""


class DataError(EvospaceError):
    """A data set cannot be built or read.

    Args:
        message: what was wrong and what to do.
        key: the space file's key that chose what failed (``data.path``), for the error line of a space.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class Interrupted(EvospaceError):
    """A search (or a training) stopped on a signal after writing a checkpoint; the same command continues it.

    Args:
        message: what stopped and how to continue.
        signum: the signal that stopped it (the command line exits with 128 + it, 143 for SIGTERM); ``None``:
            an interrupt without a known signal (exit 130, as for SIGINT).
    """

    def __init__(self, message: str, signum: int | None = None) -> None:
        self.signum = signum
        super().__init__(message)


class BudgetExhausted(EvospaceError):
    """An oracle's query budget is spent (raised by oracles; the search ends on it, with what was queried)."""


def closest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a ``did you mean`` suffix listing the closest names, or an empty string."""
    matches = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    if not matches:
        return ""
    return " (did you mean " + ", ".join(repr(m) for m in matches) + "?)"
