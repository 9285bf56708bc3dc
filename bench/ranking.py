"""How well each score ranks architectures and operators of any space against its stand-alone ground truth.

For each seed: a supernet of the space's initial subspace trains ``--epochs`` epochs (default: the space's
``search.epochs_per_round``, one round) on the supernet's batch (``search.train.batch_size``, as a run trains it),
then every ground-truth architecture gets every signal of :mod:`evospace.metrics.signals` (costs, zero-cost proxies,
supernet metrics) and the angle under each definition. The calibrated score (:mod:`evospace.metrics.predictor`) is
fitted as a run fits it: on the space's ``search.scoring`` settings, with ``anchors`` architectures trained
stand-alone. The anchors are drawn from the ground truth; when the ground truth was built with the anchors' own
recipe (same epochs, no augmentation, the space's ``search.train``) their accuracy is *replayed* from its seed-0
validation column, which is exactly what a run with that seed would measure, else they are trained here. Anchors are
left out of every τ of the calibrated score.

Truth = mean stand-alone test accuracy over the ground truth's seeds (its validation accuracy never scores
anything but the anchors). Operators are ranked within each choice point: the operator's mean ground-truth
accuracy vs its score (the mean over the ground-truth architectures containing it), τ averaged over the points.

    python bench/ranking.py [--space spaces/mnist1d_rank.yaml --gt bench/data/mnist1d_rank_gt.csv]
                            [--seeds 3] [--epochs E] [--quick] [--save FILE.npz] [--studies]
                            [--set KEY=VALUE ...]

``--save`` writes every signal of every seed (``bench/ranking_loso.py`` reads such files to choose the score's
settings leave-one-space-out). ``--studies`` also runs ``bench/ranking_studies.py`` (training budget,
recalibration batches, angle reference after a grow step, few-shot) on the default space.

Final line: ``RESULT space=... archs=... epochs=E tau_default=... tau_ops_default=... tau_params=...
tau_flops=... tau_ops_params=... tau_ops_flops=... gt_ceiling=... ceiling_share=... margin=...
supernet_epochs=... supernet_steps=... standalone_trainings=... seconds=... ms_per_arch=...`` plus
``tau_<signal>`` for every signal. ``tau_default`` is the score the controller uses with the space's settings
(its first objective), ``tau_ops_default`` its shrink score; ``margin`` = tau_default − max(tau_params,
tau_flops); ``seconds`` is what the score costs once per round (supernet training and anchors, replayed anchors
counted at the ground truth's own training time) and ``ms_per_arch`` what every scored architecture adds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from evospace.data import load_space_data
from evospace.errors import EvospaceError
from evospace.evolve import combined_scores
from evospace.extensions import anchor_epochs
from evospace.metrics import (
    DEFINITIONS,
    SIGNALS,
    AngleScorer,
    SignalComputer,
    fit_calibrated,
    kendall_tau,
    load_ground_truth,
    noise_ceiling,
    op_means,
    reference_weights,
    stratified_picks,
)
from evospace.run import numpy_stream
from evospace.space import load_space, parse_score
from evospace.supernet import RoundTrainer, Supernet, build_model, train_standalone

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACE = ROOT / "spaces" / "mnist1d_rank.yaml"
DEFAULT_GT = ROOT / "bench" / "data" / "mnist1d_rank_gt.csv"


# -- phase 1: signals of every ground-truth architecture, per seed -----------------------------------------
def train_supernet(space, data, epochs: int, seed: int) -> tuple[Supernet, dict, float, int]:
    """A supernet of the initial subspace trained like one round of a run (its reference taken at birth), on the
    supernet's own batch (``search.train.batch_size``); BN recalibration and the anchors keep the data's."""
    cfg = space.config
    net = Supernet(space, space.initial_subspace(), seed=seed)
    reference = reference_weights(net)
    trainer = RoundTrainer(net, data, cfg.search.train, batch_size=cfg.supernet_batch_size, epochs=epochs,
                           round_index=0, seed=seed, sampling=cfg.search.sampling)
    start = time.perf_counter()
    while not trainer.done:
        trainer.train_epoch()
    return net, reference, time.perf_counter() - start, trainer.total_steps


def collect(space, truth, data, epochs: int, seed: int) -> dict[str, np.ndarray]:
    """Every signal (and every angle definition) of every ground-truth architecture, with the timings."""
    cfg = space.config
    net, reference, train_seconds, steps = train_supernet(space, data, epochs, seed)
    computer = SignalComputer(space, SIGNALS, data=data, seed=seed, batch_size=cfg.data.batch_size,
                              recalibration_batches=cfg.search.train.recalibration_batches,
                              angle_definition=cfg.search.scoring.angle_definition)
    computer.use_supernet(net, reference)
    start = time.perf_counter()
    values = computer.values(truth.archs)
    per_arch = (time.perf_counter() - start) / max(len(truth.archs), 1)
    out = {name: values[:, j] for j, name in enumerate(SIGNALS)}
    rows = truth.indices(net.subspace)
    for definition in DEFINITIONS:
        out[f"angle_{definition}"] = AngleScorer(net, reference, definition).score_indices(rows)
    out["train_seconds"] = np.array([train_seconds])
    out["steps"] = np.array([steps])
    out["seconds_per_arch"] = np.array([per_arch])
    return out


def replayable(space, truth, epochs: int) -> bool:
    """Whether the ground truth's seed-0 validation accuracy is what an anchor of ``epochs`` epochs would measure."""
    spec = truth.spec
    recipe = type(spec).for_space(space, epochs, spec.seeds, 0).recipe
    return spec.epochs == epochs and spec.max_shift == 0 and spec.recipe == recipe


class Anchors:
    """The anchors' validation accuracy, replayed from the ground truth when it used their recipe, else trained
    here (once per architecture); ``seconds`` counts what training them took (replayed: the ground truth's time
    for one seed)."""

    def __init__(self, space, truth, data, seed: int) -> None:
        self.space, self.truth, self.data, self.seed = space, truth, data, seed
        self.epochs = anchor_epochs(space, len(data.y_train))
        self.replayed = replayable(space, truth, self.epochs)
        self.labels: dict[int, float] = {}
        self.seconds: dict[int, float] = {}

    def __call__(self, picks: np.ndarray) -> np.ndarray:
        for i in map(int, picks):
            if i in self.labels:
                continue
            if self.replayed:
                self.labels[i] = float(self.truth.val_seeds[i, 0])
                self.seconds[i] = float(self.truth.seconds[i]) / max(self.truth.spec.seeds, 1)
                continue
            cfg = self.space.config
            start = time.perf_counter()
            model = build_model(self.space, self.truth.archs[i], seed=self.seed).to(self.data.device)
            self.labels[i] = train_standalone(model, self.data, cfg.search.train,
                                              epochs=self.epochs,
                                              batch_size=cfg.data.batch_size, seed=self.seed).val_acc
            self.seconds[i] = time.perf_counter() - start
        return np.array([self.labels[int(i)] for i in picks])

    def cost(self, picks: np.ndarray) -> float:
        return float(sum(self.seconds[int(i)] for i in picks))


def anchor_picks(space, signals: dict[str, np.ndarray], count: int, seed: int) -> np.ndarray:
    """The anchors a run would choose: one per stratum of the prior score, among a uniform sample of
    ``search.scoring.accuracy_samples`` architectures (the run's reference sample)."""
    scoring = space.config.search.scoring
    names = scoring.signals
    table = np.stack([signals[name] for name in names], axis=1)
    candidates = numpy_stream(seed, "bench-anchors").permutation(len(table))[:scoring.accuracy_samples]
    prior = fit_calibrated(names, table[candidates], tuple(scoring.prior), scoring.ridge)(table[candidates])
    return candidates[stratified_picks(prior, count, numpy_stream(seed, "anchors"))]


# -- phase 2: scores and statistics ------------------------------------------------------------------------
def op_tau(rows: np.ndarray, score: np.ndarray, truth: np.ndarray) -> float:
    """Mean over choice points of τ(operator's mean true accuracy, operator's mean score)."""
    taus = []
    for k in range(rows.shape[1]):
        present = np.unique(rows[:, k])
        if len(present) < 2:
            continue
        taus.append(kendall_tau([score[rows[:, k] == i].mean() for i in present],
                                [truth[rows[:, k] == i].mean() for i in present]))
    return float(np.mean(taus)) if taus else float("nan")


def calibrated(space, signals: dict[str, np.ndarray], picks: np.ndarray, labels: np.ndarray,
               names: tuple[str, ...] | None = None) -> np.ndarray:
    """The calibrated score of every architecture, fitted as a run fits it on the anchors ``picks``."""
    scoring = space.config.search.scoring
    names = names or scoring.signals
    table = np.stack([signals[name] for name in names], axis=1)
    prior = tuple(p for p in scoring.prior if p in names) or names
    return fit_calibrated(names, table, prior, scoring.ridge, table[picks], labels)(table)


def default_scores(space, signals, picks, labels, rows) -> tuple[np.ndarray, np.ndarray, bool]:
    """What the controller ranks architectures by (its first objective) and operators by (its shrink score).

    Returns the architecture score, the operator score per ground-truth architecture (its mean over the
    architectures containing an operator is the operator's score) and whether anchors were used.
    """
    search = space.config.search
    by_name = {"score": lambda: calibrated(space, signals, picks, labels), "angle": lambda: signals["angle"],
               "accuracy": lambda: signals["accuracy"], "magnitude": lambda: signals["magnitude"]}
    first = search.objectives[0]
    arch_score = by_name[first]()
    parts = parse_score(search.shrink.score)
    if len(parts) == 1:
        op_score = by_name[parts[0]]()
    else:  # rank_mean: the operator's rank per metric within its choice point, averaged
        subspace = space.initial_subspace()
        tables = {m: op_means(subspace, rows, by_name[m]()) for m in parts}
        combined = combined_scores({label: {op: {m: tables[m][label][op] for m in parts}
                                            for op in subspace.ops(label)} for label in subspace.labels}, parts)
        op_score = np.array([np.mean([combined[label][subspace.ops(label)[i]] for label, i in
                                      zip(subspace.labels, row)]) for row in rows])
    uses_anchors = "score" in (first, *parts) and search.scoring.anchors > 0
    return arch_score, op_score, uses_anchors


def fmt(values) -> str:
    values = [v for v in values if v == v]
    return f"{np.mean(values):6.3f} ±{np.std(values):5.3f}" if values else "      —       "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=str(DEFAULT_SPACE), help="space file (default spaces/mnist1d_rank.yaml)")
    parser.add_argument("--gt", help="its ground truth, written by `evospace groundtruth` (default: the shipped one "
                                     "of the default space)")
    parser.add_argument("--seeds", type=int, help="supernet seeds (default 3; 1 with --quick)")
    parser.add_argument("--epochs", type=int, help="supernet epochs (default: the space's search.epochs_per_round)")
    parser.add_argument("--quick", action="store_true", help="one seed, at most 120 architectures")
    parser.add_argument("--save", help="write every signal of every seed to this .npz file")
    parser.add_argument("--studies", action="store_true", help="then run bench/ranking_studies.py (default space)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the space, e.g. search.train.batch_size=null (repeatable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.gt is None and Path(args.space).resolve() != DEFAULT_SPACE:
        parser.error("--gt: the ground truth of that space is needed (build one with `evospace groundtruth`)")

    try:  # a bad --set, space file or ground truth is one line, not a traceback
        space = load_space(args.space, args.overrides)
        truth = load_ground_truth(args.gt or DEFAULT_GT, space)
    except EvospaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.quick:
        truth = truth.head(120)
    if len(truth.archs) < 8:
        print(f"{args.gt}: only {len(truth.archs)} architectures trained so far; need at least 8", file=sys.stderr)
        return 2
    cfg = space.config
    scoring = cfg.search.scoring
    epochs = args.epochs or cfg.search.epochs_per_round
    seeds = args.seeds or (1 if args.quick else 3)
    ceiling = noise_ceiling(truth)
    subspace = space.initial_subspace()
    rows = truth.indices(subspace)
    t = truth.test_acc
    if truth.spec.sampled:  # "complete" alone read as if the whole space had been trained
        built = f"a uniform sample of the space's {subspace.size:,}"
        built += "" if truth.complete else ", only part of it so far"
    else:
        built = "complete" if truth.complete else "partial: a uniform sample so far"
    print(f"{space.name}: {len(truth.archs)}/{truth.spec.archs} ground-truth architectures "
          f"({built}), test accuracy "
          f"{t.min():.3f}–{t.max():.3f} (median {np.median(t):.3f}); noise ceiling (seed vs seed test τ) "
          f"{ceiling.between_seeds_test:.3f}")
    print(f"default score: objective {cfg.search.objectives[0]!r}, shrink score {cfg.search.shrink.score!r}; "
          f"calibrated score: signals {', '.join(scoring.signals)}; prior {', '.join(scoring.prior)}; "
          f"{scoring.anchors} anchors x {scoring.anchor_epochs} epochs (at least {scoring.anchor_steps} steps); "
          f"ridge {scoring.ridge:g}")
    print(f"training {seeds} supernet seed(s) for {epochs} epoch(s) each, batch {cfg.supernet_batch_size}", flush=True)
    data = load_space_data(cfg.data, split_seed=cfg.seed)

    per_seed, saved = [], {}
    counts = sorted({0, 4, 8, 16, scoring.anchors})
    for seed in range(seeds):
        signals = collect(space, truth, data, epochs, seed)
        anchors = Anchors(space, truth, data, seed)
        picks = {k: anchor_picks(space, signals, k, seed) for k in counts}
        labels = {k: anchors(p) for k, p in picks.items()}
        per_seed.append((signals, picks, labels, anchors))
        saved.update({f"s{seed}/{k}": v for k, v in signals.items()})
        for k in counts:
            saved[f"s{seed}/anchor_picks_{k}"], saved[f"s{seed}/anchor_labels_{k}"] = picks[k], labels[k]
        print(f"  seed {seed}: supernet {signals['train_seconds'][0]:.1f} s, signals "
              f"{1000 * signals['seconds_per_arch'][0]:.0f} ms per architecture, anchors "
              f"{'replayed from the ground truth' if anchors.replayed else 'trained'}", file=sys.stderr, flush=True)
    if args.save:
        np.savez(args.save, test_acc=t, test_seeds=truth.test_seeds, val_seed0=truth.val_seeds[:, 0], rows=rows,
                 epochs=np.array([epochs]), space=np.array(space.name), **saved)

    tau, tau_ops = {}, {}
    baselines = {"params": truth.params, "flops": truth.flops}
    for name, values in baselines.items():
        tau[name], tau_ops[name] = [kendall_tau(values, t)], [op_tau(rows, values, t)]
    # params and FLOPs are the baselines above; angle_ops is a signal of its own
    columns = [*(s for s in SIGNALS if s not in baselines), *(f"angle_{d}" for d in DEFINITIONS if d != "ops")]
    for name in columns:
        tau[name] = [kendall_tau(s[name], t) for s, *_ in per_seed]
        tau_ops[name] = [op_tau(rows, s[name], t) for s, *_ in per_seed]
    curve = {}
    for k in counts:
        for label, names in (("all signals", None), ("no supernet", ("params", "flops", "synflow", "snip",
                                                                      "grad_norm", "naswot"))):
            curve[(label, k)] = []
            for signals, picks, labels, _ in per_seed:
                score = calibrated(space, signals, picks[k], labels[k], names=names)
                keep = np.ones(len(t), bool)
                keep[picks[k]] = False
                curve[(label, k)].append((kendall_tau(score[keep], t[keep]), op_tau(rows, score, t)))
    default, default_ops, used = [], [], False
    k = scoring.anchors
    for signals, picks, labels, _ in per_seed:
        arch_score, op_score, used = default_scores(space, signals, picks[k], labels[k], rows)
        keep = np.ones(len(t), bool)
        if used:
            keep[picks[k]] = False
        default.append(kendall_tau(arch_score[keep], t[keep]))
        default_ops.append(op_tau(rows, op_score, t))

    print(f"\nτ = Kendall τ vs mean test accuracy over {len(t)} architectures; mean ± std over {seeds} seed(s)")
    print("  signal             architecture τ   operator τ")
    for name in [*baselines, *columns]:
        print(f"  {name:<17} {fmt(tau[name])}   {fmt(tau_ops[name])}")
    steps = int(per_seed[0][0]["steps"][0])
    print(f"\nτ against cost (supernet: {epochs} epochs = {steps} steps; params/FLOPs cost nothing)")
    print("  score                         stand-alone  architecture τ   operator τ")
    for (label, k), values in curve.items():
        print(f"  calibrated, {label:<12} {k:3d}         {fmt([v[0] for v in values])}   "
              f"{fmt([v[1] for v in values])}")
    anchors = scoring.anchors if used else 0
    train_seconds = float(np.mean([s["train_seconds"][0] for s, *_ in per_seed]))
    anchor_seconds = float(np.mean([a.cost(p[k]) for _, p, _, a in per_seed])) if used else 0.0
    ms = 1000 * float(np.mean([s["seconds_per_arch"][0] for s, *_ in per_seed]))
    d, d_ops = float(np.mean(default)), float(np.mean(default_ops))
    best_cost = max(tau["params"][0], tau["flops"][0])
    share = d / ceiling.between_seeds_test if ceiling.between_seeds_test > 0 else float("nan")
    print(f"\ndefault score: τ {fmt(default)} (ceiling share {share:.2f}), operator τ {fmt(default_ops)}; "
          f"margin over the better of params/FLOPs {d - best_cost:+.3f}; cost {epochs} supernet epochs, "
          f"{anchors} stand-alone trainings, {train_seconds + anchor_seconds:.1f} s + {ms:.0f} ms per architecture")
    signal_keys = " ".join(f"tau_{name}={np.mean(tau[name]):.3f}" for name in columns)
    print(f"RESULT space={space.name} archs={len(t)} epochs={epochs} tau_default={d:.3f} tau_ops_default={d_ops:.3f} "
          f"tau_params={tau['params'][0]:.3f} tau_flops={tau['flops'][0]:.3f} "
          f"tau_ops_params={tau_ops['params'][0]:.3f} tau_ops_flops={tau_ops['flops'][0]:.3f} "
          f"gt_ceiling={ceiling.between_seeds_test:.3f} ceiling_share={share:.3f} margin={d - best_cost:.3f} "
          f"supernet_epochs={epochs} supernet_steps={steps} standalone_trainings={anchors} "
          f"seconds={train_seconds + anchor_seconds:.1f} ms_per_arch={ms:.1f} {signal_keys}")
    if args.studies:
        return subprocess.call([sys.executable, str(ROOT / "bench" / "ranking_studies.py"),
                                *(["--quick"] if args.quick else [])])
    return 0


if __name__ == "__main__":
    sys.exit(main())
