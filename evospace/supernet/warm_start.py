"""Function-matched warm start: before a round trains, new operators are fitted to an older operator's output.

Why: operators initialised independently compute unrelated functions, so the stem, the head and the operators
after a choice point are pulled apart by whichever one a step samples. ``bench/supernet_fit.py --twins`` measures
the cost on the 1-D chains: a supernet over two copies of one operator reaches 96.0 % when the copies start equal
and 69.7 % when they are initialised independently. Fitting each new operator (Adam, mean squared error) to what a
reference operator of its choice point computes on the same input gives it a start that the rest of the network
already agrees with, as inherited weights would (NSE); it keeps its own shape and cost.

Which operators: in round 0 every operator with weights but the first one with weights at its choice point (the
reference); in a later round only the operators born in that round, fitted to the oldest survivor with weights
(the longest trained; the first in the subspace's order among equals).
Inputs and targets come from one path, the references' (hooks on their modules), so every point is fitted in the
same pass; at a cell edge each copy (cell) of an operator is fitted to the same cell's copy of the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from evospace.data import DataSplits
from evospace.space.subspace import Arch, Subspace

if TYPE_CHECKING:
    from evospace.supernet.supernet import Supernet

__all__ = ["MatchPlan", "MatchReport", "match_plan", "match_operators", "ops_with_weights", "MATCH_LR"]

MATCH_LR = 1e-2  # Adam's learning rate of the fit (bench/supernet_fit.py --matched used it)


@dataclass(frozen=True)
class MatchPlan:
    """What a round's warm start fits: per choice point, the reference operator and the operators fitted to it."""

    references: dict[str, str]  # label -> the operator whose output is the target
    fitted: dict[str, tuple[str, ...]]  # label -> the operators fitted to it (none: the label is absent)

    @property
    def count(self) -> int:
        return sum(len(ops) for ops in self.fitted.values())


@dataclass(frozen=True)
class MatchReport:
    """How a warm start went: mean squared error per fitted operator on the first and the last step."""

    round: int
    operators: int
    steps: int
    loss_before: float
    loss_after: float


def ops_with_weights(supernet: Supernet) -> dict[str, dict[str, bool]]:
    """``{label: {op: whether it has parameters}}`` for the supernet's active operators (for :func:`match_plan`)."""
    subspace = supernet.subspace
    return {label: {op: any(True for _ in supernet.op_module(label, op).parameters()) for op in subspace.ops(label)}
            for label in subspace.labels}


def match_plan(subspace: Subspace, born: Mapping[str, Mapping[str, int]], round_index: int,
               has_weights: Mapping[str, Mapping[str, bool]], inherit_weights: bool = True) -> MatchPlan:
    """The operators to fit in round ``round_index`` and their references (see the module docstring).

    ``born[label][op]``: the round an operator entered in; ``has_weights[label][op]``: whether it has parameters
    (operators without any, such as skip or pooling, are neither fitted nor references). Without inherited
    weights every operator starts fresh each round, so the plan is round 0's.
    """
    references: dict[str, str] = {}
    fitted: dict[str, tuple[str, ...]] = {}
    for label in subspace.labels:
        ops = [op for op in subspace.ops(label) if has_weights[label][op]]
        if round_index == 0 or not inherit_weights:
            older, new = ops[:1], ops[1:]
        else:
            older = sorted((op for op in ops if born[label].get(op, round_index) < round_index),
                           key=lambda op: born[label][op])  # the longest trained first
            new = [op for op in ops if born[label].get(op, round_index) >= round_index]
        if older and new:
            references[label] = older[0]
            fitted[label] = tuple(new)
    return MatchPlan(references, fitted)


def match_operators(supernet: Supernet, data: DataSplits, plan: MatchPlan, steps: int, generator: torch.Generator,
                    batch_size: int, round_index: int = 0) -> MatchReport | None:
    """Fit ``plan``'s operators to their references for ``steps`` Adam steps; ``None`` when there is none to fit.

    Only the fitted operators change: the BN statistics that the references' forward passes update are put back.
    Batches are drawn from the training split with ``generator``, so the fit is the same on every rerun.
    """
    if not plan.count or steps <= 0:
        return None
    pairs = _module_pairs(supernet, plan)
    fitted_modules = [module for _, module in pairs]
    saved = {name: buffer.clone() for name, buffer in supernet.named_buffers()}
    fitted_buffers = {id(b) for module in fitted_modules for b in module.buffers()}
    params = [p for module in fitted_modules for p in module.parameters()]
    optimizer = torch.optim.Adam(params, lr=MATCH_LR)
    arch = _reference_arch(supernet.subspace, plan)
    captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [reference.register_forward_hook(_capture(captured, index))
             for index, (reference, _) in enumerate(pairs)]
    was_training = supernet.training
    supernet.train()
    losses: list[float] = []
    try:
        for _ in range(steps):
            rows = torch.randint(len(data.y_train), (batch_size,), generator=generator)
            x, _ = data.train_rows(rows)
            captured.clear()
            with torch.no_grad():
                supernet(x, arch)
            loss = sum(F.mse_loss(module(captured[index][0]), captured[index][1])
                       for index, (_, module) in enumerate(pairs))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()) / len(pairs))
    finally:
        for hook in hooks:
            hook.remove()
        supernet.train(was_training)
    with torch.no_grad():
        for name, buffer in supernet.named_buffers():
            if id(buffer) not in fitted_buffers:
                buffer.copy_(saved[name])
    return MatchReport(round_index, plan.count, steps, losses[0], losses[-1])


def _module_pairs(supernet: Supernet, plan: MatchPlan) -> list[tuple[nn.Module, nn.Module]]:
    """(reference module, fitted module) pairs; a cell edge's operators pair up copy by copy."""
    pairs = []
    for label, ops in plan.fitted.items():
        reference = supernet.op_module(label, plan.references[label])
        for op in ops:
            module = supernet.op_module(label, op)
            if hasattr(reference, "copies"):
                pairs += list(zip(reference.copies, module.copies, strict=True))
            else:
                pairs.append((reference, module))
    return pairs


def _reference_arch(subspace: Subspace, plan: MatchPlan) -> Arch:
    """The path whose forward pass gives the inputs and targets: each point's reference (its first choice
    elsewhere; at a multi-branch point the first allowed set that runs the reference)."""
    arch = {}
    for label in subspace.labels:
        choices = subspace.choices(label)
        reference = plan.references.get(label)
        arch[label] = next((c for c in choices if reference in subspace.branches(label, c)), choices[0])
    return arch


def _capture(captured: dict[int, tuple[torch.Tensor, torch.Tensor]], index: int):
    def hook(module: nn.Module, inputs: Sequence[torch.Tensor], output: torch.Tensor) -> None:
        captured[index] = (inputs[0].detach(), output.detach())
    return hook
