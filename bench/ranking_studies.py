"""Studies of the supernet metrics on the default ranking space: training budget, recalibration, reference, few-shot.

``python bench/ranking.py`` measures the scores on any space with a ground truth; this script keeps the
studies that chose the supernet metrics' own settings on spaces/mnist1d_rank.yaml (``bench/ranking.py
--studies`` runs it). For each seed and each training budget E (1, 2, 5, 10, 20 epochs, each a fresh supernet
with its own cosine schedule, as a search round), trains a uniform single-path supernet on
spaces/mnist1d_rank.yaml and scores every architecture by: the angle (every definition), accuracy with and
without BN recalibration, magnitude, combined scores rank_mean(...), and the trivial baselines (parameter
count, FLOPs, a random score).
Truth = mean stand-alone test accuracy over the ground truth's seeds. Operators are ranked within each
choice point (what shrinking decides): the operator's mean ground-truth accuracy vs its score (the mean of
the metric over the architectures that contain it; combined: the mean of those per-metric ranks), τ averaged
over the choice points.

Two studies at E = 5: accuracy τ vs the number of BN recalibration batches (1, 4, 20), and the angle
reference of a grown supernet (round 0 trains 3 of 5 operators per choice point for 5 epochs, round 1 grows
the other 2 and trains 5 more; survivors' reference = their weights at birth vs at the start of round 1).

Few-shot study (issue 10) at equal compute, counted in training steps: a supernet trained E0 = 5 epochs is
split on the choice point whose operators' angle scores vary most (the controller's default rule), each of its
K = 5 sub-supernets trains ``--fs-epochs`` E more epochs on its own part of the space and scores the
architectures it owns (``fewshot``); against it, a fresh one-shot supernet trained E0 + K·E epochs
(``oneshot_equal``). ``--fs-per-label`` also splits on every choice point in turn, to see which split pays.

Scores of every architecture can be saved (``--save FILE.safetensors``) and the statistics recomputed later
against a more complete ground truth without training again (``--load FILE.safetensors``).

    python bench/ranking_studies.py [--quick] [--seeds N] [--gt bench/data/mnist1d_rank_gt.csv]
    python bench/ranking_studies.py --fewshot-only --seeds 8 [--fs-epochs 1] [--fs-per-label]

Final line (means at 5 epochs): ``RESULT epochs=5 tau_angle=... tau_acc_bn=... tau_acc_nobn=...
tau_magnitude=... tau_combined=... tau_params=... tau_flops=... tau_ops_angle=... gt_ceiling=...`` where
``tau_angle`` uses ScoreConfig's default definition, ``tau_combined`` the default shrink score
rank_mean(angle, accuracy), and ``gt_ceiling`` is the ground truth's τ between its two seeds' test accuracies;
then ``tau_fewshot=... tau_oneshot_equal=...`` (the angle, as the controller scores) and
``tau_oneshot_e0=...`` (the supernet before the split). ``--fewshot-only`` skips everything else and its
RESULT line holds only the few-shot keys.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from evospace.data import load_space_data
from evospace.evolve import combined_scores
from evospace.metrics import (
    DEFINITIONS,
    AccuracyEvaluator,
    AngleScorer,
    FewShotScorer,
    average_ranks,
    build_order,
    kendall_tau,
    load_ground_truth,
    magnitude_table,
    noise_ceiling,
    op_means,
    precision_at_k,
    reference_weights,
)
from evospace.run import numpy_stream
from evospace.space import ScoreConfig, Subspace, TrainConfig, load_space
from evospace.supernet import RoundTrainer, SubSupernets, Supernet, choose_split, disagreement

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
    trainer = RoundTrainer(net, data, space.config.search.train, batch_size=space.config.supernet_batch_size,
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


def score_few_shot(space, data, seed: int, sub_epochs: int, lr: float | None, per_label: bool,
                   acc_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Angles of every architecture (and accuracy of ``acc_rows``): one-shot at E0, few-shot after the split,
    one-shot at equal steps."""
    subspace = space.initial_subspace()
    all_rows = subspace.all_indices()
    cfg = space.config
    flat = np.ravel_multi_index(acc_rows.T, [len(subspace.ops(label)) for label in subspace.labels])
    archs = [subspace.decode(r) for r in acc_rows]
    evaluator = AccuracyEvaluator(data, batch_size=cfg.data.batch_size, batches=DEFAULT_RECAL, seed=seed)

    def accuracy(evaluate) -> np.ndarray:
        values = np.full(len(all_rows), np.nan)
        values[flat] = [evaluate(arch) for arch in archs]
        return values

    net = Supernet(space, subspace, seed=seed)
    reference = reference_weights(net)
    train(net, data, space, STUDY_EPOCHS, seed)
    angles = AngleScorer(net, reference, DEFAULT_ANGLE).score_indices(all_rows)
    chosen = choose_split(disagreement(op_means(subspace, all_rows, angles)), 1)[0]
    out = {"oneshot_e0": angles, "chosen": np.array([subspace.labels.index(chosen)], dtype=float),
           "acc_oneshot_e0": accuracy(lambda arch: evaluator.accuracy(net, arch))}
    oneshot_bytes = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    for label in subspace.labels if per_label else (chosen,):
        sub = SubSupernets(net, 0, (label,))
        for owner in sub.owners:
            sub.train(owner, data, cfg.search.train, batch_size=cfg.supernet_batch_size, epochs=sub_epochs,
                      lr=lr if lr is not None else cfg.search.train.lr, seed=seed)
        scorer = FewShotScorer(space, sub, reference, data, ScoreConfig(), batch_size=cfg.data.batch_size,
                               recalibration_batches=DEFAULT_RECAL, seed=seed)
        out[f"split_{label}"] = scorer.angle_indices(all_rows)
        if label == chosen:
            out["acc_fewshot"] = accuracy(lambda arch: scorer.evaluate(arch)["accuracy"])  # noqa: B023
        sub.activate(None)
        memory = sub.memory()
        out[f"bytes_{label}"] = np.array([oneshot_bytes, memory["shared_bytes"] + memory["delta_bytes"]], dtype=float)
        steps = sum(row["steps"] for rows in sub.figures.values() for row in rows)
    out["fewshot"] = out[f"split_{chosen}"]
    equal_epochs = STUDY_EPOCHS + len(subspace.ops(chosen)) * sub_epochs
    eq = Supernet(space, subspace, seed=seed)
    eq_reference = reference_weights(eq)
    train(eq, data, space, equal_epochs, seed)
    out["oneshot_equal"] = AngleScorer(eq, eq_reference, DEFAULT_ANGLE).score_indices(all_rows)
    out["acc_oneshot_equal"] = accuracy(lambda arch: evaluator.accuracy(eq, arch))
    print(f"  seed {seed}: few-shot split on {chosen} ({steps} sub-supernet steps); one-shot at equal compute "
          f"trained {equal_epochs} epochs", file=sys.stderr, flush=True)
    return out


def collect_few_shot(space, data, seeds: int, sub_epochs: int, lr: float | None, per_label: bool,
                     acc_rows: np.ndarray) -> dict[str, np.ndarray]:
    return {f"fewshot/s{seed}/{name}": values for seed in range(seeds)
            for name, values in score_few_shot(space, data, seed, sub_epochs, lr, per_label, acc_rows).items()}


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


def report(arrays: dict[str, np.ndarray], space, truth) -> str:
    """Print the tables; return the RESULT line's one-shot part ("" without one-shot scores)."""
    subspace = space.initial_subspace()
    counts = [len(subspace.ops(label)) for label in subspace.labels]
    gt_flat = np.ravel_multi_index(truth.indices(subspace).T, counts)
    truth_ops = op_means(subspace, truth.indices(subspace), truth.test_acc)
    archs = list(subspace)
    costs = {"params": np.array([space.cost(a).params for a in archs], dtype=float),
             "flops": np.array([space.cost(a).flops for a in archs], dtype=float)}
    runs = sorted({tuple(key.split("/")[:2]) for key in arrays if not key.startswith("fewshot/")})
    if not runs:
        return ""
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
    return (f"RESULT epochs={e} tau_angle={mean('angle'):.3f} tau_acc_bn={mean('acc_bn'):.3f} "
            f"tau_acc_nobn={mean('acc_nobn'):.3f} tau_magnitude={mean('magnitude'):.3f} "
            f"tau_combined={mean('combined'):.3f} tau_params={mean('params'):.3f} tau_flops={mean('flops'):.3f} "
            f"tau_ops_angle={float(np.mean(tau_ops[(e, 'angle')])):.3f} gt_ceiling={ceiling.between_seeds_test:.3f}")


def report_few_shot(arrays: dict[str, np.ndarray], space, truth) -> str:
    """Print the few-shot table; return the RESULT keys it adds ("" without few-shot scores)."""
    subspace = space.initial_subspace()
    counts = [len(subspace.ops(label)) for label in subspace.labels]
    gt_flat = np.ravel_multi_index(truth.indices(subspace).T, counts)
    truth_ops = op_means(subspace, truth.indices(subspace), truth.test_acc)
    seeds = sorted({key.split("/")[1] for key in arrays if key.startswith("fewshot/")}, key=lambda s: int(s[1:]))
    if not seeds:
        return ""
    names = {key.split("/")[2] for key in arrays if key.startswith("fewshot/")}
    scored = ["oneshot_e0", "fewshot", "oneshot_equal", *sorted(n for n in names if n.startswith("split_")),
              *(n for n in ("acc_oneshot_e0", "acc_fewshot", "acc_oneshot_equal")
                if any(np.isfinite(v).any() for k, v in arrays.items() if k.startswith("fewshot/") and k.endswith(n)))]
    tau, tau_ops, prec = defaultdict(list), defaultdict(list), defaultdict(list)
    for seed in seeds:
        for name in scored:
            if f"fewshot/{seed}/{name}" not in arrays:  # a split label the default rule chose for other seeds
                continue
            values = arrays[f"fewshot/{seed}/{name}"][gt_flat]
            finite = np.isfinite(values)
            if not finite.any():
                continue
            tau[name].append(kendall_tau(values[finite], truth.test_acc[finite]))
            prec[name].append(precision_at_k(values[finite], truth.test_acc[finite], TOP))
            rows = truth.indices(subspace)[finite]
            tau_ops[name].append(ops_tau(subspace, truth_ops, op_means(subspace, rows, values[finite])))
    gain = np.array(tau["fewshot"]) - np.array(tau["oneshot_equal"])
    chosen = [subspace.labels[int(arrays[f"fewshot/{seed}/chosen"][0])] for seed in seeds]
    print(f"\nfew-shot vs one-shot, {len(seeds)} seed(s); angle ({DEFAULT_ANGLE}) over all {len(gt_flat)} ground-truth "
          f"architectures, acc_* (BN recalibrated) over the scored sample; mean ± std over seeds")
    print("                      Kendall τ       precision@5%    operator τ")
    for name in scored:
        print(f"  {name:<19} {fmt(tau[name])}  {fmt(prec[name])}  {fmt(tau_ops[name])}")
    print(f"  angle τ gain few-shot − one-shot at equal steps: {fmt(list(gain))} (per seed: "
          f"{' '.join(f'{g:+.3f}' for g in gain)}); split chosen: {', '.join(chosen)}")
    for name in sorted(names):
        if name.startswith("bytes_"):
            b = np.mean([arrays[f"fewshot/{seed}/{name}"] for seed in seeds if f"fewshot/{seed}/{name}" in arrays],
                        axis=0)
            # tensors held at the phase's peak (the process's RSS high-water mark cannot isolate one phase)
            print(f"  memory, split on {name[6:]}: one-shot supernet {b[0] / 1024:.0f} KiB; few-shot adds a shared "
                  f"copy + deltas of {b[1] / 1024:.0f} KiB: {(b[0] + b[1]) / b[0]:.2f}x the one-shot tensors at "
                  f"the phase's peak")
    mean = lambda name: float(np.mean(tau[name]))  # noqa: E731
    return (f" tau_fewshot={mean('fewshot'):.3f} tau_oneshot_equal={mean('oneshot_equal'):.3f} "
            f"tau_oneshot_e0={mean('oneshot_e0'):.3f} tau_gain_sd={float(np.std(gain)):.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, budgets 1 and 5, accuracy of 60 architectures")
    parser.add_argument("--seeds", type=int, help="supernet seeds (default 3; 1 with --quick)")
    parser.add_argument("--epochs", help="comma-separated budgets (default 1,2,5,10,20)")
    parser.add_argument("--archs", type=int, help="architectures whose accuracy is scored (default 200; 60 quick)")
    parser.add_argument("--gt", default=str(GROUND_TRUTH), help="ground-truth CSV")
    parser.add_argument("--save", help="write every architecture's scores to this .safetensors file")
    parser.add_argument("--load", help="skip training: read scores written by --save")
    parser.add_argument("--fewshot-only", action="store_true", help="run only the few-shot study")
    parser.add_argument("--fs-epochs", type=int, default=1, help="epochs per few-shot sub-supernet (default 1)")
    parser.add_argument("--fs-lr", type=float, help="sub-supernets' peak learning rate (default: the space's)")
    parser.add_argument("--fs-per-label", action="store_true", help="also split on every choice point in turn")
    parser.add_argument("--fs-archs", type=int, help="architectures whose accuracy the few-shot study scores "
                                                      "(default 100; 0 quick)")
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
        acc_rows = build_order(space)[:args.fs_archs if args.fs_archs is not None else 0 if args.quick else 100]
        shown = "no one-shot budgets (few-shot study only)" if args.fewshot_only else f"{budgets} epochs"
        print(f"training {seeds} supernet seed(s) for {shown}; angle {DEFAULT_ANGLE!r}, recalibration "
              f"{DEFAULT_RECAL} batches; accuracy of {0 if args.fewshot_only else len(eval_rows)} architectures "
              f"(few-shot study: {len(acc_rows)}); few-shot sub-supernets {args.fs_epochs} epoch(s) each", flush=True)
        cfg = space.config
        data = load_space_data(cfg.data, split_seed=cfg.seed)
        arrays = {} if args.fewshot_only else collect(space, data, seeds, budgets, eval_rows)
        arrays.update(collect_few_shot(space, data, seeds, args.fs_epochs, args.fs_lr, args.fs_per_label, acc_rows))
        if args.save:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, args.save)
    result = report(arrays, space, truth)
    print((result or "RESULT") + report_few_shot(arrays, space, truth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
