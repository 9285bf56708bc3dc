"""A round's decision as one pure function: from the round's scores to the next subspace and the stop rule.

No supernet, no directory, no clock: :func:`decide_round` takes the state the round started from, the front its
population found and the per-operator scores, and returns the :class:`RoundDecision` that the controller records
and applies::

    combined  = the operators' per-metric scores combined by mean rank (search.shrink.score)
    shrunk    = shrink(trained, combined, front)          # front ∪ best keep, per choice point
    next      = grow(shrunk, queues)                      # not after the last round; under a query budget,
                                                          # once a queue is empty, operators that left come
                                                          # back in turn (re-admitted)
    stop      = "query budget spent" | "rounds reached"
              | "pools exhausted and the subspace did not change" (not with a query budget) | ""

Example:
    >>> decision = decide_round(space, state, front, per_op)  # doctest: +SKIP
    >>> decision.next_state.subspace, decision.stop_reason  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from evospace.evolve.policy import Decision, combined_scores, grow, queue_of, readmission_queue, shrink
from evospace.run.events import Event, Front, OpAdded, OpRemoved
from evospace.run.snapshot import SearchState
from evospace.space.schema import parse_score
from evospace.space.space import SearchSpace
from evospace.space.subspace import Subspace

__all__ = ["RoundDecision", "decide_round"]


@dataclass(frozen=True)
class RoundDecision:
    """What round ``round`` decided, and why."""

    round: int
    trained: Subspace  # the subspace trained and scored this round
    front: list[dict]  # [{"arch", "metrics"}], best first
    per_op: dict[str, dict[str, dict[str, float]]]  # {label: {op: {metric: mean}}}
    combined: dict[str, dict[str, float]]  # {label: {op: combined score}}
    shrink: list[Decision]  # one per operator trained: kept or dropped, and why
    grow: list[Decision]  # operators grown for the next round
    next_state: SearchState  # the state the next round starts from

    @property
    def stop_reason(self) -> str:
        """Why the search stops after this round ("" if it goes on)."""
        return self.next_state.stop_reason

    @property
    def removed(self) -> list[Decision]:
        return [d for d in self.shrink if not d.kept]

    def events(self) -> list[Event]:
        """The decision's journal lines: every operator removed (with its rank and scores), grown, and the front."""
        out: list[Event] = []
        for d in self.removed:
            ranked = sorted(self.combined[d.label].values(), reverse=True)
            out.append(OpRemoved(round=self.round, label=d.label, op=d.op, reason=d.why,
                                 rank_in_point=ranked.index(d.score) + 1, of=len(ranked),
                                 scores={**self.per_op[d.label][d.op], "combined": d.score}))
        out += [OpAdded(round=self.round + 1, label=d.label, op=d.op, reason=d.why) for d in self.grow]
        out.append(Front(round=self.round, front=self.front))
        return out

    def op_scores(self, extras: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict:
        """``{label: {op: {metric: mean, "combined": score, **extras}}}`` of every operator trained (``state.json``)."""
        return {label: {op: {**self.per_op[label][op], "combined": self.combined[label][op],
                             **extras.get(label, {}).get(op, {})} for op in self.trained.ops(label)}
                for label in self.trained.labels}


def decide_round(space: SearchSpace, state: SearchState, front: list[dict],
                 per_op: Mapping[str, Mapping[str, Mapping[str, float]]], *, budget_spent: bool = False,
                 budgeted: bool = False) -> RoundDecision:
    """Shrink, grow and the stop rule of round ``state.round`` (see the module docstring).

    Args:
        space: the search space (``search.shrink``, ``search.grow``, ``search.rounds`` and the pool orders).
        state: the state the round started from (``state.subspace`` is the subspace it trained).
        front: the front the round's population found, best first.
        per_op: per-operator scores of the metrics ``search.shrink.score`` names.
        budget_spent: an oracle's query budget ran out during the round (the search stops).
        budgeted: the search has a query budget (then the budget alone stops it).
    """
    config = space.config.search
    r, trained = state.round, state.subspace
    combined = combined_scores(per_op, parse_score(config.shrink.score))
    shrunk, shrink_decisions = shrink(trained, combined, [row["arch"] for row in front], config.shrink.keep,
                                      config.shrink.keep_front, score_name=config.shrink.score)
    last = r + 1 >= config.rounds or budget_spent
    queues = {l: queue_of(space.pool_order(l), state.seen[l]) for l in trained.labels}
    if last:
        following, grow_decisions = shrunk, []
    else:
        following, grow_decisions = grow(shrunk, queues, config.grow.per_round)
        if budgeted:
            # a settled subspace soon holds nothing left to query: the rest of the budget would buy nothing
            dry = {l: readmission_queue(space.pool_order(l), shrunk.ops(l), r) for l, q in queues.items() if not q}
            following, readmitted = grow(following, dry, config.grow.per_round,
                                         why="re-admitted: every operator was tried and the query budget goes on")
            grow_decisions += readmitted
    exhausted = all(not [op for op in q if op not in following.ops(l)] for l, q in queues.items())
    stop_reason = ""
    if budget_spent:
        stop_reason = "query budget spent"
    elif last:
        stop_reason = "rounds reached"
    elif exhausted and following == trained and not budgeted:
        # with a query budget the budget is the stop rule: a settled space keeps evolving its population
        stop_reason = "pools exhausted and the subspace did not change"
    seen = {l: state.seen[l] + [op for op in following.ops(l) if op not in state.seen[l]] for l in trained.labels}
    born = {l: {op: state.born[l].get(op, r + 1) for op in following.ops(l)} for l in trained.labels}
    next_state = SearchState(r + 1, following, seen, born, front, bool(stop_reason), stop_reason)
    return RoundDecision(r, trained, front, dict(per_op), combined, shrink_decisions, grow_decisions, next_state)
