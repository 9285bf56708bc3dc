"""End to end on MNIST-1D: search, export the top 3, retrain them and a hand-designed CNN, compare on the test set.

The search is the default one (``spaces/mnist1d.yaml``) with ``search.constraints.max_params=25000`` so
that every searched architecture has at most 25k parameters. Its top 3 architectures (``evospace export``)
and the baseline, a plain CNN on the same skeleton (``conv_k3`` at every choice point, 25,754 parameters),
are each trained from scratch with the same recipe (``evospace train``: SGD-Nesterov, cosine schedule,
label smoothing, random shifts) for 3 seeds. The searched architecture reported in RESULT is the one of
the top 3 with the best mean *validation* accuracy; the test set only ever reports.

    python bench/e2e_mnist1d.py [--quick] [--out DIR] [--epochs N] [--seeds S] [--workers W]

Final line: ``RESULT searched_test_acc=... searched_params=... baseline_test_acc=... baseline_params=...
total_minutes=...`` (accuracies as fractions, mean over seeds). An ``--out`` that holds a finished or
interrupted bench is continued (its times then cover this invocation only).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from evospace import Run, Search, load_space
from evospace.inspect import arch_record, export_run, resolve_arch, retrain
from evospace.run import atomic_write
from evospace.supernet import RETRAIN_EPOCHS, usual_shift

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "mnist1d.yaml"
SEARCH_OVERRIDES = ["search.constraints.max_params=25000"]
QUICK_OVERRIDES = ["search.rounds=1", "search.epochs_per_round=1", "search.population.size=8",
                   "search.population.generations=2", "search.scoring.accuracy_samples=16"]
BASELINE_OP = "conv_k3"
README = "MNIST-1D README test accuracy: logistic regression 32%, MLP 68%, CNN 94%, GRU 91%, human 96%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a one-round search, 3 epochs, 1 seed (about a minute)")
    parser.add_argument("--out", help="working directory (default: a new temporary directory)")
    parser.add_argument("--epochs", type=int, help=f"retraining epochs (default {RETRAIN_EPOCHS}, --quick 3)")
    parser.add_argument("--seeds", type=int, help="retraining seeds per architecture (default 3, --quick 1)")
    parser.add_argument("--train-samples", type=int, help="retrain on a larger MNIST-1D (data.samples); note that "
                        "this also changes the test set")
    parser.add_argument("--workers", type=int, default=1, help="retraining processes (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (3 if args.quick else RETRAIN_EPOCHS)
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="e2e_mnist1d-"))
    overrides = SEARCH_OVERRIDES + (QUICK_OVERRIDES if args.quick else [])
    started = time.perf_counter()

    reused = (out / "search" / "run.yaml").exists()
    run, search_seconds = _search(overrides, out / "search")
    space = run.space
    candidates = [d / "arch.json" for d in export_run(run, 3, out / "export")]
    baseline = out / "baseline" / "arch.json"
    atomic_write(baseline, json.dumps(arch_record(space, dict.fromkeys(space.labels, BASELINE_OP),
                                                  source="baseline")).encode())
    models = [(f"searched #{i}", path) for i, path in enumerate(candidates, 1)] + [("baseline CNN", baseline)]
    train_overrides = [f"data.samples={args.train_samples}"] if args.train_samples else []
    runs = out / "train" / (f"samples{args.train_samples}" if args.train_samples else "default")
    jobs = [(name, str(path), str(runs / name.replace(" ", "_").replace("#", "") / f"epochs{epochs}_seed{seed}"),
             epochs, seed, train_overrides, args.threads) for name, path in models for seed in seeds]

    retrain_started = time.perf_counter()
    results: dict[str, list[dict]] = {name: [] for name, _ in models}
    for done, (name, result) in enumerate(_run_jobs(jobs, args.workers), 1):
        results[name].append(result)
        print(f"[{done}/{len(jobs)}] {name} seed {result['seed']}: val {result['val_acc']:.4f} "
              f"test {result['test_acc']:.4f} ({result['seconds']:.0f} s)", file=sys.stderr, flush=True)
    retrain_seconds = time.perf_counter() - retrain_started
    total_minutes = (time.perf_counter() - started) / 60

    first = next(iter(results.values()))[0]
    print(f"search: {SPACE.name} --set {' --set '.join(overrides)} → {len(run.rounds)} rounds, "
          f"{search_seconds / 60:.1f} min")
    print(f"retraining: {epochs} epochs, random shifts ±{usual_shift(space.config.data.name)}, {len(seeds)} seed(s), "
          f"{first['train_samples']} train / {first['val_samples']} val / {first['test_samples']} test samples, "
          f"{retrain_seconds / 60:.1f} min with {args.workers} process(es)")
    print()
    print(f"{'model':<13} {'architecture':<58} {'params':>7} {'FLOPs':>9} {'val acc %':>13} {'test acc %':>13} "
          f"{'train min':>9}")
    rows = {}
    for name, path in models:
        record = json.loads(path.read_text())
        val = [r["val_acc"] for r in results[name]]
        test = [r["test_acc"] for r in results[name]]
        rows[name] = {"val": statistics.mean(val), "test": statistics.mean(test), "params": record["params"]}
        minutes = sum(r["seconds"] for r in results[name]) / 60
        print(f"{name:<13} {' '.join(record['arch'][label] for label in space.labels):<58} {record['params']:>7,} "
              f"{record['flops']:>9,} {_mean_std(val):>13} {_mean_std(test):>13} {minutes:>9.1f}")
    chosen = max((name for name in rows if name.startswith("searched")), key=lambda name: rows[name]["val"])
    print()
    print(f"searched architecture (best mean validation accuracy of the top 3): {chosen}")
    print(README)
    print(f"total: search {search_seconds / 60:.1f} min + retraining {retrain_seconds / 60:.1f} min = "
          f"{total_minutes:.1f} min; directory {out}")
    if reused:
        print(f"note: {out} held an earlier bench, continued here: the times cover this invocation only")
    s, b = rows[chosen], rows["baseline CNN"]
    print(f"RESULT searched_test_acc={s['test']:.4f} searched_params={s['params']} baseline_test_acc={b['test']:.4f} "
          f"baseline_params={b['params']} total_minutes={total_minutes:.2f}")


def _search(overrides: list[str], directory: Path) -> tuple[Run, float]:
    """Run the search into ``directory``, or continue (or reuse) the one already there."""
    started = time.perf_counter()
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    if (directory / "run.yaml").exists():
        if not Run.open(directory).finished:
            Search.resume(directory, device="cpu", progress=False, log=log).run()
    else:
        Search(load_space(SPACE, overrides), directory, device="cpu", progress=False, log=log).run()
    return Run.open(directory), time.perf_counter() - started


def _run_jobs(jobs: list[tuple], workers: int):
    """Yield ``(name, result)`` as trainings finish, in this process or in ``workers`` processes."""
    if workers <= 1:
        for job in jobs:
            yield _train(*job)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(_train, *job) for job in jobs]:
            yield future.result()


def _train(name: str, arch_json: str, out: str, epochs: int, seed: int, overrides: list[str],
           threads: int) -> tuple[str, dict]:
    torch.set_num_threads(threads)
    spec = resolve_arch(arch_json, overrides=overrides)
    return name, retrain(spec, out, epochs=epochs, seed=seed, device="cpu").result


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


if __name__ == "__main__":
    main()
