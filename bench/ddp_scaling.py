"""Scaling over processes: supernet training and population evaluation with 1 and 2 processes (torchrun, gloo).

Each configuration is a fresh ``torchrun`` job on the default space (spaces/mnist1d.yaml, global batch 64):
it trains the supernet for one epoch (the first ``WARMUP`` steps untimed) and then evaluates a fixed set of
architectures, each with BN recalibration, the way a generation of the population is evaluated (the supernet's
own figures: no round extension, so no calibrated score and none of its stand-alone anchors). Jobs run
interleaved (1, 2, 1, 2, ...) so that drifts of a shared machine hit both alike; figures are medians.

Configurations:

* ``1proc``: one process, one thread (the baseline);
* ``2proc``: two processes of one thread each, the batch split 32 + 32, gradients averaged (gloo);
* ``1proc_2thr``: one process with two threads (intra-op parallelism), what a single CPU process could
  use instead of a second process.

    python bench/ddp_scaling.py [--quick] [--reps R]

Final line: ``RESULT steps_per_s_1proc=… steps_per_s_2proc=… speedup=… evals_per_s_1proc=… evals_per_s_2proc=…
eval_speedup=… steps_per_s_1proc_2thr=…`` (speedup = 2proc / 1proc training steps per second).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "spaces" / "mnist1d.yaml"
WARMUP = 5
EVALUATIONS = 48


def worker(evaluations: int) -> None:
    """One torchrun job: time training steps and evaluations; rank 0 prints one JSON line."""
    import torch

    from evospace.data import load_space_data
    from evospace.distributed import group as join_group
    from evospace.evolve import SupernetBackend
    from evospace.run import numpy_stream
    from evospace.space import load_space

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    group = join_group("cpu", 120)
    space = load_space(SPACE)
    cfg = space.config.data
    data = load_space_data(cfg, split_seed=0)
    backend = SupernetBackend(space, data, torch.device("cpu"), group, extensions=[])
    trainer = backend.make_trainer(0)
    marks: list[float] = []

    def on_step(t) -> None:
        if t.step == WARMUP:
            group.barrier()
            marks.append(time.perf_counter())

    trainer.train_epoch(on_step=on_step)
    group.barrier()
    train_seconds = time.perf_counter() - marks[0]
    steps = trainer.steps_per_epoch - WARMUP
    backend.after_training(trainer)
    scorer = backend.scorer(0)
    archs = [scorer.supernet.subspace.decode(row)
             for row in scorer.supernet.subspace.sample_indices(numpy_stream(0, "bench-evals"), evaluations)]
    group.barrier()
    start = time.perf_counter()
    scorer.evaluate_all(archs)  # every metric, accuracy included (a search computes it for the front only)
    group.barrier()
    eval_seconds = time.perf_counter() - start
    if group.is_main:
        print(json.dumps({"steps_per_s": steps / train_seconds, "evals_per_s": scorer.evaluated / eval_seconds}))
    group.close()


def launch(nproc: int, threads: int, evaluations: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "BENCH_THREADS": str(threads)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               __file__, "--worker", "--evaluations", str(evaluations)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"torchrun failed ({nproc} processes):\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, fewer evaluations (about a minute)")
    parser.add_argument("--reps", type=int, help="interleaved repetitions (default 3, quick 1)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--evaluations", type=int, default=EVALUATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.evaluations)
        return
    reps = args.reps or (1 if args.quick else 3)
    evaluations = 16 if args.quick else EVALUATIONS
    configs = {"1proc": (1, 1), "2proc": (2, 1), "1proc_2thr": (1, 2)}
    figures: dict[str, list[dict]] = {name: [] for name in configs}
    for rep in range(reps):
        for name, (nproc, threads) in configs.items():
            figures[name].append(launch(nproc, threads, evaluations))
            print(f"rep {rep + 1}/{reps} {name:>10}: {figures[name][-1]['steps_per_s']:6.2f} steps/s  "
                  f"{figures[name][-1]['evals_per_s']:6.2f} evaluations/s", flush=True)
    med = {name: {key: statistics.median(row[key] for row in rows) for key in ("steps_per_s", "evals_per_s")}
           for name, rows in figures.items()}
    print(f"\n{'configuration':>14} {'steps/s':>9} {'evals/s':>9}")
    for name, row in med.items():
        print(f"{name:>14} {row['steps_per_s']:9.2f} {row['evals_per_s']:9.2f}")
    one, two, threads2 = med["1proc"], med["2proc"], med["1proc_2thr"]
    print(f"RESULT steps_per_s_1proc={one['steps_per_s']:.3f} steps_per_s_2proc={two['steps_per_s']:.3f} "
          f"speedup={two['steps_per_s'] / one['steps_per_s']:.3f} evals_per_s_1proc={one['evals_per_s']:.3f} "
          f"evals_per_s_2proc={two['evals_per_s']:.3f} eval_speedup={two['evals_per_s'] / one['evals_per_s']:.3f} "
          f"steps_per_s_1proc_2thr={threads2['steps_per_s']:.3f}")


if __name__ == "__main__":
    main()
