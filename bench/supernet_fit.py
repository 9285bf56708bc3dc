"""How far does a supernet train in a search's budget? Weight sharing against one path, same recipe, same steps.

For each space, three networks are trained with the supernet's own trainer (SGD-Nesterov, the space's
``search.train`` recipe, one cosine over ``--epochs``, the space's batch size and seed):

- ``supernet``: every pool operator active at every choice point, one uniformly drawn path per step (SPOS, what
  the static method trains);
- ``two ops``: only the pool's first two operators active (the smallest subspace that shares weights);
- ``one path``: the pool's first operator at every choice point (no sharing: a stand-alone network).

``zero`` (a cell edge that carries nothing) is left out of the last two: a path of ``zero`` edges learns nothing.

It prints each one's training accuracy in the last epoch and the mean validation accuracy of 16 uniformly drawn
architectures of its subspace (BN recalibrated per path, as scoring does), beside chance (1 / classes). A
supernet near chance means its accuracy and angle carry little about the architectures, and the search leans
on the costs, the zero-cost proxies and the anchors of the calibrated score.

    python bench/supernet_fit.py [--spaces spaces/mnist1d_rank.yaml,...] [--epochs 12] [--seed 10] [--quick]

Ends with ``RESULT <space>_supernet=… <space>_two_ops=… <space>_one_path=… …`` (validation accuracy, %).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from evospace.data import DataSplits, load_space_data
from evospace.metrics import AccuracyEvaluator
from evospace.run import numpy_stream
from evospace.space import load_space
from evospace.supernet import RoundTrainer, Supernet

ROOT = Path(__file__).resolve().parents[1]
SPACES = ("mnist1d_rank", "digits_rank", "mnist1d_deep", "mnist1d_mbconv", "nb201_mnist1d")
SAMPLED = 16  # architectures whose validation accuracy is averaged


def fit(space_file: Path, data: DataSplits, ops: list[str], epochs: int, seed: int) -> tuple[float, float, float]:
    """(last epoch's training accuracy, mean validation accuracy of sampled paths, seconds) of one subspace."""
    space = load_space(space_file, [f"initial.ops=[{', '.join(ops)}]", "initial.size=null", f"seed={seed}"])
    subspace = space.initial_subspace()
    supernet = Supernet(space, subspace, seed)
    batch = space.config.data.batch_size
    trainer = RoundTrainer(supernet, data, space.config.search.train, batch_size=batch, epochs=epochs,
                           round_index=0, seed=seed)
    start = time.perf_counter()
    while not trainer.done:
        figures = trainer.train_epoch()
    seconds = time.perf_counter() - start
    rows = subspace.sample_indices(numpy_stream(seed, "supernet-fit"), SAMPLED)
    archs = [subspace.decode(row) for row in rows]
    evaluator = AccuracyEvaluator(data, batch_size=batch, batches=space.config.search.train.recalibration_batches,
                                  seed=seed)
    supernet.eval()
    val = float(np.mean(evaluator.accuracy_many(supernet, archs)))
    return figures.train_acc, val, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default=",".join(str(ROOT / "spaces" / f"{s}.yaml") for s in SPACES),
                        help="comma-separated space files")
    parser.add_argument("--epochs", type=int, default=12, help="supernet epochs (evolve_vs_static's budget)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="the first space only, 2 epochs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = [Path(f) for f in args.spaces.split(",")]
    epochs = args.epochs
    if args.quick:
        files, epochs = files[:1], 2
    print(f"{epochs} epochs, seed {args.seed}; training accuracy of the last epoch / mean validation accuracy of "
          f"{SAMPLED} sampled paths (%)")
    print(f"{'space':16s} {'chance':>7s} {'supernet':>15s} {'two ops':>15s} {'one path':>15s}  seconds")
    results = {}
    for file in files:
        space = load_space(file)
        pool = list(space.pool)
        kept = [op for op in pool if op != "zero"]
        data = load_space_data(space.config.data, split_seed=args.seed)  # the same splits for all three
        chance = 100.0 / data.info.classes
        cells, seconds = [], 0.0
        for name, ops in (("supernet", pool), ("two_ops", kept[:2]), ("one_path", kept[:1])):
            train_acc, val_acc, took = fit(file, data, ops, epochs, args.seed)
            results[f"{space.name}_{name}"] = 100 * val_acc
            cells.append(f"{100 * train_acc:6.1f} / {100 * val_acc:5.1f}")
            seconds += took
        print(f"{space.name:16s} {chance:7.1f} {cells[0]:>15s} {cells[1]:>15s} {cells[2]:>15s}  {seconds:7.1f}")
    print("RESULT " + " ".join(f"{k}={v:.2f}" for k, v in results.items()))


if __name__ == "__main__":
    main()
