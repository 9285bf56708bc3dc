"""Operator registry: operator names are parsed, built and costed here, and nowhere else.

A *family* registers a name pattern (``conv_k{k}``) and a builder with :func:`register_op`; the only ways
in are :func:`parse_op`, :func:`create_op`, :func:`op_cost` and :func:`list_ops`. Every operator maps
``(N, c_in, *spatial)`` to ``(N, c_out, *ceil(spatial / stride))`` with odd kernels and "same" padding, so
any operator can stand at any choice point and the shape of the network never depends on the
architecture. Parameter-free operators that must change the channel count (a strided ``skip`` or a pool
between stages) add a 1x1 projection, as in ResNet's downsampling shortcut.

FLOPs follow the convention of ``torch.utils.flop_counter.FlopCounterMode``: 2 per multiply-accumulate of
convolutions and linear layers, nothing for normalisation, activations or pooling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch

import torch
from torch import nn

from evospace.errors import EvospaceError, closest

__all__ = [
    "OpCost",
    "OpFamily",
    "UnknownOpError",
    "register_op",
    "parse_op",
    "create_op",
    "op_cost",
    "conv_bn_cost",
    "list_ops",
]


class UnknownOpError(EvospaceError):
    """An operator name matches no registered family."""


@dataclass(frozen=True)
class OpCost:
    """Parameters and FLOPs of one operator (or a whole model) for one input shape."""

    params: int  # trainable parameters
    flops: int  # 2 x multiply-accumulates of conv/linear layers, per sample

    def __add__(self, other: OpCost) -> OpCost:
        return OpCost(self.params + other.params, self.flops + other.flops)


@dataclass(frozen=True)
class OpFamily:
    """A registered operator family: a name pattern and the builder it feeds."""

    name: str  # family name, e.g. "conv"
    template: str  # human-readable pattern, e.g. "conv_k{k}"
    regex: re.Pattern  # compiled full-match pattern with named integer groups
    builder: Callable[..., nn.Module]  # builder(c_in, c_out, stride, dims, **groups) -> module
    cells_only: bool  # only meaningful on cell edges (e.g. "zero")
    # cost(c_in, c_out, stride, dims, side, **groups) -> OpCost, counted without building the module (None: the
    # module is built and counted, which allocates its weights)
    cost: Callable[..., OpCost] | None = None


_FAMILIES: dict[str, OpFamily] = {}


def register_op(template: str, *, cells_only: bool = False, cost: Callable[..., OpCost] | None = None) -> Callable:
    """Register a builder for every operator name matching ``template``.

    ``template`` uses ``{name}`` for integer fields, which are passed to the builder as keyword
    arguments. Registering the same family twice raises. ``cost(c_in, c_out, stride, dims, side, **fields)``
    counts an operator without building it (validating a space then allocates nothing); without it the module
    is built to be counted.

    Example:
        >>> @register_op("conv_k{k}")  # doctest: +SKIP
        ... def conv(c_in, c_out, stride, dims, k): ...
    """
    family = template.split("_")[0] if "{" in template else template
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[0-9]+)", template)

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if family in _FAMILIES:
            raise ValueError(f"operator family {family!r} is already registered")
        _FAMILIES[family] = OpFamily(family, template, re.compile(pattern), builder, cells_only, cost)
        return builder

    return decorator


def list_ops(pattern: str = "*") -> list[str]:
    """Templates of the registered families whose template matches a shell-style pattern."""
    return sorted(f.template for f in _FAMILIES.values() if fnmatch(f.template, pattern))


def parse_op(name: str) -> tuple[OpFamily, dict[str, int]]:
    """Split an operator name into its family and integer fields; raise with close matches if unknown."""
    for family in _FAMILIES.values():
        match = family.regex.fullmatch(name)
        if match:
            fields = {k: int(v) for k, v in match.groupdict().items()}
            for key, value in fields.items():
                if value < 1:
                    raise UnknownOpError(f"operator {name!r}: {key} must be ≥ 1, got {value}")
                if key in ("k",) and value % 2 == 0:
                    raise UnknownOpError(
                        f"operator {name!r}: kernel size must be odd so that padding keeps the shape"
                    )
            return family, fields
    known = ", ".join(list_ops())
    raise UnknownOpError(f"unknown operator {name!r}{closest(name, _example_names())}; known: {known}")


def _example_names() -> list[str]:
    names = []
    for template in list_ops():
        names.append(re.sub(r"\{\w+\}", "3", template).replace("_d3", "_d2"))
        names.append(re.sub(r"\{\w+\}", "5", template))
    return names


def create_op(name: str, c_in: int, c_out: int, stride: int, dims: int) -> nn.Module:
    """Build the operator ``name`` for a choice point of the given shape."""
    family, fields = parse_op(name)
    return family.builder(c_in, c_out, stride, dims, **fields)


def op_cost(name: str, c_in: int, c_out: int, stride: int, dims: int, spatial: int) -> OpCost:
    """Exact parameters and FLOPs of operator ``name`` for an input of side ``spatial`` (counted by formula when
    its family registered one, else by building the module)."""
    family, fields = parse_op(name)
    if family.cost is not None:
        return family.cost(c_in, c_out, stride, dims, spatial, **fields)
    return module_cost(family.builder(c_in, c_out, stride, dims, **fields), spatial)


def module_cost(module: nn.Module, spatial: int) -> OpCost:
    """Walk the conv, pool and linear leaves of ``module`` in forward order and count its cost.

    Only valid for modules built from this file's layers, which are registered in the order they run.
    """
    params = sum(p.numel() for p in module.parameters())
    flops = 0
    side = spatial
    for leaf in module.modules():
        if isinstance(leaf, (nn.Conv1d, nn.Conv2d)):
            dims = 1 if isinstance(leaf, nn.Conv1d) else 2
            side_out = _out_side(side, leaf.stride[0])
            kernel = math.prod(leaf.kernel_size)
            flops += 2 * leaf.out_channels * (leaf.in_channels // leaf.groups) * kernel * side_out**dims
            side = side_out
        elif isinstance(leaf, (nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d)):
            stride = leaf.stride if isinstance(leaf.stride, int) else leaf.stride[0]
            side = _out_side(side, stride)
        elif isinstance(leaf, nn.Linear):
            flops += 2 * leaf.in_features * leaf.out_features
    return OpCost(params, flops)


def _out_side(side: int, stride: int) -> int:
    return (side - 1) // stride + 1


def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv1d if dims == 1 else nn.Conv2d


def _bn(dims: int) -> type[nn.Module]:
    return nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d


def conv_bn(c_in: int, c_out: int, k: int, stride: int, dims: int, *, dilation: int = 1,
            groups: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias) → BN → optional ReLU, padded so that the side becomes ceil(side / stride)."""
    layers: list[nn.Module] = [
        _conv(dims)(c_in, c_out, k, stride=stride, padding=dilation * (k - 1) // 2,
                    dilation=dilation, groups=groups, bias=False),
        _bn(dims)(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def conv_bn_cost(c_in: int, c_out: int, k: int, stride: int, dims: int, side: int, *, groups: int = 1
                 ) -> tuple[OpCost, int]:
    """What :func:`conv_bn` costs on an input of side ``side``, and its output side (dilation costs nothing)."""
    out = _out_side(side, stride)
    weights = c_out * (c_in // groups) * k**dims
    return OpCost(weights + 2 * c_out, 2 * weights * out**dims), out


class Residual(nn.Module):
    """``x + body(x)``: the shortcut of an inverted-residual block whose shape is preserved."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Zero(nn.Module):
    """The ``zero`` operator of cells: an edge that carries nothing."""

    def __init__(self, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [x.shape[0], self.c_out] + [_out_side(s, self.stride) for s in x.shape[2:]]
        return x.new_zeros(shape)


def _project(c_in: int, c_out: int, stride: int, dims: int) -> nn.Module:
    """Identity when the shape is kept, else the 1x1 strided conv + BN of a ResNet shortcut."""
    if c_in == c_out and stride == 1:
        return nn.Identity()
    return conv_bn(c_in, c_out, 1, stride, dims, relu=False)


def _conv_cost(c_in: int, c_out: int, stride: int, dims: int, side: int, k: int, d: int = 1) -> OpCost:
    return conv_bn_cost(c_in, c_out, k, stride, dims, side)[0]


def _sep_cost(c_in: int, c_out: int, stride: int, dims: int, side: int, k: int) -> OpCost:
    depthwise, out = conv_bn_cost(c_in, c_in, k, stride, dims, side, groups=c_in)
    return depthwise + conv_bn_cost(c_in, c_out, 1, 1, dims, out)[0]


def _mb_cost(c_in: int, c_out: int, stride: int, dims: int, side: int, e: int, k: int) -> OpCost:
    hidden = c_in * e
    expand, _ = conv_bn_cost(c_in, hidden, 1, 1, dims, side)
    depthwise, out = conv_bn_cost(hidden, hidden, k, stride, dims, side, groups=hidden)
    return expand + depthwise + conv_bn_cost(hidden, c_out, 1, 1, dims, out)[0]


def _pool_cost(c_in: int, c_out: int, stride: int, dims: int, side: int, k: int) -> OpCost:
    if c_in == c_out:
        return OpCost(0, 0)
    return conv_bn_cost(c_in, c_out, 1, 1, dims, _out_side(side, stride))[0]


def _skip_cost(c_in: int, c_out: int, stride: int, dims: int, side: int) -> OpCost:
    if c_in == c_out and stride == 1:
        return OpCost(0, 0)
    return conv_bn_cost(c_in, c_out, 1, stride, dims, side)[0]


def _zero_cost(c_in: int, c_out: int, stride: int, dims: int, side: int) -> OpCost:
    return OpCost(0, 0)


@register_op("conv_k{k}", cost=_conv_cost)
def _build_conv(c_in: int, c_out: int, stride: int, dims: int, k: int) -> nn.Module:
    return conv_bn(c_in, c_out, k, stride, dims)


@register_op("dil_k{k}_d{d}", cost=_conv_cost)
def _build_dil(c_in: int, c_out: int, stride: int, dims: int, k: int, d: int) -> nn.Module:
    return conv_bn(c_in, c_out, k, stride, dims, dilation=d)


@register_op("sep_k{k}", cost=_sep_cost)
def _build_sep(c_in: int, c_out: int, stride: int, dims: int, k: int) -> nn.Module:
    # depthwise k x k, then pointwise: MobileNet's separable convolution
    return nn.Sequential(
        conv_bn(c_in, c_in, k, stride, dims, groups=c_in),
        conv_bn(c_in, c_out, 1, 1, dims),
    )


@register_op("mb_e{e}_k{k}", cost=_mb_cost)
def _build_mb(c_in: int, c_out: int, stride: int, dims: int, e: int, k: int) -> nn.Module:
    # MobileNetV2 inverted residual: expand e x, depthwise k, linear projection, shortcut when shapes match
    hidden = c_in * e
    body = nn.Sequential(
        conv_bn(c_in, hidden, 1, 1, dims),
        conv_bn(hidden, hidden, k, stride, dims, groups=hidden),
        conv_bn(hidden, c_out, 1, 1, dims, relu=False),
    )
    return Residual(body) if c_in == c_out and stride == 1 else body


def _pool(kind: str, k: int, c_in: int, c_out: int, stride: int, dims: int) -> nn.Module:
    if kind == "avg":
        pool_cls = nn.AvgPool1d if dims == 1 else nn.AvgPool2d
        pool = pool_cls(k, stride=stride, padding=k // 2, count_include_pad=False)
    else:
        pool_cls = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
        pool = pool_cls(k, stride=stride, padding=k // 2)
    if c_in == c_out:
        return pool
    return nn.Sequential(pool, conv_bn(c_in, c_out, 1, 1, dims, relu=False))


@register_op("avg_pool_k{k}", cost=_pool_cost)
def _build_avg_pool(c_in: int, c_out: int, stride: int, dims: int, k: int) -> nn.Module:
    return _pool("avg", k, c_in, c_out, stride, dims)


@register_op("max_pool_k{k}", cost=_pool_cost)
def _build_max_pool(c_in: int, c_out: int, stride: int, dims: int, k: int) -> nn.Module:
    return _pool("max", k, c_in, c_out, stride, dims)


@register_op("skip", cost=_skip_cost)
def _build_skip(c_in: int, c_out: int, stride: int, dims: int) -> nn.Module:
    return _project(c_in, c_out, stride, dims)


@register_op("zero", cells_only=True, cost=_zero_cost)
def _build_zero(c_in: int, c_out: int, stride: int, dims: int) -> nn.Module:
    return Zero(c_out, stride)
