"""Zero-cost proxies: how promising an architecture looks at initialisation, from one batch and no training.

Each proxy scores a freshly initialised stand-alone model (:func:`evospace.build_model`) on one fixed batch of
training data, in one forward (and at most one backward) pass, so scoring an architecture costs milliseconds
and needs no supernet. Larger is better for every proxy here. Following Abdelfattah et al. (ICLR 2021):

- ``synflow``: the synaptic flow of the network made linear and positive (every weight replaced by its
  absolute value, BN at its initial statistics, an all-ones input, double precision): ``log Σ θ · ∂R/∂θ``
  over conv and linear kernels, with ``R`` the sum of the outputs. It needs no data and grows with the
  parameters a signal can flow through, layer after layer.
- ``snip``: ``Σ |θ · ∂L/∂θ|`` over the kernels for the cross-entropy ``L`` of the batch (connection sensitivity).
- ``grad_norm``: the norm of the kernels' gradient of ``L``.
- ``naswot``: ``log |det K|`` of the batch's ReLU activation-pattern kernel (Mellor et al., ICML 2021: NAS
  without training), how differently the network codes different inputs.

Measured on the shipped ground-truth spaces (``python bench/ranking.py``): see the README's ranking table.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evospace.errors import EvospaceError, closest

__all__ = ["PROXIES", "proxy_score", "proxy_scores"]

_Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]


def _kernels(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]


def _log(value: float) -> float:
    return float(np.log(value)) if value > 0 else -750.0  # below log of the smallest double: an empty flow


def _backward_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    return [w for w in _kernels(model) if w.grad is not None]


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Log synaptic flow of the positive, linearised network (changes ``model``: pass a throwaway copy)."""
    model.double().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.dtype.is_floating_point:
                tensor.abs_()
    model.zero_grad(set_to_none=True)
    model(torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)).sum().backward()
    flow = sum(float((w.detach() * w.grad).sum()) for w in _kernels(model) if w.grad is not None)
    return _log(flow)


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity ``Σ |θ · ∂L/∂θ|`` of the kernels on one batch."""
    return float(sum(float((w.detach() * w.grad).abs().sum()) for w in _backward_loss(model, x, y)))


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Norm of the kernels' gradient of the batch's cross-entropy."""
    return float(sum(float(w.grad.pow(2).sum()) for w in _backward_loss(model, x, y)) ** 0.5)


def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``log |det K|`` of the binary ReLU-pattern kernel of the batch (Hamming similarity of the codes)."""
    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append((out.detach().flatten(1) > 0).double()))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    if not codes:
        return 0.0
    c = torch.cat(codes, dim=1)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(kernel)[1])


PROXIES: dict[str, _Proxy] = {"synflow": synflow, "snip": snip, "grad_norm": grad_norm, "naswot": naswot}


def proxy_score(name: str, build: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor) -> float:
    """One proxy of the model that ``build`` makes (a fresh model per proxy: some proxies change it)."""
    if name not in PROXIES:
        raise EvospaceError(f"unknown zero-cost proxy {name!r}{closest(name, PROXIES)}; known: {', '.join(PROXIES)}")
    with torch.random.fork_rng(devices=[]):  # a proxy draws nothing, but models built inside must not move
        return PROXIES[name](build().to(x.device), x, y)  # the caller's streams either


def proxy_scores(names: tuple[str, ...] | list[str], build: Callable[[], nn.Module], x: torch.Tensor,
                 y: torch.Tensor) -> dict[str, float]:
    """Several proxies of one architecture, each on a fresh model from ``build``."""
    return {name: proxy_score(name, build, x, y) for name in names}
