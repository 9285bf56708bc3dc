"""The journals against the snapshot a run resumes from: checked, cut back, and repaired when damaged.

A snapshot records each journal's byte length when it was written (``state.json``: ``journals``). On resume,
the part of each journal before that offset must be what the run wrote: present, at least that long, one JSON
object per line (and, for ``events.jsonl``, a history that replays). Then the journal is cut back to the offset,
as always. Otherwise it was damaged after it was written (a line overwritten, the file deleted or cut short):

1. the damaged file is set aside, never overwritten (``events.jsonl.damaged``, ``.damaged.1``, ...);
2. a new journal is written from what can be trusted: the readable lines before the offset, or, for an events
   journal whose readable lines do not tell the history the snapshots tell (a round start or an operator's entry
   or exit lost, the file gone), the events rebuilt from the round snapshots (rounds started and ended, operators
   added and removed with their scores, the fronts, the stop);
3. one line says which file, what was wrong, where it was kept and what the new journal holds.

``metrics.jsonl`` holds figures only, so its readable lines are all that is kept of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from evospace.errors import RunError
from evospace.run.events import (
    Event,
    Finished,
    Front,
    OpAdded,
    OpRemoved,
    RoundEnded,
    RoundStarted,
    RunStarted,
    parse_events,
    replay,
)
from evospace.run.store import JOURNALS, RunStore, set_aside

__all__ = ["journal_problem", "tidy_journals", "rebuilt_events"]

REBUILT = "rebuilt from rounds/ after the journal was damaged"  # the reason of a rebuilt journal's decisions


def journal_problem(path: Path, offset: int) -> tuple[str | None, list[dict]]:
    """What is wrong with the first ``offset`` bytes of a journal (``None``: nothing), and its readable rows."""
    if not path.exists():
        return ("missing" if offset else None), []
    data = path.read_bytes()
    if len(data) < offset:
        return f"only {len(data):,} bytes where the snapshot recorded {offset:,}", _rows(data)
    head = data[:offset]
    if head and not head.endswith(b"\n"):
        return f"byte {offset:,} (where the snapshot recorded its end) is inside a line", _rows(head)
    rows, bad = [], None
    for number, line in enumerate(head.split(b"\n")[:-1], 1):
        row = _row(line)
        if row is None:
            bad = bad or number
        else:
            rows.append(row)
    if bad is not None:
        return f"line {bad} is not a JSON object", rows
    if path.name == "events.jsonl":
        try:
            replay(parse_events(rows, str(path)), str(path))
        except RunError as err:
            return str(err).split(": ", 1)[-1], rows
    return None, rows


def _row(line: bytes) -> dict | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _rows(data: bytes) -> list[dict]:
    return [row for row in map(_row, data.split(b"\n")) if row is not None]


def tidy_journals(store: RunStore, offsets: dict[str, int], rebuild: Callable[[], list[Event]],
                  log: Callable[[str], None]) -> None:
    """Cut the journals back to a snapshot's ``offsets``, repairing a damaged one first (module docstring).

    Args:
        rebuild: the events of the snapshots up to the one resumed from, for an events journal that cannot be
            read back (see :func:`rebuilt_events`).
    """
    for name in JOURNALS:
        path = store.path / f"{name}.jsonl"
        problem, rows = journal_problem(path, offsets[name])
        if problem is None:
            continue
        holds = f"its {len(rows)} readable lines"
        if name == "events":
            events = rebuild()
            if not _same_history(rows, events, path):
                rows = [event.to_json() for event in events]
                holds = f"{len(rows)} events rebuilt from the snapshots (the readable lines lack some of them)"
        kept = set_aside(path, "damaged") if path.exists() else None
        store.rewrite_journal(name, rows)
        offsets = {**offsets, name: path.stat().st_size}
        log(f"{path}: damaged ({problem}); " + (f"kept as {kept.name}, " if kept else "")
            + f"written again with {holds}")
    store.truncate_journals(offsets)


def _same_history(rows: list[dict], events: list[Event], path: Path) -> bool:
    """Whether readable journal lines tell what the snapshots tell: the same rounds started, the same operators
    entering and leaving in the same rounds (so that nothing the lineage is built from was lost)."""
    try:
        kept = replay(parse_events(rows, str(path)), str(path))
    except RunError:
        return False
    told = replay(events, str(path))

    def lives(history) -> dict:
        return {key: (life.born, life.died) for key, life in history.operators.items()}

    return sorted(kept.started) == sorted(told.started) and lives(kept) == lives(told)


def rebuilt_events(space, record: dict, rounds: list[dict], current: dict | None) -> list[Event]:
    """The events a run wrote, as far as its snapshots tell them.

    Args:
        space: the run's :class:`~evospace.space.space.SearchSpace`.
        record: ``run.yaml``.
        rounds: the ``state.json`` of every finished round up to the one resumed from, in order.
        current: the ``state.json`` of the checkpoint resumed from (its round has started), or ``None``.
    """
    start = space.initial_subspace()
    events: list[Event] = [RunStarted(space=space.name, seed=int(record.get("seed", 0)), time=0.0)]
    events += [OpAdded(round=0, label=label, op=op, reason="initial") for label in start.labels
               for op in start.ops(label)]
    for index, meta in enumerate(rounds):
        trained = space.subspace_from_config(meta["trained_subspace"])
        controller = meta["controller"]
        following = space.subspace_from_config(controller["subspace"])
        events.append(RoundStarted(round=index, size=start.size, subspace=start.to_config(), time=0.0))
        scores = meta.get("op_scores", {})
        removed = [(label, op) for label in start.labels for op in start.ops(label) if op not in following.ops(label)]
        events += [OpRemoved(round=index, label=label, op=op, reason=REBUILT,
                             scores=scores.get(label, {}).get(op)) for label, op in removed]
        grown = [(label, op) for label in following.labels for op in following.ops(label)
                 if op not in start.ops(label)]
        events += [OpAdded(round=index + 1, label=label, op=op, reason="grown from queue") for label, op in grown]
        front = controller.get("front") or []
        events.append(Front(round=index, front=front))
        best = front[0] if front else {}
        events.append(RoundEnded(round=index, size_before=trained.size, size_after=following.size,
                                 removed=len(removed), added=len(grown), evaluated=len(meta.get("population", [])),
                                 best=best, seconds=0.0, time=0.0))
        if controller.get("finished"):
            events.append(Finished(rounds=index + 1, reason=controller.get("stop_reason", ""),
                                   subspace=following.to_config(), best=best, time=0.0))
        start = following
    if current is not None:
        events.append(RoundStarted(round=len(rounds), size=start.size, subspace=start.to_config(), time=0.0))
    return events
