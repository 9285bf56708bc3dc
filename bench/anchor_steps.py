"""How well anchors rank for the steps they train: Kendall τ between an anchor's validation accuracy after E epochs
and the accuracy the same architectures reach when fully trained.

The calibrated score fits its weights on anchors (``search.scoring``), each trained ``anchor_epochs`` epochs and at
least ``anchor_steps`` optimizer steps. An epoch is a poor unit of budget when data sets differ in size: this bench
trains the same architectures with the anchor recipe for each of ``--epochs`` and prints, for each, the steps it
took, the anchors' validation accuracy and their τ against the fully trained accuracy.

The fully trained accuracy comes from a ground truth (``--gt CSV``: the first ``--archs`` of its rows, a uniform
sample, judged by their mean test accuracy) or from ``bench/large_pool.py``'s retrained rows (``--retrained CSV``:
the distinct architectures of this space retrained with at least ``--min-seeds`` seeds, judged by their mean test
accuracy).

    python bench/anchor_steps.py --space spaces/mnist1d_lowdata.yaml --retrained bench/data/large_pool.csv \\
        --label batch32_once --epochs 2,7,10 --seeds 0,1
    python bench/anchor_steps.py --space spaces/mnist1d_rank.yaml --gt bench/data/mnist1d_rank_gt.csv --archs 40 \\
        --epochs 1,2,3,5

``--quick`` is a smoke run (8 architectures, 1 and 2 epochs); ``--budgets spaces/*.yaml`` prints instead what each
space's anchors train, in epochs and steps.

Ends with ``RESULT tau_<steps>=…`` (mean τ over the seeds, one key per epoch count) and ``anchor_epochs=…`` (what
the space's own settings give).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evospace import load_space  # noqa: E402
from evospace.data import load_space_data  # noqa: E402
from evospace.errors import EvospaceError  # noqa: E402
from evospace.extensions import anchor_epochs  # noqa: E402
from evospace.metrics import kendall_tau, load_ground_truth  # noqa: E402
from evospace.space.subspace import Arch  # noqa: E402
from evospace.supernet import build_model, train_standalone  # noqa: E402
from evospace.supernet.precision import place  # noqa: E402
from evospace.supernet.train import steps_per_epoch  # noqa: E402


def int_list(minimum: int):
    """An argparse type reading ``2,6,10`` as distinct integers of at least ``minimum``."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
        if any(v < minimum for v in values) or len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"expected distinct integers ≥ {minimum}, got {text!r}")
        return values
    return parse


def retrained_rows(path: Path, space_name: str, min_seeds: int, label: str | None = None
                   ) -> tuple[list[str], list[float]]:
    """Distinct architectures of ``space_name`` (and ``label``) in a ``large_pool.py`` CSV and their mean retrained
    test accuracy (the first row of each)."""
    found: dict[str, float] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["space"] == space_name and len(row["tests"].split(";")) >= min_seeds
                    and label in (None, row["label"])):
                found.setdefault(row["arch"], float(row["test_acc"]))
    return list(found), list(found.values())


def budgets(files: list[Path]) -> int:
    """Print what each space's anchors train (epochs and steps), or why its data cannot be read here."""
    for file in files:
        try:
            space = load_space(file)
            samples = len(load_space_data(space.config.data, split_seed=space.config.seed).y_train)
        except EvospaceError as err:
            print(f"{file}: {str(err).splitlines()[0]}")
            continue
        scoring = space.config.search.scoring
        per_epoch = steps_per_epoch(samples, space.config.data.batch_size)
        epochs = anchor_epochs(space, samples)
        print(f"{file}: {samples} training rows, {per_epoch} steps an epoch; anchor_epochs {scoring.anchor_epochs}, "
              f"anchor_steps {scoring.anchor_steps}: anchors train {epochs} epochs ({epochs * per_epoch} steps)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--gt", type=Path, help="a ground-truth CSV of the space")
    source.add_argument("--retrained", type=Path, help="a bench/large_pool.py CSV")
    source.add_argument("--budgets", type=Path, nargs="+", metavar="SPACE",
                        help="print what each space file's anchors train, and nothing else")
    parser.add_argument("--archs", type=int, default=60, help="ground-truth rows to use (--gt)")
    parser.add_argument("--min-seeds", type=int, default=8, help="retraining seeds a row needs (--retrained)")
    parser.add_argument("--label", help="only the rows of this label (--retrained; default: every label)")
    parser.add_argument("--epochs", type=int_list(1), default="2,6,10", help="anchor epochs to try")
    parser.add_argument("--seeds", type=int_list(0), default="0", help="anchor seeds (model and data order)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 architectures, 1 and 2 epochs, seed 0")
    args = parser.parse_args(argv)
    if args.budgets:
        return budgets(args.budgets)
    if args.space is None:
        parser.error("--space is required with --gt or --retrained")
    torch.set_num_threads(1)
    try:
        space = load_space(args.space)
        cfg = space.config
        if args.gt is not None:
            truth = load_ground_truth(args.gt, space).head(args.archs)
            archs: list[Arch] = list(truth.archs)
            accuracy = [100 * float(a) for a in truth.test_acc]
        else:
            names, accuracy = retrained_rows(args.retrained, space.name, args.min_seeds, args.label)
            full, archs = space.full_subspace(), []
            for name in names:
                ops = name.split(",")
                arch = dict(zip(space.labels, ops))
                if len(ops) != len(space.labels) or arch not in full:
                    raise EvospaceError(f"{args.retrained}: architecture {name!r} is not one of {args.space}'s "
                                        f"({len(space.labels)} operators from its pool); is the row of another space?")
                archs.append(arch)
        if len(archs) < 3:
            raise EvospaceError(f"{args.gt or args.retrained}: {len(archs)} architectures of {space.name!r}; "
                                f"τ needs at least 3")
        data = load_space_data(cfg.data, split_seed=cfg.seed)
    except EvospaceError as err:
        print(f"anchor_steps: {err}", file=sys.stderr)
        return 2
    if args.quick:
        archs, accuracy, args.epochs, args.seeds = archs[:8], accuracy[:8], [1, 2], [0]
    per_epoch = steps_per_epoch(len(data.y_train), cfg.data.batch_size)
    own = anchor_epochs(space, len(data.y_train))
    print(f"{space.name}: {len(archs)} architectures, fully trained {min(accuracy):.2f}–{max(accuracy):.2f} %; "
          f"{len(data.y_train)} training rows, {per_epoch} steps an epoch at batch {cfg.data.batch_size}; the space's "
          f"anchors train {own} epochs ({own * per_epoch} steps)", flush=True)
    result = {}
    for epochs in args.epochs:
        taus, val = [], []
        for seed in args.seeds:
            measured = []
            for arch in archs:
                model = place(build_model(space, arch, seed=seed), data.device, cfg.skeleton.dims)
                measured.append(train_standalone(model, data, cfg.search.train, epochs=epochs,
                                                 batch_size=cfg.data.batch_size, seed=seed).val_acc)
            taus.append(kendall_tau(measured, accuracy))
            val += measured
        steps = epochs * per_epoch
        result[f"tau_{steps}"] = statistics.mean(taus)
        print(f"{epochs:3d} epochs = {steps:4d} steps: validation accuracy {np.mean(val):.3f} "
              f"({min(val):.3f}–{max(val):.3f}); τ {' '.join(f'{t:+.3f}' for t in taus)} "
              f"(mean {statistics.mean(taus):+.3f})", flush=True)
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in result.items()) + f" anchor_epochs={own}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
