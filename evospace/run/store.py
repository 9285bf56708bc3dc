"""The run directory: atomic files, checksummed snapshots, append-only journals. No pickle anywhere.

Layout (DESIGN.md §6)::

    runs/NAME/run.yaml                  resolved space, seed, versions (written once)
    runs/NAME/events.jsonl              append-only decisions
    runs/NAME/metrics.jsonl             append-only figures
    runs/NAME/rounds/NNN/...            a finished round: space.yaml, supernet/reference safetensors,
                                        state.json, COMPLETE (written last, SHA-256 of the others)
    runs/NAME/checkpoint/SSSSSSSS/...   mid-round snapshots, same format, newest two kept
    runs/NAME/best/arch.json

Every file is written to a temporary name, fsynced, renamed with ``os.replace`` and its directory
fsynced. A snapshot without ``COMPLETE`` or with a checksum mismatch is never loaded. Journals are
truncated back to the offsets recorded in the snapshot a run resumes from, so a resumed run writes
each line exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evospace.errors import RunError

__all__ = ["RunStore", "Snapshot", "atomic_write", "read_jsonl", "fsync_dir"]

COMPLETE = "COMPLETE"
FORMAT_VERSION = 1


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    On failure (disk full, ...) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON-lines journal; a torn (unparsable or unterminated) last line is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_bytes().split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i >= len(lines) - 2:  # the last written line: a crash mid-append
                break
            raise RunError(f"{path}: line {i + 1} is not valid JSON; the journal is damaged") from None
    return rows


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """A verified snapshot directory (a finished round or a mid-round checkpoint)."""

    path: Path
    files: dict[str, str]  # name -> sha256, from COMPLETE

    def read_bytes(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read_bytes(name))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunError(f"{self.path / name}: not valid JSON ({err})") from None

    def has(self, name: str) -> bool:
        return name in self.files


class RunStore:
    """Reads and writes one run directory.

    Args:
        path: the run directory (``runs/NAME``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- creation and identity --------------------------------------------------------------------
    @property
    def run_yaml(self) -> Path:
        return self.path / "run.yaml"

    def exists(self) -> bool:
        return self.run_yaml.exists()

    def create(self, record: dict) -> None:
        """Start a new run: refuse a directory that holds anything but an empty folder."""
        if self.exists():
            raise RunError(f"{self.path} already holds a run; resume it with `evospace resume {self.path}` "
                           f"or choose another --out")
        if self.path.exists() and any(p.name != ".gitkeep" for p in self.path.iterdir()):
            raise RunError(f"{self.path} is not empty and holds no run.yaml; refusing to write into it "
                           f"(choose another --out)")
        self.path.mkdir(parents=True, exist_ok=True)
        record = {"format": FORMAT_VERSION, **record}
        atomic_write(self.run_yaml, yaml.safe_dump(record, sort_keys=False).encode())

    def read_record(self) -> dict:
        """The run's ``run.yaml``, with a clear error if the directory is not a run."""
        if not self.path.is_dir():
            raise RunError(f"{self.path}: no such run directory")
        if not self.exists():
            raise RunError(f"{self.path}: not a run directory (no run.yaml); give a directory made by "
                           f"`evospace search`")
        try:
            record = yaml.safe_load(self.run_yaml.read_text())
        except yaml.YAMLError as err:
            raise RunError(f"{self.run_yaml}: not valid YAML ({err.__class__.__name__}); the run is damaged")
        if not isinstance(record, dict) or "space" not in record:
            raise RunError(f"{self.run_yaml}: missing the `space` section; the run is damaged")
        return record

    # -- journals ---------------------------------------------------------------------------------
    def append(self, journal: str, row: dict) -> None:
        """Append one JSON line to ``events`` or ``metrics`` and fsync it."""
        path = self.path / f"{journal}.jsonl"
        line = (json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode()
        with open(path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def journal_offsets(self) -> dict[str, int]:
        """Current byte length of each journal (recorded in snapshots)."""
        return {name: (self.path / f"{name}.jsonl").stat().st_size if (self.path / f"{name}.jsonl").exists() else 0
                for name in ("events", "metrics")}

    def truncate_journals(self, offsets: dict[str, int]) -> None:
        """Cut the journals back to a snapshot's offsets (lines after it will be written again)."""
        for name, size in offsets.items():
            path = self.path / f"{name}.jsonl"
            if path.exists() and path.stat().st_size > size:
                with open(path, "r+b") as f:
                    f.truncate(size)
                    f.flush()
                    os.fsync(f.fileno())

    def events(self) -> list[dict]:
        return read_jsonl(self.path / "events.jsonl")

    def metrics(self) -> list[dict]:
        return read_jsonl(self.path / "metrics.jsonl")

    # -- snapshots --------------------------------------------------------------------------------
    def round_dir(self, index: int) -> Path:
        return self.path / "rounds" / f"{index:03d}"

    def write_snapshot(self, directory: Path, files: dict[str, bytes]) -> Snapshot:
        """Write ``files`` atomically, then ``COMPLETE`` with their checksums (last)."""
        directory.mkdir(parents=True, exist_ok=True)
        stale = directory / COMPLETE
        if stale.exists():
            stale.unlink()
            fsync_dir(directory)
        sums = {}
        for name, data in files.items():
            atomic_write(directory / name, data)
            sums[name] = hashlib.sha256(data).hexdigest()
        atomic_write(directory / COMPLETE, json.dumps({"files": sums}, indent=1).encode())
        return Snapshot(directory, sums)

    def write_round(self, index: int, files: dict[str, bytes]) -> Snapshot:
        return self.write_snapshot(self.round_dir(index), files)

    def write_checkpoint(self, step: int, files: dict[str, bytes], keep: int = 2) -> Snapshot:
        """A mid-round snapshot named by global step; older ones beyond ``keep`` are removed after."""
        snap = self.write_snapshot(self.path / "checkpoint" / f"{step:09d}", files)
        for old in self._checkpoint_dirs()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return snap

    def clear_checkpoints(self) -> None:
        """Drop mid-round snapshots (a finished round supersedes them)."""
        shutil.rmtree(self.path / "checkpoint", ignore_errors=True)

    def _checkpoint_dirs(self) -> list[Path]:
        root = self.path / "checkpoint"
        return sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()) if root.is_dir() else []

    def round_indices(self) -> list[int]:
        """Indices of round directories that exist (complete or not)."""
        root = self.path / "rounds"
        return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()) if root.is_dir() else []

    def verify(self, directory: Path) -> Snapshot:
        """Check ``COMPLETE`` and every checksum; raise :class:`RunError` naming the first bad file."""
        marker = directory / COMPLETE
        if not marker.exists():
            raise RunError(f"{directory}: incomplete (no COMPLETE marker); it was interrupted while being written")
        try:
            sums = json.loads(marker.read_text())["files"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            raise RunError(f"{marker}: damaged marker file") from None
        for name, expected in sums.items():
            path = directory / name
            if not path.exists():
                raise RunError(f"{path}: missing (listed in COMPLETE)")
            if _sha256(path) != expected:
                raise RunError(f"{path}: checksum mismatch; the file was changed or damaged after it was written")
        return Snapshot(directory, dict(sums))

    def snapshots(self) -> Iterator[tuple[str, Path]]:
        """Candidate snapshots, newest first: checkpoints, then finished rounds."""
        for path in reversed(self._checkpoint_dirs()):
            yield "checkpoint", path
        for index in reversed(self.round_indices()):
            yield "round", self.round_dir(index)

    def latest_round(self) -> Snapshot | None:
        """The newest finished round that verifies, or ``None``."""
        for index in reversed(self.round_indices()):
            try:
                return self.verify(self.round_dir(index))
            except RunError:
                continue
        return None

    def write_best(self, payload: dict) -> None:
        atomic_write(self.path / "best" / "arch.json", json.dumps(payload, indent=1).encode())
