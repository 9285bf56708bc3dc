"""bench/supernet_fit.py: the fit of --matched moves a point's operators toward its first, and touches nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from evospace.data import load_space_data
from evospace.space import load_space
from evospace.supernet import Supernet

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fit_module(bench_script):
    return bench_script("supernet_fit")


def gaps(supernet: Supernet, x: torch.Tensor) -> list[float]:
    """Per choice point, the mean squared distance between each operator's output and the first's, on the
    features the first operators' path brings there."""
    out = []
    with torch.no_grad():
        h = supernet.stem(x)
        for label in supernet.space.labels:
            first, *others = supernet.subspace.ops(label)
            target = supernet.op_module(label, first)(h)
            out.append(sum(float(torch.mean((supernet.op_module(label, op)(h) - target) ** 2)) for op in others))
            h = target
    return out


def test_matching_brings_operators_toward_the_first_and_leaves_the_rest(fit_module):
    space = load_space(ROOT / "spaces" / "mnist1d_rank.yaml",
                       ["data.samples=600", "initial.ops=[conv_k3, conv_k7, sep_k5]", "initial.size=null"])
    data = load_space_data(space.config.data, split_seed=0)
    supernet = Supernet(space, space.initial_subspace(), 0)
    supernet.train()  # as the fit and training run: batch statistics
    x = data.x_train[:128]
    before = gaps(supernet, x)
    kept = {name: p.detach().clone() for name, p in supernet.named_parameters()
            if ".conv_k3." in f".{name}." or not name.startswith("choices")}
    fit_module.match_operators(supernet, data, steps=60, seed=0)
    after = gaps(supernet, x)
    assert all(a < 0.5 * b for a, b in zip(after, before, strict=True)), (before, after)
    for name, p in supernet.named_parameters():  # the reference operators, stem and head are untouched
        if name in kept:
            assert torch.equal(p, kept[name]), name
