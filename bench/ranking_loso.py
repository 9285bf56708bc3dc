"""Choose the calibrated score's settings leave-one-space-out, over every shipped ground-truth space.

For each space and supernet budget, ``bench/ranking.py --save`` writes every signal of every ground-truth
architecture (3 supernet seeds) and the anchors' accuracies; this script runs it where the file is missing, then
scores every candidate setting (which signals, which prior, ridge λ, anchors K, supernet epochs E) on every space
exactly as ``bench/ranking.py`` fits the score. Leave-one-space-out: for each space in turn, the setting with the
best mean margin over the better of params/FLOPs on the *other* spaces is chosen, and its τ on the held-out space is
reported. The margin (τ − max(τ_params, τ_FLOPs)) is what settings are chosen by; the defaults in ``search.scoring``
are the setting chosen on all spaces with the supernet on the data's batch (at its own batch the prior with
``neg_loss`` edges ahead here, and loses in searches: README, *How well it ranks*).

    python bench/ranking_loso.py [--dir bench/out/ranking] [--epochs 5,20] [--seeds 3] [--quick]
                                 [--set KEY=VALUE ...] [--spaces a,b] [--add NAME=SPACE.yaml,GT.csv ...]

``--add`` brings in a ground truth of your own (built by ``evospace groundtruth``) beside the shipped ones: it is
left out in its turn like any other, so its row says how settings chosen without it rank its architectures.

``--set`` is handed to every ``bench/ranking.py`` it runs; files already in ``--dir`` are read as they are, so
give each setting a directory of its own (a file whose truth is not its ground truth's, say one rebuilt since, is
refused in one line).

Final line: ``RESULT spaces=N chosen=... mean_margin=... min_margin=... mean_share=...`` (held-out figures),
then per space ``tau_<space>=... margin_<space>=... ops_<space>=...``.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np

from evospace.errors import EvospaceError
from evospace.metrics import SIGNALS, fit_calibrated, kendall_tau, load_ground_truth
from evospace.space import ScoreConfig, load_space

ROOT = Path(__file__).resolve().parents[1]
# every shipped ground truth: (space file, ground-truth CSV)
SPACES = {
    "mnist1d_rank": ("spaces/mnist1d_rank.yaml", "bench/data/mnist1d_rank_gt.csv"),
    "mnist1d_deep": ("spaces/mnist1d_deep.yaml", "bench/data/mnist1d_deep_gt.csv"),
    "mnist1d_mbconv": ("spaces/mnist1d_mbconv.yaml", "bench/data/mnist1d_mbconv_gt.csv"),
    "digits_rank": ("spaces/digits_rank.yaml", "bench/data/digits_rank_gt.csv"),
    "nb201_mnist1d": ("spaces/nb201_mnist1d.yaml", "bench/data/nb201_mnist1d_gt.csv"),
    # the last three were added after the defaults were chosen on the five above: they judge them from outside
    "mnist1d_mixed": ("spaces/mnist1d_mixed.yaml", "bench/data/mnist1d_mixed_gt.csv"),
    "digits_mixed": ("spaces/digits_mixed.yaml", "bench/data/digits_mixed_gt.csv"),
    "mnist1d_wide": ("spaces/mnist1d_wide.yaml", "bench/data/mnist1d_wide_gt.csv"),
}
NO_SUPERNET = ("params", "flops", "synflow", "snip", "grad_norm", "naswot")
SIGNAL_SETS = {"default": ScoreConfig().signals, "all": SIGNALS, "no supernet": NO_SUPERNET}
PRIORS = (("flops",), ("synflow", "flops"), ("synflow", "snip", "flops"), ("synflow", "flops", "neg_loss"),
          ("synflow", "snip", "flops", "neg_loss"), ("flops", "neg_loss"), ("synflow", "snip", "flops", "angle"))
RIDGES = (2.0, 8.0, 32.0, float("inf"))
ANCHORS = (0, 8, 16)


def op_tau(rows: np.ndarray, score: np.ndarray, truth: np.ndarray) -> float:
    taus = []
    for k in range(rows.shape[1]):
        present = np.unique(rows[:, k])
        if len(present) > 1:
            taus.append(kendall_tau([score[rows[:, k] == i].mean() for i in present],
                                    [truth[rows[:, k] == i].mean() for i in present]))
    return float(np.mean(taus))


class Saved:
    """One ``bench/ranking.py --save`` file: signals per seed, anchors, truth."""

    def __init__(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as f:
            self.arrays = {k: f[k] for k in f.files}
        self.truth = self.arrays["test_acc"]
        self.rows = self.arrays["rows"]
        seeds = sorted({int(k.split("/")[0][1:]) for k in self.arrays if k.startswith("s") and "/" in k})
        self.seeds = seeds
        t = self.truth
        self.tau_params = kendall_tau(self.arrays["s0/params"], t)
        self.tau_flops = kendall_tau(self.arrays["s0/flops"], t)
        test = self.arrays["test_seeds"]
        self.ceiling = kendall_tau(test[:, 0], test[:, 1]) if test.shape[1] > 1 else float("nan")

    def evaluate(self, names, prior, ridge, anchors) -> tuple[float, float]:
        """Mean over seeds of the held-out τ (anchors left out) and of the operator τ."""
        taus, ops = [], []
        for s in self.seeds:
            table = np.stack([self.arrays[f"s{s}/{n}"] for n in names], axis=1)
            picks, labels = self.arrays[f"s{s}/anchor_picks_{anchors}"], self.arrays[f"s{s}/anchor_labels_{anchors}"]
            score = fit_calibrated(names, table, tuple(p for p in prior if p in names) or names, ridge,
                                   table[picks], labels)(table)
            keep = np.ones(len(self.truth), bool)
            keep[picks] = False
            taus.append(kendall_tau(score[keep], self.truth[keep]))
            ops.append(op_tau(self.rows, score, self.truth))
        return float(np.mean(taus)), float(np.mean(ops))


def stale_reason(saved: Saved, space_file: Path, gt_file: Path) -> str | None:
    """Why a ``--save`` file read back from ``--dir`` does not belong to this ground truth (None: it does).

    Files are found by name, so a ground truth rebuilt, grown or added under a name used before would otherwise
    be judged by another one's signals. The file's truth must be the ground truth's test accuracies (a prefix of
    them for a ``--quick`` file).
    """
    try:
        truth = load_ground_truth(gt_file, load_space(space_file)).test_acc
    except EvospaceError as err:
        return str(err)
    kept = saved.truth
    if len(kept) > len(truth) or not np.array_equal(kept, truth[:len(kept)]):
        return f"its signals were computed against another ground truth than {gt_file}"
    return None


def parse_added(items: list[str]) -> dict[str, tuple[str, str]]:
    """``NAME=SPACE,GT`` items as ``{name: (space, gt)}``.

    Raises:
        ValueError: an item is not of that form, or repeats a name (its message is the error line).
    """
    added: dict[str, tuple[str, str]] = {}
    for item in items:
        name, sep, files = item.partition("=")
        space, comma, gt = files.partition(",")
        if not (sep and comma and name and space and gt):
            raise ValueError(f"--add: expected NAME=SPACE.yaml,GT.csv, got {item!r}")
        if name in SPACES or name in added:
            raise ValueError(f"--add: the name {name!r} is taken; give this ground truth another")
        missing = [f for f in (space, gt) if not Path(f).is_file()]
        if missing:
            raise ValueError(f"--add {name}: no file {missing[0]}")
        added[name] = (str(Path(space).resolve()), str(Path(gt).resolve()))
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(ROOT / "bench" / "out" / "ranking"), help="where the --save files live")
    parser.add_argument("--epochs", default="5,20", help="supernet budgets to compare (default 5,20)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="budget 5 only, ranking.py --quick")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of every space in the ranking.py runs (repeatable)")
    parser.add_argument("--spaces", help="comma-separated subset of " + ", ".join(SPACES) + " and the --add names")
    parser.add_argument("--add", action="append", default=[], metavar="NAME=SPACE.yaml,GT.csv",
                        help="a ground truth of your own, left out in its turn like the shipped ones (repeatable)")
    args = parser.parse_args(argv)
    budgets = [5] if args.quick else [int(e) for e in args.epochs.split(",")]
    try:
        known = {**SPACES, **parse_added(args.add)}
    except ValueError as error:
        parser.error(str(error))
    names = args.spaces.split(",") if args.spaces else list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"--spaces: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    saved: dict[tuple[str, int], Saved] = {}
    for name, epochs in itertools.product(names, budgets):
        space, gt = known[name]
        if not (ROOT / gt).exists():
            print(f"{name}: no ground truth at {gt}; skipped", file=sys.stderr)
            continue
        path = out / f"{name}_e{epochs}{'_quick' if args.quick else ''}.npz"
        read_back = path.exists()
        if not read_back:
            command = [sys.executable, str(ROOT / "bench" / "ranking.py"), "--space", str(ROOT / space), "--gt",
                       str(ROOT / gt), "--epochs", str(epochs), "--seeds", str(args.seeds), "--save", str(path),
                       *(f"--set={o}" for o in args.overrides)]
            print("running", " ".join(command[1:]), file=sys.stderr, flush=True)
            status = subprocess.call([*command, *(["--quick"] if args.quick else [])], stdout=subprocess.DEVNULL)
            if status != 0:  # ranking.py said why on stderr (a bad --set: one line, status 2)
                return status
        saved[(name, epochs)] = Saved(path)
        stale = read_back and stale_reason(saved[(name, epochs)], ROOT / space, ROOT / gt)
        if stale:
            print(f"error: {path}: {stale}; delete it (it is run again) or give another --dir", file=sys.stderr)
            return 2
    spaces = sorted({name for name, _ in saved}, key=names.index)
    if len(spaces) < 2:
        print("need the files of at least two spaces", file=sys.stderr)
        return 2

    settings = [(e, sig, prior, ridge, k) for e in budgets for sig in SIGNAL_SETS for prior in PRIORS
                for ridge in RIDGES for k in ANCHORS
                if set(prior) <= set(SIGNAL_SETS[sig]) and not (np.isinf(ridge) and k) and not (k == 0 and ridge != 8)]
    results = {}
    for setting in settings:
        e, sig, prior, ridge, k = setting
        results[setting] = {s: saved[(s, e)].evaluate(SIGNAL_SETS[sig], prior, ridge, k) for s in spaces
                            if (s, e) in saved}
    base = {s: max(saved[(s, budgets[0])].tau_params, saved[(s, budgets[0])].tau_flops) for s in spaces}

    def margin(setting, spaces_) -> float:
        values = results[setting]
        return float(np.mean([values[s][0] - base[s] for s in spaces_])) if all(s in values for s in spaces_) else -9

    print("per space: ground-truth architectures, τ of params and FLOPs, noise ceiling")
    for s in spaces:
        f = saved[(s, budgets[0])]
        print(f"  {s:<16} {len(f.truth):4d}  params {f.tau_params:.3f}  flops {f.tau_flops:.3f}  "
              f"ceiling {f.ceiling:.3f}")
    ranked = sorted(results, key=lambda st: -margin(st, spaces))
    print("\nbest settings on all spaces (E, signals, prior, ridge, anchors): τ (margin) per space")
    for setting in ranked[:15]:
        cells = (f"{results[setting][s][0]:.3f}({results[setting][s][0] - base[s]:+.2f})" for s in spaces)
        print(f"  {str(setting):<78}" + " ".join(cells))
    print("\nleave one space out (chosen on the others, reported on the one left out):")
    print("| space | chosen on the others (E, signals, prior, λ, K) | τ | margin over params/FLOPs | share of ceiling "
          "| operator τ |")
    print("|---|---|---|---|---|---|")
    margins, shares, keys = [], [], []
    for held in spaces:
        others = [s for s in spaces if s != held]
        chosen = max(results, key=lambda st: margin(st, others))
        tau, ops = results[chosen][held]
        f = saved[(held, chosen[0])]
        share = tau / f.ceiling if f.ceiling > 0 else float("nan")
        margins.append(tau - base[held])
        shares.append(share)
        e, sig, prior, ridge, k = chosen
        print(f"| {held} | E={e}, {sig}, ({', '.join(prior)}), {ridge:g}, {k} | {tau:.3f} | {tau - base[held]:+.3f} | "
              f"{share:.2f} | {ops:.3f} |")
        keys.append(f"tau_{held}={tau:.3f} margin_{held}={tau - base[held]:.3f} ops_{held}={ops:.3f}")
    best = ranked[0]
    print(f"\nchosen on every space: {best}")
    print(f"RESULT spaces={len(spaces)} chosen=E{best[0]}/{best[1].replace(' ', '_')}/{'+'.join(best[2])}/"
          f"{best[3]:g}/{best[4]} mean_margin={np.mean(margins):.3f} min_margin={np.min(margins):.3f} "
          f"mean_share={np.mean(shares):.3f} " + " ".join(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
