"""Resuming a run: choose the newest snapshot that restores, set aside the ones that do not, tidy the journals.

Snapshots are tried newest first (:meth:`~evospace.run.store.RunStore.snapshots`): a finished round before the
checkpoints of its own and earlier rounds. One that fails verification or cannot be restored is reported in one
line, renamed (``rounds/002.damaged``, ``checkpoint/....incomplete``, ``rounds/002.foreign`` for one copied in from
another run; never loaded nor overwritten again) and the next older one is tried. The journals are cut back to the
byte offsets the chosen snapshot recorded, so a resumed run writes each line exactly once. With no usable snapshot,
a run whose snapshots were all interrupted writes starts its first round over; one with a damaged snapshot is
refused.

Under ``torchrun`` rank 0 alone reads the run directory: it chooses and restores the snapshot, then sends its files
to the other ranks, which restore the same bytes from memory. Any snapshot resumes under any number of processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors import SafetensorError

from evospace.distributed import Group, on_main
from evospace.errors import RunError
from evospace.run.journals import rebuilt_events, tidy_journals
from evospace.run.rng import set_global_rng_state
from evospace.run.run import Run
from evospace.run.snapshot import SearchState, read_snapshot
from evospace.run.store import ForeignSnapshot, IncompleteSnapshot, MemorySnapshot, RunStore, Snapshot
from evospace.space.space import SearchSpace
from evospace.space.subspace import Subspace

__all__ = ["Restorable", "Resumption", "restore_snapshot", "resume_newest"]

# what a malformed snapshot raises while it is read back
_UNUSABLE = (KeyError, TypeError, ValueError, AttributeError, SafetensorError, RunError)


class Restorable(Protocol):
    """The backend as a resume sees it."""

    def restore(self, trained: Subspace, tensors: Mapping[str, dict[str, torch.Tensor]], state: dict) -> None: ...

    def make_trainer(self, round_index: int, born: Mapping[str, Mapping[str, int]] | None = None) -> Any: ...

    def apply_subspace(self, subspace: Subspace, round_index: int, born: Mapping[str, Mapping[str, int]]) -> None: ...


@dataclass(frozen=True)
class Resumption:
    """Where a resumed search stands."""

    kind: str  # "round" or "checkpoint"
    name: str  # the snapshot directory's name
    state: SearchState  # the controller's state
    trainer: Any | None  # a checkpoint's trainer, restored mid-round; None after a finished round
    processes: int  # processes that wrote the snapshot
    journals: dict[str, int]  # the journals' byte offsets at the snapshot


def restore_snapshot(kind: str, snap: Snapshot, space: SearchSpace, backend: Restorable) -> Resumption:
    """Load a verified snapshot into ``backend`` and the global generators.

    A finished round's subspace is applied at once (its operators grown); a checkpoint's trainer continues its
    round mid-epoch.

    Raises:
        RunError: anything unusable in it, naming the snapshot.
    """
    meta = snap.read_json("state.json")
    try:
        contents = read_snapshot(snap, meta, space)
        backend.restore(contents.trained, contents.tensors, contents.backend)
        set_global_rng_state(contents.rng)
        trainer = None
        if kind == "checkpoint":
            trainer = backend.make_trainer(contents.state.round, contents.state.born)
            trainer.load_state_dict(meta["trainer"], contents.momentum)
    except _UNUSABLE as err:
        raise RunError(f"{snap.path}: unusable snapshot ({err.__class__.__name__}: {err})") from None
    state = contents.state
    if kind == "round" and not state.finished:
        backend.apply_subspace(state.subspace, state.round, state.born)
    return Resumption(kind, snap.path.name, state, trainer, contents.processes, contents.journals)


def resume_newest(store: RunStore, group: Group, restore: Callable[[str, Snapshot], Resumption],
                  log: Callable[[str], None]) -> Resumption | None:
    """Restore the newest usable snapshot on every rank with ``restore``; ``None``: start the first round over.

    Raises:
        RunError: a damaged snapshot and nothing older to fall back to.
    """
    chosen: list[tuple[Resumption, Snapshot]] = []

    def choose() -> list | None:
        found = _restore_newest(store, restore, log)
        if found is None:
            return None
        chosen.append(found)
        resumption, snap = found
        return [resumption.kind, resumption.name, sorted(snap.files)]

    picked = on_main(group, choose, "choosing the snapshot to resume from")
    if picked is None:
        return None
    kind, name, files = picked
    if group.is_main:
        resumption, snap = chosen[0]
        for file in files:
            group.broadcast_bytes(snap.read_bytes(file), "sending the snapshot")
        return resumption
    contents = {file: group.broadcast_bytes(b"", "receiving the snapshot") for file in files}
    return restore(kind, MemorySnapshot(Path(store.path) / name, contents))


def _restore_newest(store: RunStore, restore: Callable[[str, Snapshot], Resumption],
                    log: Callable[[str], None]) -> tuple[Resumption, Snapshot] | None:
    """On rank 0: restore the newest usable snapshot and tidy the run; ``None`` means start over."""
    skipped: list[tuple[Path, RunError]] = []
    for kind, directory in store.snapshots():
        try:
            snap = store.verify(directory)
            resumption = restore(kind, snap)
        except RunError as err:
            skipped.append((directory, err))
            continue
        _set_aside(store, skipped, log)
        for name in store.torn_journals():
            log(f"{store.path / name}: dropping its torn last line (the run was killed while writing it)")
        tidy_journals(store, resumption.journals, lambda: _rebuilt(store, resumption), log)
        store.remove_leftovers()
        return resumption, snap
    damaged = [err for _, err in skipped if not isinstance(err, IncompleteSnapshot)]
    if damaged:
        raise RunError(f"{damaged[0]}; no other snapshot to fall back to, so the run cannot continue "
                       f"(start a new one with `evospace search --out NEW_DIR`)")
    _set_aside(store, skipped, log)
    return None


def _rebuilt(store: RunStore, resumption: Resumption) -> list:
    """The events of the run's snapshots up to ``resumption`` (for an events journal that cannot be read back)."""
    run = Run.open(store.path)
    rounds = []
    for index in range(resumption.state.round):
        try:
            rounds.append(store.verify(store.round_dir(index)).read_json("state.json"))
        except RunError:
            break  # a round set aside: the history stops where the snapshots do
    current = {} if resumption.kind == "checkpoint" else None
    return rebuilt_events(run.space, run.record, rounds, current)


def _set_aside(store: RunStore, skipped: list[tuple[Path, RunError]], log: Callable[[str], None]) -> None:
    for directory, err in skipped:
        why = ("incomplete" if isinstance(err, IncompleteSnapshot) else "foreign" if isinstance(err, ForeignSnapshot)
               else "damaged")
        kept = store.set_aside(directory, why)
        log(f"{err}; falling back to an older snapshot ({directory.name} kept as {kept.name})")
