"""Few-shot supernets (Zhao et al., ICML 2021): one sub-supernet per operator of a split choice point.

After the shared supernet's training in a round, the subspace is split on one or more choice points: each
combination ``owner`` of their active operators defines the sub-space in which those points are fixed to
``owner``. Each sub-supernet starts from the shared weights (weight transfer), trains a few more epochs on
paths of its sub-space only, and then scores exactly the architectures it owns.

Memory stays bounded: the sub-supernets are trained one after another inside the one supernet module, and
each keeps only its *delta*, the tensors its training can change: the stem, the head, every operator of the
other choice points and its own operator at each split point, never the siblings there. The shared weights
are put back after each, and scoring swaps one delta in at a time (:meth:`SubSupernets.activate`). Peak:
the supernet, one copy of the shared weights and the K deltas, against the supernet alone for one-shot
(``tensor_bytes`` reports the figures).

Per round::

    labels = few_shot.split, or the `count` choice points whose operator angle scores disagree most
    shared = copy(supernet weights)
    for owner in product(active operators at labels):          # one after another
        train `epochs` on paths with labels fixed to owner    # own streams: (round, labels, owner, epoch)
        delta[owner] = owner's sub-space tensors; weights = shared

"Disagree most" (:func:`disagreement`): a choice point's variance, over its active operators, of their
angle scores (the mean angle of the architectures containing each) under the shared supernet. Scored over
every architecture, that is the between-group variance of the architectures' angles that the choice point
explains: splitting there separates the paths whose scores differ most.

Measured with ``python bench/ranking.py --fewshot-only --seeds 8 --fs-per-label`` on spaces/mnist1d_rank.yaml
(625 architectures, stand-alone ground truth): after 5 shared epochs, 5 sub-supernets × 1 epoch rank
architectures by angle at Kendall τ 0.571 ± 0.026 against 0.583 ± 0.018 for one-shot trained 10 epochs (equal
steps) and 0.596 before the split: splitting does not pay here (gain −0.012 ± 0.016; 2 epochs each −0.026;
a 5× smaller learning rate +0.012 ± 0.022, but only because the split then barely moves the angles while the
longer one-shot ranks worse). The rule picks s1.b2, the worst of the four splits (τ 0.570; s1.b1 0.612,
s2.b2 0.610, s2.b1 0.592). Supernet accuracy (100 architectures) ranks at 0.12 few-shot vs 0.26 one-shot.
So few-shot stays off by default.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from evospace.data import DataSplits
from evospace.data.augment import augment
from evospace.data.batches import train_batches
from evospace.run.rng import torch_stream
from evospace.space.schema import TrainConfig
from evospace.space.subspace import Subspace
from evospace.supernet.skeleton import module_key
from evospace.supernet.train import cosine_lr, make_optimizer, sample_paths, steps_per_epoch, train_step

__all__ = ["Owner", "SubSupernets", "owners_of", "owner_subspace", "disagreement", "choose_split",
           "sub_space_keys", "train_sub_supernet", "tensor_bytes"]

Owner = tuple[str, ...]  # the operators a sub-supernet fixes at the split choice points, in split order


def owners_of(subspace: Subspace, labels: tuple[str, ...]) -> list[Owner]:
    """Every combination of active operators at ``labels``, in odometer order (last label fastest)."""
    return list(itertools.product(*(subspace.ops(label) for label in labels)))


def owner_subspace(subspace: Subspace, labels: tuple[str, ...], owner: Owner) -> Subspace:
    """The part of ``subspace`` a sub-supernet trains and scores: ``labels`` fixed to ``owner``."""
    fixed = dict(zip(labels, owner, strict=True))
    return subspace.with_active({label: (fixed[label],) if label in fixed else subspace.ops(label)
                                 for label in subspace.labels})


def disagreement(op_scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Per choice point, the population variance of its operators' scores (0 with a single operator)."""
    return {label: float(np.var(list(scores.values()))) for label, scores in op_scores.items()}


def choose_split(scores: Mapping[str, float], count: int) -> tuple[str, ...]:
    """The ``count`` choice points of largest ``scores`` (ties: the earlier choice point), in skeleton order."""
    order = list(scores)
    ranked = sorted(order, key=lambda label: (-scores[label], order.index(label)))
    chosen = set(ranked[:count])
    return tuple(label for label in order if label in chosen)


def sub_space_keys(supernet: nn.Module, subspace: Subspace) -> list[str]:
    """State-dict keys of the modules on ``subspace``'s paths: all a sub-supernet's training can change."""
    shared = tuple(f"{name}." for name, _ in supernet.shared_modules())
    prefixes = (*shared, *(f"choices.{module_key(label)}.{op}." for label in subspace.labels
                           for op in subspace.ops(label)))
    return [key for key in supernet.state_dict() if key.startswith(prefixes)]


def tensor_bytes(tensors: Mapping[str, torch.Tensor]) -> int:
    """Bytes held by ``tensors``."""
    return sum(t.numel() * t.element_size() for t in tensors.values())


def train_sub_supernet(supernet: nn.Module, subspace: Subspace, data: DataSplits, config: TrainConfig, *,
                       batch_size: int, epochs: int, lr: float, seed: int, key: tuple, sampling: str = "uniform"
                       ) -> list[dict]:
    """Train ``supernet`` in place on paths of ``subspace`` only, with a fresh optimizer and cosine schedule.

    Steps per epoch, the loss and the sampling rule are the shared trainer's (``RoundTrainer``); the data
    order and the paths come from streams keyed by ``key`` (round, split labels, owner) and the epoch, so a
    sub-supernet trained again from the same weights ends bit for bit the same.

    Returns:
        One ``{"epoch", "loss", "train_acc", "lr", "steps", "seconds"}`` row per epoch.
    """
    shared = [module for _, module in supernet.shared_modules()]
    modules = nn.ModuleList([*shared, *(supernet.op_module(label, op) for label in subspace.labels
                                        for op in subspace.ops(label))])
    optimizer = make_optimizer(modules, config)
    params = list(modules.parameters())
    steps = steps_per_epoch(len(data.y_train), batch_size)
    stream = "/".join(map(str, ("few-shot", *key)))
    supernet.train()
    rows = []
    for epoch in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(data.y_train), generator=torch_stream(seed, "few-shot-order", *key, epoch))
        # sample_paths only uses its round index as a stream key: give it the sub-supernet's own
        paths = sample_paths(subspace, seed, stream, epoch, steps, sampling)  # type: ignore[arg-type]
        loss_sum, hits = 0.0, 0
        for step, (x, y) in enumerate(train_batches(data, order, batch_size=batch_size, stop=steps)):
            x = augment(data.info.name, x, torch_stream(seed, "few-shot-augment", *key, epoch, step))  # images only
            rate = cosine_lr(lr, epoch * steps + step, epochs * steps)
            forwards = [functools.partial(supernet, arch=arch) for arch in paths[step]]
            loss, correct = train_step(forwards, params, optimizer, x, y, config, rate)
            loss_sum += float(loss)
            hits += int(correct)
        rows.append({"epoch": epoch, "loss": loss_sum / steps, "train_acc": hits / (steps * batch_size),
                     "lr": rate, "steps": steps, "seconds": time.perf_counter() - start})
    return rows


class SubSupernets:
    """The sub-supernets of one round's split, as deltas on the shared weights of one supernet module.

    Call order: construct right after the shared training (it copies the shared weights), :meth:`train` each
    owner in :attr:`owners` in turn (or :meth:`restore` the finished ones from a snapshot), then
    :meth:`activate` an owner to score its architectures, and ``activate(None)`` to get the shared weights
    back before the supernet is trained or changed again.

    Args:
        supernet: the trained shared supernet (its weights are the shared ones while no owner is active).
        round_index: the round whose supernet is split.
        labels: the split choice points, in skeleton order.
        info: JSON-ready facts about the choice (reason, disagreement), kept for events and snapshots.
    """

    def __init__(self, supernet: nn.Module, round_index: int, labels: tuple[str, ...], info: dict | None = None
                 ) -> None:
        self.supernet = supernet
        self.round = round_index
        self.labels = tuple(labels)
        self.info = dict(info or {})
        self.owners = owners_of(supernet.subspace, self.labels)
        self.shared = {k: v.detach().clone() for k, v in supernet.state_dict().items()}
        self.deltas: dict[Owner, dict[str, torch.Tensor]] = {}
        self.figures: dict[Owner, list[dict]] = {}
        self._active: Owner | None = None
        self._active_keys: set[str] = set()

    @property
    def complete(self) -> bool:
        return len(self.deltas) == len(self.owners)

    @property
    def pending(self) -> list[Owner]:
        """Owners not trained yet, in training order."""
        return [owner for owner in self.owners if owner not in self.deltas]

    def subspace_of(self, owner: Owner) -> Subspace:
        return owner_subspace(self.supernet.subspace, self.labels, owner)

    def owner_of(self, arch: Mapping[str, str]) -> Owner:
        """The owner of an architecture: its operators at the split choice points."""
        return tuple(arch[label] for label in self.labels)

    def train(self, owner: Owner, data: DataSplits, config: TrainConfig, *, batch_size: int, epochs: int, lr: float,
              seed: int, sampling: str = "uniform") -> list[dict]:
        """Train ``owner``'s sub-supernet from the shared weights, keep its delta, put the shared weights back."""
        self.activate(None)
        subspace = self.subspace_of(owner)
        key = (self.round, *self.labels, *owner)
        rows = train_sub_supernet(self.supernet, subspace, data, config, batch_size=batch_size, epochs=epochs, lr=lr,
                                  seed=seed, key=key, sampling=sampling)
        state = self.supernet.state_dict()
        self.deltas[owner] = {k: state[k].detach().clone() for k in sub_space_keys(self.supernet, subspace)}
        self.figures[owner] = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # clock-free
        self._active, self._active_keys = owner, set(self.deltas[owner])
        self.activate(None)
        return rows

    @torch.no_grad()
    def activate(self, owner: Owner | None) -> None:
        """Give the supernet ``owner``'s weights (``None``: the shared ones); only delta tensors are copied."""
        if owner == self._active:
            return
        target = self.deltas[owner] if owner is not None else {}
        state = self.supernet.state_dict()
        for key in self._active_keys - target.keys():
            state[key].copy_(self.shared[key])
        for key, tensor in target.items():
            state[key].copy_(tensor)
        self._active, self._active_keys = owner, set(target)

    def memory(self) -> dict[str, int]:
        """Tensor bytes: the supernet, the shared copy and the deltas kept (the few-shot overhead is the last two)."""
        return {"supernet_bytes": tensor_bytes(self.supernet.state_dict()), "shared_bytes": tensor_bytes(self.shared),
                "delta_bytes": sum(tensor_bytes(d) for d in self.deltas.values())}

    # -- snapshots ---------------------------------------------------------------------------------
    def state(self) -> dict:
        """JSON-ready progress: the split, the owners finished and their training figures."""
        done = [owner for owner in self.owners if owner in self.deltas]
        return {"round": self.round, "labels": list(self.labels), "info": self.info,
                "done": [list(owner) for owner in done], "figures": [self.figures[owner] for owner in done]}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The finished deltas, keyed ``"<owner index>/<state-dict key>"``."""
        return {f"{self.owners.index(owner)}/{key}": tensor
                for owner, delta in self.deltas.items() for key, tensor in delta.items()}

    @classmethod
    def restore(cls, supernet: nn.Module, state: dict, tensors: Mapping[str, torch.Tensor]) -> SubSupernets:
        """Rebuild from :meth:`state` and :meth:`tensors`; ``supernet`` must hold the shared weights."""
        sub = cls(supernet, int(state["round"]), tuple(state["labels"]), state.get("info"))
        device = next(supernet.parameters()).device
        for owner, figures in zip(state["done"], state["figures"], strict=True):
            owner = tuple(owner)
            index = sub.owners.index(owner)
            prefix = f"{index}/"
            sub.deltas[owner] = {k[len(prefix):]: v.to(device) for k, v in tensors.items() if k.startswith(prefix)}
            sub.figures[owner] = figures
        return sub
