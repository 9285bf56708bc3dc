"""Throughput: one architecture trained as a supernet path vs the same child trained alone.

A supernet step should cost at most 10% more than a step of the same child trained on
its own. Both sides use the real :func:`evospace.supernet.train.train_step` on the same batches:

* supernet: ``Supernet`` of the default space's initial subspace, ``forward(x, arch)`` with one fixed
  architecture, the optimizer and clipping set up exactly as :class:`RoundTrainer` sets them up;
* stand-alone: ``build_model(space, arch)`` with its own optimizer (``make_optimizer``) over its own
  parameters.

They run interleaved in one process (blocks of K steps, alternating which goes first, several
repetitions) and each side's step time is the median over its blocks, so drifts of a shared machine
hit both alike.

    python bench/throughput.py [--quick] [--reps R] [--block K] [--threads T] [--space FILE]

``--space spaces/mnist1d_multibranch.yaml`` measures a multi-branch architecture (a set of operators
averaged at each choice point) the same way, ``--space spaces/nb201_mnist1d.yaml`` a cell network, and
``--space spaces/nb201.yaml --set data.path=DIR`` NAS-Bench-201's 2-D cell network on 32x32 CIFAR-10 images
(``--set`` takes the same ``key=value`` overrides as the command line).

Final line: ``RESULT supernet_steps_per_s=... standalone_steps_per_s=... ratio=...`` where ratio =
supernet step time / stand-alone step time (target ≤ 1.10).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from evospace.data import load_space_data
from evospace.run import numpy_stream, torch_stream
from evospace.space import load_space
from evospace.supernet import RoundTrainer, Supernet, build_model, cosine_lr, make_optimizer, train_step

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "mnist1d.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 30 s instead of a few minutes")
    parser.add_argument("--reps", type=int, help="interleaved repetitions (default 30, quick 8)")
    parser.add_argument("--block", type=int, default=20, help="steps per timed block (K)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--space", default=str(SPACE), help="space file (default spaces/mnist1d.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a space key")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reps = args.reps or (8 if args.quick else 30)

    space = load_space(args.space, args.set)
    cfg = space.config.search.train
    batch = space.config.data.batch_size
    data = load_space_data(space.config.data, split_seed=args.seed)
    subspace = space.initial_subspace()
    arch = subspace.sample(numpy_stream(args.seed, "throughput-arch"))

    supernet = Supernet(space, subspace, seed=args.seed)
    trainer = RoundTrainer(supernet, data, cfg, batch_size=batch, epochs=1, round_index=0, seed=args.seed)
    supernet_params = list(supernet.parameters())  # what RoundTrainer clips over: every supernet parameter
    model = build_model(space, arch, seed=args.seed)
    model.train()
    model_optimizer = make_optimizer(model, cfg)
    model_params = list(model.parameters())

    n_train = len(data.y_train)
    order = torch.randperm(n_train, generator=torch_stream(args.seed, "throughput-order"))
    steps_per_pass = n_train // batch
    total = 2 * (reps + 1) * args.block

    def batch_at(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = order[(step % steps_per_pass) * batch:(step % steps_per_pass + 1) * batch]
        return data.x_train[idx], data.y_train[idx]

    def supernet_step(step: int) -> None:
        x, y = batch_at(step)
        train_step([lambda inp: supernet(inp, arch)], supernet_params, trainer.optimizer, x, y, cfg,
                   cosine_lr(cfg.lr, step, total))

    def standalone_step(step: int) -> None:
        x, y = batch_at(step)
        train_step([model], model_params, model_optimizer, x, y, cfg, cosine_lr(cfg.lr, step, total))

    sides: dict[str, Callable[[int], None]] = {"supernet": supernet_step, "stand-alone": standalone_step}
    counters = dict.fromkeys(sides, 0)
    times: dict[str, list[float]] = {name: [] for name in sides}

    def block(name: str) -> float:
        start = time.perf_counter()
        for _ in range(args.block):
            sides[name](counters[name])  # both sides see the same batch sequence
            counters[name] += 1
        return (time.perf_counter() - start) / args.block

    supernet.train()
    for name in sides:  # warm-up: allocator, first momentum buffers
        block(name)
    for rep in range(reps):
        names = list(sides) if rep % 2 == 0 else list(sides)[::-1]
        for name in names:
            times[name].append(block(name))

    path_params = sum(p.numel() for m in supernet.path_modules(arch) for p in m.parameters())
    print(f"space {space.name}: initial subspace of {subspace.size:,} architectures, "
          f"{sum(p.numel() for p in supernet.parameters()):,} supernet parameters")
    print(f"architecture {arch}: {path_params:,} parameters on the path, "
          f"{sum(p.numel() for p in model_params):,} stand-alone")
    print(f"batch {batch}, {reps} interleaved repetitions of {args.block} steps, {args.threads} thread(s)")
    print()
    print(f"{'side':<12} {'median ms/step':>15} {'steps/s':>9} {'min ms':>8} {'max ms':>8}")
    rates = {}
    for name, values in times.items():
        median = statistics.median(values)
        rates[name] = 1.0 / median
        print(f"{name:<12} {1000 * median:>15.3f} {rates[name]:>9.1f} {1000 * min(values):>8.3f} "
              f"{1000 * max(values):>8.3f}")
    ratio = rates["stand-alone"] / rates["supernet"]
    print(f"\nsupernet step time / stand-alone step time = {ratio:.3f} (target ≤ 1.10)")
    print(f"RESULT supernet_steps_per_s={rates['supernet']:.2f} standalone_steps_per_s={rates['stand-alone']:.2f} "
          f"ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
