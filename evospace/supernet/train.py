"""Supernet training (SPOS): one sampled path per step, SGD-Nesterov, cosine schedule over the round.

The trainer's whole state is explicit and small: the round index, two counters (epoch, step within the
epoch), the optimizer's momentum buffers and the weights. Every random draw comes from a generator
derived from (run seed, purpose, round, epoch), so the data order and the paths of any epoch can be
re-derived at any step, and a run resumed mid-epoch continues exactly.

``after_step`` (branch learning) runs after every weight step; it may change the operators' logits, never
the weights. Per round::

    optimizer = SGD(nesterov, weight decay on conv/linear weights only)
    for epoch in range(E):
        order = permutation(seed, round, epoch); paths = sample(subspace, seed, round, epoch)
        for step, batch in enumerate(batches(order)):
            lr = cosine(step of round); loss = CE_smooth(net(x, paths[step]), y)
            loss.backward(); clip(5); optimizer.step()
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evospace.data import DataSplits
from evospace.data.augment import augment, augments
from evospace.data.batches import train_batches
from evospace.distributed import Group, check_batch_split
from evospace.run.rng import numpy_stream, torch_stream
from evospace.space.schema import TrainConfig
from evospace.space.subspace import Arch, Subspace
from evospace.supernet.precision import Precision

__all__ = ["make_optimizer", "cosine_lr", "steps_per_epoch", "train_step", "RoundTrainer", "EpochFigures",
           "sample_paths", "catch_up_weights", "undertrained_note"]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD-Nesterov with weight decay on conv/linear weights only (not BN, not biases)."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0)


def undertrained_note(train_acc: float, classes: int) -> str | None:
    """A hint for a round whose last epoch left the supernet near chance, else ``None``.

    Near chance means less than a tenth of the way from chance to every sample right. Such a supernet's
    accuracy and angle carry little about the architectures (bench/supernet_fit.py: a supernet over a whole
    pool of 4–6 operators stays at 20–50 % on the shipped ground-truth spaces after 12 epochs where one path
    reaches 97 %), so the user should know that the decisions rest on the score's other signals. Fewer
    operators at once would train it further too, but starting from two per point made searches worse at equal
    epochs (README), so the hint names epochs only.
    """
    chance = 1.0 / max(classes, 1)
    if train_acc >= chance + 0.1 * (1.0 - chance):
        return None
    return (f"the supernet stayed near chance (training accuracy {train_acc:.0%} in the last epoch, chance "
            f"{chance:.0%}): its accuracy and angle say little yet, so the score leans on costs, proxies and anchors; "
            "more epochs train it further (search.epochs_per_round, search.first_round_epochs)")


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: full batches only, so that BN statistics stay stable (at least one)."""
    return max(1, samples // batch_size)


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine annealing from ``base`` to 0 over ``total`` steps."""
    return 0.5 * base * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def train_step(forwards: Sequence[Callable[[torch.Tensor], torch.Tensor]], params: list[torch.Tensor],
               optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
               lr: float, reduce_grads: Callable[[list[torch.Tensor]], None] | None = None,
               precision: Precision | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step; several forwards (FairNAS paths) add their gradients up before it.

    Returns the (detached) mean loss and the mean number of correct predictions over the forwards. Shared
    by the supernet and the stand-alone trainer so that both pay exactly the same per step.
    ``reduce_grads`` averages the gradients across processes (before clipping, so every rank clips the
    same global gradient). ``precision`` (GPU): forwards under autocast, the loss scaled for float16, the
    gradients unscaled after the reduction (so every rank sees the same overflow) and before clipping.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss_sum = torch.zeros((), device=x.device)
    hits = torch.zeros((), dtype=torch.long, device=x.device)
    for forward in forwards:
        if precision is None:
            logits = forward(x)
            loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
            loss.backward()
        else:
            with precision.autocast():
                logits = forward(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            precision.backward(loss)
        loss_sum += loss.detach()
        hits += (logits.detach().argmax(1) == y).sum()
    if reduce_grads is not None:
        reduce_grads(params)
    if precision is not None:
        precision.unscale(optimizer)
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    if precision is None:
        optimizer.step()
    else:
        precision.step(optimizer)
    n = len(forwards)
    return loss_sum / n, torch.div(hits, n, rounding_mode="floor")


@dataclass(frozen=True)
class EpochFigures:
    """What one epoch of supernet training reports to ``metrics.jsonl``."""

    round: int
    epoch: int
    loss: float
    train_acc: float
    lr: float
    seconds: float
    steps: int


def catch_up_weights(subspace: Subspace, born: Mapping[str, Mapping[str, int]] | None,
                     round_index: int) -> dict[str, np.ndarray]:
    """Per choice point, the probability of each of its choices under ``catch_up`` sampling.

    An operator that entered ``j`` rounds after the oldest active operator of its choice point is drawn ``1 + j``
    times as often as the oldest, so a newcomer gets more of the round's steps and is not judged on far fewer
    steps than the survivors that trained in earlier rounds (an operator missing from ``born`` entered this
    round). A branch set weighs as much as its youngest operator. With every operator of a point the same age,
    or no ``born`` at all, the draw is uniform.
    """
    out = {}
    for label in subspace.labels:
        entered = {op: born.get(label, {}).get(op, round_index) if born is not None else 0
                   for op in subspace.ops(label)}
        oldest = min(entered.values())
        weights = np.array([1.0 + max((entered[op] for op in subspace.branches(label, choice)), default=oldest) - oldest
                            for choice in subspace.choices(label)])
        out[label] = weights / weights.sum()
    return out


def sample_paths(subspace: Subspace, seed: int, round_index: int, epoch: int, steps: int,
                 sampling: str, born: Mapping[str, Mapping[str, int]] | None = None) -> list[list[Arch]]:
    """The paths trained at each step of one epoch: one per step (uniform, catch_up), or a fair set (FairNAS).

    ``fair`` trains every active operator of every choice point in every step: with m = the largest
    active count, m paths per step, where choice point k uses its shuffled operators in turn
    (``perm_k[j mod n_k]``). Each operator of a choice point with m active operators is trained exactly
    once per step; where a choice point has fewer, its operators get ⌊m / n_k⌋ or ⌈m / n_k⌉ updates.
    ``catch_up`` draws one path per step with the operators' weights of :func:`catch_up_weights` (``born``:
    the round each active operator entered in).
    """
    rng = numpy_stream(seed, "paths", round_index, epoch)
    if sampling == "uniform":
        return [[subspace.decode(row)] for row in subspace.sample_indices(rng, steps)]
    if sampling == "catch_up":
        weights = catch_up_weights(subspace, born, round_index)
        columns = [rng.choice(len(weights[label]), size=steps, p=weights[label]) for label in subspace.labels]
        return [[subspace.decode(row)] for row in np.stack(columns, axis=1)]
    width = max(len(subspace.ops(label)) for label in subspace.labels)
    paths = []
    for _ in range(steps):
        perms = [rng.permutation(len(subspace.ops(label))) for label in subspace.labels]
        paths.append([subspace.decode([p[j % len(p)] for p in perms]) for j in range(width)])
    return paths


class RoundTrainer:
    """Trains a supernet for one round; ``state_dict`` captures everything needed to resume mid-round.

    Call order: construct at the start of a round (or from a checkpoint with ``load_state_dict``), then
    :meth:`train_epoch` until :attr:`done`. ``on_step`` is called after every optimizer step but an
    epoch's last (for mid-round checkpoints and signal handling); it may raise to stop, and the trainer
    resumes later from :meth:`state_dict`.

    In a process group (``group``), every rank runs the same steps on the same paths; each takes an equal
    slice of the global batch of ``batch_size`` and gradients are averaged before the step. Counters and
    momentum are identical on every rank, so a snapshot from any world size resumes under any other.
    """

    def __init__(self, supernet: nn.Module, data: DataSplits, config: TrainConfig, *, batch_size: int,
                 epochs: int, round_index: int, seed: int, sampling: str = "uniform",
                 group: Group | None = None, after_step: Callable[[RoundTrainer], object] | None = None,
                 precision: Precision | None = None, born: Mapping[str, Mapping[str, int]] | None = None) -> None:
        self.supernet = supernet
        self.data = data
        self.config = config
        self.batch_size = batch_size
        self.epochs = epochs
        self.round = round_index
        self.seed = seed
        self.sampling = sampling
        self.born = born  # the round each active operator entered in (catch_up sampling)
        self.group = group or Group()
        self.after_step = after_step  # runs after every weight step (branch learning's architecture steps)
        self.precision = precision  # mixed precision (GPU, supernet/precision.py); None: float32
        check_batch_split(batch_size, self.group.world)
        self.steps_per_epoch = steps_per_epoch(len(data.y_train), batch_size)
        self.epoch = 0  # epochs completed
        self.step = 0  # steps completed within the current epoch
        self.optimizer = make_optimizer(supernet, config)
        self._params = list(supernet.parameters())
        self._sums: list | None = None  # running loss, hits, samples, seconds of the current epoch
        self._augmented = augments(data.info.name)  # image data: random crops and flips (data/augment.py)

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def global_step(self) -> int:
        return self.epoch * self.steps_per_epoch + self.step

    def _order(self) -> torch.Tensor:
        gen = torch_stream(self.seed, "order", self.round, self.epoch)
        return torch.randperm(len(self.data.y_train), generator=gen).to(self.data.x_train.device)

    def train_epoch(self, on_step: Callable[[RoundTrainer], object] | None = None,
                    progress: Callable[[int], None] | None = None) -> EpochFigures:
        """Run the rest of the current epoch and return its figures.

        ``on_step`` runs after every step but the epoch's last (the caller handles epoch ends itself, after
        recording the figures); it may raise to stop, and the trainer's state is then resumable.
        """
        self.supernet.train()
        order = self._order()
        paths = sample_paths(self.supernet.subspace, self.seed, self.round, self.epoch, self.steps_per_epoch,
                             self.sampling, self.born)
        device = self.data.device
        if self._sums is None:
            self._sums = [torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device), 0, 0.0]
        share = self.batch_size // self.group.world
        batches = train_batches(self.data, order, batch_size=self.batch_size, start=self.step,
                                stop=self.steps_per_epoch, offset=self.group.rank * share, share=share)
        with closing(batches):
            lr = self._run_steps(batches, paths, on_step, progress)
        total_loss, total_correct, seen = self._global_sums()
        seconds = self._sums[3]
        figures = EpochFigures(self.round, self.epoch, total_loss / self.steps_per_epoch,
                               total_correct / max(seen, 1), lr, seconds, self.steps_per_epoch)
        self.epoch += 1
        self.step = 0
        self._sums = None
        return figures

    def _run_steps(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], paths: list,
                   on_step: Callable[[RoundTrainer], object] | None, progress: Callable[[int], None] | None) -> float:
        """The epoch's remaining steps, one batch of ``batches`` each (this process's slice of the global batch);
        returns the learning rate of the last."""
        loss_sum, correct = self._sums[0], self._sums[1]
        world, rank = self.group.world, self.group.rank
        reduce = self.group.all_reduce_grads if self.group.distributed else None
        lr = cosine_lr(self.config.lr, self.global_step, self.total_steps)
        start = time.perf_counter()
        while self.step < self.steps_per_epoch:
            x, y = next(batches)
            if self._augmented:  # a generator per step: a run resumed mid-epoch draws the same crops and flips
                x = augment(self.data.info.name, x, torch_stream(self.seed, "augment", self.round, self.epoch,
                                                                 self.step, rank))
            lr = cosine_lr(self.config.lr, self.global_step, self.total_steps)
            forwards = [functools.partial(self.supernet, arch=arch) for arch in paths[self.step]]
            loss, hits = train_step(forwards, self._params, self.optimizer, x, y, self.config, lr, reduce,
                                    self.precision)
            loss_sum += loss / world if world > 1 else loss  # this rank's part of the global batch's mean
            correct += hits
            self._sums[2] += len(y)
            self.step += 1
            if self.after_step is not None:
                self.after_step(self)
            self._sums[3] += time.perf_counter() - start
            start = time.perf_counter()
            if progress is not None:
                progress(1)
            if on_step is not None and self.step < self.steps_per_epoch:
                on_step(self)
        return lr

    def _global_sums(self) -> tuple[float, float, int]:
        """The epoch's running loss sum, hits and samples over every rank (a collective when distributed)."""
        loss, hits, seen = float(self._sums[0]), float(self._sums[1]), self._sums[2]
        if self.group.distributed:
            loss, hits, seen = self.group.sum([loss, hits, seen], "the epoch's figures")
        return loss, hits, int(seen)

    def refresh_params(self) -> None:
        """Follow a change of the supernet's operators within the round: momentum kept for the survivors."""
        old = self.optimizer
        self.optimizer = make_optimizer(self.supernet, self.config)
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p in old.state:
                    self.optimizer.state[p] = old.state[p]
        self._params = list(self.supernet.parameters())

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """``(json_state, tensors)``: counters as JSON, momentum buffers as named tensors.

        Buffers are keyed by parameter *name* so that the mapping survives a rebuild of the supernet. In a
        process group every rank must call it (the running sums are totalled over the ranks).
        """
        names = {id(p): n for n, p in self.supernet.named_parameters()}
        tensors = {}
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                buf = self.optimizer.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    tensors[f"momentum.{names[id(p)]}"] = buf.detach().clone()
        meta = {"round": self.round, "epoch": self.epoch, "step": self.step, "epochs": self.epochs,
                "steps_per_epoch": self.steps_per_epoch,
                "sums": None if self._sums is None else [*self._global_sums(), self._sums[3]]}
        if meta["sums"] is not None:
            meta["sums"][1] = int(meta["sums"][1])
        return meta, tensors

    def load_state_dict(self, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
        """Restore counters and momentum buffers written by :meth:`state_dict`."""
        if meta["round"] != self.round or meta["steps_per_epoch"] != self.steps_per_epoch:
            raise ValueError("trainer state belongs to another round or batch size")
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        sums = meta.get("sums")
        if sums is not None and not self.group.is_main:  # rank 0 carries the totals so far; the others restart
            sums = [0.0, 0, 0, sums[3]]
        if sums is not None:
            device = self.data.device
            # the dtypes train_epoch accumulates in: a float64 loss sum would round differently
            self._sums = [torch.tensor(sums[0], dtype=torch.get_default_dtype(), device=device),
                          torch.tensor(sums[1], dtype=torch.long, device=device), sums[2], sums[3]]
        params = dict(self.supernet.named_parameters())
        for key, tensor in tensors.items():
            if key.startswith("momentum."):
                p = params[key[len("momentum."):]]
                self.optimizer.state[p]["momentum_buffer"] = tensor.to(p.device).clone()

