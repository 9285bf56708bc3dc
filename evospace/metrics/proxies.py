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

import contextlib
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


class _ReluCodes:
    """While entered, records which units of each ReLU of ``model`` fire (the binary code of every sample)."""

    def __init__(self, model: nn.Module) -> None:
        self._relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        self._hooks: list = []
        self.codes: list[torch.Tensor] = []

    def __enter__(self) -> _ReluCodes:
        self._hooks = [m.register_forward_hook(self._record) for m in self._relus]
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _record(self, _module: nn.Module, _inputs, out: torch.Tensor) -> None:
        self.codes.append(out.detach().flatten(1) > 0)

    def log_det(self) -> float:
        """``log |det K|`` of the Hamming-similarity kernel of the recorded codes (0 without a ReLU)."""
        if not self.codes:
            return 0.0
        return float(torch.linalg.slogdet(hamming_kernel(torch.cat(self.codes, dim=1)))[1])


def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """``K = C Cᵀ + (1 − C)(1 − C)ᵀ`` of binary codes ``C`` (one row per sample), in float64.

    Expanded as ``2 C Cᵀ − r 1ᵀ − 1 rᵀ + n`` (``r``: each row's ones, ``n``: the code length): one product
    instead of two. Every partial sum is an integer of at most ``n``, so float32 computes the product exactly
    while ``n < 2²⁴``, and ``K`` equals the float64 evaluation of the definition bit for bit (the codes come as
    booleans: an eighth of the memory of float64 ones).
    """
    n = codes.shape[1]
    c = codes.to(torch.float32 if n < 2 ** 24 else torch.float64)
    ones = codes.sum(dim=1).to(torch.float64)
    return 2 * (c @ c.T).to(torch.float64) - ones[:, None] - ones[None, :] + n


def _backward_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   codes: _ReluCodes | None = None) -> list[torch.Tensor]:
    """The kernels' gradients of the batch's cross-entropy; ``codes`` (if given) records the forward's ReLU
    patterns, so that ``naswot`` needs no forward of its own."""
    model.train()
    model.zero_grad(set_to_none=True)
    with codes if codes is not None else contextlib.nullcontext():
        logits = model(x)
    F.cross_entropy(logits, y).backward()
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
    model.train()
    with _ReluCodes(model) as codes, torch.no_grad():
        model(x)
    return codes.log_det()


PROXIES: dict[str, _Proxy] = {"synflow": synflow, "snip": snip, "grad_norm": grad_norm, "naswot": naswot}


def _check(names) -> None:
    for name in names:
        if name not in PROXIES:
            raise EvospaceError(f"unknown zero-cost proxy {name!r}{closest(name, PROXIES)}; "
                                f"known: {', '.join(PROXIES)}")


def proxy_score(name: str, build: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor) -> float:
    """One proxy of the model that ``build`` makes."""
    return proxy_scores((name,), build, x, y)[name]


def proxy_scores(names: tuple[str, ...] | list[str], build: Callable[[], nn.Module], x: torch.Tensor,
                 y: torch.Tensor) -> dict[str, float]:
    """Several proxies of one architecture, from at most two fresh models of ``build``.

    ``synflow`` changes its model, so it gets one of its own; ``naswot`` and the gradient proxies share the
    other and one forward (its ReLU codes for ``naswot``, one backward for ``snip`` and ``grad_norm``). Each
    value equals what the proxy computes alone on a fresh model.
    """
    _check(names)
    out: dict[str, float] = {}
    with torch.random.fork_rng(devices=[]):  # models built here must not move the caller's streams
        if "synflow" in names:
            out["synflow"] = synflow(build().to(x.device), x, y)
        rest = [n for n in names if n != "synflow"]
        if rest:
            model = build().to(x.device)
            gradients = "snip" in rest or "grad_norm" in rest
            if "naswot" in rest and not gradients:
                out["naswot"] = naswot(model, x, y)
            if gradients:  # naswot's codes from the same forward: in training mode BN uses the batch's statistics
                codes = _ReluCodes(model) if "naswot" in rest else None
                grads = _backward_loss(model, x, y, codes)
                if codes is not None:
                    out["naswot"] = codes.log_det()
                if "snip" in rest:
                    out["snip"] = float(sum(float((w.detach() * w.grad).abs().sum()) for w in grads))
                if "grad_norm" in rest:
                    out["grad_norm"] = float(sum(float(w.grad.pow(2).sum()) for w in grads) ** 0.5)
    return {name: out[name] for name in names}
