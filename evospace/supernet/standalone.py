"""Stand-alone training of one architecture with a fixed recipe: ground truth, baselines, retraining.

The recipe is the supernet's (SGD-Nesterov, cosine schedule, weight decay on kernels only, label
smoothing, gradient clipping) and uses the same :func:`train_step`, so a supernet path and a stand-alone
model pay the same per step. Optional augmentation: random shifts (the usual one for MNIST-1D); image data sets
get their usual random crops and flips (``data/augment.py``), as in supernet training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from evospace.data import DataSplits
from evospace.data.augment import augment
from evospace.data.batches import train_batches
from evospace.run.rng import torch_stream
from evospace.space.schema import TrainConfig
from evospace.supernet.precision import Precision
from evospace.supernet.train import cosine_lr, make_optimizer, steps_per_epoch, train_step

__all__ = ["RETRAIN_EPOCHS", "StandaloneResult", "random_shift", "usual_shift", "evaluate_top1", "train_standalone",
           "optimizer_tensors", "load_optimizer_tensors"]

# The usual augmentation of each data set, as a random-shift range (data sets not listed: none).
# MNIST-1D's signals sit at random offsets by construction, so shifting them is label-preserving.
# Measured on the default space (a plain conv_k3 CNN and a searched 24k-parameter architecture, 3 seeds,
# 10/20/40 epochs): ±3 and no shift are equal within the noise of the 1,000-sample test set (98.69% vs 98.71%
# mean test accuracy).
USUAL_SHIFT = {"mnist1d": 3}
# Default epochs of `evospace train`. Same measurement, shift ±3: 10 epochs 98.45%, 20 epochs 98.70%,
# 40 epochs 98.92% mean test accuracy (±0.1–0.3% over seeds); 40 epochs of a 25k-parameter model take
# about 40 s on one loaded CPU core, so bench/e2e_mnist1d.py still fits its 15 minutes.
RETRAIN_EPOCHS = 40


@dataclass(frozen=True)
class StandaloneResult:
    """Figures of one stand-alone training run (accuracies are fractions in [0, 1])."""

    val_acc: float
    test_acc: float
    train_loss: float  # mean loss of the last epoch
    seconds: float
    epochs: int


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each sample along its last axis by a random offset in [-max_shift, max_shift], zero-filled."""
    if max_shift <= 0:
        return x
    n, length = x.shape[0], x.shape[-1]
    shifts = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator).to(x.device)
    positions = torch.arange(length, device=x.device)[None, :] - shifts[:, None]
    valid = (positions >= 0) & (positions < length)
    index = positions.clamp(0, length - 1)
    flat = x.reshape(n, -1, length)
    shifted = torch.gather(flat, 2, index[:, None, :].expand(-1, flat.shape[1], -1))
    return (shifted * valid[:, None, :]).reshape(x.shape)


def usual_shift(dataset: str) -> int:
    """The random-shift range used when retraining on ``dataset`` (0: no augmentation)."""
    return USUAL_SHIFT.get(dataset, 0)


@torch.no_grad()
def evaluate_top1(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2048) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    model.train(was)
    return correct / max(len(y), 1)


def train_standalone(model: nn.Module, data: DataSplits, config: TrainConfig, *, epochs: int, batch_size: int,
                     seed: int, max_shift: int = 0, start_epoch: int = 0,
                     on_epoch: Callable[[int, float], None] | None = None,
                     optimizer: torch.optim.Optimizer | None = None,
                     precision: Precision | None = None) -> StandaloneResult:
    """Train ``model`` from its current weights for ``epochs`` epochs and report val/test top-1.

    Args:
        model: a plain module (e.g. from :func:`evospace.build_model`), already on the data's device.
        config: the recipe (learning rate, momentum, weight decay, label smoothing, clipping).
        seed: seed of the data order and augmentation.
        max_shift: random-shift augmentation range (0: none).
        start_epoch: epochs already done (to continue an interrupted run: the schedule and data order
            pick up where they stopped); pass the restored ``optimizer`` too.
        on_epoch: called after each epoch with (epoch index, mean training loss), e.g. to checkpoint.
        precision: mixed precision on a GPU (:func:`~evospace.supernet.precision.precision_for`); None: float32.
    """
    optimizer = optimizer or make_optimizer(model, config)
    params = list(model.parameters())
    n = len(data.y_train)
    steps = steps_per_epoch(n, batch_size)
    total = epochs * steps
    start = time.perf_counter()
    loss_mean = float("nan")
    model.train()
    for epoch in range(start_epoch, epochs):
        order = torch.randperm(n, generator=torch_stream(seed, "standalone-order", epoch))
        shift_gen = torch_stream(seed, "standalone-shift", epoch)
        augment_gen = torch_stream(seed, "standalone-augment", epoch)
        loss_sum = torch.zeros((), device=data.device)
        for step, (x, y) in enumerate(train_batches(data, order, batch_size=batch_size, stop=steps)):
            x = augment(data.info.name, random_shift(x, max_shift, shift_gen), augment_gen)
            lr = cosine_lr(config.lr, epoch * steps + step, total)
            loss, _ = train_step([model], params, optimizer, x, y, config, lr, precision=precision)
            loss_sum += loss
        loss_mean = float(loss_sum) / steps
        if on_epoch is not None:
            on_epoch(epoch, loss_mean)
    return StandaloneResult(evaluate_top1(model, data.x_val, data.y_val),
                            evaluate_top1(model, data.x_test, data.y_test), loss_mean, time.perf_counter() - start,
                            epochs)


def optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """The optimizer's momentum buffers keyed ``momentum.<parameter name>`` (for safetensors)."""
    names = {id(p): name for name, p in model.named_parameters()}
    tensors = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                tensors[f"momentum.{names[id(p)]}"] = buf.detach().clone()
    return tensors


def load_optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer,
                           tensors: dict[str, torch.Tensor]) -> None:
    """Restore what :func:`optimizer_tensors` saved into a fresh optimizer of the same model.

    Raises:
        KeyError: if a buffer names a parameter the model does not have.
    """
    params = dict(model.named_parameters())
    for key, tensor in tensors.items():
        p = params[key.removeprefix("momentum.")]
        optimizer.state[p]["momentum_buffer"] = tensor.to(p.device).clone()
