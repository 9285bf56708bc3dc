"""Learned branch probabilities for multi-branch choice points (NSE, Ci et al., ICCV 2021).

Every active operator ``o`` of a multi-branch choice point has a logit ``α_o`` and is switched on
independently with ``p_o = sigmoid(α_o)``; a branch set ``S`` has probability
``P(S) = Π_{o∈S} p_o · Π_{o∉S} (1 − p_o)``, drawn again until the point's branch bounds allow it.

Weights train on uniformly drawn branch sets (the supernet trainer's paths). Every ``every`` weight steps an
*architecture step* updates the logits on one held-out batch with NSE's two-sample estimator::

    for each multi-branch point: draw two distinct allowed sets A, B from P
        w_A, w_B = softmax(log P(A), log P(B))               # the two probabilities, renormalised
        y = y_A + (w_A − sg(w_A)) · y_A + (w_B − sg(w_B)) · y_B   # the value is y_A; gradients reach w_A and w_B
    loss = cross_entropy(y) + λ · ((E[cost] − target) / target)²
    α ← Adam(α, ∂loss/∂α)

so the gradient on the logits compares the two sampled sets (the network's weights get none from it).
``E[cost]`` is the cost of the fixed parts, plus the mean over its active operators at each single-branch
point, plus at each multi-branch point ``Σ_o cost_o · P(o ∈ S | S allowed)``: the switches are drawn again
until the bounds allow the set, so the expectation is conditioned on that (exactly, by the Poisson-binomial
law of the set's size). Without the conditioning a point that must run a branch looks cheap when every
probability is low, and the penalty keeps pushing every probability down (measured: the expected cost
settled at 2.3k for a 12k target). The penalty is relative to the target so that ``λ`` means the same for
params and FLOPs.

At the end of every epoch an operator whose probability is below ``prune_below`` leaves the subspace; a choice
point keeps at least ``max(1, min_branches)`` operators and always its most probable one.

Adam is written out here rather than taken from ``torch.optim``: its state is kept per operator, so that it
survives operators leaving and entering (a fresh operator starts at ``α = 0``, ``p = 1/2``, zero moments) and
is saved as plain tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from evospace.distributed import Group
from evospace.run.rng import numpy_stream, torch_stream
from evospace.space.branches import BranchBounds, branch_key
from evospace.space.schema import BranchLearningConfig
from evospace.space.subspace import Arch, Subspace

__all__ = ["BranchLearner", "Pruned", "set_log_prob", "draw_set", "two_sample_weights", "expected_cost",
           "size_law", "inclusion"]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
MAX_DRAWS = 64  # rejection draws before falling back to the most probable allowed set


@dataclass(frozen=True)
class Pruned:
    """An operator that left its choice point because its probability fell below the threshold."""

    label: str
    op: str
    probability: float
    logit: float


def set_log_prob(logits: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
    """``log P(S)`` of the branch set with boolean ``member`` (over the point's operators) under ``logits``."""
    return torch.where(member, F.logsigmoid(logits), F.logsigmoid(-logits)).sum()


def draw_set(ops: tuple[str, ...], probs: np.ndarray, bounds: BranchBounds, rng: np.random.Generator,
             exclude: str | None = None) -> str | None:
    """One allowed branch set drawn from independent switches ``probs`` (``None``: no set but ``exclude``).

    Draws again until the set is allowed and differs from ``exclude``; after :data:`MAX_DRAWS` draws, the most
    probable such set is taken (so a run never stalls on an unlikely bound).
    """
    for _ in range(MAX_DRAWS):
        on = rng.random(len(ops)) < probs
        if bounds.allows(int(on.sum())):
            key = branch_key(op for op, flag in zip(ops, on) if flag)
            if key != exclude:
                return key
    return _most_probable(ops, probs, bounds, exclude)


def _most_probable(ops: tuple[str, ...], probs: np.ndarray, bounds: BranchBounds, exclude: str | None) -> str | None:
    """The allowed set (not ``exclude``) of highest probability: the ``k`` likeliest operators for the best ``k``."""
    order = np.argsort(-probs, kind="stable")
    logp_on, logp_off = np.log(np.clip(probs, 1e-12, 1)), np.log(np.clip(1 - probs, 1e-12, 1))
    best, best_logp = None, -math.inf
    for size in range(bounds.min, min(bounds.max, len(ops)) + 1):
        chosen = set(order[:size].tolist())
        candidates = [chosen]
        if size < len(ops):  # the runner-up of this size: swap the weakest chosen for the strongest left out
            swapped = set(order[:size - 1].tolist()) | {int(order[size])} if size else None
            if swapped is not None:
                candidates.append(swapped)
        for members in candidates:
            key = branch_key(ops[i] for i in members)
            if key == exclude:
                continue
            logp = sum(logp_on[i] if i in members else logp_off[i] for i in range(len(ops)))
            if logp > best_logp:
                best, best_logp = key, logp
    return best


def two_sample_weights(logits: torch.Tensor, member_a: torch.Tensor, member_b: torch.Tensor,
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w_A, w_B)``: the probabilities of the two sets renormalised over the pair (differentiable)."""
    pair = torch.stack([set_log_prob(logits, member_a), set_log_prob(logits, member_b)])
    weights = torch.softmax(pair, dim=0)
    return weights[0], weights[1]


def size_law(probs: torch.Tensor) -> torch.Tensor:
    """``P(|S| = k)`` for k = 0..n under independent switches ``probs`` (differentiable)."""
    law = torch.ones(1, dtype=probs.dtype)
    for p in probs:
        law = torch.cat([law * (1 - p), law.new_zeros(1)]) + torch.cat([law.new_zeros(1), law * p])
    return law


def inclusion(probs: torch.Tensor, bounds: BranchBounds) -> torch.Tensor:
    """``P(o ∈ S | bounds allow S)`` of each operator under independent switches ``probs``."""
    n = len(probs)
    low, high = bounds.min, min(bounds.max, n)
    allowed = size_law(probs)[low:high + 1].sum()
    out = []
    for i in range(n):
        others = size_law(torch.cat([probs[:i], probs[i + 1:]]))
        out.append(probs[i] * others[max(low - 1, 0):high].sum())  # the others make up the rest of the set
    return torch.stack(out) / allowed


def expected_cost(probs: Mapping[str, torch.Tensor], costs: Mapping[str, torch.Tensor], fixed: float,
                  bounds: Mapping[str, BranchBounds] | None = None) -> torch.Tensor:
    """``fixed + Σ_points Σ_o P(o ∈ S) · cost_o`` (differentiable), conditioned on ``bounds`` where given."""
    total = torch.tensor(float(fixed), dtype=torch.float64)
    for label, p in probs.items():
        p = p.double()
        if bounds is not None and label in bounds:
            p = inclusion(p, bounds[label])
        total = total + (p * costs[label]).sum()
    return total


class BranchLearner:
    """The logits of every multi-branch choice point and their Adam state, for one run.

    Call order: :meth:`sync` whenever the supernet's subspace changes (grow, prune); :meth:`maybe_step` after
    every weight step of the trainer (it takes an architecture step every ``every`` steps once the round's
    warm-up epochs are over); :meth:`prune` at each epoch's end; :meth:`sample` at scoring time.

    Args:
        config: ``search.branch_learning``.
        subspace: the supernet's current subspace (its multi-branch points get logits).
        op_cost: ``(label, op) -> OpCost`` of the space.
        fixed_cost: the cost of the stem and head.
        seed: the run seed (architecture-step streams are keyed by it, the round, epoch and step).
        group: the run's processes; the logits' gradients are averaged over them.
    """

    def __init__(self, config: BranchLearningConfig, subspace: Subspace, op_cost: Callable, fixed_cost: float,
                 seed: int, group: Group | None = None) -> None:
        self.config = config
        self.op_cost = op_cost
        self.fixed_cost = float(fixed_cost)
        self.seed = seed
        self.group = group or Group()
        self.steps = 0  # architecture steps taken (Adam's t)
        self.state: dict[str, dict[str, list[float]]] = {}  # label -> op -> [alpha, m, v]
        self.subspace = subspace
        self.sync(subspace)

    # -- the subspace ----------------------------------------------------------------------------
    def sync(self, subspace: Subspace) -> None:
        """Hold logits for exactly ``subspace``'s multi-branch operators (new ones at 0, departed ones dropped)."""
        self.subspace = subspace
        self.state = {label: {op: list(self.state.get(label, {}).get(op, [0.0, 0.0, 0.0]))
                              for op in subspace.ops(label)}
                      for label in subspace.labels if subspace.is_multi(label)}
        self._costs = {label: self._cost_vector(label) for label in self.state}  # change only with the subspace
        self._fixed_cost = self._fixed()

    def logits(self, label: str) -> np.ndarray:
        return np.array([self.state[label][op][0] for op in self.subspace.ops(label)])

    def probabilities(self) -> dict[str, dict[str, float]]:
        """``{label: {op: p}}`` of the multi-branch points."""
        return {label: {op: _sigmoid(v[0]) for op, v in ops.items()} for label, ops in self.state.items()}

    def _cost_vector(self, label: str) -> torch.Tensor:
        attr = self.config.cost
        return torch.tensor([float(getattr(self.op_cost(label, op), attr)) for op in self.subspace.ops(label)],
                            dtype=torch.float64)

    def _fixed(self) -> float:
        """The fixed parts plus each single-branch point's mean active-operator cost (no logit moves these)."""
        attr = self.config.cost
        total = self.fixed_cost
        for label in self.subspace.labels:
            if not self.subspace.is_multi(label):
                ops = self.subspace.ops(label)
                total += sum(getattr(self.op_cost(label, op), attr) for op in ops) / len(ops)
        return total

    def expected_cost(self) -> float:
        """``E[cost]`` of an architecture under the current probabilities."""
        probs = {label: torch.sigmoid(torch.tensor(self.logits(label))) for label in self.state}
        return float(expected_cost(probs, self._costs, self._fixed_cost, self.subspace.bounds))

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """One architecture from the learned distribution (single-branch points: uniform)."""
        arch = {}
        for label in self.subspace.labels:
            if self.subspace.is_multi(label):
                probs = torch.sigmoid(torch.tensor(self.logits(label))).numpy()
                arch[label] = draw_set(self.subspace.ops(label), probs, self.subspace.bounds[label], rng)
            else:
                choices = self.subspace.choices(label)
                arch[label] = choices[int(rng.integers(len(choices)))]
        return arch

    # -- the architecture step -------------------------------------------------------------------
    def maybe_step(self, supernet, x_val: torch.Tensor, y_val: torch.Tensor, *, round_index: int, epoch: int,
                   step: int, batch_size: int) -> float | None:
        """An architecture step if this weight step (1-based ``step`` of ``epoch``) calls for one; its loss."""
        if epoch < self.config.warmup_epochs or step % self.config.every:
            return None
        n = len(y_val)
        share = batch_size // self.group.world
        gen = torch_stream(self.seed, "branch-batch", round_index, epoch)
        order = torch.randperm(n, generator=gen).to(y_val.device)
        first = ((step // self.config.every - 1) * batch_size) % max(n - batch_size + 1, 1)
        idx = order[first + self.group.rank * share:first + (self.group.rank + 1) * share]
        rng = numpy_stream(self.seed, "branch-pairs", round_index, epoch, step)
        return self.step(supernet, x_val[idx], y_val[idx], rng)

    def step(self, supernet, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> float:
        """One architecture step on the batch ``(x, y)``, its branch-set pairs drawn from ``rng``; the loss."""
        labels = list(self.state)
        logits = {label: torch.tensor(self.logits(label), dtype=torch.float32, requires_grad=True)
                  for label in labels}
        arch = {}
        pairs = {}
        for label in self.subspace.labels:
            if label not in self.state:
                choices = self.subspace.choices(label)
                arch[label] = choices[int(rng.integers(len(choices)))]
                continue
            ops, bounds = self.subspace.ops(label), self.subspace.bounds[label]
            probs = torch.sigmoid(logits[label].detach()).double().numpy()
            first = draw_set(ops, probs, bounds, rng)
            second = draw_set(ops, probs, bounds, rng, exclude=first)
            arch[label] = first
            if second is not None:
                member = self.subspace.membership(label)
                choices = self.subspace.choices(label)
                a = torch.tensor(member[choices.index(first)])
                b = torch.tensor(member[choices.index(second)])
                w_a, w_b = two_sample_weights(logits[label], a, b)
                pairs[label] = (second, w_a.to(x.device), w_b.to(x.device))
        was = supernet.training
        supernet.train()
        try:
            out = supernet.forward_two_sample(x, arch, pairs)
        finally:
            supernet.train(was)
        loss = F.cross_entropy(out, y)
        probs = {label: torch.sigmoid(logits[label]) for label in labels}
        target = float(self.config.target)
        penalty = ((expected_cost(probs, self._costs, self._fixed_cost, self.subspace.bounds) - target) / target) ** 2
        total = loss.double().cpu() + self.config.weight * penalty
        grads = torch.autograd.grad(total, [logits[label] for label in labels], allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(logits[label]) for g, label in zip(grads, labels)]
        if self.group.distributed:  # the penalty's part is the same on every rank, the batch's is averaged
            holders = [torch.zeros_like(g, requires_grad=False) for g in grads]
            for holder, g in zip(holders, grads):
                holder.grad = g.clone()
            self.group.all_reduce_grads(holders)
            grads = [h.grad for h in holders]
        self._adam(labels, grads)
        return float(total.detach())

    def _adam(self, labels: list[str], grads: list[torch.Tensor]) -> None:
        self.steps += 1
        beta1, beta2 = ADAM_BETAS
        lr = self.config.lr
        for label, grad in zip(labels, grads):
            for op, g in zip(self.subspace.ops(label), grad.double().tolist()):
                alpha, m, v = self.state[label][op]
                m = beta1 * m + (1 - beta1) * g
                v = beta2 * v + (1 - beta2) * g * g
                m_hat = m / (1 - beta1 ** self.steps)
                v_hat = v / (1 - beta2 ** self.steps)
                self.state[label][op] = [alpha - lr * m_hat / (math.sqrt(v_hat) + ADAM_EPS), m, v]

    # -- pruning ---------------------------------------------------------------------------------
    def prune(self) -> list[Pruned]:
        """The operators whose probability is below ``prune_below`` (each point keeps enough; see the module)."""
        out = []
        for label, ops in self.state.items():
            bounds = self.subspace.bounds[label]
            keep_at_least = max(1, bounds.min)
            ranked = sorted(ops, key=lambda op: -ops[op][0])
            low = [op for op in ranked[keep_at_least:] if _sigmoid(ops[op][0]) < self.config.prune_below]
            out.extend(Pruned(label, op, _sigmoid(ops[op][0]), ops[op][0]) for op in low)
        return out

    # -- snapshots -------------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        """``{"label/op": [alpha, m, v]}`` in float64 (exact round trip)."""
        return {f"{label}/{op}": torch.tensor(v, dtype=torch.float64)
                for label, ops in self.state.items() for op, v in ops.items()}

    def load(self, tensors: Mapping[str, torch.Tensor], steps: int) -> None:
        """Restore what :meth:`tensors` wrote (after :meth:`sync` to the snapshot's subspace)."""
        for key, value in tensors.items():
            label, op = key.split("/", 1)
            if label in self.state and op in self.state[label]:
                self.state[label][op] = [float(x) for x in value.tolist()]
        self.steps = int(steps)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
