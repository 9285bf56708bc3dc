"""Cell supernets (NAS-Bench-201's cell, 1-D and 2-D): paths equal their stand-alone models, costs equal the
modules, weights are inherited per edge, the angle decomposes over a cell's edges, recalibration and the prefix
fallback agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import perturb, tiny_cell_dict
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from evospace.data import load_space_data
from evospace.metrics import DEFINITIONS, AngleScorer, naive_angle, reference_weights
from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.space import SearchSpace, space_from_dict
from evospace.space.cells import cell_topology
from evospace.space.schema import SkeletonConfig
from evospace.supernet import Supernet, build_model
from evospace.supernet.cell import path_counts


@pytest.fixture(scope="module", params=[(1, False), (2, False), (1, True), (2, True)],
                ids=["1d", "2d", "darts-1d", "darts-2d"])
def cell_space(request) -> SearchSpace:
    return space_from_dict(tiny_cell_dict(*request.param), "<tiny_cell>")


def inputs(space: SearchSpace, n: int = 6) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, space.data.channels, *([space.data.side] * space.config.skeleton.dims), generator=gen)


def archs(space: SearchSpace, count: int, seed: int = 0) -> list[dict[str, str]]:
    full = space.full_subspace()
    rng = np.random.default_rng(seed)
    picked = [full.decode(row) for row in full.sample_indices(rng, count)]
    return picked + [{label: "zero" for label in space.labels}, {label: "conv_k3" for label in space.labels}]


def test_paths_equal_their_stand_alone_models(cell_space: SearchSpace) -> None:
    net = Supernet(cell_space, cell_space.full_subspace(), seed=1)
    perturb(net, 0)
    net.eval()
    x = inputs(cell_space)
    for arch in archs(cell_space, 12):
        model = build_model(cell_space, arch)
        model.load_state_dict(net.path_state_dict(arch), strict=True)
        model.eval()
        assert torch.equal(net(x, arch), model(x))


def test_fresh_model_matches_a_fresh_supernet(cell_space: SearchSpace) -> None:
    net = Supernet(cell_space, cell_space.full_subspace(), seed=4).eval()
    arch = archs(cell_space, 1, seed=2)[0]
    model = build_model(cell_space, arch, seed=4).eval()
    assert torch.equal(net(inputs(cell_space), arch), model(inputs(cell_space)))


def test_costs_count_the_modules(cell_space: SearchSpace) -> None:
    for arch in archs(cell_space, 10, seed=1):
        model = build_model(cell_space, arch)
        cost = cell_space.cost(arch)
        assert sum(p.numel() for p in model.parameters()) == cost.params
        with FlopCounterMode(display=False) as counter:
            model(inputs(cell_space, 1))
        assert counter.get_total_flops() == cost.flops


def test_apply_subspace_keeps_every_cells_weights(cell_space: SearchSpace) -> None:
    initial = cell_space.initial_subspace()
    net = Supernet(cell_space, initial, seed=3)
    perturb(net, 1)
    label = cell_space.labels[2]
    kept, dropped = initial.ops(label)[0], initial.ops(label)[1]
    added = next(op for op in cell_space.pool if op not in initial.ops(label))
    before = {k: v.clone() for k, v in net.op_module(label, kept).state_dict().items()}
    transitions = {k: v.clone() for k, v in net.transitions.state_dict().items()}
    target = initial.remove(label, [dropped]).add(label, [added])
    net.apply_subspace(target, round_index=1)
    after = net.op_module(label, kept).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(v, net.transitions.state_dict()[k]) for k, v in transitions.items())
    assert dropped not in net.choices[label.replace(".", "_")]
    net(inputs(cell_space), target.sample(np.random.default_rng(0)))


def test_single_path_step_trains_only_the_path(cell_space: SearchSpace) -> None:
    net = Supernet(cell_space, cell_space.full_subspace(), seed=0)
    arch = dict(archs(cell_space, 1, seed=5)[0], **{cell_space.labels[0]: "conv_k3", cell_space.labels[1]: "conv_k1"})
    loss = net(inputs(cell_space), arch).logsumexp(1).mean()
    loss.backward()
    for label in cell_space.labels:
        for op in cell_space.pool:
            grads = [p.grad for p in net.op_module(label, op).parameters()]
            if op != arch[label]:
                assert all(g is None for g in grads)


def test_path_counts_by_enumeration() -> None:
    # NAS-Bench-201, 4 nodes: edges e1_0, e2_0, e2_1, e3_0, e3_1, e3_2; the full cell has 4 paths 0 → 3
    nb201 = cell_topology(SkeletonConfig(kind="cell", nodes=4))
    counts = path_counts(np.zeros((1, 6), dtype=bool), nb201)[0]
    assert counts.tolist() == [2, 1, 1, 1, 1, 2]
    cut = path_counts(np.array([[True, False, False, False, False, False]]), nb201)[0]  # e1_0 zero: 0-2-3, 0-3
    assert cut.tolist() == [0, 1, 0, 1, 0, 1]
    # darts, inputs 0 and 1, one intermediate node 2 (the output): e2_0, e2_1 each on one path
    darts = cell_topology(SkeletonConfig(kind="cell", cell="darts", nodes=1))
    assert darts.edges == ((0, 2), (1, 2)) and darts.outputs == (2,)
    assert path_counts(np.zeros((1, 2), dtype=bool), darts)[0].tolist() == [1, 1]
    # two intermediate nodes, both output: e3_2 carries the 2 paths into node 2 on to node 3
    two = cell_topology(SkeletonConfig(kind="cell", cell="darts", nodes=2))
    assert two.edges == ((0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert path_counts(np.zeros((1, 5), dtype=bool), two)[0].tolist() == [2, 2, 1, 1, 2]


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.05, 1.0), darts=st.booleans())
def test_angle_decomposition_equals_the_naive_concatenation_over_paths(seed: int, scale: float, darts: bool) -> None:
    space = space_from_dict(tiny_cell_dict(1, darts), "<tiny_cell>")
    net = Supernet(space, space.full_subspace(), seed=0)
    reference = reference_weights(net)
    perturb(net, seed, scale)
    rows = space.full_subspace().sample_indices(np.random.default_rng(seed), 60)
    rows = np.vstack([rows, np.zeros((1, len(space.labels)), dtype=rows.dtype)])  # every edge zero
    for definition in DEFINITIONS:
        fast = AngleScorer(net, reference, definition).score_indices(rows)
        slow = np.array([naive_angle(net, reference, net.subspace.decode(r), definition) for r in rows])
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)


def test_recalibrated_accuracy_alone_equals_the_prefix_walk() -> None:
    space = space_from_dict(tiny_cell_dict(1), "<tiny_cell>")
    data = load_space_data(space.config.data, split_seed=0)
    net = Supernet(space, space.initial_subspace(), seed=0)
    perturb(net, 2)
    evaluator = AccuracyEvaluator(data, batch_size=64, batches=2)
    picked = [space.initial_subspace().decode(r)
              for r in space.initial_subspace().sample_indices(np.random.default_rng(1), 6)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    alone = [evaluator.accuracy(net, arch) for arch in picked]
    walked = evaluator.accuracy_many(net, picked)
    np.testing.assert_array_equal(np.array(alone), walked)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
