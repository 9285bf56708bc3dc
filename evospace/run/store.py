"""The run directory: atomic files, checksummed snapshots, append-only journals. No pickle anywhere.

Layout (docs/architecture.md, section 5)::

    runs/NAME/run.yaml                  resolved space, seed, versions (written once)
    runs/NAME/events.jsonl              append-only decisions
    runs/NAME/metrics.jsonl             append-only figures
    runs/NAME/rounds/NNN/...            a finished round: space.yaml, supernet/reference safetensors,
                                        state.json, COMPLETE (written last, SHA-256 of the others)
    runs/NAME/checkpoint/RRRSSSSSS/...  mid-round snapshots (round * 10^6 + step), same format, newest two kept
    runs/NAME/best/arch.json

Every file is written to a temporary name, fsynced, renamed with ``os.replace`` and its directory
fsynced. A snapshot without ``COMPLETE`` or with a checksum mismatch is never loaded; on resume it is
renamed (``rounds/002.damaged``) rather than overwritten. Journals are truncated back to the offsets
recorded in the snapshot a run resumes from, so a resumed run writes each line exactly once.

A snapshot is bound to its run: ``COMPLETE`` names the run (``run_id`` of ``run.yaml``, a random token drawn at
creation) and the SHA-256 of the previous round's ``COMPLETE`` (``previous``; ``null`` in round 0). One copied in
from another run, or from another history of this run, fails :meth:`RunStore.verify` as foreign and is set aside
like a damaged one (``rounds/002.foreign``). Runs created before run ids existed have none in ``run.yaml``: their
snapshots are accepted unbound (legacy), as they always were.

The store writes nothing through a symbolic link: journals and the lock are opened with ``O_NOFOLLOW``, files
are replaced (a link in their place is replaced, not followed), and ``rounds/``, ``checkpoint/`` or ``best/`` as
a link is refused. The run directory itself may be a link (a run kept on another disk).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save as st_save

from evospace.errors import RunError
from evospace.paths import output_dir

__all__ = ["RunStore", "Snapshot", "IncompleteSnapshot", "ForeignSnapshot", "atomic_write", "append_durably",
           "read_jsonl", "fsync_dir", "tensors_bytes", "new_run_id", "json_bytes", "CHECKPOINT_ROUND", "FollowerStore",
           "MemorySnapshot", "set_aside"]

COMPLETE = "COMPLETE"
FORMAT_VERSION = 1
CHECKPOINT_ROUND = 10**6  # a checkpoint directory is named round * CHECKPOINT_ROUND + step within the round
JOURNALS = ("events", "metrics")
# Settings added after runs were already on disk, with the value that does what those runs did. A run.yaml written
# before a key existed lacks it; reading it as the new default would change the run halfway through on resume
# (anchors trained longer after the resume than before it, say), so it reads as the old behaviour instead.
BEFORE_KEY_EXISTED: dict[tuple[str, ...], Any] = {
    ("search", "train", "batch_size"): None,  # the supernet trained on data.batch_size (the default is now 32)
    ("search", "scoring", "anchor_steps"): 0,  # anchors trained anchor_epochs alone
}


class IncompleteSnapshot(RunError):
    """A snapshot directory without ``COMPLETE``: it was interrupted while being written."""


class ForeignSnapshot(RunError):
    """A snapshot whose ``COMPLETE`` names another run, or does not follow this run's previous round."""


def new_run_id() -> str:
    """A run's identity, written in ``run.yaml`` and in every ``COMPLETE`` of the run."""
    return secrets.token_hex(8)


def _open_no_follow(path: Path, flags: int) -> int:
    """``os.open`` that refuses a symbolic link in ``path``'s place (``O_NOFOLLOW``)."""
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), _FILE_MODE)
    except OSError as err:
        if err.errno == errno.ELOOP or path.is_symlink():
            raise RunError(f"{path}: is a symbolic link; the run store never writes through one (replace it by "
                           f"the file it points to, or remove it)") from None
        raise


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


def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    On failure (disk full, ...) the temporary file is removed, ``path`` is untouched and the
    ``OSError`` propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a run is shared like any file the user writes
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def append_durably(path: str | Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync it (a journal line, a ground-truth row): on disk once this returns.

    Raises:
        OSError: the write failed (disk full, ...).
    """
    fd = _open_no_follow(Path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def tensors_bytes(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """Named tensors as a safetensors file (on the CPU, contiguous)."""
    return st_save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()})


def json_bytes(data: Any) -> bytes:
    """JSON as evospace writes files (one-space indent, no NaN)."""
    return json.dumps(data, indent=1, allow_nan=False).encode()


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON-lines journal; a torn last line (the writer was killed mid-append) is ignored.

    Raises:
        RunError: a line before the last one is not a JSON object (the journal was damaged).
    """
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_bytes().split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:  # JSONDecodeError, or a multi-byte character cut in half
            row = None
        if not isinstance(row, dict):
            if i >= len(lines) - 2:  # the last written line: a crash mid-append
                break
            raise RunError(f"{path}: line {i + 1} is not a JSON object; the journal is damaged")
        rows.append(row)
    return rows


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """A verified snapshot directory (a finished round or a mid-round checkpoint).

    Every read checks the bytes against the checksum in ``COMPLETE`` again, so a file changed after
    :meth:`RunStore.verify` is still never used, and only files listed in ``COMPLETE`` can be read.
    """

    path: Path
    files: dict[str, str]  # name -> sha256, from COMPLETE

    def read_bytes(self, name: str) -> bytes:
        if name not in self.files:
            raise RunError(f"{self.path / name}: not part of this snapshot (not listed in {COMPLETE})")
        data = (self.path / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.files[name]:
            raise RunError(f"{self.path / name}: checksum mismatch; the file changed after it was written")
        return data

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read_bytes(name))
        except ValueError as err:
            raise RunError(f"{self.path / name}: not valid JSON ({err})") from None

    def has(self, name: str) -> bool:
        return name in self.files


def set_aside(path: Path, why: str) -> Path:
    """Rename ``path`` to ``path.WHY`` (``.WHY.N`` when taken), so that it is kept and never written again."""
    target = path.with_name(f"{path.name}.{why}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{why}.{n}")
        n += 1
    os.rename(path, target)
    fsync_dir(path.parent)
    return target


class RunStore:
    """Reads and writes one run directory.

    Args:
        path: the run directory (``runs/NAME``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._run_id: str | None | bool = False  # False: not read yet

    @property
    def run_id(self) -> str | None:
        """The run's identity from ``run.yaml`` (``None``: a run from before identities, or no run yet)."""
        if self._run_id is False:
            try:
                record = yaml.safe_load(self.run_yaml.read_text()) if self.run_yaml.is_file() else None
            except (OSError, yaml.YAMLError, UnicodeDecodeError, RecursionError):
                record = None
            value = record.get("run_id") if isinstance(record, dict) else None
            self._run_id = value if isinstance(value, str) else None
        return self._run_id

    # -- creation and identity --------------------------------------------------------------------
    @property
    def run_yaml(self) -> Path:
        return self.path / "run.yaml"

    def exists(self) -> bool:
        return self.run_yaml.exists()

    def create(self, record: dict) -> object:
        """Start a new run: lock it first, then refuse a directory that holds anything but an empty folder.

        Returns:
            The lock (see :meth:`lock`), taken before anything but the directory and its lock file is written, so
            that of two processes creating one run the loser writes nothing.
        """
        output_dir(self.path)
        self._check_empty()  # before the lock file too: a refused directory is left as it was
        self.path.mkdir(parents=True, exist_ok=True)
        handle = self.lock()
        try:
            self._check_empty()  # again, locked: another process may have created the run meanwhile
            record = {"format": FORMAT_VERSION, **record}
            record.setdefault("run_id", new_run_id())
            atomic_write(self.run_yaml, yaml.safe_dump(record, sort_keys=False).encode())
            self._run_id = record["run_id"]
        except BaseException:
            handle.close()
            raise
        return handle

    def _check_empty(self) -> None:
        if self.exists():
            raise RunError(f"{self.path} already holds a run; resume it with `evospace resume {self.path}` "
                           f"or choose another --out")
        if self.path.is_dir() and any(not _is_leftover(p) for p in self.path.iterdir()):
            raise RunError(f"{self.path} is not empty and holds no run.yaml; refusing to write into it "
                           f"(choose another --out)")

    def read_record(self) -> dict:
        """The run's ``run.yaml``, with a clear error if the directory is not a run.

        A key the run was written without (:data:`BEFORE_KEY_EXISTED`) is filled in with the value that does what
        the run did, not with today's default.
        """
        if not self.path.is_dir():
            raise RunError(f"{self.path}: no such run directory")
        if not self.exists():
            if all(_is_leftover(p) for p in self.path.iterdir()) and any(self.path.iterdir()):
                raise RunError(f"{self.path}: a search was stopped while creating it, before its run.yaml was "
                               f"written, so there is nothing to resume: start the search again with --out "
                               f"{self.path}")
            raise RunError(f"{self.path}: not a run directory (no run.yaml); give a directory made by "
                           f"`evospace search`")
        try:
            record = yaml.safe_load(self.run_yaml.read_text())
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as err:
            raise RunError(f"{self.run_yaml}: not valid YAML ({err.__class__.__name__}); the run is damaged") from None
        if not isinstance(record, dict) or not isinstance(record.get("space"), dict):
            raise RunError(f"{self.run_yaml}: missing the `space` section; the run is damaged")
        for key, old in BEFORE_KEY_EXISTED.items():
            section = record["space"]
            for part in key[:-1]:
                section = section.get(part) if isinstance(section, dict) else None
            if isinstance(section, dict):
                section.setdefault(key[-1], old)
        return record

    def lock(self) -> object:
        """Claim the run for this process; the lock lasts while the returned handle is open.

        The kernel drops it when the process ends, even on SIGKILL, so a killed run never stays locked.

        Raises:
            RunError: another process holds the run.
        """
        handle = os.fdopen(_open_no_follow(self.path / ".lock", os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a")
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform
            return handle
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunError(f"{self.path} is in use by another evospace process; wait for it to end or stop it "
                           f"first") from None
        return handle

    def is_locked(self) -> bool | None:
        """Whether a process holds the run now. Writes nothing.

        A search holds an advisory lock on ``RUN/.lock`` while it runs; the kernel drops it when the process dies,
        even on SIGKILL. ``None``: cannot tell (no lock file, as in runs from before locking, or no advisory locks
        on this platform).
        """
        try:
            import fcntl
        except ImportError:
            return None
        try:
            fd = os.open(self.path / ".lock", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the shared lock just taken
        return False

    def remove_leftovers(self) -> None:
        """Delete temporary files of writes that a killed process never finished (never read by anyone)."""
        for path in self.path.rglob(".*.tmp"):
            path.unlink(missing_ok=True)

    # -- journals ---------------------------------------------------------------------------------
    def append(self, journal: str, row: dict) -> None:
        """Append one JSON line to ``events`` or ``metrics`` and fsync it."""
        path = self.path / f"{journal}.jsonl"
        line = (json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode()
        try:
            append_durably(path, line)
        except OSError as err:
            raise RunError(f"{path}: could not append ({err.strerror}); {self._what_is_left()}") from None

    def journal_offsets(self) -> dict[str, int]:
        """Current byte length of each journal (recorded in snapshots)."""
        return {name: self._journal(name).stat().st_size if self._journal(name).exists() else 0 for name in JOURNALS}

    def torn_journals(self) -> list[str]:
        """Journals whose last line is unterminated: the writer was killed while appending it."""
        torn = []
        for name in JOURNALS:
            path = self._journal(name)
            if path.exists() and path.stat().st_size:
                with open(path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        torn.append(path.name)
        return torn

    def truncate_journals(self, offsets: dict[str, int]) -> None:
        """Cut the journals back to a snapshot's offsets (lines after it will be written again)."""
        for name, size in offsets.items():
            path = self._journal(name)
            if path.exists() and path.stat().st_size > size:
                fd = _open_no_follow(path, os.O_RDWR)
                try:
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def rewrite_journal(self, name: str, rows: list[dict]) -> None:
        """Replace a journal as a whole (atomically), e.g. when a run starts over."""
        data = b"".join((json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode() for row in rows)
        atomic_write(self._journal(name), data)

    def _journal(self, name: str) -> Path:
        return self.path / f"{name}.jsonl"

    def events(self) -> list[dict]:
        return read_jsonl(self._journal("events"))

    def metrics(self) -> list[dict]:
        return read_jsonl(self._journal("metrics"))

    # -- snapshots --------------------------------------------------------------------------------
    def round_dir(self, index: int) -> Path:
        return self.path / "rounds" / f"{index:03d}"

    def write_snapshot(self, directory: Path, files: dict[str, bytes]) -> Snapshot:
        """Write ``files`` atomically, then ``COMPLETE`` with their checksums, the run's identity and the previous
        round's ``COMPLETE`` checksum (last).

        Raises:
            RunError: a write failed (disk full, ...); the snapshot stays incomplete, older ones intact.
        """
        self._no_links(directory)
        sums = {}
        try:
            directory.mkdir(parents=True, exist_ok=True)
            stale = directory / COMPLETE
            if stale.exists():
                stale.unlink()
                fsync_dir(directory)
            for name, data in files.items():
                atomic_write(directory / name, data)
                sums[name] = hashlib.sha256(data).hexdigest()
            marker = {"files": sums}
            if self.run_id is not None:
                marker.update(run=self.run_id, previous=self._previous_marker(directory))
            atomic_write(directory / COMPLETE, json.dumps(marker, indent=1).encode())
        except OSError as err:
            raise RunError(f"{directory}: could not write it ({err.strerror}); {self._what_is_left()}") from None
        fsync_dir(directory.parent)
        return Snapshot(directory, sums)

    def _what_is_left(self) -> str:
        """What a failed write leaves and what to do: the end of its one-line message."""
        spare = sorted(str(p.relative_to(self.path)) for root in ("rounds", "checkpoint")
                       if (self.path / root).is_dir() for p in (self.path / root).iterdir()
                       if ".incomplete" in p.name)
        freed = (f"; to free space, delete the incomplete snapshots set aside earlier ({', '.join(spare[:3])}"
                 + (f" and {len(spare) - 3} more" if len(spare) > 3 else "") + ")") if spare else ""
        if any((path / COMPLETE).exists() for _, path in self.snapshots()):
            return f"earlier snapshots are intact, continue with `evospace resume {self.path}` once the problem is " \
                   f"fixed{freed}"
        return (f"no snapshot of this run is complete yet: `evospace resume {self.path}` starts its first round "
                f"over once the problem is fixed{freed}")

    def _previous_marker(self, directory: Path) -> str | None:
        """SHA-256 of the ``COMPLETE`` of the round before ``directory``'s (``None`` in round 0 or if it is gone)."""
        index = _round_of(directory)
        if index is None or index == 0:
            return None
        marker = self.round_dir(index - 1) / COMPLETE
        return _sha256(marker) if marker.is_file() else None

    def check_links(self) -> None:
        """Refuse a run whose journals, ``rounds/``, ``checkpoint/`` or ``best/`` are symbolic links (before a
        resume writes anything): the store writes only inside the run directory.

        Raises:
            RunError: naming the first link.
        """
        for name in ("rounds", "checkpoint", "best", "events.jsonl", "metrics.jsonl", "run.yaml"):
            self._no_links(self.path / name)

    def _no_links(self, path: Path) -> None:
        """Refuse a symbolic link between the run directory and ``path`` (``rounds/``, ``checkpoint/``, ...)."""
        try:
            parts = Path(path).relative_to(self.path).parts
        except ValueError:
            return
        current = self.path
        for part in parts:
            current = current / part
            if current.is_symlink():
                raise RunError(f"{current}: is a symbolic link; the run store writes only inside the run directory "
                               f"(replace the link by a directory, or start a new run)")

    def write_round(self, index: int, files: dict[str, bytes]) -> Snapshot:
        return self.write_snapshot(self.round_dir(index), files)

    def write_checkpoint(self, step: int, files: dict[str, bytes], keep: int = 2) -> Snapshot:
        """A mid-round snapshot named by ``round * CHECKPOINT_ROUND + step``; older ones beyond ``keep`` go after."""
        self._no_links(self.path / "checkpoint")
        snap = self.write_snapshot(self.path / "checkpoint" / f"{step:09d}", files)
        for old in self._checkpoint_dirs()[:-keep]:
            _remove_snapshot(old)
        return snap

    def clear_checkpoints(self) -> None:
        """Drop every mid-round snapshot, set-aside ones included: a finished round supersedes them."""
        root = self.path / "checkpoint"
        self._no_links(root)
        if root.is_dir():
            for path in root.iterdir():
                _remove_snapshot(path)
            shutil.rmtree(root, ignore_errors=True)

    def _checkpoint_dirs(self) -> list[Path]:
        """Checkpoint directories, oldest first (complete or not)."""
        root = self.path / "checkpoint"
        if not root.is_dir():
            return []
        return sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))

    def newest_checkpoint_name(self) -> int | None:
        """The largest checkpoint name on disk, complete or not (``None``: no checkpoint)."""
        names = [int(p.name) for p in self._checkpoint_dirs() if p.name.isdigit()]
        return max(names, default=None)

    def latest_checkpoint(self) -> tuple[int, int] | None:
        """``(round, step)`` of the newest checkpoint that has its ``COMPLETE`` marker, or ``None``."""
        for path in reversed(self._checkpoint_dirs()):
            if (path / COMPLETE).exists():
                return divmod(int(path.name), CHECKPOINT_ROUND)
        return None

    def round_indices(self) -> list[int]:
        """Indices of round directories that exist (complete or not)."""
        root = self.path / "rounds"
        return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()) if root.is_dir() else []

    def verify(self, directory: Path) -> Snapshot:
        """Check ``COMPLETE`` and every checksum.

        Raises:
            IncompleteSnapshot: there is no ``COMPLETE`` marker.
            RunError: the marker or a listed file is damaged or missing (the message names it).
        """
        marker = directory / COMPLETE
        if not marker.exists():
            raise IncompleteSnapshot(f"{directory}: incomplete (no {COMPLETE} marker); it was interrupted while "
                                     f"being written")
        try:
            sums = json.loads(marker.read_bytes())["files"]
        except (ValueError, KeyError, TypeError):
            sums = None
        if not isinstance(sums, dict) or not all(isinstance(k, str) and isinstance(v, str) and Path(k).name == k
                                                 for k, v in sums.items()):
            raise RunError(f"{marker}: damaged marker file")
        for name, expected in sums.items():
            path = directory / name
            if not path.is_file():
                raise RunError(f"{path}: missing (listed in {COMPLETE})")
            if _sha256(path) != expected:
                raise RunError(f"{path}: checksum mismatch; the file was changed or damaged after it was written")
        self._check_bound(directory, json.loads(marker.read_bytes()))
        return Snapshot(directory, dict(sums))

    def _check_bound(self, directory: Path, marker: dict) -> None:
        """Refuse a snapshot of another run, or one that does not follow this run's previous round."""
        if self.run_id is None:
            return  # a legacy run: its snapshots carry no identity
        if marker.get("run") != self.run_id:
            named = f"run {marker['run']}" if isinstance(marker.get("run"), str) else "no run"
            raise ForeignSnapshot(f"{directory}: belongs to another run (its {COMPLETE} names {named}, this run is "
                                  f"{self.run_id}); it was copied in from elsewhere")
        index = _round_of(directory)
        if index is None:
            return
        previous = self._previous_marker(directory)  # None: round 0, or the previous round is gone (unchecked)
        if (index == 0 or previous is not None) and marker.get("previous") != previous:
            raise ForeignSnapshot(f"{directory}: does not follow round {index - 1} of this run (the checksum of "
                                  f"the previous {COMPLETE} differs); it comes from another history of the run")

    def snapshots(self) -> list[tuple[str, Path]]:
        """Candidate snapshots, most advanced first.

        A finished round r comes before every checkpoint of rounds ≤ r (a run killed between writing
        round r and dropping its checkpoints resumes from the round), after those of later rounds.
        """
        found = [((index, math.inf), "round", self.round_dir(index)) for index in self.round_indices()]
        found += [(divmod(int(p.name), CHECKPOINT_ROUND), "checkpoint", p) for p in self._checkpoint_dirs()]
        found.sort(key=lambda item: item[0], reverse=True)
        return [(kind, path) for _, kind, path in found]

    def set_aside(self, directory: Path, why: str) -> Path:
        """Rename a snapshot that failed verification (``rounds/002`` → ``rounds/002.damaged``).

        It is then never loaded and never overwritten when its round is written again.
        """
        return set_aside(directory, why)

    def latest_round(self) -> Snapshot | None:
        """The newest finished round that verifies, or ``None``."""
        for index in reversed(self.round_indices()):
            try:
                return self.verify(self.round_dir(index))
            except RunError:
                continue
        return None

    def write_best(self, payload: dict) -> None:
        self._no_links(self.path / "best" / "arch.json")
        atomic_write(self.path / "best" / "arch.json", json.dumps(payload, indent=1).encode())


def _round_of(directory: Path) -> int | None:
    """The round a snapshot directory belongs to (``rounds/003``: 3; ``checkpoint/002000040``: 2)."""
    if not directory.name.isdigit():
        return None
    if directory.parent.name == "rounds":
        return int(directory.name)
    if directory.parent.name == "checkpoint":
        return int(directory.name) // CHECKPOINT_ROUND
    return None


def _is_leftover(path: Path) -> bool:
    """Files a directory may hold without holding a run: a git placeholder, a lock, a killed write."""
    return path.name in (".gitkeep", ".lock") or (path.name.startswith(".") and path.name.endswith(".tmp"))


def _remove_snapshot(directory: Path) -> None:
    """Delete a snapshot directory, its ``COMPLETE`` marker first, so that a removal cut short by a kill
    leaves an incomplete snapshot (skipped) rather than a damaged one."""
    marker = directory / COMPLETE
    if marker.exists():
        marker.unlink()
        fsync_dir(directory)
    shutil.rmtree(directory, ignore_errors=True)


class MemorySnapshot(Snapshot):
    """A verified snapshot's bytes, received from rank 0 by a process that may not see the run directory."""

    def __init__(self, path: Path, contents: dict[str, bytes]) -> None:
        super().__init__(path, {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()})
        object.__setattr__(self, "contents", contents)

    def read_bytes(self, name: str) -> bytes:
        if name not in self.files:
            raise RunError(f"{self.path / name}: not part of this snapshot (not listed in {COMPLETE})")
        return self.contents[name]


class _NoLock:
    def close(self) -> None:
        pass


class FollowerStore(RunStore):
    """The run store of a rank other than 0: every write is dropped, so only rank 0 ever touches the disk.

    Followers never read the directory either: rank 0 sends them the record and the snapshot it resumes
    from, so a multi-node run needs the run directory on rank 0's node only.
    """

    def create(self, record: dict) -> object:
        return _NoLock()

    def lock(self) -> object:
        return _NoLock()

    def remove_leftovers(self) -> None:
        pass

    def append(self, journal: str, row: dict) -> None:
        pass

    def journal_offsets(self) -> dict[str, int]:
        return dict.fromkeys(JOURNALS, 0)

    def truncate_journals(self, offsets: dict[str, int]) -> None:
        pass

    def rewrite_journal(self, name: str, rows: list[dict]) -> None:
        pass

    def write_snapshot(self, directory: Path, files: dict[str, bytes]) -> Snapshot:
        return Snapshot(directory, {})

    def clear_checkpoints(self) -> None:
        pass

    def set_aside(self, directory: Path, why: str) -> Path:
        return directory

    def write_best(self, payload: dict) -> None:
        pass
