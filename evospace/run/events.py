"""The event journal's schema: one frozen dataclass per kind of line in ``events.jsonl``, and its replay.

``events.jsonl`` is append-only, one JSON object per line, each with an ``event`` key naming its kind. The
fields of each kind are those of its dataclass, in its order; a field marked *optional* is left out of the
line when it is ``None`` (it did not exist in older runs, or it does not apply to that line).

================  ==============================================================================================
kind              fields
================  ==============================================================================================
run_started       space, seed, processes*, time
op_added          round, label, op, reason ("initial" | "grown from queue" | "re-admitted: ..."), scores (null)
op_removed        round, label, op, epoch* (within-round removals), reason, rank_in_point*, of*, scores
front             round, front ([{arch, metrics}], best first)
round_started     round, size*, subspace ({label: [op, ...]}), time
round_ended       round, size_before, size_after, removed, added, evaluated, best, seconds, time
finished          rounds, reason, subspace, best, time
resumed           from ("round" | "checkpoint"), snapshot, round, processes*, time
few_shot_split    round, labels, owners, epochs, lr, steps, reason, disagreement, supernet_bytes, shared_bytes,
                  delta_bytes
anchor_trained    round, index, arch, val_acc, epochs, seconds
score_fitted      round, weights ({signal: weight}), anchors (used), of (trained), prior ("signals" | "round R"),
                  reference (architectures ranking the signals)
================  ==============================================================================================

(* optional.) ``time`` is ``time.time()`` and ``seconds`` a duration: the only fields that differ between
two runs of the same seed. :func:`replay` folds a journal into a :class:`History` (which rounds started,
every operator's life, the stop, the few-shot splits): the one reader behind ``Run``, ``evospace status``,
``evospace inspect`` and the resume line. Unknown kinds (from a newer evospace) are kept as
:class:`UnknownEvent` and ignored by the replay.

Example:
    >>> event = OpAdded(round=0, label="s1.b1", op="conv_k3", reason="initial")
    >>> event.to_json()
    {'event': 'op_added', 'round': 0, 'label': 's1.b1', 'op': 'conv_k3', 'reason': 'initial', 'scores': None}
    >>> Event.from_json(event.to_json()) == event
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from evospace.errors import RunError

__all__ = ["Event", "RunStarted", "OpAdded", "OpRemoved", "Front", "RoundStarted", "RoundEnded", "Finished",
           "Resumed", "FewShotSplit", "AnchorTrained", "ScoreFitted", "UnknownEvent", "EVENT_KINDS", "parse_events",
           "OperatorLife", "History",
           "replay", "round_name"]


def round_name(index: int, total: int) -> str:
    """How every message names a round: its index (as in ``rounds/001``) and its place in the run.

    Example:
        >>> round_name(1, 4)
        'round 1 (2 of 4)'
    """
    return f"round {index} ({index + 1} of {total})"


def _optional(key: str | None = None) -> Any:
    """A field that may be missing from a line: ``None`` is left out of the JSON."""
    return field(default=None, metadata={"optional": True, "key": key})


class Event:
    """One line of ``events.jsonl``; subclasses are frozen keyword-only dataclasses named by :attr:`kind`."""

    kind: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        """The line as written: ``{"event": kind, field: value, ...}`` in field order, optional ``None`` left out."""
        row: dict[str, Any] = {"event": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            row[f.metadata.get("key") or f.name] = value
        return row

    @staticmethod
    def from_json(row: Mapping[str, Any]) -> Event:
        """The event a journal line holds.

        Raises:
            ValueError: a known kind with a missing or unexpected field.
        """
        kind = row.get("event")
        cls = EVENT_KINDS.get(kind)  # type: ignore[arg-type]
        if cls is None:
            return UnknownEvent(str(kind), {k: v for k, v in row.items() if k != "event"})
        names = {f.metadata.get("key") or f.name: f.name for f in dataclasses.fields(cls)}
        unexpected = [key for key in row if key != "event" and key not in names]
        if unexpected:
            raise ValueError(f"{kind} has no field {unexpected[0]!r}")
        try:
            return cls(**{names[key]: value for key, value in row.items() if key != "event"})
        except TypeError as err:  # a required field is missing
            raise ValueError(f"{kind}: {err}") from None


@dataclass(frozen=True)
class UnknownEvent(Event):
    """A line of a kind this version does not know (kept as it is; the replay skips it)."""

    name: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.name

    def to_json(self) -> dict[str, Any]:
        return {"event": self.name, **self.data}


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """The run directory was created."""

    kind: ClassVar[str] = "run_started"
    space: str  # the space's name
    seed: int
    processes: int | None = _optional()  # processes of the search (runs before torchrun support: absent)
    time: float


@dataclass(frozen=True, kw_only=True)
class OpAdded(Event):
    """An operator became active at a choice point from round ``round`` on."""

    kind: ClassVar[str] = "op_added"
    round: int
    label: str
    op: str
    reason: str  # "initial", "grown from queue" or (a budgeted search) "re-admitted: ..."
    scores: dict | None = None  # always null: an operator is added before it is scored


@dataclass(frozen=True, kw_only=True)
class OpRemoved(Event):
    """An operator left a choice point: at the end of round ``round`` (shrink) or within it (``epoch``)."""

    kind: ClassVar[str] = "op_removed"
    round: int
    label: str
    op: str
    epoch: int | None = _optional()  # removed within the round, after this epoch (branch learning)
    reason: str  # the deciding rule, in words
    rank_in_point: int | None = _optional()  # its rank by the shrink score at its choice point (1 = best)
    of: int | None = _optional()  # operators ranked there
    scores: dict | None = None  # the scores that decided: per metric and combined, or the branch probability


@dataclass(frozen=True, kw_only=True)
class Front(Event):
    """The front (or hall of fame) of round ``round``'s population, best first."""

    kind: ClassVar[str] = "front"
    round: int
    front: list  # [{"arch": {label: op}, "metrics": {...}}]


@dataclass(frozen=True, kw_only=True)
class RoundStarted(Event):
    """Round ``round`` started training ``subspace``."""

    kind: ClassVar[str] = "round_started"
    round: int
    size: int | None = _optional()  # architectures in the subspace (absent in the earliest runs)
    subspace: dict  # {label: [op, ...]}
    time: float


@dataclass(frozen=True, kw_only=True)
class RoundEnded(Event):
    """Round ``round`` decided the next subspace."""

    kind: ClassVar[str] = "round_ended"
    round: int
    size_before: int  # architectures trained this round
    size_after: int  # architectures of the next subspace
    removed: int  # operators removed by shrink
    added: int  # operators grown
    evaluated: int  # architectures scored
    best: dict  # the front's first {"arch", "metrics"}
    seconds: float
    time: float


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    """The search stopped after ``rounds`` rounds, for ``reason``."""

    kind: ClassVar[str] = "finished"
    rounds: int
    reason: str  # "rounds reached", "query budget spent", or "pools exhausted and the subspace did not change"
    subspace: dict  # the final, optimised subspace
    best: dict
    time: float


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    """The search continued from a snapshot."""

    kind: ClassVar[str] = "resumed"
    source: str = field(metadata={"key": "from"})  # "round" or "checkpoint"
    snapshot: str  # the snapshot directory's name
    round: int  # the round it continues
    processes: int | None = _optional()
    version: str | None = _optional()  # the evospace that continued it (run.yaml records the one that started it)
    time: float


@dataclass(frozen=True, kw_only=True)
class FewShotSplit(Event):
    """Round ``round`` was scored by few-shot sub-supernets (``search.few_shot``)."""

    kind: ClassVar[str] = "few_shot_split"
    round: int
    labels: list  # the split choice points
    owners: list  # one operator combination per sub-supernet
    epochs: int  # epochs each trained
    lr: float
    steps: int  # steps all of them took
    reason: str  # why these choice points
    disagreement: dict  # {label: variance of its operators' angle scores}
    supernet_bytes: int  # tensor memory: the supernet, the shared copy, the deltas kept
    shared_bytes: int
    delta_bytes: int


@dataclass(frozen=True, kw_only=True)
class AnchorTrained(Event):
    """An anchor of the calibrated score was trained stand-alone (``search.scoring.anchors``)."""

    kind: ClassVar[str] = "anchor_trained"
    round: int  # the round whose scoring needed it
    index: int  # its place among the run's anchors
    arch: dict
    val_acc: float  # validation top-1 after training
    epochs: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class ScoreFitted(Event):
    """Round ``round``'s calibrated score: the weight of each signal and what they were fitted on."""

    kind: ClassVar[str] = "score_fitted"
    round: int
    weights: dict  # {signal: weight on its standardised rank}
    anchors: int  # anchors inside the round's subspace, which the fit used
    of: int  # anchors trained so far
    prior: str  # what the weights were shrunk toward: "signals" (the prior mix) or "round R" (an earlier fit)
    reference: int  # architectures of the subspace that rank the signals


EVENT_KINDS: dict[str, type[Event]] = {cls.kind: cls for cls in (
    RunStarted, OpAdded, OpRemoved, Front, RoundStarted, RoundEnded, Finished, Resumed, FewShotSplit, AnchorTrained,
    ScoreFitted)}


def parse_events(rows: Iterable[Mapping[str, Any]], source: str = "events.jsonl") -> list[Event]:
    """The events of journal rows (as :func:`~evospace.run.store.read_jsonl` returns them).

    Raises:
        RunError: a row is not a valid event of its kind (the message names ``source`` and the line).
    """
    out = []
    for number, row in enumerate(rows, 1):
        try:
            out.append(Event.from_json(row))
        except ValueError as err:
            raise RunError(f"{source}: event {number}: {err}; the journal is damaged") from None
    return out


@dataclass
class OperatorLife:
    """One operator at one choice point, from the journal: when and why it entered and left."""

    label: str
    op: str
    born: int  # first round in which it was active
    added: str  # why it entered
    died: int | None = None  # the round at whose end (or in which) it left; None while active
    removed: str | None = None  # why it left
    scores: dict[int, dict] = field(default_factory=dict)  # {round: scores of its op_removed event}


@dataclass
class History:
    """What a journal says happened (see :func:`replay`)."""

    events: list[Event]
    started: dict[int, RoundStarted]  # every round that started (the last start of each)
    last_started: RoundStarted | None  # the round that started last
    operators: dict[str, OperatorLife]  # keyed "label/op", in the order they first entered
    finished: Finished | None  # the stop, if the journal holds one
    few_shot: dict[int, FewShotSplit]  # rounds scored by few-shot sub-supernets
    resumed: list[Resumed]
    anchors: list[AnchorTrained] = field(default_factory=list)  # the calibrated score's anchors, in order
    scores: dict[int, ScoreFitted] = field(default_factory=dict)  # each round's calibrated score


def replay(events: Iterable[Event], source: str = "events.jsonl") -> History:
    """Fold a journal's events into a :class:`History`.

    Raises:
        RunError: an ``op_removed`` names an operator that no ``op_added`` introduced (a damaged journal).
    """
    history = History([], {}, None, {}, None, {}, [])
    for event in events:
        history.events.append(event)
        if isinstance(event, OpAdded):
            key = f"{event.label}/{event.op}"
            life = history.operators.get(key)
            if life is None:
                history.operators[key] = OperatorLife(event.label, event.op, event.round, event.reason)
            elif life.died is not None:  # re-admitted (a budgeted search): active again, born when it first entered
                life.died, life.removed = None, None
        elif isinstance(event, OpRemoved):
            key = f"{event.label}/{event.op}"
            life = history.operators.get(key)
            if life is None:
                raise RunError(f"{source}: op_removed of round {event.round} names {key}, which no op_added "
                               f"event introduced; the journal is damaged")
            life.died, life.removed = event.round, event.reason
            if event.scores:
                life.scores[event.round] = event.scores
        elif isinstance(event, RoundStarted):
            history.started[event.round] = event
            history.last_started = event
        elif isinstance(event, Finished):
            history.finished = event
        elif isinstance(event, FewShotSplit):
            history.few_shot[event.round] = event
        elif isinstance(event, Resumed):
            history.resumed.append(event)
        elif isinstance(event, AnchorTrained):
            history.anchors.append(event)
        elif isinstance(event, ScoreFitted):
            history.scores[event.round] = event
    return history
