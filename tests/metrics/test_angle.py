"""The per-operator decomposition of the angle equals the naive concatenation, for every definition."""

import numpy as np
import pytest
import torch
from conftest import TINY_SPACE
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.errors import EvospaceError
from evospace.metrics import DEFINITIONS, AngleScorer, naive_angle, reference_weights
from evospace.run import torch_stream
from evospace.space import space_from_dict
from evospace.supernet import Supernet


@pytest.fixture(scope="module")
def full_supernet():
    space = space_from_dict(TINY_SPACE, "<tiny>")
    return Supernet(space, space.full_subspace(), seed=0)


def _perturb(net: Supernet, seed: int, scale: float) -> None:
    gen = torch_stream(seed, "perturb")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 2.0))
def test_decomposition_equals_naive_on_every_architecture(full_supernet, seed, scale):
    net = full_supernet
    reference = reference_weights(net)
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        _perturb(net, seed, scale)
        rows = net.subspace.all_indices()
        for definition in DEFINITIONS:
            fast = AngleScorer(net, reference, definition).score_indices(rows)
            slow = np.array([naive_angle(net, reference, net.subspace.decode(r), definition) for r in rows])
            np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)
    finally:
        net.load_state_dict(saved)


def test_unchanged_weights_have_zero_angle(full_supernet):
    reference = reference_weights(full_supernet)
    for definition in DEFINITIONS:
        angles = AngleScorer(full_supernet, reference, definition).score_indices(full_supernet.subspace.all_indices())
        np.testing.assert_allclose(angles, 0.0, atol=1e-6)


def test_pooling_has_a_direction_and_skip_adds_nothing_in_abs(full_supernet):
    net = full_supernet
    reference = reference_weights(net)
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        _perturb(net, 3, 0.5)
        scorer = AngleScorer(net, reference, "abs")
        base = {"s1.b1": "skip", "s2.b1": "conv_k3", "s2.b2": "skip"}
        pooled = {**base, "s1.b1": "avg_pool_k3"}
        # the pooling's constant piece is identical in V0 and Vt, so it pulls the angle towards 0
        assert scorer.score(pooled) < scorer.score(base)
        ops_only = AngleScorer(net, reference, "ops")
        assert ops_only.score(base) == pytest.approx(ops_only.op_angles()[("s2.b1", "conv_k3")])
    finally:
        net.load_state_dict(saved)


def test_inactive_operator_is_a_clear_error(tiny_space):
    net = Supernet(tiny_space, tiny_space.initial_subspace(), seed=0)
    scorer = AngleScorer(net, reference_weights(net))
    arch = tiny_space.initial_subspace().sample(np.random.default_rng(0))
    inactive = next(op for op in tiny_space.pool if op not in tiny_space.initial_subspace().ops("s2.b2"))
    with pytest.raises(EvospaceError, match=f"'{inactive}' is not active at 's2.b2'"):
        scorer.score({**arch, "s2.b2": inactive})


def test_unknown_definition_is_refused(tiny_space):
    net = Supernet(tiny_space, tiny_space.initial_subspace(), seed=0)
    with pytest.raises(ValueError, match="unknown angle definition"):
        AngleScorer(net, reference_weights(net), "cosine")
