"""Writing a search into its run directory: journal lines, snapshots, ``best/arch.json``.

The controller decides; the recorder writes what was decided, in the run directory's formats
(:mod:`evospace.run.events`, :mod:`evospace.run.snapshot`). Under ``torchrun`` every rank holds a recorder but
only rank 0's writes (the others hold a :class:`~evospace.run.store.FollowerStore`); what must run on every rank
(the trainer's running sums are totalled over the ranks) runs on every rank.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch

from evospace.errors import RunError
from evospace.run.events import Event
from evospace.run.snapshot import SearchState, snapshot_files
from evospace.run.store import CHECKPOINT_ROUND, RunStore
from evospace.space.space import SearchSpace
from evospace.space.subspace import Subspace
from evospace.version import __version__

__all__ = ["Recorder", "Snapshotted", "Checkpointed", "create_run"]


def create_run(store: RunStore, space: SearchSpace, oracle: dict | None, metrics: dict | None = None,
               data: dict | None = None) -> object:
    """Start a run directory, locked: ``run.yaml`` with the resolved space, its fingerprint, the seed and versions.

    Args:
        oracle: how the run's oracle is rebuilt on resume (``None`` for a supernet).
        metrics: which metrics every scored architecture gets, and which only the front (and so the best) gets.
        data: the data's record (``evospace.data.data_record``: fingerprint, sample shape, split sizes), checked
            on resume; ``None`` for an oracle.

    Returns:
        The run's lock (:meth:`RunStore.lock`), taken before ``run.yaml`` is written.

    Raises:
        RunError: the directory holds a run already (of this space or another) or other files, or another process
            is creating it.
    """
    if store.exists():
        record = store.read_record()
        raise RunError(f"{store.path}: {_holds(record, space, store)}; or choose another --out")
    return store.create({
        "space": space.to_config(),
        "source": space.source,
        "fingerprint": space.fingerprint(),
        "seed": space.config.seed,
        "oracle": oracle,
        "metrics": metrics,
        "data": data,
        "versions": {"evospace": __version__, "torch": str(torch.__version__), "python": platform.python_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })


def _holds(record: dict, space: SearchSpace, store: RunStore) -> str:
    """What the run already in ``store`` is to a new search of ``space``: the same run, or which settings differ."""
    differ = differing_keys(record.get("space"), space.to_config())
    if not differ:
        return f"it holds a run of this space: continue it with `evospace resume {store.path}`"
    shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
    name = record["space"].get("name")
    which = "this space" if name == space.name else f"another space ({name!r})"
    return f"it holds a run of {which} with other settings ({shown} {'differs' if len(differ) == 1 else 'differ'})"


def differing_keys(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted key paths whose values differ between two plain configs (``search.rounds``, ``pool``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            out += differing_keys(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if old == new else [path or "(the whole space)"]


class Snapshotted(Protocol):
    """What a snapshot takes from the backend."""

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]: ...

    def state(self) -> dict[str, Any]: ...


class Checkpointed(Protocol):
    """What a mid-round snapshot takes from the trainer."""

    round: int
    global_step: int

    def state_dict(self) -> tuple[dict, dict[str, torch.Tensor]]: ...


class Recorder:
    """Writes one run's journals and snapshots.

    Args:
        store: the run directory (a ``FollowerStore`` on ranks other than 0).
        backend: the backend whose tensors and state the snapshots hold.
        processes: the number of processes of the search.
        is_main: whether this process writes (rank 0).
    """

    def __init__(self, store: RunStore, backend: Snapshotted, *, processes: int = 1, is_main: bool = True) -> None:
        self.store = store
        self.backend = backend
        self.processes = processes
        self.is_main = is_main

    # -- journals ---------------------------------------------------------------------------------
    def event(self, event: Event) -> None:
        """Append ``event`` to ``events.jsonl``."""
        self.store.append("events", event.to_json())

    def metrics(self, row: dict) -> None:
        """Append a figures row (with its ``kind``) to ``metrics.jsonl``."""
        self.store.append("metrics", row)

    def restart(self, events: Sequence[Event]) -> None:
        """A run that starts its first round over: the journals hold ``events`` only, leftovers go."""
        self.store.rewrite_journal("events", [event.to_json() for event in events])
        self.store.rewrite_journal("metrics", [])
        self.store.remove_leftovers()

    # -- snapshots --------------------------------------------------------------------------------
    def _files(self, state: SearchState, trained: Subspace, **kwargs: Any) -> dict[str, bytes]:
        return snapshot_files(state=state, trained=trained, journals=self.store.journal_offsets(),
                              groups=self.backend.tensors(), backend=self.backend.state(), processes=self.processes,
                              **kwargs)

    def checkpoint(self, state: SearchState, trainer: Checkpointed, done: int = 0) -> None:
        """A mid-round snapshot of ``trainer``'s round, named by its step (plus ``done`` pieces of later work).

        Every rank must call it: the trainer's state totals the epoch's running sums over the ranks.
        """
        trainer_state = trainer.state_dict()
        if self.is_main:
            name = trainer.round * CHECKPOINT_ROUND + trainer.global_step + done
            newest = self.store.newest_checkpoint_name() if done else None
            if newest is not None and name <= newest < (trainer.round + 1) * CHECKPOINT_ROUND:
                # two phases after training (sub-supernets, anchors) each count their pieces from the trained
                # step: the later one's names follow the earlier one's, so the newest is always resumed from
                name = newest + 1
            self.store.write_checkpoint(name, self._files(state, state.subspace, trainer=trainer_state))

    def round(self, index: int, next_state: SearchState, trained: Subspace, extra: Mapping[str, Any]) -> None:
        """Round ``index`` as a finished snapshot (its checkpoints are then dropped)."""
        if self.is_main:
            self.store.write_round(index, self._files(next_state, trained, extra=extra, space_yaml=True))
        self.store.clear_checkpoints()

    def best(self, front: list[dict], round_index: int, space_name: str) -> None:
        """``best/arch.json`` from round ``round_index``'s front (rewritten on resume: a kill may leave it stale)."""
        best = front[0]
        self.store.write_best({**best, "round": round_index, "params": int(best["metrics"]["params"]),
                               "flops": int(best["metrics"]["flops"]), "space": space_name})
