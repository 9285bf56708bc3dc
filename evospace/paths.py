"""Where an output may go: a directory or a file to be written, checked before anything is written.

An output path given by a user (``--out``) may name a file where a directory is wanted, a directory where a
file is wanted, or lie under a file. Each case is one :class:`~evospace.errors.EvospaceError` naming the flag,
the path and what to give instead, rather than an ``OSError`` from deep inside a write.
"""

from __future__ import annotations

from pathlib import Path

from evospace.errors import EvospaceError

__all__ = ["output_dir", "output_file"]


def output_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a directory to write into (it need not exist yet).

    Raises:
        EvospaceError: ``path`` or one of its parents is something other than a directory.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EvospaceError(f"{flag} {path}: is a file, not a directory; give a directory (new or empty)")
    _check_parents(path, flag)
    return path


def output_file(path: str | Path, flag: str = "--out", example: str = "out.txt") -> Path:
    """``path`` as a file to write (created or replaced).

    Raises:
        EvospaceError: ``path`` is a directory, or one of its parents is not one.
    """
    path = Path(path)
    if path.is_dir():
        raise EvospaceError(f"{flag} {path}: is a directory; give a file name, e.g. {path / example}")
    if path.exists() and not path.is_file():
        raise EvospaceError(f"{flag} {path}: is not a regular file; give a file name to write")
    _check_parents(path, flag)
    return path


def _check_parents(path: Path, flag: str) -> None:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise EvospaceError(f"{flag} {path}: {parent} is a file, so nothing can be written under it; "
                                    f"give a path in a directory")
            return
