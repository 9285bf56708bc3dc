"""Choose a controller setting by leave-one-space-out, from the per-seed results of ``evolve_vs_static.py --csv``.

Each setting is a label of the CSV (the ``--label`` its searches were filed under); one of them is the baseline
(the current default). On every space, a setting's gain is its mean paired difference from the baseline over the
seeds both have (stand-alone test accuracy of the returned architecture, in points). A fold holds one space out:
the setting with the largest mean gain over the other spaces is chosen (the baseline, gain 0, if none is ahead),
and its gain on the held-out space is what the choice is worth on a space it was not chosen on. The mean of those
held-out gains estimates what the chosen default buys on spaces one does not have.

    python bench/evolve_vs_static.py --space spaces/mnist1d_deep.yaml --gt bench/data/mnist1d_deep_gt.csv \\
        --methods evolving --seeds 10-19 --csv tune.csv --label catch_up --set search.sampling=catch_up
    ...                                  (every space, every label, the baseline's own label too)
    python bench/controller_loso.py tune.csv --baseline uniform [--labels catch_up]

Ends with ``RESULT spaces=… chosen=<label chosen on every space> loso_gain=<mean held-out gain>
folds=<label per held-out space>``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

Results = dict[str, dict[str, dict[int, float]]]  # {space: {label: {seed: test accuracy (%)}}}


def read_results(paths: list[Path], method: str) -> Results:
    """The accuracies of ``method``'s architectures per space, label and seed (a later file wins a repeat)."""
    out: Results = defaultdict(lambda: defaultdict(dict))
    for path in paths:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if row["method"] == method:
                    out[row["space"]][row["label"]][int(row["seed"])] = float(row["test_acc"])
    return out


def gains(results: Results, baseline: str) -> dict[str, dict[str, tuple[float, int, int]]]:
    """``{space: {label: (mean paired gain over the baseline, seeds, wins)}}`` for every label with shared seeds."""
    out: dict[str, dict[str, tuple[float, int, int]]] = {}
    for space, labels in results.items():
        base = labels.get(baseline, {})
        out[space] = {}
        for label, accs in labels.items():
            seeds = sorted(set(accs) & set(base))
            if seeds:
                diffs = np.array([accs[s] - base[s] for s in seeds])
                out[space][label] = (float(diffs.mean()), len(seeds), int((diffs > 0).sum()))
    return out


def choose(table: dict[str, dict[str, tuple[float, int, int]]], spaces: list[str], labels: list[str],
           baseline: str) -> str:
    """The label with the largest mean gain over ``spaces`` (only labels measured on all of them; ties: baseline)."""
    best, best_gain = baseline, 0.0
    for label in labels:
        if label == baseline or not all(label in table[s] for s in spaces):
            continue
        gain = float(np.mean([table[s][label][0] for s in spaces]))
        if gain > best_gain + 1e-9:
            best, best_gain = label, gain
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, nargs="+", help="CSV files of evolve_vs_static.py --csv")
    parser.add_argument("--baseline", required=True, help="the label of the current default")
    parser.add_argument("--method", default="evolving", help="whose results are compared (default evolving)")
    parser.add_argument("--labels", default="", help="comma-separated: choose only among these and the baseline "
                        "(default: every label in the files), to weigh one setting against the default alone")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.csv if not p.exists()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    table = gains(read_results(args.csv, args.method), args.baseline)
    spaces = sorted(s for s in table if args.baseline in table[s])
    if len(spaces) < 2:
        print(f"error: the baseline {args.baseline!r} has results on {len(spaces)} space(s); leave-one-out needs 2",
              file=sys.stderr)
        return 2
    labels = sorted({label for s in spaces for label in table[s]})
    if args.labels:
        wanted = {label for label in args.labels.split(",") if label} | {args.baseline}
        unknown = sorted(wanted - set(labels))
        if unknown:
            print(f"error: --labels: no results under {', '.join(unknown)}; the files hold {', '.join(labels)}",
                  file=sys.stderr)
            return 2
        labels = [label for label in labels if label in wanted]
    print(f"gain over {args.baseline} (mean paired difference in points, seeds, wins):")
    print(f"{'space':18s}" + "".join(f"{label:>24s}" for label in labels if label != args.baseline))
    for space in spaces:
        cells = [f"{table[space][label][0]:+8.2f} ({table[space][label][1]:2d}, {table[space][label][2]:2d})"
                 if label in table[space] else "n/a" for label in labels if label != args.baseline]
        print(f"{space:18s}" + "".join(f"{cell:>24s}" for cell in cells))
    print("\nleave one space out:")
    held = {}
    for space in spaces:
        chosen = choose(table, [s for s in spaces if s != space], labels, args.baseline)
        held[space] = (chosen, table[space].get(chosen, (0.0, 0, 0))[0])
        print(f"  {space:18s} chosen on the others: {chosen:14s} its gain here {held[space][1]:+.2f}")
    overall = choose(table, spaces, labels, args.baseline)
    loso = float(np.mean([gain for _, gain in held.values()]))
    print(f"chosen on every space: {overall}; mean held-out gain {loso:+.2f} points")
    folds = ",".join(f"{space}:{chosen}" for space, (chosen, _) in held.items())
    print(f"RESULT spaces={len(spaces)} chosen={overall} loso_gain={loso:.3f} folds={folds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
