"""Multi-branch supernets: a branch set is the mean of its operators, and every metric sums over the set."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import TINY_SPACE, multi_branch_stages, perturb
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from evospace.metrics import (
    DEFINITIONS,
    AngleScorer,
    covering_sample,
    magnitude_table,
    naive_angle,
    op_magnitudes,
    op_means,
    reference_weights,
)
from evospace.space import EMPTY, InactiveOpError, SearchSpace, Subspace, space_from_dict, split_branches
from evospace.supernet import ChildNet, MultiBranch, Supernet, build_model, two_sample_weights

POOL = ["conv_k3", "sep_k3", "avg_pool_k3", "skip"]


def multi_space_dict() -> dict:
    """s1.b1 keeps the shape (0–2 branches), s2.b1 strides and widens (1–2), s2.b2 keeps the shape (0–2)."""
    data = copy.deepcopy(TINY_SPACE)
    data["name"] = "tiny-multi"
    data["pool"] = list(POOL)
    data["initial"] = {"size": 3, "order": "listed"}
    data["skeleton"]["stages"] = multi_branch_stages()
    return data


SPACE = space_from_dict(multi_space_dict(), "<multi>")
# operators with one kernel, with two (sep), and parameter-free ones (the abs definition gives pools a direction)
SMALL = SPACE.subspace({"s1.b1": ("conv_k3", "sep_k3", "skip"), "s2.b1": ("conv_k3", "avg_pool_k3", "skip"),
                        "s2.b2": ("sep_k3", "avg_pool_k3", "skip")})


def inputs(space: SearchSpace, n: int = 4, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, space.data.channels, *([space.data.side] * space.data.dims), generator=gen)


@pytest.fixture(scope="module")
def net() -> Supernet:
    supernet = Supernet(SPACE, SPACE.full_subspace(), seed=1)
    perturb(supernet, 0)
    return supernet.eval()


def manual_forward(supernet: Supernet, x: torch.Tensor, arch: dict[str, str]) -> torch.Tensor:
    x = supernet.stem(x)
    for label in SPACE.labels:
        ops = split_branches(arch[label])
        if ops:
            x = torch.stack([supernet.op_module(label, op)(x) for op in ops]).mean(dim=0)
    return supernet.head(x)


# -- forward ---------------------------------------------------------------------------------------
def test_supernet_carries_the_space_bounds(net) -> None:
    assert net.subspace.bounds == SPACE.branch_bounds
    handmade = Supernet(SPACE, SMALL.with_active(SMALL.to_config()), seed=0)
    bare = Supernet(SPACE, Subspace(SMALL.to_config()), seed=0)  # a subspace without bounds gets the space's
    assert handmade.subspace.bounds == bare.subspace.bounds == SPACE.branch_bounds


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_branch_set_is_the_mean_of_its_operators(net, seed: int) -> None:
    arch = SPACE.full_subspace().sample(np.random.default_rng(seed))
    x = inputs(SPACE, seed=seed % 1000)
    with torch.no_grad():
        torch.testing.assert_close(net(x, arch), manual_forward(net, x, arch), rtol=1e-5, atol=1e-6)


def test_one_branch_is_that_operator_and_two_are_their_mean(net) -> None:
    x = inputs(SPACE)
    with torch.no_grad():
        h = net.stem(x)
        a, b = net.op_module("s1.b1", "conv_k3")(h), net.op_module("s1.b1", "sep_k3")(h)
        rest = {"s2.b1": "skip", "s2.b2": EMPTY}
        tail = lambda y: net.head(net.op_module("s2.b1", "skip")(y))  # noqa: E731
        torch.testing.assert_close(net(x, {"s1.b1": "conv_k3", **rest}), tail(a))
        torch.testing.assert_close(net(x, {"s1.b1": "conv_k3+sep_k3", **rest}), tail((a + b) / 2))


def test_none_passes_the_input_through(net) -> None:
    x = inputs(SPACE)
    with torch.no_grad():
        h = net.op_module("s2.b1", "sep_k3")(net.stem(x))
        out = net(x, {"s1.b1": EMPTY, "s2.b1": "sep_k3", "s2.b2": EMPTY})
        assert torch.equal(out, net.head(h))
        assert [m for m in net.block_modules("s1.b1", EMPTY)] == []
        path = net.path_modules({"s1.b1": EMPTY, "s2.b1": "conv_k3+skip", "s2.b2": "sep_k3"})
        assert path == [net.stem, net.op_module("s2.b1", "conv_k3"), net.op_module("s2.b1", "skip"),
                        net.op_module("s2.b2", "sep_k3"), net.head]


def test_forward_of_an_inactive_operator_names_it() -> None:
    small = Supernet(SPACE, SMALL, seed=0)
    with pytest.raises(InactiveOpError, match="'conv_k3' is not active at 's2.b2'"):
        small(inputs(SPACE), {"s1.b1": "conv_k3+sep_k3", "s2.b1": "skip", "s2.b2": "conv_k3+sep_k3"})


# -- stand-alone models ----------------------------------------------------------------------------
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_child_net_loads_the_path_strictly_and_matches_the_supernet(net, seed: int) -> None:
    arch = SPACE.full_subspace().sample(np.random.default_rng(seed))
    child = build_model(SPACE, arch, seed=5)
    assert isinstance(child, ChildNet)
    state = net.path_state_dict(arch)
    assert set(state) == set(child.state_dict())
    child.load_state_dict(state, strict=True)
    x = inputs(SPACE, seed=seed % 1000)
    with torch.no_grad():
        assert torch.equal(child.eval()(x), net(x, arch))
    assert sum(p.numel() for p in child.parameters()) == SPACE.cost(arch).params


def test_child_net_blocks_are_multi_branch_modules(net) -> None:
    arch = {"s1.b1": EMPTY, "s2.b1": "conv_k3+skip", "s2.b2": "avg_pool_k3"}
    child = build_model(SPACE, arch)
    assert all(isinstance(block, MultiBranch) for block in child.blocks.values())
    assert list(child.blocks["s1_b1"].branches) == []
    assert list(child.blocks["s2_b1"].branches) == ["conv_k3", "skip"]
    x = torch.randn(2, 4, 5)
    assert torch.equal(child.blocks["s1_b1"](x), x)


def test_build_model_accepts_a_list_or_set_for_a_branch_set(net) -> None:
    text = {"s1.b1": "sep_k3+skip", "s2.b1": "avg_pool_k3+conv_k3", "s2.b2": EMPTY}
    listed = {"s1.b1": ["skip", "sep_k3"], "s2.b1": {"conv_k3", "avg_pool_k3"}, "s2.b2": []}
    a, b = build_model(SPACE, text, seed=2), build_model(SPACE, listed, seed=2)
    assert b.arch == text
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    b.load_state_dict(net.path_state_dict(text), strict=True)


def test_build_model_refuses_a_set_the_bounds_forbid() -> None:
    with pytest.raises(InactiveOpError, match="branches"):
        build_model(SPACE, {"s1.b1": "conv_k3+sep_k3+skip", "s2.b1": "skip", "s2.b2": EMPTY})
    with pytest.raises(InactiveOpError, match="s2.b1"):  # a shape-changing block cannot be skipped
        build_model(SPACE, {"s1.b1": EMPTY, "s2.b1": EMPTY, "s2.b2": EMPTY})


# -- the two-sample estimator ----------------------------------------------------------------------
def _two_sample(net: Supernet, x: torch.Tensor, arch: dict, label: str, other: str, w_a, w_b) -> torch.Tensor:
    return net.forward_two_sample(x, arch, {label: (other, w_a, w_b)})


def test_two_sample_forward_is_the_first_architectures_value(net) -> None:
    arch = {"s1.b1": "conv_k3+skip", "s2.b1": "sep_k3", "s2.b2": "avg_pool_k3+conv_k3"}
    x = inputs(SPACE)
    w_a, w_b = torch.tensor(0.3, requires_grad=True), torch.tensor(0.7, requires_grad=True)
    pairs = {"s1.b1": ("sep_k3", w_a, w_b), "s2.b2": (EMPTY, w_a * 1, w_b * 1)}
    with torch.no_grad():
        expected = net(x, arch)
    assert torch.equal(net.forward_two_sample(x, arch, pairs).detach(), expected)
    assert torch.equal(net.forward_two_sample(x, arch, {}).detach(), expected)


def test_two_sample_gradients_are_inner_products_with_each_sets_output(net) -> None:
    label, arch = "s2.b2", {"s1.b1": "sep_k3", "s2.b1": "conv_k3+skip", "s2.b2": "conv_k3"}
    other = "avg_pool_k3+sep_k3"
    x = inputs(SPACE)
    w_a, w_b = torch.tensor(0.4, requires_grad=True), torch.tensor(0.6, requires_grad=True)
    loss = _two_sample(net, x, arch, label, other, w_a, w_b).square().sum()
    loss.backward()
    # by hand: the gradient reaching the block's output, dotted with y_a and y_b
    with torch.no_grad():
        h = net.stem(x)
        h = net.op_module("s1.b1", "sep_k3")(h)
        h = (net.op_module("s2.b1", "conv_k3")(h) + net.op_module("s2.b1", "skip")(h)) / 2
        y_a = net.op_module(label, "conv_k3")(h)
        y_b = (net.op_module(label, "avg_pool_k3")(h) + net.op_module(label, "sep_k3")(h)) / 2
    y = y_a.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net.head(y).square().sum(), y)
    assert w_a.grad is not None and w_b.grad is not None
    torch.testing.assert_close(w_a.grad, (grad * y_a).sum(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(w_b.grad, (grad * y_b).sum(), rtol=1e-4, atol=1e-6)
    assert w_a.grad != 0 and w_b.grad != 0
    net.zero_grad()


def test_two_sample_leaves_the_weight_gradients_of_a_plain_forward(net) -> None:
    arch = {"s1.b1": "conv_k3+sep_k3", "s2.b1": "conv_k3", "s2.b2": "sep_k3"}
    x = inputs(SPACE)
    net.zero_grad()
    net(x, arch).square().sum().backward()
    plain = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad()
    w_a, w_b = torch.tensor(0.5, requires_grad=True), torch.tensor(0.5, requires_grad=True)
    _two_sample(net, x, arch, "s1.b1", "avg_pool_k3+skip", w_a, w_b).square().sum().backward()
    mixed = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad()
    assert plain.keys() == mixed.keys()  # the other set's operators get no gradient
    for name in plain:
        torch.testing.assert_close(mixed[name], plain[name], rtol=1e-5, atol=1e-7)


def test_logit_gradient_from_two_sample_weights_is_finite_and_nonzero(net) -> None:
    label, arch = "s1.b1", {"s1.b1": "conv_k3", "s2.b1": "sep_k3", "s2.b2": "skip"}
    other = "avg_pool_k3+skip"
    ops = net.subspace.ops(label)
    logits = torch.tensor([0.3, -0.2, 0.1, 0.5][:len(ops)], requires_grad=True)
    member = lambda value: torch.tensor([op in split_branches(value) for op in ops])  # noqa: E731
    w_a, w_b = two_sample_weights(logits, member(arch[label]), member(other))
    torch.testing.assert_close(w_a + w_b, torch.tensor(1.0))
    x = inputs(SPACE)
    loss = nn.functional.cross_entropy(_two_sample(net, x, arch, label, other, w_a, w_b), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    net.zero_grad()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0
    # w_b = 1 - w_a: the logits see the difference of the two inner products, along ∂w_a/∂α
    w_a2, w_b2 = (torch.tensor(float(w_a.detach()), requires_grad=True),
                  torch.tensor(float(w_b.detach()), requires_grad=True))
    nn.functional.cross_entropy(_two_sample(net, x, arch, label, other, w_a2, w_b2),
                                torch.tensor([0, 1, 2, 3])).backward()
    net.zero_grad()
    alpha = logits.detach().clone().requires_grad_(True)
    (dw_a,) = torch.autograd.grad(two_sample_weights(alpha, member(arch[label]), member(other))[0], alpha)
    torch.testing.assert_close(logits.grad, (w_a2.grad - w_b2.grad) * dw_a, rtol=1e-4, atol=1e-7)


# -- metrics ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_net() -> tuple[Supernet, dict[str, torch.Tensor]]:
    supernet = Supernet(SPACE, SMALL, seed=0)
    reference = reference_weights(supernet)
    perturb(supernet, 4, scale=0.3)
    return supernet, reference


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_angle_decomposition_equals_naive_on_every_architecture(small_net, definition: str) -> None:
    supernet, reference = small_net
    scorer = AngleScorer(supernet, reference, definition)
    archs = list(SMALL)
    assert len(archs) == SMALL.size == 7 * 6 * 7
    fast = scorer.score_indices(SMALL.all_indices())
    slow = np.array([naive_angle(supernet, reference, arch, definition) for arch in archs])
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)
    for arch in archs[::37]:
        assert scorer.score(arch) == pytest.approx(naive_angle(supernet, reference, arch, definition), abs=1e-9)
    assert np.ptp(fast) > 0


def test_all_skipped_blocks_score_only_the_forced_point(small_net) -> None:
    supernet, reference = small_net
    scorer = AngleScorer(supernet, reference, "sum")
    arch = {"s1.b1": EMPTY, "s2.b1": "conv_k3", "s2.b2": EMPTY}
    assert scorer.score(arch) == pytest.approx(scorer.op_angles()[("s2.b1", "conv_k3")], abs=1e-12)
    assert AngleScorer(supernet, reference, "mean").score(arch) == pytest.approx(scorer.score(arch), abs=1e-12)
    assert AngleScorer(supernet, reference, "ops").score(arch) == pytest.approx(scorer.score(arch), abs=1e-9)


def test_magnitude_of_a_branch_set_is_the_sum_of_its_operators(small_net) -> None:
    supernet, _ = small_net
    table, mags = magnitude_table(supernet), op_magnitudes(supernet)
    assert table.shape == (len(SMALL.labels), max(len(SMALL.choices(l)) for l in SMALL.labels))
    for k, label in enumerate(SMALL.labels):
        for c, value in enumerate(SMALL.choices(label)):
            assert table[k, c] == pytest.approx(sum(mags[(label, op)] for op in split_branches(value)), abs=1e-12)
        assert table[k, len(SMALL.choices(label)):].sum() == 0
    assert mags[("s1.b1", "conv_k3")] > 0 and mags[("s1.b1", "skip")] == 0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sampled=st.booleans())
def test_op_means_is_the_mean_over_architectures_holding_the_operator(seed: int, sampled: bool) -> None:
    rng = np.random.default_rng(seed)
    rows = SMALL.sample_indices(rng, 40) if sampled else SMALL.all_indices()
    values = rng.normal(size=len(rows))
    means = op_means(SMALL, rows, values)
    archs = [SMALL.decode(row) for row in rows]
    for label in SMALL.labels:
        for op in SMALL.ops(label):
            holding = [v for arch, v in zip(archs, values, strict=True) if op in split_branches(arch[label])]
            if holding:
                assert means[label][op] == pytest.approx(np.mean(holding), abs=1e-9)
            else:
                assert np.isnan(means[label][op])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3))
def test_covering_sample_holds_every_operator_of_every_branch_point(seed: int, n: int) -> None:
    rows = covering_sample(SMALL, np.random.default_rng(seed), n)
    assert rows.shape[1] == len(SMALL.labels) and len(rows) >= n
    archs = [SMALL.decode(row) for row in rows]
    assert all(arch in SMALL for arch in archs)
    for label in SMALL.labels:
        seen = {op for arch in archs for op in split_branches(arch[label])}
        assert seen == set(SMALL.ops(label))
    means = op_means(SMALL, rows, np.ones(len(rows)))
    assert all(not np.isnan(v) for ops in means.values() for v in ops.values())
