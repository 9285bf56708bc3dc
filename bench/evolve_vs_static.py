"""Ablation: does evolving the space pick better architectures than a static space, at equal supernet epochs?

Three searches on ``spaces/mnist1d_rank.yaml`` (625 architectures, each trained stand-alone in
``bench/data/mnist1d_rank_gt.csv``), every one with the same total number of supernet epochs and the
same population settings, scored by the stand-alone test accuracy of the architecture each returns:

- evolving: a few operators per choice point, shrunk and grown round after round (the product);
- static:   SPOS on the full pool in one round of all the epochs, no space change;
- shrink:   ABS-style, the full pool shrunk round after round, nothing grown.

Prints mean ± std of the chosen architecture's true test accuracy and its rank in the space (1 = best),
and ends with ``RESULT evolving_true_acc=… static_true_acc=… shrink_true_acc=… evolving_rank=…
static_rank=… shrink_rank=…`` (means over seeds).

Usage: ``python bench/evolve_vs_static.py [--quick] [--seeds N] [--rounds R] [--epochs E]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evospace import Search, load_space  # noqa: E402
from evospace.metrics import load_ground_truth  # noqa: E402

SPACE = ROOT / "spaces" / "mnist1d_rank.yaml"
TRUTH = ROOT / "bench" / "data" / "mnist1d_rank_gt.csv"


def variants(rounds: int, epochs: int) -> dict[str, list[str]]:
    """Overrides of each contender; every one trains the supernet for ``rounds * epochs`` epochs."""
    return {
        "evolving": [f"search.rounds={rounds}", f"search.epochs_per_round={epochs}",
                     "initial={size: 3, order: shuffled}", "search.grow.per_round=1", "search.shrink.keep=2"],
        "static": ["search.rounds=1", f"search.epochs_per_round={rounds * epochs}", "search.grow.per_round=0"],
        "shrink": [f"search.rounds={rounds}", f"search.epochs_per_round={epochs}", "search.grow.per_round=0",
                   "search.shrink.keep=2"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 rounds of 2 epochs, small population")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="supernet epochs per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the space for every variant, e.g. --set search.shrink.score=angle")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds, rounds, epochs = args.seeds, args.rounds, args.epochs
    population = []
    if args.quick:
        seeds, rounds, epochs = 2, 2, 2
        population = ["search.population.size=12", "search.population.generations=3",
                      "search.scoring.accuracy_samples=32"]

    base = load_space(SPACE)
    truth = load_ground_truth(TRUTH, base)
    if not truth.complete:
        print(f"warning: the ground truth holds {len(truth.archs)} of {truth.spec.archs} architectures; "
              f"choices outside it are skipped", file=sys.stderr)
    order = np.argsort(-truth.test_acc, kind="stable")
    rank_of = {tuple(truth.archs[i][l] for l in truth.labels): r + 1 for r, i in enumerate(order)}
    acc_of = {tuple(a[l] for l in truth.labels): float(t) for a, t in zip(truth.archs, truth.test_acc)}

    results: dict[str, list[tuple[float, int]]] = {name: [] for name in variants(rounds, epochs)}
    seconds: dict[str, float] = {name: 0.0 for name in results}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            for name, overrides in variants(rounds, epochs).items():  # interleaved: load drifts hit all alike
                space = load_space(SPACE, [*overrides, *population, *args.overrides, f"seed={seed}"])
                start = time.perf_counter()
                result = Search(space, Path(tmp) / f"{name}-{seed}", progress=False, log=lambda _: None).run()
                seconds[name] += time.perf_counter() - start
                key = tuple(result.best["arch"][l] for l in truth.labels)
                if key not in acc_of:
                    print(f"  {name} seed {seed}: choice not in the (partial) ground truth, skipped")
                    continue
                results[name].append((acc_of[key], rank_of[key]))
                print(f"  {name:9s} seed {seed}: true test acc {100 * acc_of[key]:.2f}%  rank {rank_of[key]:3d}"
                      f"  ({result.rounds} rounds, final subspace {result.subspace.size})", flush=True)

    print(f"\n{len(truth.archs)} architectures in the ground truth; best test acc {100 * truth.test_acc.max():.2f}%, "
          f"median {100 * np.median(truth.test_acc):.2f}%; {rounds * epochs} supernet epochs per search, "
          f"{seeds} seeds")
    print(f"{'variant':10s} {'true test acc (%)':>20s} {'rank (1 = best)':>18s} {'minutes':>8s}")
    summary = {}
    for name, rows in results.items():
        acc = np.array([r[0] for r in rows]) * 100
        rank = np.array([r[1] for r in rows], dtype=float)
        summary[name] = (acc.mean() if len(acc) else float("nan"), rank.mean() if len(rank) else float("nan"))
        print(f"{name:10s} {acc.mean():12.2f} ± {acc.std():5.2f} {rank.mean():10.1f} ± {rank.std():5.1f}"
              f" {seconds[name] / 60:8.1f}")
    print("RESULT " + " ".join(
        [f"{n}_true_acc={summary[n][0]:.3f}" for n in ("evolving", "static", "shrink")]
        + [f"{n}_rank={summary[n][1]:.1f}" for n in ("evolving", "static", "shrink")]))


if __name__ == "__main__":
    main()
