"""``evospace groundtruth SPACE.yaml --out FILE.csv``: build (or resume) a stand-alone ground truth."""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from evospace.cli.parser import command, info, space_args, workers_arg
from evospace.data import load_space_data
from evospace.device import resolve_device
from evospace.errors import EvospaceError
from evospace.metrics.groundtruth import build_ground_truth, noise_ceiling
from evospace.paths import output_file
from evospace.space import load_space

__all__ = ["cmd_groundtruth"]


@command("groundtruth", "train every architecture of a small space stand-alone and write their accuracies (CSV)")
def cmd_groundtruth(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    space = load_space(args.space, args.overrides)
    output_file(args.out, example=f"{space.name}_gt.csv")
    if args.jobs < 1:
        raise EvospaceError(f"--jobs must be ≥ 1 (worker processes), got {args.jobs}")
    if args.epochs < 1 or args.seeds < 1:
        raise EvospaceError(f"--epochs and --seeds must be ≥ 1, got {args.epochs} and {args.seeds}")
    size = space.initial_subspace().size
    if args.sample is not None and args.sample < 2:
        raise EvospaceError(f"--sample must be ≥ 2 (a ranking needs two architectures), got {args.sample}")
    if args.sample is None and size > args.max_archs:
        raise EvospaceError(f"{args.space}: {size:,} architectures is more than --max-archs {args.max_archs:,}; "
                            f"a ground truth trains every one, so train a uniform sample (--sample N) or raise "
                            f"--max-archs")
    if args.sample is not None:
        size = min(size, args.sample)
    cfg = space.config
    data = load_space_data(cfg.data, split_seed=cfg.seed, device=resolve_device(args.device), workers=args.workers)
    info(f"ground truth of {space.name}: {size:,} architectures x {args.seeds} seeds x {args.epochs} epochs "
          f"→ {args.out}")
    bar = tqdm(total=size if args.limit is None else min(args.limit, size), unit="arch", smoothing=0.05,
               disable=True if args.quiet else None)  # None: no bar when stderr is not a terminal

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    truth = build_ground_truth(space, args.out, data, epochs=args.epochs, seeds=args.seeds,
                               max_shift=args.max_shift, limit=args.limit, sample=args.sample,
                               sample_seed=args.seed, progress=progress, jobs=args.jobs, imports=args.imports)
    bar.close()
    acc = truth.test_acc * 100
    info(f"{len(truth.archs)}/{truth.spec.archs} architectures; test accuracy {acc.min():.1f}–{acc.max():.1f}% "
          f"(median {float(np.median(acc)):.1f}%)" if len(acc) else "no architectures yet")
    if len(truth.archs) >= 2:
        ceiling = noise_ceiling(truth)
        print(f"noise ceiling (Kendall tau): seed vs seed val {ceiling.between_seeds_val:.3f}, "
              f"test {ceiling.between_seeds_test:.3f}; val vs test {ceiling.val_vs_test:.3f}")
    return 0


@cmd_groundtruth.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", help="space file; every architecture of its initial subspace is trained")
    p.add_argument("--out", required=True, help="CSV to write (resumed if it exists)")
    p.add_argument("--epochs", type=int, default=5, help="stand-alone epochs per architecture (default 5)")
    p.add_argument("--seeds", type=int, default=2, help="training seeds per architecture (default 2)")
    p.add_argument("--max-shift", type=int, default=0, help="random-shift augmentation range (default 0)")
    p.add_argument("--limit", type=int, help="stop after this many architectures (a quick look)")
    p.add_argument("--sample", type=int, help="train a uniform sample of this many architectures (large spaces)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --sample draw (default 0)")
    p.add_argument("--max-archs", type=int, default=5000, help="refuse spaces larger than this (default 5000)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1; per process with --jobs)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="train N architectures at once in N CPU processes (default 1); the file is the same")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda[:N] (default cpu)")
    workers_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    space_args(p)
