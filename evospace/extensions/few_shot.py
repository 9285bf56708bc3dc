"""The few-shot phase of a round: choose the split, train the sub-supernets one by one, checkpoint each.

Runs between the shared supernet's training and scoring (``Backend.after_training``), anew every round
since the subspace changes. Each finished sub-supernet is followed by a snapshot (``PhaseHooks.checkpoint``)
holding the shared weights, the deltas so far and the progress, so a run stopped mid-phase resumes at the
next unfinished sub-supernet and ends bit for bit like an uninterrupted one. The ``few_shot_split`` event
is written once the phase is over (a resumed phase writes it once, too: the journals are cut back to the
snapshot). With ``search.few_shot`` unset, nothing happens and rounds are one-shot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.metrics.angle import AngleScorer
from evospace.metrics.scores import architecture_rows, op_means
from evospace.run.rng import numpy_stream
from evospace.space.schema import SearchConfig
from evospace.supernet.fewshot import SubSupernets, choose_split, disagreement

__all__ = ["PhaseHooks", "choose_labels", "split_supernet", "train_sub_supernets"]


@dataclass(frozen=True)
class PhaseHooks:
    """What the controller lends the backend for work between training and scoring."""

    checkpoint: Callable[[int], None]  # write a snapshot now (argument: sub-supernets finished so far)
    record: Callable[[str, dict], None]  # append a row to a journal: ("events" | "metrics", row)


def choose_labels(supernet, reference: dict[str, torch.Tensor], config: SearchConfig,
                  rng: np.random.Generator) -> tuple[tuple[str, ...], dict]:
    """The split choice points and why: ``few_shot.split`` as listed, else the ``count`` that disagree most.

    Returns:
        ``(labels, info)`` where ``info`` holds ``reason`` and each choice point's ``disagreement`` (the
        variance of its operators' angle scores under the shared supernet).
    """
    few_shot = config.few_shot
    subspace = supernet.subspace
    rows = architecture_rows(subspace, rng, config.scoring.exhaustive_limit, config.scoring.angle_samples)
    angles = AngleScorer(supernet, reference, config.scoring.angle_definition).score_indices(rows)
    spread = disagreement(op_means(subspace, rows, angles))
    if few_shot.split is not None:
        return tuple(few_shot.split), {"reason": "listed in search.few_shot.split", "disagreement": spread}
    # a sub-supernet fixes one operator per split point, so multi-branch points (sets) are never split
    labels = choose_split({label: v for label, v in spread.items() if not subspace.is_multi(label)},
                          few_shot.auto_count)
    ranked = ", ".join(f"{label} {spread[label]:.2e}" for label in sorted(spread, key=lambda k: -spread[k]))
    return labels, {"reason": f"largest variance of its operators' angle scores ({ranked})", "disagreement": spread}


def split_supernet(supernet, reference: dict[str, torch.Tensor], config: SearchConfig, *, round_index: int,
                   seed: int) -> SubSupernets:
    """The split of ``supernet`` (trained in ``round_index``), holding a copy of its shared weights; none trained."""
    labels, info = choose_labels(supernet, reference, config, numpy_stream(seed, "few-shot-split", round_index))
    return SubSupernets(supernet, round_index, labels, info)


def train_sub_supernets(sub: SubSupernets, data: DataSplits, config: SearchConfig, *, seed: int, batch_size: int,
                        hooks: PhaseHooks) -> None:
    """Train every sub-supernet of ``sub`` not finished yet, a snapshot after each; then the event."""
    few_shot = config.few_shot
    lr = few_shot.lr if few_shot.lr is not None else config.train.lr
    for owner in sub.pending:
        rows = sub.train(owner, data, config.train, batch_size=batch_size, epochs=few_shot.epochs, lr=lr, seed=seed,
                         sampling=config.sampling)
        for row in rows:
            hooks.record("metrics", {"kind": "few_shot_epoch", "round": sub.round,
                                     "owner": dict(zip(sub.labels, owner)), **row})
        hooks.checkpoint(len(sub.deltas))
    steps = sum(row["steps"] for rows in sub.figures.values() for row in rows)
    hooks.record("events", {
        "event": "few_shot_split", "round": sub.round, "labels": list(sub.labels),
        "owners": [list(owner) for owner in sub.owners], "epochs": few_shot.epochs, "lr": lr, "steps": steps,
        "reason": sub.info.get("reason", ""), "disagreement": sub.info.get("disagreement", {}), **sub.memory()})
