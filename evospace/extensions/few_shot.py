"""Few-shot supernets as a round extension: choose the split, train the sub-supernets one by one, score with them.

After the shared supernet's training (``after_training``) the subspace is split on one or more choice points
(:mod:`evospace.supernet.sub_supernets`), anew every round since the subspace changes. Each finished
sub-supernet is followed by a snapshot (``RoundHooks.checkpoint``) holding the shared weights, the deltas so
far and the progress, so a run stopped mid-phase resumes at the next unfinished sub-supernet and ends bit for
bit like an uninterrupted one. The ``few_shot_split`` event is written once the phase is over (a resumed phase
writes it once, too: the journals are cut back to the snapshot). The round is then scored by the sub-supernets
(``scorer``: :class:`~evospace.metrics.sub_supernet_scores.FewShotScorer`), and the split is dropped when the
supernet takes its next subspace. With ``search.few_shot`` unset this extension is not in play and rounds are
one-shot.

Snapshots: the deltas as the ``few_shot`` tensor group, the progress under ``backend.few_shot``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from evospace.distributed import digest
from evospace.extensions.base import RoundExtension, RoundHooks, Scorer, SupernetRound
from evospace.metrics.angle import AngleScorer
from evospace.metrics.scores import architecture_rows, every_architecture_metrics, op_means
from evospace.metrics.sub_supernet_scores import FewShotScorer
from evospace.run.events import FewShotSplit
from evospace.run.rng import numpy_stream
from evospace.space.schema import SearchConfig
from evospace.space.space import SearchSpace
from evospace.supernet.sub_supernets import SubSupernets, choose_split, disagreement

__all__ = ["FewShot", "choose_labels", "split_supernet"]


class FewShot(RoundExtension):
    """``search.few_shot``: each round is scored by sub-supernets split from the trained supernet.

    Args:
        space: the search space (its ``search`` settings and seed).
    """

    name = "few_shot"

    def __init__(self, space: SearchSpace) -> None:
        self.config = space.config.search
        self.seed = space.config.seed
        self.batch_size = space.config.supernet_batch_size  # the sub-supernets train as the supernet does
        self.recalibration_batch = space.config.data.batch_size
        self.split: SubSupernets | None = None  # this round's sub-supernets, from the split to the next subspace
        self.recorded: int | None = None  # the last round whose split is journalled (a snapshot taken after it
        # by a later extension must not journal it twice on resume)

    @classmethod
    def for_space(cls, space: SearchSpace, net: SupernetRound) -> FewShot | None:
        """The extension if ``search.few_shot`` is set."""
        return cls(space) if space.config.search.few_shot is not None else None

    def after_training(self, net: SupernetRound, round_index: int, hooks: RoundHooks) -> None:
        """Split the trained supernet (unless resumed mid-phase), train what is left, one snapshot each."""
        if self.split is None or self.split.round != round_index:
            self.split = split_supernet(net.supernet, net.reference, self.config, round_index=round_index,
                                        seed=self.seed)
        few_shot = self.config.few_shot
        lr = few_shot.lr if few_shot.lr is not None else self.config.train.lr
        sub = self.split
        for owner in sub.pending:
            rows = sub.train(owner, net.data, self.config.train, batch_size=self.batch_size, epochs=few_shot.epochs,
                             lr=lr, seed=self.seed, sampling=self.config.sampling)
            for row in rows:
                hooks.metrics({"kind": "few_shot_epoch", "round": sub.round, "owner": dict(zip(sub.labels, owner)),
                               **row})
            hooks.checkpoint(len(sub.deltas))
        steps = sum(row["steps"] for rows in sub.figures.values() for row in rows)
        if self.recorded != sub.round:
            self.recorded = sub.round
            hooks.record(FewShotSplit(
                round=sub.round, labels=list(sub.labels), owners=[list(owner) for owner in sub.owners],
                epochs=few_shot.epochs, lr=lr, steps=steps, reason=sub.info.get("reason", ""),
                disagreement=sub.info.get("disagreement", {}), **sub.memory()))
        if net.group.distributed:  # every rank trains every sub-supernet on the whole batch: same deltas
            net.group.check_agree(f"the few-shot sub-supernets of round {round_index}",
                                  digest(t for _, t in sorted(sub.tensors().items())))

    def scorer(self, net: SupernetRound, round_index: int, scorer: Scorer) -> Scorer:
        """The sub-supernets' scores once every one of this round's is trained."""
        sub = self.split
        if sub is None or sub.round != round_index or not sub.complete:
            return scorer
        return FewShotScorer(net.space, sub, net.reference, net.data, self.config.scoring,
                             batch_size=self.recalibration_batch,
                             recalibration_batches=self.config.train.recalibration_batches, seed=self.seed,
                             group=net.group, metrics=every_architecture_metrics(self.config))

    def subspace_changed(self, net: SupernetRound) -> None:
        """A new subspace is split anew, from the shared weights (which the supernet holds after scoring)."""
        self.split = None

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"few_shot": self.split.tensors()} if self.split is not None else {}

    def state(self) -> dict[str, Any]:
        if self.split is None:
            return {}
        return {"few_shot": self.split.state(), "few_shot_recorded": self.recorded}

    def restore(self, net: SupernetRound, tensors: Mapping[str, dict[str, torch.Tensor]],
                state: Mapping[str, Any]) -> None:
        saved = state.get("few_shot")
        self.split = SubSupernets.restore(net.supernet, saved, tensors["few_shot"]) if saved else None
        self.recorded = state.get("few_shot_recorded")


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
