"""Branch learning as a round extension: learned probabilities of the operators of multi-branch choice points.

The learner itself (logits, two-sample estimator, Adam, pruning rule) is
:class:`~evospace.supernet.branch_learning.BranchLearner`; this extension joins it to the round:

- after every weight step, an architecture step when one is due (``after_step``);
- after every epoch, the probabilities and expected cost as a ``branches`` row of ``metrics.jsonl``, and the
  operators whose probability fell below ``prune_below`` leave the subspace at once (``after_epoch``);
- the population's first generation is drawn from the learned distribution (``sampler``);
- each operator's probability is recorded beside its scores (``op_extras``);
- the logits follow every change of the subspace (``subspace_changed``), and are snapshotted as the
  ``branch_logits`` tensor group with the step count under ``backend.branch_learning``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from evospace.extensions.base import EpochReport, Removal, RoundExtension, SupernetRound
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch
from evospace.supernet.branch_learning import BranchLearner

__all__ = ["LearnedBranches"]


class LearnedBranches(RoundExtension):
    """``search.branch_learning``: a probability per operator of every multi-branch choice point.

    Args:
        space: the search space (its ``search.branch_learning`` settings, costs and seed).
        net: the supernet backend, whose supernet's subspace gets logits.
    """

    name = "branch_learning"

    def __init__(self, space: SearchSpace, net: SupernetRound) -> None:
        self.space = space
        self.config = space.config.search.branch_learning
        self.learner = self._learner(net)

    @classmethod
    def for_space(cls, space: SearchSpace, net: SupernetRound) -> LearnedBranches | None:
        """The extension if ``search.branch_learning`` is set."""
        return cls(space, net) if space.config.search.branch_learning is not None else None

    def _learner(self, net: SupernetRound) -> BranchLearner:
        return BranchLearner(self.config, net.supernet.subspace, self.space.op_cost,
                             getattr(self.space.base_cost, self.config.cost), self.space.config.seed, net.group)

    def after_step(self, net: SupernetRound, trainer) -> None:
        self.learner.maybe_step(net.supernet, net.data.x_val, net.data.y_val, round_index=trainer.round,
                                epoch=trainer.epoch, step=trainer.step, batch_size=trainer.batch_size)

    def after_epoch(self, net: SupernetRound, trainer) -> EpochReport:
        """The epoch's probabilities, and the operators below ``prune_below`` (they leave now)."""
        epoch = trainer.epoch - 1
        learner = self.learner
        figures = {"kind": "branches", "round": trainer.round, "epoch": epoch,
                   "expected_cost": learner.expected_cost(), "cost": self.config.cost, "target": self.config.target,
                   "architecture_steps": learner.steps, "probabilities": learner.probabilities()}
        removed = tuple(
            Removal(item.label, item.op,
                    f"its branch probability {item.probability:.3f} fell below search.branch_learning.prune_below "
                    f"({self.config.prune_below}) after epoch {epoch + 1}",
                    {"probability": item.probability, "logit": item.logit}, note=f"p={item.probability:.3f}")
            for item in learner.prune())
        return EpochReport((figures,), removed)

    def sampler(self, round_index: int) -> Callable[[np.random.Generator], Arch] | None:
        return self.learner.sample

    def op_extras(self) -> dict[str, dict[str, dict[str, float]]]:
        return {label: {op: {"probability": p} for op, p in ops.items()}
                for label, ops in self.learner.probabilities().items()}

    def subspace_changed(self, net: SupernetRound) -> None:
        self.learner.sync(net.supernet.subspace)

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"branch_logits": self.learner.tensors()}

    def state(self) -> dict[str, Any]:
        return {"branch_learning": {"steps": self.learner.steps}}

    def restore(self, net: SupernetRound, tensors: Mapping[str, dict[str, torch.Tensor]],
                state: Mapping[str, Any]) -> None:
        self.learner = self._learner(net)
        self.learner.load(tensors["branch_logits"], state["branch_learning"]["steps"])
