"""spaces/mobilenet_cifar.yaml: inverted-residual blocks on CIFAR-10 images, costed exactly, without the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evospace import build_model
from evospace.space import load_space

REPO = Path(__file__).resolve().parents[2]


def test_mobilenet_cifar_space_builds_and_counts_its_models() -> None:
    space = load_space(REPO / "spaces" / "mobilenet_cifar.yaml")
    assert (space.data.channels, space.data.side, space.data.classes) == (3, 32, 10)
    assert set(space.pool) == {f"mb_e{e}_k{k}" for e in (3, 6) for k in (3, 5, 7)} | {"skip"}
    arch = space.full_subspace().sample(np.random.default_rng(0))
    model = build_model(space, arch).eval()
    assert sum(p.numel() for p in model.parameters()) == space.cost(arch).params
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
