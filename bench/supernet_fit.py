"""How far does a supernet train in a search's budget? Weight sharing against one path, same recipe, same steps.

For each space, three networks are trained with the supernet's own trainer (SGD-Nesterov, the space's
``search.train`` recipe, one cosine over ``--epochs``, the supernet's batch (``search.train.batch_size``) and the
space's seed):

- ``supernet``: every pool operator active at every choice point, one uniformly drawn path per step (SPOS, what
  the static method trains);
- ``two ops``: only the pool's first two operators active (the smallest subspace that shares weights);
- ``one path``: the pool's first operator at every choice point (no sharing: a stand-alone network).

``zero`` (a cell edge that carries nothing) is left out of the last two: a path of ``zero`` edges learns nothing.

``--twins`` (chain spaces whose pool holds a ``conv_kK``) asks why sharing fails where it does: a supernet over
``conv_kK`` and ``dil_kK_d1``, the same network under two names, trained twice: with the two operators initialised
independently (as a supernet initialises any two operators) and with the second a copy of the first. Both draw
one of the two per choice point and step, so each trains half the steps; the gap between them is what
independent initialisation alone costs a shared chain.

``--matched STEPS`` (chain spaces) tries a remedy for that cost: before training, every operator with weights
is fitted for STEPS Adam steps to the output of its choice point's first operator with weights, on the features
the path of those operators brings there (mean squared error, one batch a step), so that the operators of a point
start out computing nearly the same function, as copied twins do. It is round 0's warm start of a search with
``search.match_steps`` (evospace/supernet/warm_start.py). It reports the whole-pool and
two-operator supernets again after it, and for a space with a ground truth (``bench/data/<name>_gt.csv``) the
Kendall τ of the whole-pool supernet's accuracy against the ground truth's test accuracy on its first 200
architectures, without and with the fit.

It prints each one's training accuracy in the last epoch and the mean validation accuracy of 16 uniformly drawn
architectures of its subspace (BN recalibrated per path, as scoring does), beside chance (1 / classes). A
supernet near chance means its accuracy and angle carry little about the architectures, and the search leans
on the costs, the zero-cost proxies and the anchors of the calibrated score.

    python bench/supernet_fit.py [--spaces spaces/mnist1d_rank.yaml,...] [--epochs 12] [--seed 10] [--twins]
                                 [--matched STEPS] [--tau] [--set KEY=VALUE ...] [--quick]

``--tau`` adds the whole-pool supernet's Kendall τ against the space's ground truth (its first 200 architectures)
to each space's line, where the space has one. ``--set`` overrides a setting of every space, such as the supernet's
recipe (``search.train.lr=0.2``) or its batch (``search.train.batch_size=null``: the data's batch, 128 on four
of the five spaces, as every search trained before the supernet had a batch of its own); τ is still taken
against the ground truth of the file as written, built with the file's recipe.

Ends with ``RESULT <space>_supernet=… <space>_two_ops=… <space>_one_path=… …`` (validation accuracy, %), with
``--twins`` also ``<space>_twins_independent=… <space>_twins_copied=…``, with ``--matched`` also
``<space>_supernet_matched=… <space>_two_ops_matched=… <space>_tau=… <space>_tau_matched=…``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from evospace.data import DataSplits, load_space_data
from evospace.errors import EvospaceError
from evospace.metrics import AccuracyEvaluator, GroundTruth, load_ground_truth
from evospace.run import numpy_stream
from evospace.space import load_space
from evospace.supernet import RoundTrainer, Supernet
from evospace.supernet.warm_start import match_operators, match_plan, ops_with_weights

ROOT = Path(__file__).resolve().parents[1]
SPACES = ("mnist1d_rank", "digits_rank", "mnist1d_deep", "mnist1d_mbconv", "nb201_mnist1d")
SAMPLED = 16  # architectures whose validation accuracy is averaged
TRUTH_ARCHS = 200  # ground-truth architectures the τ of --matched is taken on


def match_all(supernet: Supernet, data: DataSplits, steps: int, seed: int) -> None:
    """``--matched``: round 0's warm start of a search with ``search.match_steps`` (supernet/warm_start.py)."""
    subspace = supernet.subspace
    born = {label: dict.fromkeys(subspace.ops(label), 0) for label in subspace.labels}
    match_operators(supernet, data, match_plan(subspace, born, 0, ops_with_weights(supernet)), steps,
                    torch.Generator().manual_seed(seed), supernet.space.config.supernet_batch_size)


def fit(space_file: Path, data: DataSplits, ops: list[str], epochs: int, seed: int,
        copied: bool | None = None, matched: int = 0, truth=None,
        overrides: Sequence[str] = ()) -> tuple[float, float, float, float | None]:
    """(last epoch's training accuracy, mean validation accuracy of sampled paths, seconds, τ) of one subspace.

    ``copied`` (twins only, which then make the pool: a twin is no pool operator of the space): whether every
    choice point's second operator starts as a copy of its first; ``None``: ``ops`` come from the space's pool.
    ``matched``: steps of :func:`match_all` before training. ``truth``: a ground truth whose first
    architectures the supernet's accuracy is ranked against (τ; ``None`` without it). ``overrides``: ``--set``.
    """
    pool = [] if copied is None else [f"pool=[{', '.join(ops)}]"]
    space = load_space(space_file, [*overrides, *pool, f"initial.ops=[{', '.join(ops)}]", "initial.size=null",
                                    f"seed={seed}"])
    subspace = space.initial_subspace()
    supernet = Supernet(space, subspace, seed)
    if copied:
        for label in space.labels:
            supernet.op_module(label, ops[1]).load_state_dict(supernet.op_module(label, ops[0]).state_dict())
    if matched:
        match_all(supernet, data, matched, seed)
    trainer = RoundTrainer(supernet, data, space.config.search.train, batch_size=space.config.supernet_batch_size,
                           epochs=epochs, round_index=0, seed=seed)
    start = time.perf_counter()
    while not trainer.done:
        figures = trainer.train_epoch()
    seconds = time.perf_counter() - start
    rows = subspace.sample_indices(numpy_stream(seed, "supernet-fit"), SAMPLED)
    archs = [subspace.decode(row) for row in rows]
    evaluator = AccuracyEvaluator(data, batch_size=space.config.data.batch_size,
                                  batches=space.config.search.train.recalibration_batches, seed=seed)
    supernet.eval()
    val = float(np.mean(evaluator.accuracy_many(supernet, archs)))
    tau = None
    if truth is not None:
        head = truth.head(TRUTH_ARCHS)
        tau = float(kendalltau(evaluator.accuracy_many(supernet, head.archs), head.test_acc).statistic)
    return figures.train_acc, val, seconds, tau


def twins(file: Path, space, data: DataSplits, epochs: int, seed: int, results: dict[str, float],
          overrides: Sequence[str] = ()) -> None:
    """The twin supernets of ``--twins``: one line, two RESULT keys (or a line saying why there are none)."""
    conv = next((op for op in space.pool if op.startswith("conv_k")), None)
    if space.config.skeleton.kind != "chain" or conv is None:
        print(f"{'':16s} twins: none (needs a chain whose pool holds a conv_kK)")
        return
    ops = [conv, f"dil_{conv[len('conv_'):]}_d1"]
    cells = []
    for name, copied in (("independent", False), ("copied", True)):
        train_acc, val_acc, _, _ = fit(file, data, ops, epochs, seed, copied, overrides=overrides)
        results[f"{space.name}_twins_{name}"] = 100 * val_acc
        cells.append(f"{name} {100 * train_acc:5.1f} / {100 * val_acc:5.1f}")
    print(f"{'':16s} twins {' + '.join(ops)}: {cells[0]}, {cells[1]}")


def truth_of(file: Path) -> GroundTruth | None:
    """The shipped ground truth of the space in ``file`` as written (``bench/data/<name>_gt.csv``), if it has one.

    Loaded without ``--set``: a ground truth is built with the file's recipe, and a supernet trained with another one
    is still ranked against it (an override of the skeleton or the pool makes the τ meaningless).
    """
    space = load_space(file)
    path = ROOT / "bench" / "data" / f"{space.name}_gt.csv"
    return load_ground_truth(path, space) if path.exists() else None


def matched(file: Path, space, data: DataSplits, epochs: int, seed: int, steps: int, truth: GroundTruth | None,
            tau: float | None, results: dict[str, float], overrides: Sequence[str] = ()) -> None:
    """The supernets of ``--matched``: one line, and RESULT keys (τ only where the space has a ground truth).

    ``truth``: the space's ground truth (:func:`truth_of`); ``tau``: the unfitted whole-pool supernet's against it,
    measured by the caller.
    """
    if space.config.skeleton.kind != "chain":
        print(f"{'':16s} matched: none (chains only)")
        return
    pool = list(space.pool)
    train_acc, whole_matched, _, tau_matched = fit(file, data, pool, epochs, seed, matched=steps,
                                                   truth=truth, overrides=overrides)
    _, two_matched, _, _ = fit(file, data, pool[:2], epochs, seed, matched=steps, overrides=overrides)
    results[f"{space.name}_supernet_matched"] = 100 * whole_matched
    results[f"{space.name}_two_ops_matched"] = 100 * two_matched
    line = (f"{'':16s} matched ({steps} steps): whole pool {100 * train_acc:5.1f} / {100 * whole_matched:5.1f}, "
            f"two ops {100 * two_matched:5.1f}")
    if tau is not None:
        results[f"{space.name}_tau"], results[f"{space.name}_tau_matched"] = tau, tau_matched
        line += f"; whole pool τ {tau:.3f} -> {tau_matched:.3f} ({TRUTH_ARCHS} ground-truth architectures)"
    print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default=",".join(str(ROOT / "spaces" / f"{s}.yaml") for s in SPACES),
                        help="comma-separated space files")
    parser.add_argument("--epochs", type=int, default=12, help="supernet epochs (evolve_vs_static's budget)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--twins", action="store_true",
                        help="also conv_kK beside its twin dil_kK_d1, initialised independently and copied")
    parser.add_argument("--matched", type=int, default=0, metavar="STEPS",
                        help="also fit each operator to its point's first before training (chains), STEPS steps")
    parser.add_argument("--tau", action="store_true",
                        help="also the whole-pool supernet's Kendall τ against the space's ground truth, if it has one")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of every space (say, search.train.lr=0.2), repeatable")
    parser.add_argument("--quick", action="store_true", help="the first space only, 2 epochs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    files = [Path(f) for f in args.spaces.split(",")]
    epochs = args.epochs
    if args.quick:
        files, epochs = files[:1], 2
    try:  # a bad --set is one line before any training, not a traceback from the first space
        spaces = {file: load_space(file, args.overrides) for file in files}
    except EvospaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{epochs} epochs, seed {args.seed}; training accuracy of the last epoch / mean validation accuracy of "
          f"{SAMPLED} sampled paths (%)")
    print(f"{'space':16s} {'chance':>7s} {'supernet':>15s} {'two ops':>15s} {'one path':>15s}  seconds")
    results = {}
    for file, space in spaces.items():
        pool = list(space.pool)
        kept = [op for op in pool if op != "zero"]
        data = load_space_data(space.config.data, split_seed=args.seed)  # the same splits for all three
        chance = 100.0 / data.info.classes
        # --matched compares the whole pool's τ with and without the fit: the plain one is taken here
        truth = truth_of(file) if args.tau or (args.matched and space.config.skeleton.kind == "chain") else None
        cells, seconds, tau = [], 0.0, None
        for name, ops in (("supernet", pool), ("two_ops", kept[:2]), ("one_path", kept[:1])):
            train_acc, val_acc, took, measured = fit(file, data, ops, epochs, args.seed,
                                                     truth=truth if name == "supernet" else None,
                                                     overrides=args.overrides)
            tau = measured if name == "supernet" else tau
            results[f"{space.name}_{name}"] = 100 * val_acc
            cells.append(f"{100 * train_acc:6.1f} / {100 * val_acc:5.1f}")
            seconds += took
        line = f"{space.name:16s} {chance:7.1f} {cells[0]:>15s} {cells[1]:>15s} {cells[2]:>15s}  {seconds:7.1f}"
        if args.tau and tau is not None:
            results[f"{space.name}_tau"] = tau
            line += f"  τ {tau:.3f}"
        print(line)
        if args.twins:
            twins(file, space, data, epochs, args.seed, results, args.overrides)
        if args.matched:
            matched(file, space, data, epochs, args.seed, args.matched, truth, tau, results, args.overrides)
    print("RESULT " + " ".join(f"{k}={v:.3f}" if "_tau" in k else f"{k}={v:.2f}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
