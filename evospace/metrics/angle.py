"""Angle metric (ABS, Hu et al. 2020): how far training has turned an architecture's weights.

For a piece of weights (the stem, the head, or one operator at one choice point) store
``d = <W0, Wt>``, ``a = |W0|^2``, ``b = |Wt|^2`` and its own angle ``arccos(d / sqrt(a b))``. Because the
dot product and squared norms of a concatenation are sums over its pieces, the angle of any
concatenation is exact from these per-piece sums, so an architecture costs O(choice points) and a whole
subspace is scored as array arithmetic on index rows.

Definitions (``definition=``):

- ``abs``: ABS's own, over the whole path: stem + operators + head; ``skip`` adds nothing, pooling adds a
  constant ``1/k`` tensor so that it has a direction.
- ``ops``: the same concatenation over the operators only.
- ``mean``: the mean of the per-operator angles of the path's operators that have weights (operators
  without weights are left out; a path with none scores 0).
- ``sum``: the sum of the per-operator angles over every choice point, an operator without weights
  counting 0 (it never moves). Unlike ``mean``, a path through parameter-free operators scores lower,
  and an operator's score (its mean over the architectures containing it) is its own angle plus a
  constant of its choice point.

In a cell (ABS's rule for cell spaces) ``V(A)`` concatenates, for every input → output path of the cell that
has no ``zero`` edge, the weights of the path's edges. An edge on ``m`` such paths therefore counts ``m`` times
in the sums (``abs``, ``ops``), still exact and in O(edges) per architecture (``supernet/cell.py``,
``path_counts``); ``sum`` and ``mean`` take the angles of the edges on at least one such path (an edge no live
path runs through does not touch the output).

At a multi-branch choice point the pieces of the selected branches are summed: their per-operator angles
(``sum``, ``mean``) or their ``d, a, b`` (``abs``, ``ops``), so a branch set scores as the concatenation of
its operators' weights, still exactly and in O(choice points).

Only conv and linear kernels count (tensors with more than one dimension), as in ABS: BN affine
parameters and biases are left out.

Chosen definition: ``sum`` (``ScoreConfig.angle_definition``). Measured with ``python bench/ranking.py`` on
spaces/mnist1d_rank.yaml (625 architectures, stand-alone ground truth, 3 supernet seeds, 5 epochs), Kendall τ
against stand-alone test accuracy: sum 0.63, mean 0.30, ops 0.27, abs −0.15, against 0.45 for the parameter
count, 0.53 for FLOPs and a ground-truth noise ceiling (seed vs seed) of 0.71; ranking operators within a
choice point, sum 0.76 vs mean 0.30. ``abs`` ranks backwards because a path through parameter-free operators
is a short vector dominated by the shared stem and head; ``mean`` and ``ops`` ignore that a parameter-free
operator is the weak choice here.

Reference rule (``ScoreConfig.angle_reference``): after a grow step (3 → 5 operators, 5 + 5 epochs), a
survivor's weights at birth rank better than its weights at the start of the round: τ 0.60 vs 0.50
(operators 0.70 vs 0.60), so ``birth`` is the default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from evospace.space.cells import CellTopology, cell_topology
from evospace.space.ops import parse_op
from evospace.space.subspace import Arch, Subspace
from evospace.supernet.cell import path_counts

__all__ = ["DEFINITIONS", "PieceStats", "AngleScorer", "reference_weights", "path_vectors", "naive_angle"]

DEFINITIONS = ("abs", "ops", "mean", "sum")


def _kernels(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in module.named_parameters() if p.ndim > 1]


def reference_weights(supernet) -> dict[str, torch.Tensor]:
    """A copy of every kernel of the supernet, keyed by parameter name: the angle's ``V0``."""
    return {n: p.detach().clone() for n, p in supernet.named_parameters() if p.ndim > 1}


def _pool_constant(op: str, module: nn.Module) -> float | None:
    """Squared norm of the constant direction of a pooling operator (``k`` entries of ``1/k``)."""
    family, fields = parse_op(op)
    if family.name in ("avg", "max"):
        return 1.0 / fields["k"]
    return None


@dataclass(frozen=True)
class PieceStats:
    """Per-piece sums for one supernet state; arrays are indexed ``[choice point, choice index]``.

    A choice is an operator, or a branch set at a multi-branch point (its operators' pieces summed).
    """

    subspace: Subspace
    d: np.ndarray  # <W0, Wt> of each choice, padded with 0
    a: np.ndarray  # |W0|^2
    b: np.ndarray  # |Wt|^2
    angles: np.ndarray  # sum of the own angles of the choice's operators that have kernels
    weighted: np.ndarray  # how many of the choice's operators have kernels of their own
    shared: tuple[float, float, float]  # (d, a, b) of stem + head
    op_angle: dict[tuple[str, str], float]  # each operator's own angle (operators with kernels only)
    cell: CellTopology | None = None  # a cell's DAG (pieces weighted by the live paths through them); None: a chain
    zero_index: np.ndarray | None = None  # per choice point, the choice index of `zero` (-1: not active)

    def path_weights(self, indices: np.ndarray) -> np.ndarray | None:
        """How many times each choice point's piece counts in each architecture (``None``: once, a chain)."""
        if self.cell is None:
            return None
        return path_counts(indices == self.zero_index[None, :], self.cell)


class AngleScorer:
    """Angle of architectures of a supernet against a reference.

    Args:
        supernet: the trained supernet.
        reference: ``V0`` per kernel name (from :func:`reference_weights`); every kernel of an active
            operator must have one (grown operators get theirs when they are born).
        definition: ``abs``, ``ops`` or ``mean`` (see the module docstring).
    """

    def __init__(self, supernet, reference: dict[str, torch.Tensor], definition: str = "mean") -> None:
        if definition not in DEFINITIONS:
            raise ValueError(f"unknown angle definition {definition!r}; expected one of {DEFINITIONS}")
        self.definition = definition
        self.stats = self._collect(supernet, reference)

    @staticmethod
    def _sums(module: nn.Module, prefix: str, reference: dict[str, torch.Tensor]) -> tuple[float, float, float]:
        d = a = b = 0.0
        for name, p in _kernels(module):
            w0 = reference[f"{prefix}.{name}"].to(p.device, torch.float64).reshape(-1)
            wt = p.detach().to(torch.float64).reshape(-1)
            d += float(w0 @ wt)
            a += float(w0 @ w0)
            b += float(wt @ wt)
        return d, a, b

    def _collect(self, supernet, reference: dict[str, torch.Tensor]) -> PieceStats:
        subspace = supernet.subspace
        k, width = len(subspace.labels), max(len(subspace.choices(label)) for label in subspace.labels)
        d, a, b, angles, weighted = (np.zeros((k, width)) for _ in range(5))
        op_angle = {}
        for i, label in enumerate(subspace.labels):
            key = label.replace(".", "_")
            ops = subspace.ops(label)
            pieces = np.zeros((len(ops), 5))  # d, a, b, own angle, has kernels
            for j, op in enumerate(ops):
                module = supernet.op_module(label, op)
                if _kernels(module):
                    sums = self._sums(module, f"choices.{key}.{op}", reference)
                    own = float(_angle(*sums))
                    pieces[j] = (*sums, own, 1.0)
                    op_angle[(label, op)] = own
                elif self.definition == "abs":
                    const = _pool_constant(op, module)
                    if const is not None:
                        pieces[j, :3] = const
            # a choice's pieces: the sum over its operators (a single-branch point's choices are its operators)
            totals = subspace.membership(label).astype(float) @ pieces
            n = totals.shape[0]
            d[i, :n], a[i, :n], b[i, :n], angles[i, :n], weighted[i, :n] = totals.T
        shared = (0.0, 0.0, 0.0)
        for name, module in _shared_modules(supernet):
            shared = tuple(s + p for s, p in zip(shared, self._sums(module, name, reference), strict=True))
        skeleton = supernet.space.config.skeleton
        if skeleton.kind != "cell":
            return PieceStats(subspace, d, a, b, angles, weighted, shared, op_angle)
        zero = np.array([subspace.ops(label).index("zero") if "zero" in subspace.ops(label) else -1
                         for label in subspace.labels])
        return PieceStats(subspace, d, a, b, angles, weighted, shared, op_angle, cell_topology(skeleton), zero)

    def op_angles(self) -> dict[tuple[str, str], float]:
        """Each operator's own angle (radians); operators without weights are absent."""
        return dict(self.stats.op_angle)

    def score_indices(self, indices: np.ndarray) -> np.ndarray:
        """Angles of architectures given as index rows ``(n, choice points)`` of the scorer's subspace."""
        s = self.stats
        rows = np.arange(s.d.shape[0])[None, :]
        paths = s.path_weights(indices)
        if self.definition in ("mean", "sum"):
            on_path = 1.0 if paths is None else (paths > 0)
            total = (s.angles[rows, indices] * on_path).sum(axis=1)
            if self.definition == "sum":
                return total
            count = (s.weighted[rows, indices] * on_path).sum(axis=1)
            return np.where(count > 0, total / np.maximum(count, 1), 0.0)
        times = 1.0 if paths is None else paths
        d, a, b = s.d[rows, indices] * times, s.a[rows, indices] * times, s.b[rows, indices] * times
        sd, sa, sb = d.sum(axis=1), a.sum(axis=1), b.sum(axis=1)
        if self.definition == "abs":
            sd, sa, sb = sd + s.shared[0], sa + s.shared[1], sb + s.shared[2]
        return _angle(sd, sa, sb)

    def score(self, arch: Arch) -> float:
        """Angle of one architecture (radians; larger means the weights moved further)."""
        return float(self.score_indices(np.array([self.stats.subspace.encode(arch)]))[0])

    def score_many(self, archs: Iterable[Arch]) -> np.ndarray:
        encode = self.stats.subspace.encode
        return self.score_indices(np.array([encode(a) for a in archs]))


def _shared_modules(supernet) -> list[tuple[str, nn.Module]]:
    """The modules every path runs (stem, a cell skeleton's transitions, head), named as in the supernet."""
    return supernet.shared_modules()


def _path_pieces(supernet, arch: Arch) -> list[tuple[str, str]]:
    """``(label, op)`` of the path's pieces, each as many times as the concatenation holds it.

    A chain holds each choice point's operators once; a cell holds, for each input → output path without a
    ``zero`` edge, the operators of that path's edges (enumerated path by path, the obvious way).
    """
    subspace = supernet.subspace
    skeleton = supernet.space.config.skeleton
    if skeleton.kind != "cell":
        return [(label, op) for label in subspace.labels for op in subspace.branches(label, arch[label])]
    topology = cell_topology(skeleton)
    label_of = dict(zip(topology.edges, subspace.labels, strict=True))
    pieces = []

    def walk(node: int, path: list[str]) -> None:
        if node in topology.outputs:  # a path ends here (and, in a concatenation, others go on)
            pieces.extend((label, arch[label]) for label in path)
        for j in range(node + 1, topology.nodes):
            label = label_of.get((node, j))
            if label is not None and arch[label] != "zero":
                walk(j, [*path, label])

    for source in range(topology.inputs):
        walk(source, [])
    return pieces


def _angle(d, a, b):
    denom = np.sqrt(np.asarray(a) * np.asarray(b))
    cos = np.divide(d, denom, out=np.ones_like(np.asarray(denom, dtype=float)), where=np.asarray(denom) > 0)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def path_vectors(supernet, reference: dict[str, torch.Tensor], arch: Arch,
                 include_shared: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated ``(V0, Vt)`` of an architecture's kernels: the naive reference implementation."""
    v0, vt = [], []
    shared = _shared_modules(supernet) if include_shared else []
    modules = shared[:1]
    modules += [(f"choices.{label.replace('.', '_')}.{op}", supernet.op_module(label, op))
                for label, op in _path_pieces(supernet, arch)]
    modules += shared[1:]
    for prefix, module in modules:
        kernels = _kernels(module)
        for name, p in kernels:
            v0.append(reference[f"{prefix}.{name}"].reshape(-1).double())
            vt.append(p.detach().reshape(-1).double())
        if not kernels and include_shared and prefix.startswith("choices."):
            const = _pool_constant(prefix.rsplit(".", 1)[1], module)
            if const is not None:
                k = round(1 / const)
                v0.append(torch.full((k,), 1.0 / k, dtype=torch.float64))
                vt.append(torch.full((k,), 1.0 / k, dtype=torch.float64))
    if not v0:  # no weights on the path (a cell of parameter-free or zero edges)
        return torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
    return torch.cat(v0), torch.cat(vt)


def naive_angle(supernet, reference: dict[str, torch.Tensor], arch: Arch, definition: str = "mean") -> float:
    """Angle computed the slow, obvious way (concatenate, then arccos): for tests and the speed benchmark."""
    if definition in ("mean", "sum"):
        angles = []
        pieces = list(dict.fromkeys(_path_pieces(supernet, arch)))  # each piece once: its own angle
        for label, op in pieces:
            module = supernet.op_module(label, op)
            prefix = f"choices.{label.replace('.', '_')}.{op}"
            kernels = _kernels(module)
            if not kernels:
                continue
            w0 = torch.cat([reference[f"{prefix}.{n}"].reshape(-1).double() for n, _ in kernels])
            wt = torch.cat([p.detach().reshape(-1).double() for _, p in kernels])
            angles.append(float(torch.arccos(torch.clamp(w0 @ wt / (w0.norm() * wt.norm()), -1, 1))))
        if definition == "sum":
            return float(np.sum(angles))
        return float(np.mean(angles)) if angles else 0.0
    v0, vt = path_vectors(supernet, reference, arch, include_shared=definition == "abs")
    if v0.numel() == 0:
        return 0.0
    return float(torch.arccos(torch.clamp(v0 @ vt / (v0.norm() * vt.norm()), -1, 1)))
