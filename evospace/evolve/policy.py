"""Shrink and grow: plain functions from (subspace, scores, front) to the next subspace.

Shrink (ABS + NSE): each choice point keeps the operators that the front uses (``keep_front``) plus its
best ``keep`` operators by combined score; it is never emptied and its best operator is never dropped.
At a multi-branch point the front contributes every operator of its branch sets, and at least
``min_branches`` operators stay. Grow (NSE): each choice point takes the next ``per_round`` operators of its
queue (its pool order, less every operator that was ever active there: an operator that left does not come
back), except in a budgeted search whose queues ran dry: there the operators that left come back in turn
(:func:`readmission_queue`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evospace.space.subspace import Arch, Subspace

__all__ = ["Decision", "rank_scores", "combined_scores", "shrink", "grow", "queue_of", "readmission_queue"]


@dataclass(frozen=True)
class Decision:
    """Why an operator left or stayed: for ``events.jsonl`` and the lineage."""

    label: str
    op: str
    kept: bool
    reason: str  # "front", "top-k", "best", "dropped", "added"
    score: float | None
    why: str = ""  # the reason in words, as events.jsonl records it


def rank_scores(values: Mapping[str, float]) -> dict[str, float]:
    """Ranks of operators by value, 1 = worst, ties averaged (so higher is better)."""
    names = list(values)
    data = np.array([values[n] for n in names], dtype=float)
    order = data.argsort(kind="stable")
    ranks = np.empty(len(data))
    ranks[order] = np.arange(1, len(data) + 1)
    for value in np.unique(data):  # average ties
        tie = data == value
        ranks[tie] = ranks[tie].mean()
    return dict(zip(names, ranks.tolist()))


def combined_scores(per_metric: Mapping[str, Mapping[str, Mapping[str, float]]],
                    metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """Combined score per choice point and operator: the mean of its per-metric ranks within the point.

    Args:
        per_metric: ``{label: {op: {metric: value}}}``.
        metrics: which metrics to combine (one metric: its value is used as it is).
    """
    out: dict[str, dict[str, float]] = {}
    for label, ops in per_metric.items():
        if len(metrics) == 1:
            out[label] = {op: float(v[metrics[0]]) for op, v in ops.items()}
            continue
        ranks = [rank_scores({op: v[m] for op, v in ops.items()}) for m in metrics]
        out[label] = {op: float(np.mean([r[op] for r in ranks])) for op in ops}
    return out


def shrink(subspace: Subspace, scores: Mapping[str, Mapping[str, float]], front: Sequence[Arch], keep: int,
           keep_front: bool = True, *, score_name: str = "score") -> tuple[Subspace, list[Decision]]:
    """The optimised subset: front operators ∪ top-``keep`` by score, per choice point.

    Args:
        scores: combined score per choice point and active operator (higher is better).
        front: the round's front / hall of fame.
        score_name: what ``scores`` are (``search.shrink.score``), for the decisions' reasons in words.
    """
    active: dict[str, tuple[str, ...]] = {}
    decisions = []
    for label in subspace.labels:
        ops = subspace.ops(label)
        ranked = sorted(ops, key=lambda op: (-scores[label][op], ops.index(op)))
        bounds = subspace.bounds.get(label)
        count = max(keep, bounds.min if bounds else 0)  # a branch point keeps enough for its sets
        top = set(ranked[:count])
        in_front = ({op for arch in front for op in subspace.branches(label, arch[label])}
                    if keep_front else set())
        why = {"best": f"the best by {score_name} at its choice point", "front": "used by the front",
               "top-k": f"among the best {count} by {score_name} at its choice point",
               "dropped": ("not in the front and " if keep_front else "")
               + f"ranked below the best {count} by {score_name} at its choice point"}
        kept = []
        for op in ops:
            if op == ranked[0]:
                reason = "best"
            elif op in in_front:
                reason = "front"
            elif op in top:
                reason = "top-k"
            else:
                reason = "dropped"
            decisions.append(Decision(label, op, reason != "dropped", reason, float(scores[label][op]), why[reason]))
            if reason != "dropped":
                kept.append(op)
        active[label] = tuple(kept)
    return subspace.with_active(active), decisions


def queue_of(pool_order: Sequence[str], seen: Sequence[str]) -> list[str]:
    """What a choice point can still grow: its pool order less every operator that was ever active."""
    return [op for op in pool_order if op not in seen]


def readmission_queue(pool_order: Sequence[str], active: Sequence[str], round_index: int) -> list[str]:
    """The inactive operators of a choice point, rotated by the round so that each comes back in turn.

    Used once a budgeted search has tried every operator: with the subspace settled, the population soon finds
    nothing new to query, so the operators that left return one after another to be tried again beside the
    survivors (the shrink rule drops them again unless they earn their place).
    """
    out = [op for op in pool_order if op not in active]
    if not out:
        return []
    shift = round_index % len(out)
    return out[shift:] + out[:shift]


def grow(subspace: Subspace, queues: Mapping[str, Sequence[str]], per_round: int,
         why: str = "grown from queue") -> tuple[Subspace, list[Decision]]:
    """Add the next ``per_round`` operators of each choice point's queue."""
    decisions = []
    result = subspace
    for label in subspace.labels:
        new = [op for op in queues.get(label, ()) if op not in subspace.ops(label)][:per_round]
        if new:
            result = result.add(label, new)
            decisions.extend(Decision(label, op, True, "added", None, why) for op in new)
    return result, decisions
