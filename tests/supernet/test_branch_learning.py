"""Branch learning (NSE's two-sample estimator) on a toy problem small enough to answer exhaustively."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from evospace.metrics import kendall_tau
from evospace.space import BranchBounds, BranchLearningConfig, OpCost, space_from_dict, split_branches
from evospace.supernet import BranchLearner, Supernet, draw_set, two_sample_weights

CLASSES = 10
OPS = ("conv_k3", "conv_k5", "conv_k7", "sep_k3", "sep_k5")
STRENGTH = {"conv_k3": 3.0, "conv_k5": 1.5, "conv_k7": 0.6, "sep_k3": -1.0, "sep_k5": -2.0}  # < 0: harmful
COST = {"conv_k3": 400.0, "conv_k5": 300.0, "conv_k7": 200.0, "sep_k3": 100.0, "sep_k5": 50.0}


class Scale(nn.Module):
    """A fixed toy branch: ``strength`` times its input (negative strengths point at the wrong class)."""

    def __init__(self, strength: float) -> None:
        super().__init__()
        self.strength = strength

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.strength * x


class Logits(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def toy_supernet() -> tuple[Supernet, str]:
    """A real Supernet over one multi-branch point whose branches are fixed scalings of the one-hot input."""
    data = {"name": "toy", "data": {"name": "mnist1d", "samples": 100},
            "skeleton": {"kind": "chain", "dims": 1, "stem": {"channels": CLASSES},
                         "stages": [{"channels": CLASSES, "depth": 1, "multi_branch": True, "min_branches": 1}]},
            "pool": list(OPS), "initial": {"size": len(OPS), "order": "listed"}, "seed": 0}
    space = space_from_dict(data, "<toy>")
    net = Supernet(space, space.initial_subspace())
    label = space.labels[0]
    for op in OPS:
        net.choices[label.replace(".", "_")][op] = Scale(STRENGTH[op])
    net.stem, net.head = nn.Identity(), Logits()
    return net, label


def toy_data(n: int = 512, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(CLASSES, (n,), generator=gen)
    x = F.one_hot(y, CLASSES).float() + 0.5 * torch.randn(n, CLASSES, generator=gen)
    return x[:, :, None], y


def learn(net: Supernet, config: BranchLearningConfig, steps: int) -> BranchLearner:
    learner = BranchLearner(config, net.subspace, lambda label, op: OpCost(int(COST[op]), 0), 0.0, seed=0)
    x, y = toy_data()
    for step in range(steps):
        rows = torch.arange(step * 64, step * 64 + 64) % len(y)
        learner.step(net, x[rows], y[rows], np.random.default_rng(step))
    return learner


def exhaustive_marginals(net: Supernet, label: str) -> dict[str, float]:
    """Mean cross-entropy of the branch sets containing each operator minus that of the sets without it."""
    x, y = toy_data()
    losses = {}
    with torch.no_grad():
        for choice in net.subspace.choices(label):
            losses[choice] = float(F.cross_entropy(net(x, {label: choice}), y))
    out = {}
    for op in OPS:
        inside = [v for c, v in losses.items() if op in split_branches(c)]
        outside = [v for c, v in losses.items() if op not in split_branches(c)]
        out[op] = float(np.mean(inside) - np.mean(outside))
    return out


def test_learned_probabilities_rank_operators_like_the_exhaustive_answer() -> None:
    net, label = toy_supernet()
    learner = learn(net, BranchLearningConfig(target=1000, weight=0.0, lr=0.05), steps=150)
    probs = learner.probabilities()[label]
    truth = exhaustive_marginals(net, label)
    tau = kendall_tau(np.array([probs[op] for op in OPS]), -np.array([truth[op] for op in OPS]))
    assert tau == pytest.approx(1.0), (probs, truth)
    assert probs["conv_k3"] > 0.7 and probs["sep_k5"] < 0.3


def test_expected_cost_settles_near_the_target() -> None:
    net, label = toy_supernet()
    target = 500.0  # between the cheapest set (50) and the whole pool (1050)
    learner = learn(net, BranchLearningConfig(target=int(target), weight=20.0, lr=0.05), steps=300)
    assert abs(learner.expected_cost() - target) / target < 0.1, learner.expected_cost()
    probs = learner.probabilities()[label]
    assert probs["conv_k3"] > probs["sep_k5"]  # the penalty moves the cost, the loss still orders the operators


def test_the_estimator_gradient_compares_the_two_sets() -> None:
    """w_A + w_B = 1, so the logits' gradient is ∝ <g, y_A − y_B>: zero when both sets compute the same."""
    logits = torch.zeros(3, requires_grad=True)
    a = torch.tensor([True, False, False])
    b = torch.tensor([False, True, False])
    w_a, w_b = two_sample_weights(logits, a, b)
    assert float((w_a + w_b).detach()) == pytest.approx(1.0) and float(w_a.detach()) == pytest.approx(0.5)
    y = torch.ones(4)
    out = y + (w_a - w_a.detach()) * y + (w_b - w_b.detach()) * y
    (grad,) = torch.autograd.grad(out.sum(), logits)
    assert torch.allclose(grad, torch.zeros(3))


def test_hand_written_adam_matches_torch_adam() -> None:
    net, label = toy_supernet()
    learner = BranchLearner(BranchLearningConfig(target=100, lr=0.1), net.subspace, lambda l, o: OpCost(1, 0),
                            0.0, seed=0)
    reference = torch.zeros(len(OPS), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([reference], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    rng = np.random.default_rng(0)
    for _ in range(20):
        grad = torch.from_numpy(rng.normal(size=len(OPS)))
        learner._adam([label], [grad])
        optimizer.zero_grad()
        reference.grad = grad.clone()
        optimizer.step()
    assert np.allclose(learner.logits(label), reference.detach().numpy(), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 3), st.integers(1, 4),
       st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4))
def test_drawn_sets_respect_the_bounds_and_the_exclusion(seed: int, low: int, span: int, probs: list[float]) -> None:
    ops = ("a_k3", "b_k3", "c_k3", "d_k3")
    bounds = BranchBounds(low, min(4, low + span - 1) if low + span - 1 >= max(low, 1) else max(low, 1))
    rng = np.random.default_rng(seed)
    first = draw_set(ops, np.array(probs), bounds, rng)
    assert first is not None and bounds.allows(len(split_branches(first)))
    second = draw_set(ops, np.array(probs), bounds, rng, exclude=first)
    allowed = sum(1 for size in range(bounds.min, bounds.max + 1) for _ in itertools.combinations(ops, size))
    if allowed > 1:
        assert second is not None and second != first and bounds.allows(len(split_branches(second)))
    else:
        assert second is None


def test_pruning_keeps_enough_operators_and_the_most_probable() -> None:
    net, label = toy_supernet()
    config = BranchLearningConfig(target=100, prune_below=0.4)
    learner = BranchLearner(config, net.subspace, lambda l, o: OpCost(1, 0), 0.0, seed=0)
    for i, op in enumerate(OPS):
        learner.state[label][op][0] = -5.0 - i  # every probability far below the threshold
    pruned = learner.prune()
    assert [p.op for p in pruned] == list(OPS[1:])  # the most probable stays (min_branches 1)
    assert all(p.probability < 0.4 for p in pruned)


def test_logits_survive_a_snapshot_and_a_change_of_operators() -> None:
    net, label = toy_supernet()
    learner = learn(net, BranchLearningConfig(target=500, weight=1.0), steps=5)
    copy_ = BranchLearner(learner.config, net.subspace, learner.op_cost, 0.0, seed=0)
    copy_.load(learner.tensors(), learner.steps)
    assert copy_.state == learner.state and copy_.steps == learner.steps
    smaller = net.subspace.remove(label, ["sep_k5"])
    learner.sync(smaller)
    assert "sep_k5" not in learner.state[label]
    grown = smaller.add(label, ["sep_k5"])
    learner.sync(grown)
    assert learner.state[label]["sep_k5"] == [0.0, 0.0, 0.0]  # a newcomer starts at p = 1/2
    assert learner.state[label]["conv_k3"] == copy_.state[label]["conv_k3"]
    assert copy.deepcopy(learner.probabilities())[label]["sep_k5"] == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 0.99), min_size=1, max_size=5), st.integers(0, 3), st.integers(0, 4))
def test_inclusion_is_exact_under_the_bounds(probs: list[float], low: int, span: int) -> None:
    """P(o ∈ S | bounds allow S) by the size law equals the brute-force sum over every allowed set."""
    n = len(probs)
    bounds = BranchBounds(min(low, n), min(low, n) + span)
    p = torch.tensor(probs, dtype=torch.float64)
    weights, hits = 0.0, np.zeros(n)
    for members in itertools.product([False, True], repeat=n):
        if not bounds.allows(sum(members)):
            continue
        w = float(np.prod([q if m else 1 - q for q, m in zip(probs, members)]))
        weights += w
        hits += w * np.array(members, dtype=float)
    from evospace.supernet import inclusion

    assert np.allclose(inclusion(p, bounds).numpy(), hits / weights, atol=1e-12)
