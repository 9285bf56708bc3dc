"""Evolving vs a fixed space where the pool is large: the default 12-operator MNIST-1D space (3M architectures, no
ground truth), each returned architecture retrained stand-alone.

On the default 4,000 samples every good architecture is near 99 % and a search gains about a tenth of a point over a
random draw, which retraining noise hides; ``--space spaces/mnist1d_lowdata.yaml`` is the same space on 1,000
samples with 20,000 to test on, where random architectures spread three times as widely and the test set's own
sampling error is small (``--seeds 8`` narrows the retraining noise too: a training there takes seconds).

For every search seed, at equal search compute:

- ``evolving``: ``spaces/mnist1d.yaml`` as it is (4 operators per choice point, shrunk and grown over its rounds);
- ``static``: SPOS on the whole pool: one round of all the supernet epochs, and a population search on that supernet
  with as many evaluations as the evolving search makes over its rounds (generations = rounds x (generations + 1)
  - 1);
- ``shrink`` (``--methods``): ABS-style, the whole pool active and shrunk round after round, nothing grown;
- ``random`` (``--methods``): no search, one architecture drawn uniformly among those within the space's
  ``max_params`` and ``max_flops`` (seeded by the search seed): the floor that tells how much a search can gain.

Every method uses the same calibrated score with its anchors. The architecture a search returns (its best, as
``evospace train RUN`` takes it) is retrained from scratch with the recipe of ``evospace train`` for ``--seeds``
seeds; the figure is the mean test accuracy. Searches and trainings live under ``--out`` and are continued when
the bench is run again with the same ``--out``. With ``--csv``, every search seed's result is appended as it is
known (space, label, method, seed, mean test accuracy, each retraining's, params, architecture) under ``--label``;
a seed and method already there under the same label and retraining settings is read back instead of run again.

    python bench/large_pool.py [--search-seeds 0-4] [--seeds 3] [--epochs 40] [--methods evolving,static]
                               [--set KEY=VALUE ...] [--out DIR] [--csv FILE --label NAME] [--quick]

Ends with ``RESULT evolving_retrained_acc=… static_retrained_acc=… evolving_minus_static=… wins_static=…
retraining_std=…`` (accuracies in %, means over the search seeds). The table gives each paired difference's standard
error (``s.e.``); ``retraining_std`` is the spread of one architecture's test accuracy from one retraining seed to
another (root mean square over the retrained architectures), printed with the share of each method's variance across
search seeds that it alone explains: what is left is the part a better search could move.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve_vs_static import append_row as append_filed  # noqa: E402  (beside this script)
from evolve_vs_static import paired, parse_methods, parse_seeds, variants  # noqa: E402
from evolve_vs_static import read_rows as filed_rows  # noqa: E402

from evospace import Run, Search, SearchSpace, load_space  # noqa: E402
from evospace.errors import EvospaceError  # noqa: E402
from evospace.inspect import ArchSpec, arch_record, resolve_arch, retrain  # noqa: E402
from evospace.run.rng import numpy_stream  # noqa: E402
from evospace.supernet import RETRAIN_EPOCHS  # noqa: E402

SPACE = ROOT / "spaces" / "mnist1d.yaml"
METHODS = ("evolving", "static", "shrink", "random")
QUICK = ["search.rounds=2", "search.epochs_per_round=1", "search.population.size=8",
         "search.population.generations=2", "search.scoring.accuracy_samples=16", "search.scoring.anchors=4",
         "search.scoring.anchor_epochs=1", "search.scoring.anchor_steps=0", "data.samples=1000"]


def method_overrides(space_file: Path, extra: list[str]) -> dict[str, list[str]]:
    """Overrides of each method: the same supernet epochs (the ground-truth protocol's static and shrink-only) and,
    for static, as many population evaluations in its one round as the evolving search makes over all of its."""
    space = load_space(space_file, extra)
    search = space.config.search
    protocol = variants(search.rounds * search.epochs_per_round, search.rounds, space.pool)
    generations = search.rounds * (search.population.generations + 1) - 1
    return {"evolving": [], "static": [*protocol["static"], f"search.population.generations={generations}"],
            "shrink": protocol["shrink"]}


CSV_COLUMNS = ["space", "label", "method", "seed", "test_acc", "tests", "epochs", "params", "arch"]


def read_rows(path: Path | None, space: str, label: str, epochs: int, train_seeds: int) -> dict[tuple[str, int], dict]:
    """``{(method, seed): row}`` of ``path`` for this space, label and retraining recipe (none without a file)."""
    return filed_rows(path, space, label,
                      keep=lambda r: int(r["epochs"]) == epochs and len(r["tests"].split(";")) == train_seeds)


def append_row(path: Path, row: dict) -> None:
    """One search seed's result, durably (with the header if the file is new)."""
    append_filed(path, row, CSV_COLUMNS)


def random_arch(space: SearchSpace, seed: int, tries: int = 100_000) -> ArchSpec:
    """An architecture drawn uniformly among those within the space's parameter and FLOP limits (rejection)."""
    limits = space.config.search.constraints
    rng = numpy_stream(seed, "bench", "random")
    full = space.full_subspace()
    for _ in range(tries):
        arch = full.sample(rng)
        cost = space.cost(arch)
        if ((limits.max_params is None or cost.params <= limits.max_params)
                and (limits.max_flops is None or cost.flops <= limits.max_flops)):
            return ArchSpec(space, arch, arch_record(space, arch, source="random"), f"random draw, seed {seed}")
    raise EvospaceError(f"{space.source}: no architecture within search.constraints in {tries:,} random draws")


def retraining_std(tests: list[float]) -> float | None:
    """The spread of one architecture's retrainings (``None`` with a single one)."""
    return statistics.stdev(tests) if len(tests) > 1 else None


def search(space_file: Path, overrides: list[str], directory: Path) -> float:
    """Run the search into ``directory`` (or continue the one there); minutes taken here."""
    start = time.perf_counter()
    if (directory / "run.yaml").exists():
        if not Run.open(directory).finished:
            Search.resume(directory, device="cpu", progress=False, log=lambda _: None).run()
    else:
        Search(load_space(space_file, overrides), directory, device="cpu", progress=False, log=lambda _: None).run()
    return (time.perf_counter() - start) / 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=SPACE)
    parser.add_argument("--search-seeds", type=parse_seeds, default="5",
                        help="N (0..N-1), A-B, a,b,c or a mix such as 1,20-29 (default 5)")
    parser.add_argument("--seeds", type=int, default=3, help="retraining seeds per returned architecture (default 3)")
    parser.add_argument("--epochs", type=int, default=RETRAIN_EPOCHS,
                        help=f"retraining epochs (default {RETRAIN_EPOCHS}, the recipe of evospace train)")
    parser.add_argument("--methods", default="evolving,static", help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the space for every method, repeatable")
    parser.add_argument("--out", type=Path, help="working directory, continued if it exists (default: a new one)")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE",
                        help="append each search seed's result here; those already there (same label) are reused")
    parser.add_argument("--label", default="default", help="what the results are filed under in --csv")
    parser.add_argument("--quick", action="store_true", help="2 tiny rounds, 1 search seed, 1 retraining seed of 5 "
                        "epochs (a check that the bench runs)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = parse_methods(args.methods, METHODS)
    if methods is None:
        return 2
    seeds, train_seeds, epochs, extra = args.search_seeds, args.seeds, args.epochs, list(args.overrides)
    if args.quick:
        seeds, train_seeds, epochs, extra = seeds[:1], 1, 5, [*QUICK, *extra]
    try:  # a bad --set is one error line here, not a traceback; a --csv that cannot be written, before any search
        overrides = method_overrides(args.space, extra)
        space = load_space(args.space, extra)
    except EvospaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.csv is not None and not args.csv.parent.is_dir():
        print(f"error: --csv: {args.csv.parent} is no directory; create it or name a file in one", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="large_pool-"))
    print(f"{args.space.name}: pool of {len(space.pool)}, {space.full_subspace().size:,} architectures; search seeds "
          f"{seeds[0]}..{seeds[-1]}; each returned architecture retrained {epochs} epochs x {train_seeds} seeds")
    print(f"working directory {out}")
    acc: dict[str, dict[int, float]] = {m: {} for m in methods}
    spread: list[float | None] = []  # each retrained architecture's std over its retraining seeds
    minutes = {m: 0.0 for m in methods}
    filed = read_rows(args.csv, space.name, args.label, epochs, train_seeds)
    for seed in seeds:
        for method in methods:
            if (method, seed) in filed:
                row = filed[(method, seed)]
                acc[method][seed] = float(row["test_acc"])
                spread.append(retraining_std([float(t) for t in row["tests"].split(";")]))
                print(f"  seed {seed:2d} {method:9s} retrained test acc {acc[method][seed]:6.2f}%  "
                      f"({int(row['params']):,} params)  {row['arch'].replace(',', ' ')}  (read from {args.csv})")
                continue
            if method == "random":
                try:
                    spec = random_arch(load_space(args.space, [*extra, f"seed={seed}"]), seed)
                except EvospaceError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return 2
            else:
                run_dir = out / f"{method}-{seed}"
                minutes[method] += search(args.space, [*extra, *overrides[method], f"seed={seed}"], run_dir)
                spec = resolve_arch(run_dir)
            tests = []
            for train_seed in range(train_seeds):
                start = time.perf_counter()
                done = retrain(spec, out / f"train-{method}-{seed}" / f"epochs{epochs}_seed{train_seed}",
                               epochs=epochs, seed=train_seed, device="cpu")
                minutes[method] += (time.perf_counter() - start) / 60
                tests.append(100 * done.result["test_acc"])
            acc[method][seed] = statistics.mean(tests)
            spread.append(retraining_std(tests))
            if args.csv is not None:
                append_row(args.csv, {"space": space.name, "label": args.label, "method": method, "seed": seed,
                                      "test_acc": f"{acc[method][seed]:.4f}",
                                      "tests": ";".join(f"{t:.2f}" for t in tests), "epochs": epochs,
                                      "params": spec.record["params"],
                                      "arch": ",".join(spec.arch[label] for label in space.labels)})
            print(f"  seed {seed:2d} {method:9s} retrained test acc {acc[method][seed]:6.2f}%  "
                  f"({spec.record['params']:,} params)  {' '.join(spec.arch[label] for label in space.labels)}",
                  flush=True)
    print(f"\n{'method':9s} {'retrained test acc (%)':>22s} {'evolving − it (pp)':>19s} {'s.e.':>5s} {'wins':>5s} "
          f"{'minutes':>8s}")
    result = {}
    for method in methods:
        values = list(acc[method].values())
        mean, std = statistics.mean(values), statistics.pstdev(values)
        line = f"{method:9s} {mean:14.2f} ± {std:5.2f}"
        result[f"{method}_retrained_acc"] = f"{mean:.3f}"
        if method != "evolving" and "evolving" in acc:
            diffs = [acc["evolving"][s] - acc[method][s] for s in seeds]
            mean, std, error, wins = paired(diffs)
            line += f" {mean:+10.2f} ± {std:5.2f} {error:5.2f} {wins:>2d}/{len(diffs)}"
            result[f"evolving_minus_{method}"] = f"{mean:.3f}"
            result[f"wins_{method}"] = f"{wins}/{len(diffs)}"
        else:
            line += " " * 32
        print(f"{line} {minutes[method]:8.1f}")
    noise = [v for v in spread if v is not None]
    if noise:
        rms = statistics.mean(v * v for v in noise) ** 0.5
        floor = rms * rms / train_seeds
        shares = ", ".join(f"{floor / statistics.variance(acc[m].values()):.0%} of {m}'s"
                           for m in methods if len(acc[m]) > 1 and statistics.variance(acc[m].values()) > 0)
        print(f"retraining noise: {rms:.2f} pp (std) between retraining seeds of one architecture, "
              f"{rms / train_seeds ** 0.5:.2f} pp for a mean of {train_seeds}"
              + (f"; that is {shares} variance across search seeds" if shares else ""))
        result["retraining_std"] = f"{rms:.3f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
