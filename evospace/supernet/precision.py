"""Mixed precision on a GPU: autocast (bfloat16 where the device supports it, else float16 with a gradient
scaler) and channels-last memory for 2-D convolutions. On the CPU training stays in float32 by default, so
results and resumes there are exact; :class:`Precision` also accepts a CPU autocast dtype (bfloat16), which is
how the tests exercise the GPU code path on a machine without one.

Not measured on a real GPU yet: correct by construction (the step order of ``torch.amp``: scale the loss,
backward, unscale, clip, step through the scaler, update) and tested on the CPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["Precision", "precision_for", "place"]


@dataclass
class Precision:
    """How a training step computes: the autocast dtype (``None``: float32) and a gradient scaler (float16)."""

    device_type: str  # "cuda" or "cpu"
    dtype: torch.dtype | None = None  # autocast dtype; None: no autocast
    scaler: torch.amp.GradScaler | None = field(default=None)  # float16 only: keeps small gradients representable

    def autocast(self) -> contextlib.AbstractContextManager:
        """The forward pass's context (a no-op without an autocast dtype)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true scale before clipping them."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer step (skipped by the scaler when a gradient overflowed) and the scale's update."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()


def precision_for(device: torch.device) -> Precision | None:
    """CUDA: bfloat16 autocast where supported, else float16 with a gradient scaler. CPU: ``None`` (float32)."""
    if device.type != "cuda":
        return None
    if torch.cuda.is_bf16_supported():
        return Precision("cuda", torch.bfloat16)
    return Precision("cuda", torch.float16, torch.amp.GradScaler("cuda"))


def place(module: nn.Module, device: torch.device, dims: int) -> nn.Module:
    """``module`` on ``device``; on CUDA a 2-D network in channels-last memory (faster convolutions)."""
    if device.type == "cuda" and dims == 2:
        return module.to(device, memory_format=torch.channels_last)
    return module.to(device)
