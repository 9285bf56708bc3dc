"""The warm start of new operators (search.match_steps): which operators are fitted to which, that the fit brings
them toward their reference (chain, multi-branch and cell supernets) and changes nothing else."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_SPACE, multi_branch_stages, perturb, tiny_cell_dict

from evospace.data import load_space_data
from evospace.space import space_from_dict
from evospace.supernet import Supernet
from evospace.supernet.warm_start import match_operators, match_plan, ops_with_weights


def chain_space(**pool):
    space = copy.deepcopy(TINY_SPACE)
    space["initial"] = {"ops": ["conv_k3", "sep_k3", "skip", "dil_k3_d2"], "size": None}
    space.update(pool)
    return space_from_dict(space, "<tiny>")


def test_round_zero_fits_every_operator_with_weights_to_the_first_with_weights():
    space = chain_space()
    net = Supernet(space, space.initial_subspace())
    born = {label: {op: 0 for op in net.subspace.ops(label)} for label in space.labels}
    plan = match_plan(net.subspace, born, 0, ops_with_weights(net))
    assert plan.references == {"s1.b1": "conv_k3", "s2.b1": "conv_k3", "s2.b2": "conv_k3"}
    assert plan.fitted["s1.b1"] == ("sep_k3", "dil_k3_d2")  # skip keeps the shape: no weights, not fitted
    assert "skip" in plan.fitted["s2.b1"]  # it strides and widens there: a projection with weights


def test_a_later_round_fits_only_its_newcomers_to_the_oldest_survivor():
    space = chain_space()
    net = Supernet(space, space.initial_subspace())
    born = {label: {"conv_k3": 1, "sep_k3": 0, "skip": 0, "dil_k3_d2": 2} for label in space.labels}
    plan = match_plan(net.subspace, born, 2, ops_with_weights(net))
    assert plan.references == {label: "sep_k3" for label in space.labels}
    assert plan.fitted == {label: ("dil_k3_d2",) for label in space.labels}
    assert match_plan(net.subspace, born, 3, ops_with_weights(net)).count == 0  # nobody born in round 3
    fresh = match_plan(net.subspace, born, 2, ops_with_weights(net), inherit_weights=False)
    assert fresh == match_plan(net.subspace, born, 0, ops_with_weights(net))  # all start fresh: round 0's plan


def test_operators_without_weights_are_neither_fitted_nor_references():
    space = chain_space()
    net = Supernet(space, space.initial_subspace().with_active({label: ["skip", "avg_pool_k3"]
                                                               for label in space.labels}))
    born = {label: {"skip": 0, "avg_pool_k3": 1} for label in space.labels}
    plan = match_plan(net.subspace, born, 1, ops_with_weights(net))
    # only s2.b1 strides and widens, so only there do both have weights (a projection)
    assert plan.references == {"s2.b1": "skip"} and plan.fitted == {"s2.b1": ("avg_pool_k3",)}


def gaps(net: Supernet, plan, x: torch.Tensor) -> list[float]:
    """Mean squared error between each fitted module and its reference on the references' path (on a copy: the
    forward pass in training mode moves BN statistics)."""
    from evospace.supernet.warm_start import _module_pairs, _reference_arch

    net = copy.deepcopy(net)
    pairs = _module_pairs(net, plan)
    seen = {}
    hooks = [ref.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, (i[0], o)))
             for k, (ref, _) in enumerate(pairs)]
    net.train()
    with torch.no_grad():
        net(x, _reference_arch(net.subspace, plan))
        out = [float(F.mse_loss(module(seen[k][0]), seen[k][1])) for k, (_, module) in enumerate(pairs)]
    for hook in hooks:
        hook.remove()
    return out


SPACES = {
    "chain": lambda: chain_space(),
    "multi-branch": lambda: chain_space(skeleton={**TINY_SPACE["skeleton"], "stages": multi_branch_stages()}),
    "cell": lambda: space_from_dict(tiny_cell_dict(), "<tiny_cell>"),
    "darts": lambda: space_from_dict(tiny_cell_dict(darts=True), "<tiny_darts>"),
}


@pytest.mark.parametrize("kind", SPACES)
def test_the_fit_brings_each_operator_toward_its_reference_and_leaves_the_rest_alone(kind):
    space = SPACES[kind]()
    data = load_space_data(space.config.data, split_seed=0, device=torch.device("cpu"))
    net = Supernet(space, space.full_subspace())
    perturb(net, 1)  # trained-looking weights and BN statistics
    born = {label: {op: 0 for op in net.subspace.ops(label)} for label in space.labels}
    plan = match_plan(net.subspace, born, 0, ops_with_weights(net))
    assert plan.count > 0
    x = data.x_train[:64]
    before = gaps(net, plan, x)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    report = match_operators(net, data, plan, 40, torch.Generator().manual_seed(0), 32)
    after = gaps(net, plan, x)
    assert report is not None and report.operators == plan.count and report.loss_after < report.loss_before
    assert sum(after) < 0.5 * sum(before)
    fitted = tuple(f"choices.{label.replace('.', '_')}.{op}." for label, ops in plan.fitted.items() for op in ops)
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, state[k])}
    assert changed and all(k.startswith(fitted) for k in changed)  # references, stem, head: untouched


def test_the_fit_is_the_same_for_the_same_generator_and_none_without_steps():
    space = chain_space()
    data = load_space_data(space.config.data, split_seed=0, device=torch.device("cpu"))
    nets = [Supernet(space, space.initial_subspace()) for _ in range(2)]
    born = {label: {op: 0 for op in nets[0].subspace.ops(label)} for label in space.labels}
    plan = match_plan(nets[0].subspace, born, 0, ops_with_weights(nets[0]))
    for net in nets:
        match_operators(net, data, plan, 5, torch.Generator().manual_seed(3), 32)
    assert all(torch.equal(a, b) for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()))
    assert match_operators(nets[0], data, plan, 0, torch.Generator(), 32) is None
