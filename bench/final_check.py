"""Would a final stand-alone check of the top candidates help, and whom? Measured on kept runs of any space with a
ground truth.

A search returns the best architecture by its score. A common last step in NAS trains the top ``k`` candidates
stand-alone for a few epochs and returns the one with the best validation accuracy. This bench measures that step
before it is built into the controller: it reads run directories kept by ``bench/evolve_vs_static.py --keep DIR``
(one per method and seed), takes from each the ``k`` best distinct architectures of its last round (the front,
then the population by score), trains each with the calibrated score's anchor recipe (``search.train``,
``search.scoring.anchor_epochs`` epochs and at least ``anchor_steps`` steps, the run's seed and split, as an anchor
is trained) and returns the best by validation accuracy, the run's anchors (already trained) competing too.
``k = 0`` is what the search returned.
The returned architectures are judged by the ground truth's mean test accuracy (an architecture it lacks is
trained with its recipe into ``<ground truth>_extra.csv``, as ``evolve_vs_static.py`` does).

    python bench/evolve_vs_static.py --space spaces/X.yaml --gt bench/data/X_gt.csv --seeds 10-19 \
        --methods evolving,static,shrink --keep DIR
    python bench/final_check.py DIR --space spaces/X.yaml --gt bench/data/X_gt.csv [--k 0,1,2,4,8]

``--quick`` runs a tiny ``evolve_vs_static.py --quick`` into a temporary directory first. Checks are cached in
``DIR/final_check.json``. Ends with ``RESULT <method>_k<k>=…`` (mean true test accuracy in %) per method and ``k``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import evolve_vs_static  # noqa: E402  (beside this script)
from evolve_vs_static import SPACE, TRUTH, Key, Truth  # noqa: E402

from evospace import Run  # noqa: E402
from evospace.data import load_space_data  # noqa: E402
from evospace.extensions import anchor_epochs  # noqa: E402
from evospace.run import atomic_write  # noqa: E402
from evospace.space.subspace import Arch  # noqa: E402
from evospace.supernet import build_model, train_standalone  # noqa: E402


def candidates(run: Run, truth: Truth) -> list[Arch]:
    """The last round's distinct architectures, best first: its front, then its population by score."""
    last = run.round(max(run.store.round_indices()))
    population = sorted(last.population, key=lambda row: -row["metrics"]["score"])
    ordered, seen = [], set()
    for arch in [row["arch"] for row in last.front] + [row["arch"] for row in population]:
        if truth.key(arch) not in seen:
            seen.add(truth.key(arch))
            ordered.append(arch)
    return ordered


def anchors(run: Run, truth: Truth) -> dict[Key, float]:
    """The run's anchors and their stand-alone validation accuracy (its ``anchor_trained`` events)."""
    return {truth.key(e["arch"]): e["val_acc"] for e in run.events if e.get("event") == "anchor_trained"}


class Checker:
    """Anchor-recipe trainings of a run's candidates, cached in a JSON file beside the runs."""

    def __init__(self, cache: Path) -> None:
        self.path = cache
        self.cache: dict[str, float] = json.loads(cache.read_text()) if cache.exists() else {}
        self.data: dict[Path, object] = {}  # each run's splits, loaded once

    def val_acc(self, run: Run, arch: Arch, key: Key) -> float:
        name = f"{run.store.path.name}|{','.join(key)}"
        if name not in self.cache:
            space = run.space
            config = space.config
            if run.store.path not in self.data:
                self.data[run.store.path] = load_space_data(config.data, split_seed=config.seed)
            data = self.data[run.store.path]
            model = build_model(space, arch, seed=config.seed)
            result = train_standalone(model, data, config.search.train, epochs=anchor_epochs(space, len(data.y_train)),
                                      batch_size=config.data.batch_size, seed=config.seed)
            self.cache[name] = result.val_acc
            atomic_write(self.path, json.dumps(self.cache, indent=0).encode())
        return self.cache[name]


def pick(run: Run, ordered: list[Arch], trained: dict[Key, float], k: int, truth: Truth, checker: Checker) -> Key:
    """What the run returns with a final check of its ``k`` best candidates (``k = 0``: no check)."""
    if k == 0:
        return truth.key(ordered[0])
    checked = dict(trained)
    for arch in ordered[:k]:
        key = truth.key(arch)
        if key not in checked:
            checked[key] = checker.val_acc(run, arch, key)
    return max(checked, key=lambda key: (checked[key], key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="?", help="a directory of runs kept by evolve_vs_static.py --keep")
    parser.add_argument("--space", type=Path, default=SPACE)
    parser.add_argument("--gt", type=Path, default=TRUTH, help="the space's ground-truth CSV")
    parser.add_argument("--k", default="0,1,2,4,8", help="candidates checked, comma-separated")
    parser.add_argument("--quick", action="store_true", help="search 2 tiny seeds first (evolving, static)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        ks = [int(k) for k in args.k.split(",")]
    except ValueError:
        parser.error(f"--k: expected comma-separated counts, e.g. 0,1,2,4,8; got {args.k!r}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs
        if args.quick:
            runs = Path(tmp)
            evolve_vs_static.main(["--quick", "--space", str(args.space), "--gt", str(args.gt),
                                   "--methods", "evolving,static", "--keep", str(runs)])
        if runs is None:
            parser.error("give the runs' directory (or --quick)")
        truth = Truth(args.space, args.gt)
        checker = Checker(runs / "final_check.json")
        table: dict[str, dict[int, dict[int, float]]] = {}
        for run_dir in sorted(p for p in runs.iterdir() if (p / "best").is_dir()):
            method, seed = run_dir.name.rsplit("-", 1)
            run = Run.open(run_dir)
            ordered, trained = candidates(run, truth), anchors(run, truth)
            for k in ks:
                key = pick(run, ordered, trained, k, truth, checker)
                table.setdefault(method, {}).setdefault(k, {})[int(seed)] = 100 * truth.test_acc(
                    dict(zip(truth.labels, key)))
    print(f"{args.space.stem}: mean true test accuracy (%) of the returned architecture, by candidates checked")
    print(f"{'method':10s} {'seeds':>5s} " + " ".join(f"{f'k={k}':>8s}" for k in ks) + "   worst seed (k=0 → k=max)")
    result = {}
    for method, per_k in table.items():
        means = [np.mean(list(per_k[k].values())) for k in ks]
        worst = f"{min(per_k[ks[0]].values()):.2f} → {min(per_k[ks[-1]].values()):.2f}"
        print(f"{method:10s} {len(per_k[ks[0]]):5d} " + " ".join(f"{m:8.2f}" for m in means) + f"   {worst}")
        result.update({f"{method}_k{k}": f"{m:.3f}" for k, m in zip(ks, means)})
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
