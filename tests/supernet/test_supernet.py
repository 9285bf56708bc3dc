"""Supernet: weight inheritance across subspaces, seeded initialisation, path export, BN recalibration."""

from __future__ import annotations

import pytest
import torch
from conftest import perturb
from torch import nn

from evospace.space import InactiveOpError, SearchSpace, Subspace
from evospace.supernet import Supernet, batch_norms, build_model, recalibrated


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def inputs(space: SearchSpace, n: int = 8, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, space.data.channels, *([space.data.side] * space.data.dims), generator=gen)


def reshaped(space: SearchSpace, subspace: Subspace) -> tuple[Subspace, str, str]:
    """``subspace`` with the first operator of s1.b1 removed and one new pool operator added at s2.b2."""
    removed = subspace.ops("s1.b1")[0]
    added = next(op for op in space.pool if op not in subspace.ops("s2.b2"))
    return subspace.remove("s1.b1", [removed]).add("s2.b2", [added]), removed, added


# -- apply_subspace --------------------------------------------------------------------------------
def test_apply_subspace_keeps_survivors_and_drops_removed(tiny_space: SearchSpace) -> None:
    initial = tiny_space.initial_subspace()
    net = Supernet(tiny_space, initial, seed=3)
    perturb(net, 0)
    before = {(label, op): snapshot(net.op_module(label, op)) for label in initial.labels for op in initial.ops(label)}
    tensors = {(label, op): [p.data_ptr() for p in net.op_module(label, op).parameters()]
               for label in initial.labels for op in initial.ops(label)}
    stem, head = snapshot(net.stem), snapshot(net.head)
    target, removed, added = reshaped(tiny_space, initial)

    diff = net.apply_subspace(target, round_index=1)

    assert diff == target.diff(initial)
    assert diff.removed == {"s1.b1": (removed,)} and diff.added == {"s2.b2": (added,)}
    assert net.subspace == target
    for label in target.labels:
        assert tuple(net.choices[label.replace(".", "_")].keys()) == target.ops(label)
    for (label, op), state in before.items():
        if op in target.ops(label):
            assert same(snapshot(net.op_module(label, op)), state), (label, op)
            assert [p.data_ptr() for p in net.op_module(label, op).parameters()] == tensors[(label, op)]
    assert same(snapshot(net.stem), stem) and same(snapshot(net.head), head)
    with pytest.raises(KeyError):
        net.op_module("s1.b1", removed)
    assert not any(key.startswith(f"choices.s1_b1.{removed}.") for key in net.state_dict())
    assert any(key.startswith(f"choices.s2_b2.{added}.") for key in net.state_dict())


def test_new_operators_depend_only_on_seed_label_op_and_round(tiny_space: SearchSpace) -> None:
    full = tiny_space.full_subspace()
    target = Subspace({label: full.ops(label)[::-1] for label in full.labels})
    small = Subspace({label: full.ops(label)[:1] for label in full.labels})
    other = Subspace({label: full.ops(label)[-2:] for label in full.labels})

    first = Supernet(tiny_space, small, seed=5)
    torch.manual_seed(123)  # the caller's global stream neither matters nor moves
    expected = torch.get_rng_state()
    second = Supernet(tiny_space, other, seed=5)
    assert torch.equal(torch.get_rng_state(), expected)
    first.apply_subspace(target, round_index=2)
    second.apply_subspace(target, round_index=2)
    later = Supernet(tiny_space, small, seed=5)
    later.apply_subspace(target, round_index=3)
    reseeded = Supernet(tiny_space, small, seed=6)
    reseeded.apply_subspace(target, round_index=2)

    for label in full.labels:
        for op in full.ops(label):
            if op in small.ops(label) or op in other.ops(label):
                continue  # survivors
            mine = snapshot(first.op_module(label, op))
            assert same(mine, snapshot(second.op_module(label, op))), (label, op)
            if any(v.is_floating_point() and v.numel() > 1 for v in mine.values()):
                assert not same(mine, snapshot(later.op_module(label, op))), (label, op)
                assert not same(mine, snapshot(reseeded.op_module(label, op))), (label, op)


def test_without_inheritance_everything_is_reinitialised(tiny_space: SearchSpace) -> None:
    initial = tiny_space.initial_subspace()
    net = Supernet(tiny_space, initial, seed=3)
    perturb(net, 0)
    net.apply_subspace(initial, round_index=2, inherit_weights=False)
    fresh = Supernet(tiny_space, Subspace({label: () for label in initial.labels}), seed=3)
    fresh.apply_subspace(initial, round_index=2, inherit_weights=False)
    assert same(snapshot(net), snapshot(fresh))
    assert not same(snapshot(net), snapshot(Supernet(tiny_space, initial, seed=3)))


# -- paths and stand-alone models ------------------------------------------------------------------
def test_path_state_dict_loads_into_build_model(tiny_space: SearchSpace) -> None:
    initial = tiny_space.initial_subspace()
    net = Supernet(tiny_space, initial, seed=1)
    target, _, _ = reshaped(tiny_space, initial)
    net.apply_subspace(target, round_index=1)
    perturb(net, 1)
    net.eval()
    x = inputs(tiny_space)
    archs = list(target)
    assert len(archs) == target.size >= 8
    for arch in archs[:: max(1, len(archs) // 8)]:
        model = build_model(tiny_space, arch, seed=0)
        model.eval()
        if any(op != "skip" for op in arch.values()):
            assert not torch.equal(model(x), net(x, arch))  # differently initialised until loaded
        model.load_state_dict(net.path_state_dict(arch), strict=True)
        assert torch.equal(model(x), net(x, arch)), arch


def test_build_model_matches_a_fresh_supernet(tiny_space: SearchSpace) -> None:
    initial = tiny_space.initial_subspace()
    net = Supernet(tiny_space, initial, seed=4).eval()
    arch = {label: initial.ops(label)[-1] for label in initial.labels}
    model = build_model(tiny_space, arch, seed=4).eval()
    assert same(snapshot(model), net.path_state_dict(arch))


def test_forward_with_an_inactive_operator_names_it(tiny_space: SearchSpace) -> None:
    initial = tiny_space.initial_subspace()
    net = Supernet(tiny_space, initial)
    arch = {label: initial.ops(label)[0] for label in initial.labels}
    inactive = next(op for op in tiny_space.pool if op not in initial.ops("s2.b1"))
    x = inputs(tiny_space, 2)
    with pytest.raises(InactiveOpError, match=f"operator '{inactive}' is not active at 's2.b1'"):
        net(x, {**arch, "s2.b1": inactive})
    with pytest.raises(InactiveOpError, match="no operator for choice point 's2.b2'"):
        net(x, {k: v for k, v in arch.items() if k != "s2.b2"})
    with pytest.raises(InactiveOpError, match=f"'{inactive}' is not active at 's2.b1'"):
        net.path_state_dict({**arch, "s2.b1": inactive})


def test_build_model_refuses_operators_outside_the_pool(tiny_space: SearchSpace) -> None:
    arch = {label: "conv_k3" for label in tiny_space.labels}
    with pytest.raises(InactiveOpError, match="'conv_k7' is not active at 's1.b1'"):
        build_model(tiny_space, {**arch, "s1.b1": "conv_k7"})


# -- BN recalibration ------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_recalibration_is_undone_after_the_block(tiny_space: SearchSpace, training: bool) -> None:
    initial = tiny_space.initial_subspace()
    net = Supernet(tiny_space, initial, seed=2)
    perturb(net, 2)
    net.train(training)
    arch = {label: initial.ops(label)[0] for label in initial.labels}
    before = snapshot(net)
    batches = [inputs(tiny_space, 16, seed) for seed in range(3)]
    path = net.path_modules(arch)

    with recalibrated(path, lambda x: net(x, arch), batches):
        stem_bn = net.stem[1]
        assert int(stem_bn.num_batches_tracked) == len(batches)
        with torch.no_grad():  # cumulative average of the per-batch statistics
            means = torch.stack([net.stem[0](x).mean(dim=(0, 2)) for x in batches])
        torch.testing.assert_close(stem_bn.running_mean, means.mean(0))
        assert not torch.equal(stem_bn.running_mean, before["stem.1.running_mean"])
        assert all(not m.training for m in path)
        off_path = {k: v for k, v in snapshot(net).items()
                    if k.startswith("choices.") and not any(
                        k.startswith(f"choices.{label.replace('.', '_')}.{op}.") for label, op in arch.items())}
        assert off_path and all(torch.equal(v, before[k]) for k, v in off_path.items())

    assert same(snapshot(net), before)
    assert all(m.training == training for m in net.modules())
    assert all(bn.momentum == 0.1 for bn in batch_norms([net]))


def test_recalibration_is_undone_when_the_block_raises(tiny_space: SearchSpace) -> None:
    initial = tiny_space.initial_subspace()
    net = Supernet(tiny_space, initial, seed=2)
    perturb(net, 2)
    arch = {label: initial.ops(label)[1] for label in initial.labels}
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="scoring failed"):
        with recalibrated(net.path_modules(arch), lambda x: net(x, arch), [inputs(tiny_space, 16)]):
            raise RuntimeError("scoring failed")
    assert same(snapshot(net), before)


def test_seeded_builds_as_a_manual_seed_would_and_leaves_the_global_stream_alone():
    from evospace.supernet.skeleton import seeded

    torch.manual_seed(11)
    expected_next = torch.rand(2)
    torch.manual_seed(4)
    plain = nn.Conv1d(3, 5, 3).weight.detach().clone()
    torch.manual_seed(11)
    built = seeded(4, lambda: nn.Conv1d(3, 5, 3)).weight.detach()
    assert torch.equal(built, plain)
    assert torch.equal(torch.rand(2), expected_next)
