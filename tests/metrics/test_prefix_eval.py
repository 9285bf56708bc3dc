"""Prefix-shared evaluation: equal to the bit to scoring each architecture alone, and each prefix run once."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import TINY_SPACE, multi_branch_stages, perturb
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from evospace.data import load_data
from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.metrics.prefix_eval import PrefixEvaluator
from evospace.space import SearchSpace, space_from_dict
from evospace.space.ops import conv_bn
from evospace.supernet.bn import recalibrated
from evospace.supernet.prefix import PrefixStep, PrefixUnit
from evospace.supernet.supernet import Supernet

RECAL = 3
SPACE = space_from_dict(TINY_SPACE, "<tiny>")


def multi_space() -> tuple[SearchSpace, object]:
    """The tiny space with multi-branch stages: 7 × 6 × 7 branch-set choices, with skipped blocks."""
    data = copy.deepcopy(TINY_SPACE)
    data["pool"] = ["conv_k3", "sep_k3", "avg_pool_k3", "skip"]
    data["skeleton"]["stages"] = multi_branch_stages()
    space = space_from_dict(data, "<multi>")
    return space, space.subspace({"s1.b1": ("conv_k3", "sep_k3", "skip"), "s2.b1": ("conv_k3", "avg_pool_k3", "skip"),
                                  "s2.b2": ("sep_k3", "avg_pool_k3", "skip")})


def tiny_data(space: SearchSpace):
    cfg = space.config.data
    return load_data(cfg.name, val_fraction=cfg.val_fraction, samples=cfg.samples, split_seed=0)


def alone_logits(net: Supernet, evaluator: AccuracyEvaluator, arch: dict[str, str]) -> torch.Tensor:
    """Validation logits of ``arch`` recalibrated alone (what ``AccuracyEvaluator.accuracy`` computes)."""
    forward = lambda x: net(x, arch)  # noqa: E731
    with torch.no_grad(), recalibrated(net.path_modules(arch), forward, evaluator.recal_batches):
        return forward(evaluator.x_val)


def shared_logits(evaluator: PrefixEvaluator, network, rows: list[list[str]]) -> list[torch.Tensor]:
    """Each row's validation logits from one prefix-shared walk."""
    seen: list[torch.Tensor] = []

    def keep(logits: list[torch.Tensor]) -> float:
        seen.append(torch.cat(logits))
        return len(seen) - 1

    with torch.inference_mode():
        index = evaluator.scores(network, rows, keep)
    return [seen[int(i)] for i in index]


def make(space: SearchSpace, subspace, nodes_per_pass: int = 0) -> tuple[Supernet, AccuracyEvaluator]:
    net = Supernet(space, subspace, seed=1)
    perturb(net, 0)
    evaluator = AccuracyEvaluator(tiny_data(space), batch_size=32, batches=RECAL, seed=0,
                                  nodes_per_pass=nodes_per_pass)
    return net, evaluator


@pytest.mark.parametrize("nodes_per_pass", [0, 1, 4])
def test_every_architecture_gets_its_logits_alone_to_the_bit(tiny_space: SearchSpace, nodes_per_pass: int) -> None:
    subspace = tiny_space.initial_subspace()
    net, evaluator = make(tiny_space, subspace, nodes_per_pass)
    archs = list(subspace)
    rows = [[arch[label] for label in subspace.labels] for arch in archs]
    for arch, logits in zip(archs, shared_logits(evaluator.prefix, net.prefix_network(), rows)):
        assert torch.equal(logits, alone_logits(net, evaluator, arch)), arch


@pytest.mark.parametrize("nodes_per_pass", [0, 4])
def test_multi_branch_sets_share_operators_and_match_alone(nodes_per_pass: int) -> None:
    space, subspace = multi_space()
    net, evaluator = make(space, subspace, nodes_per_pass)
    archs = [subspace.sample(np.random.default_rng(i)) for i in range(40)]
    rows = [[arch[label] for label in subspace.labels] for arch in archs]
    for arch, logits in zip(archs, shared_logits(evaluator.prefix, net.prefix_network(), rows)):
        assert torch.equal(logits, alone_logits(net, evaluator, arch)), arch
    assert evaluator.accuracy_many(net, archs).tolist() == [evaluator.accuracy(net, arch) for arch in archs]


@pytest.fixture(scope="module")
def scored_alone():
    """Every architecture of the tiny initial subspace (27) scored alone."""
    subspace = SPACE.initial_subspace()
    net, evaluator = make(SPACE, subspace)
    return subspace, net, evaluator, [evaluator.accuracy(net, arch) for arch in subspace]


@settings(max_examples=8, deadline=None)
@given(picks=st.lists(st.integers(0, 26), min_size=1, max_size=12))
def test_any_order_and_repeats_give_each_architecture_its_own_accuracy(scored_alone, picks: list[int]) -> None:
    subspace, net, evaluator, alone = scored_alone
    rows = subspace.all_indices()[picks]
    assert evaluator.accuracy_many(net, [subspace.decode(row) for row in rows]).tolist() == [alone[i] for i in picks]
    assert evaluator.accuracy_many(net, rows).tolist() == [alone[i] for i in picks]


def test_the_supernet_is_left_as_it_was(tiny_space: SearchSpace) -> None:
    net, evaluator = make(tiny_space, tiny_space.initial_subspace())
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    momenta = [m.momentum for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    evaluator.accuracy_many(net, list(tiny_space.initial_subspace()))
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert all(m.training for m in net.modules())
    assert momenta == [m.momentum for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_each_distinct_prefix_runs_once(tiny_space: SearchSpace) -> None:
    subspace = tiny_space.initial_subspace()
    net, evaluator = make(tiny_space, subspace)
    calls: dict[str, int] = {}
    modules = {"stem": net.stem, **{f"{label}/{op}": net.op_module(label, op)
                                    for label in subspace.labels for op in subspace.ops(label)}}
    for name, module in modules.items():
        module.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
    evaluator.accuracy_many(net, list(subspace))
    passes = RECAL + 1  # the recalibration batches, then the validation split (one chunk)
    first, second, last = subspace.labels
    assert calls["stem"] == passes
    assert all(calls[f"{first}/{op}"] == passes for op in subspace.ops(first))
    assert all(calls[f"{second}/{op}"] == 3 * passes for op in subspace.ops(second))
    # after the last choice point the head has no BN layer: its recalibration pass only feeds statistics
    assert all(calls[f"{last}/{op}"] in (9 * passes, 9) for op in subspace.ops(last))


class TinyCell:
    """A three-edge DAG (node1 = e0(node0); node2 = e1(node0) + e2(node1)) as a :class:`PrefixNetwork`,
    edges in topological order: what a cell supernet would give the trie."""

    labels = ("e0", "e1", "e2")
    sources = (0, 0, 1)

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.stem = conv_bn(1, 4, 3, 1, 1)
        self.edges = {(label, op): conv_bn(4, 4, k, 1, 1) if k else nn.Identity()
                      for label in self.labels for op, k in (("c3", 3), ("c5", 5), ("id", 0))}
        self.head = nn.Sequential(nn.Flatten(1), nn.LazyLinear(10))
        self.head(torch.zeros(1, 4 * 40))
        for module in [self.stem, *self.edges.values()]:
            perturb(module, 1)

    def root(self) -> PrefixUnit:
        return PrefixUnit("stem", self.stem, lambda x: (self.stem(x),))

    def step(self, k: int, prefix) -> PrefixStep:
        module = self.edges[self.labels[k], prefix[k]]
        source = self.sources[k]
        unit = PrefixUnit(prefix[k], module, lambda nodes: module(nodes[source]))

        def combine(nodes, outputs):
            if k == 1:  # the first edge into node 2 starts its sum
                return (*nodes, outputs[0])
            if k == 2:
                return (*nodes[:2], nodes[2] + outputs[0])
            return (*nodes, outputs[0])

        return PrefixStep((unit,), combine)

    def finish(self, values) -> PrefixUnit:
        return PrefixUnit("head", self.head, lambda nodes: self.head(nodes[2]))

    def forward(self, x: torch.Tensor, arch: tuple[str, ...]) -> torch.Tensor:
        n0 = self.stem(x)
        n1 = self.edges["e0", arch[0]](n0)
        n2 = self.edges["e1", arch[1]](n0) + self.edges["e2", arch[2]](n1)
        return self.head(n2)

    def path(self, arch: tuple[str, ...]) -> list[nn.Module]:
        return [self.stem, *(self.edges[label, op] for label, op in zip(self.labels, arch)), self.head]


@pytest.mark.parametrize("nodes_per_pass", [0, 4])
def test_a_cell_in_topological_order_fits_the_same_trie(tiny_space: SearchSpace, nodes_per_pass: int) -> None:
    cell = TinyCell()
    data = tiny_data(tiny_space)
    batches = [data.x_train[i * 32:(i + 1) * 32] for i in range(RECAL)]
    evaluator = PrefixEvaluator(batches, data.x_val, data.y_val, nodes_per_pass=nodes_per_pass)
    rows = [(a, b, c) for a in ("c3", "c5", "id") for b in ("c3", "id") for c in ("c5", "id")]
    for row, logits in zip(rows, shared_logits(evaluator, cell, rows)):
        forward = lambda x, row=row: cell.forward(x, row)  # noqa: E731
        with torch.no_grad(), recalibrated(cell.path(row), forward, batches):
            assert torch.equal(logits, forward(data.x_val)), row


def test_a_module_twice_on_one_path_is_refused(tiny_space: SearchSpace) -> None:
    cell = TinyCell()
    shared = cell.edges["e0", "c3"]
    cell.edges["e2", "c3"] = shared  # e2's c3 is e0's: its statistics would need both inputs at once
    data = tiny_data(tiny_space)
    evaluator = PrefixEvaluator([data.x_train[:32]], data.x_val, data.y_val)
    with pytest.raises(ValueError, match="already runs earlier on the path"):
        evaluator.accuracies(cell, [("c3", "id", "c3")])
