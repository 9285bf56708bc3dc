"""Device choice: ``auto`` takes CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from evospace.errors import EvospaceError

__all__ = ["resolve_device"]


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto | cpu | cuda | cuda:N`` into a device, refusing CUDA where there is none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise EvospaceError(f"--device: unknown device {name!r}; expected auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvospaceError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise EvospaceError(f"--device: {name!r} is not supported; expected auto, cpu or cuda[:N]")
    return device
