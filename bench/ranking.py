"""How well supernet metrics rank architectures and operators against a stand-alone ground truth.

For each seed and each training budget E (1, 2, 5, 10, 20 epochs, each a fresh supernet with its own cosine
schedule, as a search round), trains a uniform single-path supernet on spaces/mnist1d_rank.yaml and scores
every architecture by: the angle (every definition), accuracy with and without BN recalibration, magnitude,
combined scores rank_mean(...), and the trivial baselines (parameter count, FLOPs, a random score).
Truth = mean stand-alone test accuracy over the ground truth's seeds. Operators are ranked within each
choice point (what shrinking decides): the operator's mean ground-truth accuracy vs its score (the mean of
the metric over the architectures that contain it; combined: the mean of those per-metric ranks), τ averaged
over the choice points.

Two studies at E = 5: accuracy τ vs the number of BN recalibration batches (1, 4, 20), and the angle
reference of a grown supernet (round 0 trains 3 of 5 operators per choice point for 5 epochs, round 1 grows
the other 2 and trains 5 more; survivors' reference = their weights at birth vs at the start of round 1).

Scores of every architecture can be saved (``--save FILE.safetensors``) and the statistics recomputed later
against a more complete ground truth without training again (``--load FILE.safetensors``).

    python bench/ranking.py [--quick] [--seeds N] [--gt bench/data/mnist1d_rank_gt.csv]

Final line (means at 5 epochs): ``RESULT epochs=5 tau_angle=... tau_acc_bn=... tau_acc_nobn=...
tau_magnitude=... tau_combined=... tau_params=... tau_flops=... tau_ops_angle=... gt_ceiling=...`` where
``tau_angle`` uses ScoreConfig's default definition, ``tau_combined`` the default shrink score
rank_mean(angle, accuracy), and ``gt_ceiling`` is the ground truth's τ between its two seeds' test accuracies.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from evospace.data import load_data
from evospace.evolve.policy import combined_scores
from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.metrics.angle import DEFINITIONS, AngleScorer, reference_weights
from evospace.metrics.groundtruth import build_order, load_ground_truth, noise_ceiling
from evospace.metrics.magnitude import magnitude_table
from evospace.metrics.ranking import average_ranks, kendall_tau, precision_at_k
from evospace.metrics.scores import op_means
from evospace.run.rng import numpy_stream
from evospace.space import load_space
from evospace.space.schema import ScoreConfig, TrainConfig
from evospace.space.subspace import Subspace
from evospace.supernet.supernet import Supernet
from evospace.supernet.train import RoundTrainer

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "spaces" / "mnist1d_rank.yaml"
GROUND_TRUTH = ROOT / "bench" / "data" / "mnist1d_rank_gt.csv"
DEFAULT_ANGLE = ScoreConfig().angle_definition
DEFAULT_RECAL = TrainConfig().recalibration_batches
RECAL_STUDY = tuple(sorted({1, 4, 20, DEFAULT_RECAL}))
STUDY_EPOCHS = 5
TOP = 0.05  # precision@5%
# name -> metrics whose ranks are averaged (the controller's rank_mean); "angle"/"acc_bn" are the defaults
COMBINED = {"combined": ("angle", "acc_bn"), "comb_ang_mag": ("angle", "magnitude"),
            "comb_all": ("angle", "acc_bn", "magnitude")}


# -- phase 1: train supernets and score every architecture -------------------------------------------------
def train(net: Supernet, data, space, epochs: int, seed: int, round_index: int = 0) -> None:
    trainer = RoundTrainer(net, data, space.config.search.train, batch_size=space.config.data.batch_size,
                           epochs=epochs, round_index=round_index, seed=seed, sampling="uniform")
    while not trainer.done:
        trainer.train_epoch()


def score_supernet(space, data, epochs: int, seed: int, eval_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric over every architecture (odometer order); accuracy only on ``eval_rows`` (else NaN)."""
    subspace = space.initial_subspace()
    all_rows = subspace.all_indices()
    net = Supernet(space, subspace, seed=seed)
    reference = reference_weights(net)
    train(net, data, space, epochs, seed)
    out = {f"angle_{d}": AngleScorer(net, reference, d).score_indices(all_rows) for d in DEFINITIONS}
    table = magnitude_table(net)
    out["magnitude"] = table[np.arange(table.shape[0])[None, :], all_rows].sum(axis=1)
    flat = np.ravel_multi_index(eval_rows.T, [len(subspace.ops(label)) for label in subspace.labels])
    archs = [subspace.decode(r) for r in eval_rows]
    recal = RECAL_STUDY if epochs == STUDY_EPOCHS else (DEFAULT_RECAL,)
    for batches in recal:
        evaluator = AccuracyEvaluator(data, batch_size=space.config.data.batch_size, batches=batches, seed=seed)
        out[f"acc_bn{batches}"] = np.full(len(all_rows), np.nan)
        out[f"acc_bn{batches}"][flat] = evaluator.accuracy_many(net, archs)
    out["acc_nobn"] = np.full(len(all_rows), np.nan)
    out["acc_nobn"][flat] = evaluator.accuracy_many(net, archs, recalibrate=False)
    out["random"] = numpy_stream(seed, "random-baseline", epochs).random(len(all_rows))
    return out


def score_grown(space, data, epochs: int, seed: int) -> dict[str, np.ndarray]:
    """Angles of every architecture after a grow step, under both reference rules."""
    full = space.initial_subspace()
    rng = numpy_stream(seed, "grown-start")
    start = Subspace({label: tuple(full.ops(label)[i] for i in sorted(rng.permutation(len(full.ops(label)))[:3]))
                      for label in full.labels})
    net = Supernet(space, start, seed=seed)
    birth = reference_weights(net)
    train(net, data, space, epochs, seed, round_index=0)
    net.apply_subspace(full, round_index=1)
    at_round = reference_weights(net)
    birth = {k: birth.get(k, v) for k, v in at_round.items()}  # newcomers: their fresh weights either way
    train(net, data, space, epochs, seed, round_index=1)
    all_rows = full.all_indices()
    return {f"grown_{rule}_{d}": AngleScorer(net, reference, d).score_indices(all_rows)
            for rule, reference in (("birth", birth), ("round", at_round)) for d in DEFINITIONS}


def collect(space, data, seeds: int, budgets: list[int], eval_rows: np.ndarray) -> dict[str, np.ndarray]:
    arrays = {}
    for seed in range(seeds):
        for epochs in budgets:
            for name, values in score_supernet(space, data, epochs, seed, eval_rows).items():
                arrays[f"s{seed}/e{epochs}/{name}"] = values
            print(f"  seed {seed}: {epochs} epoch(s) scored", file=sys.stderr, flush=True)
        if STUDY_EPOCHS in budgets:
            for name, values in score_grown(space, data, STUDY_EPOCHS, seed).items():
                arrays[f"s{seed}/e{STUDY_EPOCHS}/{name}"] = values
    return arrays


# -- phase 2: statistics against the ground truth ----------------------------------------------------------
def with_derived(metrics: dict[str, np.ndarray], costs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the default angle and accuracy, the baselines' costs and the combined scores."""
    out = dict(metrics)
    out["angle"] = out[f"angle_{DEFAULT_ANGLE}"]
    out["acc_bn"] = out[f"acc_bn{DEFAULT_RECAL}"]
    out.update(costs)
    for name, parts in COMBINED.items():
        values = np.full(len(out["angle"]), np.nan)
        finite = np.all([np.isfinite(out[p]) for p in parts], axis=0)
        values[finite] = np.mean([average_ranks(out[p][finite]) for p in parts], axis=0)
        out[name] = values
    return out


def ops_tau(subspace: Subspace, truth_ops: dict, scores: dict) -> float:
    """Mean over choice points of τ(operator's mean ground-truth accuracy, its score)."""
    return float(np.mean([kendall_tau([scores[label][op] for op in subspace.ops(label)],
                                      [truth_ops[label][op] for op in subspace.ops(label)])
                          for label in subspace.labels]))


def op_score_tables(subspace: Subspace, metrics: dict[str, np.ndarray]) -> dict[str, dict]:
    """Operator scores of every metric: means over the scored architectures; combined: rank means."""
    all_rows = subspace.all_indices()
    tables = {}
    for name, values in metrics.items():
        if name in COMBINED or name in ("params", "flops"):
            continue
        finite = np.isfinite(values)
        tables[name] = op_means(subspace, all_rows[finite], values[finite])
    for name, parts in COMBINED.items():
        per_metric = {label: {op: {p: tables[p][label][op] for p in parts} for op in subspace.ops(label)}
                      for label in subspace.labels}
        tables[name] = combined_scores(per_metric, parts)
    return tables


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):6.3f} ±{np.std(values):5.3f}" if values else "      —       "


def report(arrays: dict[str, np.ndarray], space, truth) -> None:
    subspace = space.initial_subspace()
    counts = [len(subspace.ops(label)) for label in subspace.labels]
    gt_flat = np.ravel_multi_index(truth.indices(subspace).T, counts)
    truth_ops = op_means(subspace, truth.indices(subspace), truth.test_acc)
    archs = list(subspace)
    costs = {"params": np.array([space.cost(a).params for a in archs], dtype=float),
             "flops": np.array([space.cost(a).flops for a in archs], dtype=float)}
    runs = sorted({tuple(key.split("/")[:2]) for key in arrays})
    tau, prec, tau_ops, tau_all = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    budgets = sorted({int(e[1:]) for _, e in runs})
    evaluated = 0
    for seed, epochs in runs:
        prefix = f"{seed}/{epochs}/"
        metrics = with_derived({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}, costs)
        e = int(epochs[1:])
        keep = np.all([np.isfinite(v[gt_flat]) for v in metrics.values()], axis=0)
        rows, truth_test = gt_flat[keep], truth.test_acc[keep]
        evaluated = len(rows)
        for name, values in metrics.items():
            tau[(e, name)].append(kendall_tau(values[rows], truth_test))
            if np.isfinite(values[gt_flat]).all():
                tau_all[(e, name)].append(kendall_tau(values[gt_flat], truth.test_acc))
            prec[(e, name)].append(precision_at_k(values[rows], truth_test, TOP))
        for name, table in op_score_tables(subspace, metrics).items():
            tau_ops[(e, name)].append(ops_tau(subspace, truth_ops, table))

    names = [*(f"angle_{d}" for d in DEFINITIONS), "acc_bn", "acc_nobn", "magnitude", *COMBINED,
             "params", "flops", "random"]
    print(f"\n{evaluated} ground-truth architectures scored by every metric (the last column: every ground-truth "
          f"architecture, for metrics without an accuracy pass); τ = Kendall τ vs mean test accuracy; mean ± std "
          f"over {len(runs) // max(len(budgets), 1)} supernet seed(s)")
    for e in budgets:
        print(f"\n{e:2d} epoch(s)        Kendall τ       precision@5%    operator τ      τ on all {len(gt_flat)}")
        for name in names:
            print(f"  {name:<14} {fmt(tau[(e, name)])}  {fmt(prec[(e, name)])}  {fmt(tau_ops.get((e, name), []))}  "
                  f"{fmt(tau_all.get((e, name), []))}")
    if STUDY_EPOCHS in budgets:
        print(f"\nBN recalibration batches at {STUDY_EPOCHS} epochs: τ of accuracy (architectures, operators)")
        for batches in RECAL_STUDY:
            print(f"  {batches:2d} batches  {fmt(tau[(STUDY_EPOCHS, f'acc_bn{batches}')])}  "
                  f"{fmt(tau_ops[(STUDY_EPOCHS, f'acc_bn{batches}')])}")
        print(f"\nangle reference after a grow step (3 → 5 operators per choice point, {STUDY_EPOCHS} + "
              f"{STUDY_EPOCHS} epochs)")
        print("  definition  birth τ         round τ         birth op τ      round op τ")
        for d in DEFINITIONS:
            b, r = f"grown_birth_{d}", f"grown_round_{d}"
            print(f"  {d:<10} {fmt(tau[(STUDY_EPOCHS, b)])} {fmt(tau[(STUDY_EPOCHS, r)])} "
                  f"{fmt(tau_ops[(STUDY_EPOCHS, b)])} {fmt(tau_ops[(STUDY_EPOCHS, r)])}")
    ceiling = noise_ceiling(truth)
    e = STUDY_EPOCHS if STUDY_EPOCHS in budgets else budgets[-1]
    mean = lambda name: float(np.mean(tau[(e, name)]))  # noqa: E731
    print(f"RESULT epochs={e} tau_angle={mean('angle'):.3f} tau_acc_bn={mean('acc_bn'):.3f} "
          f"tau_acc_nobn={mean('acc_nobn'):.3f} tau_magnitude={mean('magnitude'):.3f} "
          f"tau_combined={mean('combined'):.3f} tau_params={mean('params'):.3f} tau_flops={mean('flops'):.3f} "
          f"tau_ops_angle={float(np.mean(tau_ops[(e, 'angle')])):.3f} gt_ceiling={ceiling.between_seeds_test:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, budgets 1 and 5, accuracy of 60 architectures")
    parser.add_argument("--seeds", type=int, help="supernet seeds (default 3; 1 with --quick)")
    parser.add_argument("--epochs", help="comma-separated budgets (default 1,2,5,10,20)")
    parser.add_argument("--archs", type=int, help="architectures whose accuracy is scored (default 200; 60 quick)")
    parser.add_argument("--gt", default=str(GROUND_TRUTH), help="ground-truth CSV")
    parser.add_argument("--save", help="write every architecture's scores to this .safetensors file")
    parser.add_argument("--load", help="skip training: read scores written by --save")
    args = parser.parse_args()
    torch.set_num_threads(1)

    space = load_space(SPACE)
    truth = load_ground_truth(args.gt, space)
    ceiling = noise_ceiling(truth)
    print(f"ground truth: {len(truth.archs)}/{truth.spec.archs} architectures "
          f"({'complete' if truth.complete else 'PARTIAL: a uniform sample'}), {truth.spec.epochs} epochs x "
          f"{truth.spec.seeds} seeds; test accuracy {truth.test_acc.min():.3f}–{truth.test_acc.max():.3f} "
          f"(median {np.median(truth.test_acc):.3f})")
    print(f"noise ceiling (Kendall τ): seed vs seed test {ceiling.between_seeds_test:.3f}, "
          f"val {ceiling.between_seeds_val:.3f}; mean val vs mean test {ceiling.val_vs_test:.3f}")
    if args.load:
        arrays = load_file(args.load)
    else:
        seeds = args.seeds or (1 if args.quick else 3)
        budgets = [int(e) for e in (args.epochs or ("1,5" if args.quick else "1,2,5,10,20")).split(",")]
        # accuracy costs a recalibration and a validation pass per architecture: score the first ones the
        # ground truth trains (a seeded uniform sample, present even in a partial ground truth)
        eval_rows = build_order(space)[:args.archs or (60 if args.quick else 200)]
        print(f"training {seeds} supernet seed(s) for {budgets} epochs; angle {DEFAULT_ANGLE!r}, "
              f"recalibration {DEFAULT_RECAL} batches; accuracy of {len(eval_rows)} architectures", flush=True)
        cfg = space.config
        data = load_data(cfg.data.name, val_fraction=cfg.data.val_fraction, samples=cfg.data.samples,
                         split_seed=cfg.seed)
        arrays = collect(space, data, seeds, budgets, eval_rows)
        if args.save:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, args.save)
    report(arrays, space, truth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
