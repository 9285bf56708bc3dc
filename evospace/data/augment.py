"""The usual training augmentation of image data sets: random crop with zero padding, then horizontal flip.

Applied per batch, on the batch's device, by both trainers (supernet and stand-alone), from a generator that
the caller derives from (seed, purpose, round, epoch, step): a resumed run draws the same crops and flips.
Validation and test images are never augmented. Data sets without an entry here are not augmented (MNIST-1D
has its own random shift in stand-alone training, ``supernet/standalone.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["CROP_PADDING", "crop_and_flip", "augments", "augment"]

CROP_PADDING = 4  # pixels of zero padding before the random crop (the usual CIFAR setting)
_AUGMENTED = frozenset({"cifar10", "cifar100", "image_folder"})


def augments(dataset: str) -> bool:
    """Whether ``dataset``'s training batches get random crops and flips."""
    return dataset in _AUGMENTED


def crop_and_flip(x: torch.Tensor, generator: torch.Generator, padding: int = CROP_PADDING) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) shifted by a random crop of its zero-padded self, and flipped left-right
    with probability 1/2. The draws come from ``generator`` (CPU) and are moved to ``x``'s device."""
    n, _, height, width = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator).to(x.device, non_blocking=True)
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device, non_blocking=True)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = (offsets[:, 0, None] + torch.arange(height, device=x.device)[None, :])  # (N, H)
    cols = (offsets[:, 1, None] + torch.arange(width, device=x.device)[None, :])  # (N, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    index = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def augment(dataset: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``x`` augmented as ``dataset`` usually is (unchanged if it has no usual augmentation or is not 2-D)."""
    if not augments(dataset) or x.ndim != 4:
        return x
    return crop_and_flip(x, generator)
