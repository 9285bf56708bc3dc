"""Scoring speed: prefix-shared recalibrated evaluation, the default search before and after, Kendall τ at scale.

1. **Exhaustive scoring.** Every architecture of spaces/mnist1d_rank.yaml (625) on a supernet trained one
   epoch: BN-recalibrated validation accuracy prefix-shared (``AccuracyEvaluator.accuracy_many``, the trie of
   :mod:`evospace.metrics.prefix_eval`) against one architecture at a time (``AccuracyEvaluator.accuracy``),
   in this process, interleaved over ``--repeats`` rounds; each side's time is its median. Times are the
   process's CPU time (one thread, so it is the work done, whatever else the shared machine runs); wall time
   is shown beside it. The largest difference between the two sides' accuracies must be 0. The GPU mode
   (16 trie nodes per pass, all recalibration batches at once) is timed and checked too.
2. **The default search** (``evospace search spaces/mnist1d.yaml``, 4 rounds, seed 0), twice, each in a fresh
   process: *before*, scoring as it was (every architecture's accuracy computed, ``search.scoring.record:
   [accuracy]``, one architecture at a time) and *after*, as it is now (accuracy for the front only, since
   the angle decides; shared prefixes). For each: the whole search's time, the time spent in the round's
   scorer and its share of the rounds' time; then whether both runs left the same result: every round's
   supernet and reference weights, space.yaml and state.json, metrics.jsonl and events.jsonl,
   best/arch.json, with times, journal offsets, the process's global RNG states (recorded, never drawn from)
   and the accuracy of architectures the second run did not need to score set aside. The share is of wall
   time (the rounds' own ``seconds``), the speed-up of CPU time.
3. **Kendall τ** of 100,000 pairs with ties (after one warm-up call that imports scipy), checked against a
   direct count of concordant and discordant pairs on 2,000 of them.

    python bench/eval_speed.py [--quick] [--repeats R] [--skip-search]

``--quick`` scores the 125 architectures below one first operator, runs a two-round search of a few
seconds, and keeps τ at 100,000.

Final line: ``RESULT speedup=... max_abs_diff=... search_speedup=... scoring_share_before=...
scoring_share_after=... same_result=0|1 kendall_100k_seconds=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RANK_SPACE = ROOT / "spaces" / "mnist1d_rank.yaml"
DEFAULT_SPACE = ROOT / "spaces" / "mnist1d.yaml"
QUICK_SEARCH = ("search.rounds=2", "search.epochs_per_round=1", "search.population.size=8",
                "search.population.generations=2", "search.scoring.accuracy_samples=8")
# keys that differ between any two runs: times, journal offsets, and the process's global RNG states (recorded,
# never drawn from by a run)
IGNORED = {"time", "seconds", "journals", "created", "rng"}


# -- 1. exhaustive scoring ---------------------------------------------------------------------------------
def exhaustive(quick: bool, repeats: int) -> dict[str, float]:
    from evospace.data import load_space_data
    from evospace.metrics.accuracy import AccuracyEvaluator
    from evospace.space import load_space
    from evospace.supernet.supernet import Supernet
    from evospace.supernet.train import RoundTrainer

    space = load_space(RANK_SPACE)
    cfg = space.config
    data = load_space_data(cfg.data, split_seed=0)
    subspace = space.initial_subspace()
    net = Supernet(space, subspace, seed=0)
    trainer = RoundTrainer(net, data, cfg.search.train, batch_size=cfg.data.batch_size, epochs=1, round_index=0,
                           seed=0)
    trainer.train_epoch()
    archs = list(subspace)
    if quick:
        archs = [a for a in archs if a[subspace.labels[0]] == subspace.ops(subspace.labels[0])[0]]
    batches = cfg.search.train.recalibration_batches
    evaluator = AccuracyEvaluator(data, batch_size=cfg.data.batch_size, batches=batches, seed=0)
    in_passes = AccuracyEvaluator(data, batch_size=cfg.data.batch_size, batches=batches, seed=0, nodes_per_pass=16)
    sides = {
        "one at a time": lambda: np.array([evaluator.accuracy(net, arch) for arch in archs]),
        "prefix-shared": lambda: evaluator.accuracy_many(net, archs),
        "prefix-shared, 16 nodes per pass": lambda: in_passes.accuracy_many(net, archs),
    }
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    wall: dict[str, list[float]] = {name: [] for name in sides}
    values: dict[str, np.ndarray] = {}
    for rep in range(repeats):
        for name in (list(sides) if rep % 2 == 0 else list(sides)[::-1]):
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            values[name] = sides[name]()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start_wall)
    alone = values["one at a time"]
    print(f"1. exhaustive: {len(archs)} architectures of {space.name} ({len(space.labels)} choice points), supernet "
          f"trained 1 epoch, {batches} recalibration batches of {cfg.data.batch_size}, {len(data.y_val)} "
          f"validation samples; median of {repeats} interleaved repeats")
    print(f"   {'side':<34} {'CPU s':>8} {'wall s':>8} {'speed-up':>9} {'max |Δacc|':>11}")
    base = statistics.median(cpu["one at a time"])
    for name in sides:
        median = statistics.median(cpu[name])
        print(f"   {name:<34} {median:>8.2f} {statistics.median(wall[name]):>8.2f} {base / median:>8.2f}x "
              f"{np.abs(values[name] - alone).max():>11.2g}")
    print(f"   accuracies from {alone.min():.3f} to {alone.max():.3f}, {len(np.unique(alone))} distinct values\n")
    return {"speedup": base / statistics.median(cpu["prefix-shared"]),
            "max_abs_diff": float(np.abs(values["prefix-shared"] - alone).max()),
            "max_abs_diff_passes": float(np.abs(values["prefix-shared, 16 nodes per pass"] - alone).max())}


# -- 2. the default search, before and after ---------------------------------------------------------------
def search_child(mode: str, out: Path, quick: bool) -> None:
    """One search in this (fresh) process; writes ``out.json`` with its times."""
    from evospace.cli import main
    from evospace.evolve.backend import SupernetBackend
    from evospace.metrics.scores import RoundScorer, architecture_metrics

    torch.set_num_threads(1)
    if mode == "before":  # every architecture scored alone, as before prefix sharing
        def one_at_a_time(self, archs, metrics):
            return [architecture_metrics(self.space, arch, metrics, angle=self.angle.score,
                                         accuracy=self.accuracy.accuracy(self.supernet, arch)
                                         if "accuracy" in metrics else None) for arch in archs]

        RoundScorer._compute_many = one_at_a_time
    spent = [0.0, 0.0]
    make_scorer = SupernetBackend.scorer

    def timed_scorer(self, round_index):
        return _Timed(make_scorer(self, round_index), spent)

    SupernetBackend.scorer = timed_scorer
    argv = ["search", str(DEFAULT_SPACE), "--out", str(out), "--quiet", "--device", "cpu", "--seed", "0"]
    if mode == "before":  # and every architecture's accuracy, needed or not
        argv += ["--set", "search.scoring.record=[accuracy]"]
    if quick:
        argv += [arg for item in QUICK_SEARCH for arg in ("--set", item)]
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    status = main(argv)
    figures = {"cpu": time.process_time() - start_cpu, "wall": time.perf_counter() - start_wall,
               "scoring": spent[0], "scoring_wall": spent[1], "status": status}
    out.with_suffix(".json").write_text(json.dumps(figures))


class _Timed:
    """A round's scorer whose calls add their CPU and wall time to ``spent``."""

    def __init__(self, scorer, spent: list[float]) -> None:
        self._scorer = scorer
        self._spent = spent

    def __getattr__(self, name: str):
        value = getattr(self._scorer, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._spent[0] += time.process_time() - start_cpu
                self._spent[1] += time.perf_counter() - start_wall

        return call


def search(quick: bool, work: Path) -> dict[str, float]:
    figures = {}
    for mode in ("before", "after"):
        out = work / mode
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        args = [sys.executable, __file__, "--child", mode, "--out", str(out)] + (["--quick"] if quick else [])
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"the {mode} search failed:\n{done.stderr}")
        figures[mode] = json.loads(out.with_suffix(".json").read_text())
        rounds = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
        figures[mode]["rounds"] = sum(e["seconds"] for e in rounds if e["event"] == "round_ended")  # wall
    found = differences(work / "before", work / "after")
    print(f"2. default search ({'quick: ' + ' '.join(QUICK_SEARCH) if quick else 'spaces/mnist1d.yaml, 4 rounds'}, "
          f"seed 0), each in a fresh one-thread process")
    print(f"   {'run':<8} {'CPU s':>8} {'wall s':>8} {'scoring CPU s':>14} {'share of rounds':>16}")
    for mode, f in figures.items():
        print(f"   {mode:<8} {f['cpu']:>8.1f} {f['wall']:>8.1f} {f['scoring']:>14.1f} "
              f"{f['scoring_wall'] / f['rounds']:>15.0%}")
    speedup = figures["before"]["cpu"] / figures["after"]["cpu"]
    print(f"   whole search {speedup:.2f}x faster (CPU time); same result: "
          f"{'yes' if not found else 'NO: ' + ', '.join(found[:8])}\n")
    return {"search_speedup": speedup,
            "scoring_share_before": figures["before"]["scoring_wall"] / figures["before"]["rounds"],
            "scoring_share_after": figures["after"]["scoring_wall"] / figures["after"]["rounds"],
            "same_result": float(not found)}


def differences(a: Path, b: Path) -> list[str]:
    """Files of two runs that differ beyond times, offsets and accuracies one of them did not need."""
    found = []
    for path in sorted(p for p in a.rglob("*") if p.is_file() and p.name not in ("run.yaml", "lock", "COMPLETE")):
        rel = path.relative_to(a)
        other = b / rel
        if not other.exists():
            found.append(f"{rel} (missing)")
        elif path.suffix == ".safetensors" or path.name == "space.yaml":
            if path.read_bytes() != other.read_bytes():
                found.append(str(rel))
        elif path.suffix in (".json", ".jsonl"):
            if _comparable(path) != _comparable(other):
                found.append(str(rel))
    return found


def _comparable(path: Path):
    lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
    return [_strip(json.loads(line)) for line in lines if line.strip()]


def _strip(value):
    """``value`` without the keys in IGNORED, and without accuracies of architectures outside a front."""
    if isinstance(value, dict):
        out = {k: _strip(v) for k, v in value.items() if k not in IGNORED}
        if "population" in out:  # only the front's (and the best's) accuracy is needed when it is no objective
            out["population"] = [{**row, "metrics": {k: v for k, v in row["metrics"].items() if k != "accuracy"}}
                                 for row in out["population"]]
        return out
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


# -- 3. Kendall τ at scale ---------------------------------------------------------------------------------
def kendall() -> dict[str, float]:
    from evospace.metrics.ranking import kendall_tau

    rng = np.random.default_rng(0)
    x = rng.integers(0, 1000, 100_000).astype(float)
    y = np.round(x + rng.normal(0, 300, x.size))
    kendall_tau(x[:10], y[:10])  # imports scipy
    start = time.perf_counter()
    tau = kendall_tau(x, y)
    seconds = time.perf_counter() - start
    small_x, small_y = x[:2000], y[:2000]
    dx = np.sign(small_x[:, None] - small_x[None, :])[np.triu_indices(2000, 1)]
    dy = np.sign(small_y[:, None] - small_y[None, :])[np.triu_indices(2000, 1)]
    direct = (dx * dy).sum() / np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    error = abs(kendall_tau(small_x, small_y) - direct)
    print(f"3. Kendall τ-b of 100,000 pairs with ties: {tau:.4f} in {seconds:.3f} s; on 2,000 of them it differs "
          f"from the direct pair count by {error:.1g}\n")
    return {"kendall_100k_seconds": seconds, "kendall_error": float(error)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute")
    parser.add_argument("--repeats", type=int, help="interleaved repeats of exhaustive scoring (default 3, quick 1)")
    parser.add_argument("--skip-search", action="store_true", help="leave out the before/after default search")
    parser.add_argument("--child", choices=("before", "after"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        search_child(args.child, args.out, args.quick)
        return
    torch.set_num_threads(1)
    result = exhaustive(args.quick, args.repeats or (1 if args.quick else 3))
    if not args.skip_search:
        with tempfile.TemporaryDirectory() as work:
            result.update(search(args.quick, Path(work)))
    result.update(kendall())
    print("RESULT " + " ".join(f"{k}={v:.6g}" for k, v in result.items()))


if __name__ == "__main__":
    main()
