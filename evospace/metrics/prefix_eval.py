"""Prefix-shared evaluation: the BN-recalibrated accuracy of many architectures, each distinct prefix run once.

Scoring one architecture alone (:meth:`AccuracyEvaluator.accuracy`) resets the BN statistics of its path,
forwards the recalibration batches in train mode with cumulative averaging (``momentum=None``), then forwards
the validation split in eval mode. In train mode a BN layer normalises with the statistics of the batch in
front of it, so the recalibration activations after choice point k depend only on the choices at 0..k; the
running statistics a layer ends with are the average of those batches' statistics, so they, and the
validation activations they normalise, depend on the same choices. Architectures that share a prefix share
all of it. They are walked as a trie of their choices, depth first::

    node(prefix, R = recalibration activations, V = validation activations):
        for each value v chosen after prefix, in order of first appearance:
            for each unit of step(prefix + v) not yet run at this node:
                reset its BN statistics; train mode: R_u = unit(R), batch after batch as alone
                eval mode: V_u = unit(V)
            node(prefix + v, combine(R, R_u, ...), combine(V, V_u, ...))
        leaf: logits = finish(V); score(logits)

Each floating-point operation is one the architecture alone would do, on the same tensors and in the same
order (a BN layer's running averages take the batches one after another as alone), so the accuracies equal
the one-at-a-time ones to the bit. After the last choice point only the head reads the recalibration
activations: without BN layers of its own it skips them. For the 625 architectures of
spaces/mnist1d_rank.yaml (four choice points, five operators) that is 780 blocks run instead of 2,500.

``nodes_per_pass`` ≥ 1 runs work in bigger passes, for devices where a call costs more than its arithmetic (a
GPU): up to that many trie nodes of one depth are expanded together; a unit that several of them run (the same
operator after different prefixes) runs once on all their activations concatenated, every recalibration batch
at once, and each BN layer takes the slices one after another as alone (:func:`_segmented_batch_norm`: per
node, reset, average the batches in, keep the statistics; in eval mode each node's slice is normalised with
its own). The result is the same to the bit as long as a convolution's output for a sample does not depend
on the rest of its batch, which holds for the CPU kernels measured by ``bench/eval_speed.py`` (it reports the
largest difference) but is not promised by cuDNN. 0 (the default on CPU) runs node by node, batch by batch.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from evospace.supernet.bn import batch_norms
from evospace.supernet.prefix import PrefixNetwork, PrefixUnit, State

__all__ = ["PrefixEvaluator"]

# an architecture's validation logits (chunk by chunk) -> its score (or several numbers, see PrefixEvaluator.scores)
Score = Callable[[list[torch.Tensor]], float | Sequence[float]]


class _Node:
    """A trie node: its prefix, the architectures below it, its activations and the BN layers on its path."""

    __slots__ = ("prefix", "members", "recal", "val", "path")

    def __init__(self, prefix: tuple[str, ...], members: list[int], recal: list[State], val: list[State],
                 path: frozenset[int]) -> None:
        self.prefix = prefix
        self.members = members
        self.recal = recal  # one state per recalibration batch (or one for all of them, in passes)
        self.val = val  # one state per validation chunk (or one for the whole split, in passes)
        self.path = path  # ids of the BN layers run so far


class PrefixEvaluator:
    """BN-recalibrated validation top-1 of many architectures of one network, shared along their prefixes.

    Args:
        recal_batches: the recalibration inputs, in the order an architecture alone sees them.
        x_val, y_val: the validation split.
        eval_batch: validation samples per forward pass (as alone, so that the passes see the same batches).
        nodes_per_pass: 0 runs node by node and batch by batch; k ≥ 1 expands up to k trie nodes of a depth
            together, all their recalibration batches in one pass (see the module docstring).

    Example:
        >>> evaluator = PrefixEvaluator(batches, x_val, y_val)  # doctest: +SKIP
        >>> rows = [["conv_k3", "skip"], ["conv_k3", "conv_k3"]]  # values in the network's label order
        >>> evaluator.accuracies(supernet.prefix_network(), rows)  # doctest: +SKIP
    """

    def __init__(self, recal_batches: Sequence[torch.Tensor], x_val: torch.Tensor, y_val: torch.Tensor, *,
                 eval_batch: int = 2048, nodes_per_pass: int = 0) -> None:
        self.recal_batches = list(recal_batches)
        self.x_val = x_val
        self.eval_batch = eval_batch
        self.y_chunks = list(y_val.split(eval_batch))
        self.n_val = len(y_val)
        self.nodes_per_pass = nodes_per_pass

    def accuracies(self, network: PrefixNetwork, archs: Sequence[Sequence[str]]) -> np.ndarray:
        """Top-1 of each architecture (its values in ``network.labels`` order), in the order given."""
        return self.scores(network, archs, self.top1)

    def top1(self, logits: list[torch.Tensor]) -> float:
        """Share of the validation split whose largest logit is its label (logits chunk by chunk)."""
        correct = sum(int((chunk.argmax(1) == y).sum()) for chunk, y in zip(logits, self.y_chunks))
        return correct / max(self.n_val, 1)

    def scores(self, network: PrefixNetwork, archs: Sequence[Sequence[str]], score: Score,
               width: int = 1) -> np.ndarray:
        """``score`` of each architecture's validation logits (one tensor per validation chunk), in order.

        A ``score`` that returns ``width`` > 1 numbers (say accuracy and loss, from one pass) fills a
        ``(architectures, width)`` array. Every BN statistic and training flag touched is put back afterwards,
        as after scoring alone.
        """
        rows = [tuple(values) for values in archs]
        out = np.zeros(len(rows) if width == 1 else (len(rows), width), dtype=float)
        if not rows:
            return out
        walk = _Walk(self, network, rows, out, score)
        if self.nodes_per_pass:
            root = _Node((), list(range(len(rows))), [torch.cat(self.recal_batches)], [self.x_val], frozenset())
        else:
            root = _Node((), list(range(len(rows))), list(self.recal_batches), list(self.x_val.split(self.eval_batch)),
                         frozenset())
        try:
            (root.recal, root.val), = walk.run(network.root(), [root], needed=True)
            walk.expand(0, [root])
        finally:
            walk.restore()
        return out


class _Walk:
    """One walk of the trie: the nodes expanded, and the BN state and training flags to put back."""

    def __init__(self, evaluator: PrefixEvaluator, network: PrefixNetwork, rows: list[tuple[str, ...]],
                 out: np.ndarray, score: Score) -> None:
        self.ev = evaluator
        self.network = network
        self.rows = rows
        self.out = out
        self.score = score
        self.depth = len(network.labels)
        self.per_pass = max(1, evaluator.nodes_per_pass)
        self._saved: dict[nn.modules.batchnorm._BatchNorm, tuple] = {}
        self._modes: dict[nn.Module, bool] = {}

    def expand(self, depth: int, nodes: list[_Node]) -> None:
        """Run the choice point at ``depth`` after each of ``nodes`` (one depth), then go on below."""
        if depth == self.depth:
            self.leaves(nodes)
            return
        children = []  # (parent, value, members, step) in order of first appearance
        for i, node in enumerate(nodes):
            values: dict[str, list[int]] = {}
            for m in node.members:
                values.setdefault(self.rows[m][depth], []).append(m)
            children += [(i, value, members, self.network.step(depth, (*node.prefix, value)))
                         for value, members in values.items()]
        # after the last choice point only the finishing units read the recalibration activations
        needed = depth + 1 < self.depth or any(batch_norms([self.network.finish((*nodes[i].prefix, value)).module])
                                               for i, value, _, _ in children)
        uses: dict[tuple[int, object], int] = {}
        for i, _, _, step in children:
            for unit in step.units:
                uses[i, unit.key] = uses.get((i, unit.key), 0) + 1
        done: dict[tuple[int, object], tuple[list, list]] = {}
        for start in range(0, len(children), self.per_pass):
            chunk = children[start:start + self.per_pass]
            self._run_units(nodes, chunk, done, needed)
            below = []
            for i, value, members, step in chunk:
                parent = nodes[i]
                outputs = [done[i, unit.key] for unit in step.units]
                norms = frozenset(id(bn) for unit in step.units for bn in batch_norms([unit.module]))
                if norms & parent.path:
                    raise ValueError(f"choice point {self.network.labels[depth]!r}: a BN layer of {value!r} already "
                                     f"runs earlier on the path; prefix sharing needs each module in one unit")
                recal = _combine(step.combine, parent.recal, [o[0] for o in outputs]) if needed else []
                below.append(_Node((*parent.prefix, value), members, recal,
                                   _combine(step.combine, parent.val, [o[1] for o in outputs]), parent.path | norms))
                for unit in step.units:
                    uses[i, unit.key] -= 1
                    if not uses[i, unit.key]:
                        del done[i, unit.key]
            self.expand(depth + 1, below)

    def _run_units(self, nodes: list[_Node], chunk: list, done: dict, needed: bool) -> None:
        """Run the units ``chunk`` needs and ``done`` lacks; a unit several nodes need runs once for all."""
        passes: dict[tuple[object, int], tuple[PrefixUnit, list[int]]] = {}
        for i, _, _, step in chunk:
            for unit in step.units:
                if (i, unit.key) in done:
                    continue
                _, parents = passes.setdefault((unit.key, id(unit.module)), (unit, []))
                if i not in parents:
                    parents.append(i)
        for unit, parents in passes.values():
            for i, result in zip(parents, self.run(unit, [nodes[i] for i in parents], needed=needed)):
                done[i, unit.key] = result

    def leaves(self, nodes: list[_Node]) -> None:
        passes: dict[tuple[object, int], tuple[PrefixUnit, list[_Node]]] = {}
        for node in nodes:
            unit = self.network.finish(node.prefix)
            passes.setdefault((unit.key, id(unit.module)), (unit, []))[1].append(node)
        for unit, group in passes.values():
            for node, (_, logits) in zip(group, self.run(unit, group, needed=False)):
                if self.ev.nodes_per_pass:
                    logits = list(torch.cat(logits).split(self.ev.eval_batch))
                self.out[node.members] = self.score(logits)

    def run(self, unit: PrefixUnit, nodes: list[_Node], *, needed: bool) -> list[tuple[list[State], list[State]]]:
        """``unit`` recalibrated on each node's recalibration activations (train mode), then run on its
        validation activations (eval mode): ``(recalibration outputs, validation outputs)`` per node.

        ``needed=False``: nothing comes after the unit, so its recalibration outputs are dropped and a unit
        without BN layers skips them.
        """
        module = unit.module
        norms = batch_norms([module])
        self._modes.setdefault(module, module.training)
        for bn in norms:
            if bn not in self._saved:
                self._saved[bn] = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone(),
                                   bn.momentum)
            bn.momentum = None
        if not self.ev.nodes_per_pass:
            (node,) = nodes
            recal: list[State] = []
            for bn in norms:
                bn.reset_running_stats()
            if needed or norms:
                module.train()
                recal = [unit.run(state) for state in node.recal]
            module.eval()
            return [(recal if needed else [], [unit.run(state) for state in node.val])]
        recal_sizes = [[len(x) for x in self.ev.recal_batches]] * len(nodes)
        val_sizes = [[_length(node.val[0])] for node in nodes]
        with _segmented_batch_norm(norms, recal_sizes, val_sizes):
            recal_out = None
            if needed or norms:
                module.train()
                recal_out = unit.run(_cat([node.recal[0] for node in nodes]))
            module.eval()
            val_out = unit.run(_cat([node.val[0] for node in nodes]))
        recal_parts = _split(recal_out, [sum(s) for s in recal_sizes]) if needed else [None] * len(nodes)
        return [([r] if needed else [], [v]) for r, v in zip(recal_parts, _split(val_out, [s[0] for s in val_sizes]))]

    def restore(self) -> None:
        for bn, (mean, var, count, momentum) in self._saved.items():
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.num_batches_tracked.copy_(count)
            bn.momentum = momentum
        for module, flag in self._modes.items():
            module.train(flag)


def _combine(combine: Callable, states: list[State], outputs: list[list[torch.Tensor]]) -> list[State]:
    """``combine`` applied batch by batch (the outputs are listed per unit)."""
    return [combine(state, [per_unit[i] for per_unit in outputs]) for i, state in enumerate(states)]


def _cat(states: list[State]) -> State:
    """Several nodes' states as one (a tuple of tensors is joined element by element)."""
    if len(states) == 1:
        return states[0]
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*states))
    return torch.cat(states)


def _split(state: State, sizes: list[int]) -> list[State]:
    """The inverse of :func:`_cat`."""
    if isinstance(state, tuple):
        return list(zip(*(part.split(sizes) for part in state)))
    return list(state.split(sizes))


def _length(state: State) -> int:
    return len(state[0]) if isinstance(state, tuple) else len(state)


@contextlib.contextmanager
def _segmented_batch_norm(norms: list[nn.modules.batchnorm._BatchNorm], recal_sizes: list[list[int]],
                          val_sizes: list[list[int]]) -> Iterator[None]:
    """Inside the block, each of ``norms`` takes its input as the slices of several trie nodes, one node after
    another: in train mode, node n's recalibration batches (``recal_sizes[n]``) from reset statistics, batch
    after batch through the layer's own forward, as alone; in eval mode, node n's validation slice
    (``val_sizes[n]``) normalised with the statistics node n ended with."""
    kept: dict[nn.Module, list[tuple[torch.Tensor, ...]]] = {bn: [] for bn in norms}

    def forward(bn, x: torch.Tensor) -> torch.Tensor:
        layer = type(bn).forward
        out = []
        if bn.training:
            parts = iter(x.split([size for sizes in recal_sizes for size in sizes]))
            kept[bn].clear()
            for sizes in recal_sizes:
                bn.reset_running_stats()
                out += [layer(bn, next(parts)) for _ in sizes]
                kept[bn].append((bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()))
            return torch.cat(out)
        for part, (mean, var, count) in zip(x.split([s for sizes in val_sizes for s in sizes]), kept[bn]):
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.num_batches_tracked.copy_(count)
            out.append(layer(bn, part))
        return torch.cat(out)

    for bn in norms:
        bn.forward = types.MethodType(forward, bn)
    try:
        yield
    finally:
        for bn in norms:
            del bn.forward
