"""The fixed parts around the choice points: stem and classifier head, and deterministic initialisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import nn

from evospace.space.costs import STEM_KERNEL, head_channels
from evospace.space.ops import conv_bn
from evospace.supernet.cell import CellHead, make_cell_stem

if TYPE_CHECKING:
    from evospace.space.space import SearchSpace

__all__ = ["make_stem", "make_head", "module_key", "seeded"]

T = TypeVar("T")


def make_stem(space: SearchSpace) -> nn.Module:
    """Conv 3 → BN → ReLU from the data's channels to ``skeleton.stem.channels`` (counted by space/costs.py).

    A cell skeleton's stem has no ReLU (NAS-Bench-201's: each edge convolution starts with one).
    """
    if space.config.skeleton.kind == "cell":
        return make_cell_stem(space)
    return conv_bn(space.data.channels, space.config.skeleton.stem.channels, STEM_KERNEL, 1,
                   space.config.skeleton.dims)


class Head(nn.Module):
    """Global average pooling and a linear classifier."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(2).mean(dim=2))


def make_head(space: SearchSpace) -> nn.Module:
    """The classifier: :class:`Head` (chains) or :class:`~evospace.supernet.cell.CellHead` (BN → ReLU first)."""
    if space.config.skeleton.kind == "cell":
        return CellHead(head_channels(space.config.skeleton), space.data.classes, space.config.skeleton.dims)
    return Head(space.config.skeleton.stages[-1].channels, space.data.classes)


def module_key(label: str) -> str:
    """ModuleDict key of a choice point (module names cannot contain dots)."""
    return label.replace(".", "_")


def seeded(seed: int, build: Callable[[], T]) -> T:
    """Run ``build`` with torch's global generator seeded, leaving the caller's stream untouched.

    Every module's initial weights therefore depend only on its own seed, never on what was built
    before it: a grown operator is initialised the same in a resumed run as in an uninterrupted one.
    """
    with torch.random.fork_rng(devices=[]):
        # the CPU generator alone (modules are built on the CPU): torch.manual_seed would also reseed every CUDA
        # generator, which fork_rng(devices=[]) does not restore, and costs ~60 times as much per call
        torch.default_generator.manual_seed(seed)
        return build()
