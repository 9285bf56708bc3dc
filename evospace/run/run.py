"""Read access to a run directory, for ``status``, ``inspect`` and the Python API.

Never loads pickles and never writes: a run that is still running can be read at any time. The lineage as a
graph is built from a ``Run`` by :func:`evospace.inspect.lineage_graph`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evospace.data import info_from_record
from evospace.errors import RunError
from evospace.run.events import History, parse_events, replay
from evospace.run.store import RunStore
from evospace.space.space import SearchSpace, space_from_dict
from evospace.space.subspace import Subspace

__all__ = ["Run", "RoundInfo"]


@dataclass(frozen=True)
class RoundInfo:
    """One finished round as recorded on disk."""

    index: int
    subspace: Subspace  # the subspace trained in this round
    next_subspace: Subspace  # what the round decided for the next one
    front: list[dict]  # [{"arch", "metrics"}], best first
    op_scores: dict  # {label: {op: {metric: value, "combined": value}}}
    logbook: list[dict]  # per-generation statistics
    population: list[dict]


class Run:
    """A run directory opened for reading.

    Example:
        >>> run = Run.open("runs/demo")  # doctest: +SKIP
        >>> run.rounds[-1].subspace.size  # doctest: +SKIP
    """

    def __init__(self, store: RunStore, record: dict) -> None:
        self.store = store
        self.record = record
        data = record.get("data")  # the recorded sample shape: a run opens without its data
        self.space: SearchSpace = space_from_dict(record["space"], str(store.run_yaml),
                                                  info_from_record(data) if data else None)

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """Open ``path`` for reading; raises :class:`RunError` if it is not a run directory."""
        store = RunStore(path)
        return cls(store, store.read_record())

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def events(self) -> list[dict]:
        """``events.jsonl`` as written, one dict per line (a torn last line left out)."""
        return self.store.events()

    @property
    def history(self) -> History:
        """The journal replayed: rounds started, operators' lives, the stop (:func:`evospace.run.events.replay`)."""
        source = str(self.path / "events.jsonl")
        return replay(parse_events(self.events, source), source)

    @property
    def metrics(self) -> list[dict]:
        return self.store.metrics()

    def round(self, index: int) -> RoundInfo:
        """A finished round (verified against its checksums)."""
        if index not in self.store.round_indices():
            have = self.store.round_indices()
            raise RunError(f"{self.path}: no round {index}; finished rounds: "
                           + (", ".join(map(str, have)) if have else "none yet"))
        snap = self.store.verify(self.store.round_dir(index))
        meta = snap.read_json("state.json")
        controller = meta["controller"]
        return RoundInfo(index, self.space.subspace_from_config(meta["trained_subspace"]),
                         self.space.subspace_from_config(controller["subspace"]), controller["front"],
                         meta.get("op_scores", {}), meta.get("logbook", []), meta.get("population", []))

    @property
    def rounds(self) -> list[RoundInfo]:
        """Every finished round that verifies, in order (damaged ones are skipped)."""
        out = []
        for index in self.store.round_indices():
            try:
                out.append(self.round(index))
            except RunError:
                continue
        return out

    @property
    def finished(self) -> bool:
        """Whether the search ended, as its newest complete round says.

        Not the ``finished`` event alone: it is appended just before the last round is written, so a run
        killed in between has the event but must still be resumed.
        """
        return self._progress()[1]

    def _progress(self) -> tuple[int, bool]:
        """``(rounds done, finished)`` from the newest round snapshot that verifies."""
        snap = self.store.latest_round()
        if snap is None:
            return 0, False
        controller = snap.read_json("state.json").get("controller", {})
        return int(snap.path.name) + 1, bool(controller.get("finished"))

    @property
    def best(self) -> dict | None:
        """``best/arch.json``: the best architecture so far, or ``None``."""
        path = self.path / "best" / "arch.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_bytes())
        except ValueError:
            raise RunError(f"{path}: not valid JSON; the file was damaged (resuming the run rewrites it)") from None

    def status(self) -> dict:
        """Round, step, subspace size, best so far and completeness, as plain data.

        Rounds done and completeness come from verified round snapshots, the step from the newest complete
        checkpoint of the current round; the journal only says which round started last and its size.
        """
        history = self.history
        current = history.last_started
        rounds_done, finished = self._progress()
        size = None
        if current is not None:  # the earliest runs did not record the size: count it
            size = current.size if current.size is not None else self.space.subspace_from_config(current.subspace).size
        if finished and history.finished is not None:  # the final, shrunk subspace rather than the last one trained
            size = self.space.subspace_from_config(history.finished.subspace).size
        current_round = None if finished or current is None else current.round
        checkpoint = self.store.latest_checkpoint()
        step = checkpoint[1] if checkpoint is not None and checkpoint[0] == current_round else None
        return {
            "path": str(self.path),
            "space": self.space.name,
            "rounds_total": self.space.config.search.rounds,
            "rounds_done": rounds_done,
            "current_round": current_round,  # an index, as in rounds/001 (round_name says "round 1 (2 of 4)")
            "step": step,
            "subspace_size": size,
            "best": self.best,
            "objective": self.space.config.search.objectives[0],  # what chose the best
            "scored_by": "table" if self.record.get("oracle") else "supernet",  # where its accuracy comes from
            "finished": finished,
            "running": None if finished else self.store.is_locked(),  # None: cannot tell (no lock file)
        }
