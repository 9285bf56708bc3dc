"""Is a run's recorded supernet accuracy what one process would score on the same weights? (torchrun runs)

For every finished round of each run given, the round's snapshot (its trained supernet, reference weights and
extensions' state) is restored into one process and the round's front is scored again; the table compares the
accuracy the run recorded with the rescored one. Equal figures mean the scoring does not depend on the number
of processes, and a difference between a 1-process and a 2-process run of the same space and seed comes from
their training (batch-norm statistics per rank, README "Not bit for bit across process counts"), not from the
scoring. With two runs, each round's best architecture of the first is also scored on the second's supernet.

Without runs, it makes them: the same short search of spaces/mnist1d.yaml (SHORT below; ``--quick``: two rounds
of one epoch) on one process and under ``torchrun`` on two, seed 0.

    python bench/ddp_rescore.py [--quick] [RUN [RUN2]]

Final line: ``RESULT max_abs_diff=D rounds=N`` (D over every front architecture of every run: recorded minus
rescored accuracy).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from evospace.data import load_space_data
from evospace.distributed import Group
from evospace.evolve import SupernetBackend
from evospace.run import Run
from evospace.run.snapshot import read_snapshot

ROOT = Path(__file__).resolve().parents[1]
SHORT = ("search.rounds=3", "search.epochs_per_round=3", "data.samples=4000", "search.scoring.anchors=4",
         "search.scoring.anchor_epochs=1", "search.scoring.anchor_steps=0")
QUICK = ("search.rounds=2", "search.epochs_per_round=1", "data.samples=2000", "search.scoring.anchors=2",
         "search.scoring.anchor_epochs=1", "search.scoring.anchor_steps=0", "search.population.generations=2")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def make_runs(work: Path, quick: bool) -> list[Path]:
    """The short search on one process, then on two under torchrun (one after the other: they share the cores)."""
    overrides = [a for s in (QUICK if quick else SHORT) for a in ("--set", s)]
    search = ["-m", "evospace", "search", str(ROOT / "spaces" / "mnist1d.yaml"), "--quiet", *overrides]
    one, two = work / "one_process", work / "two_processes"
    for out, launcher in ((one, []), (two, ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"])):
        done = subprocess.run([sys.executable, *launcher, *search, "--out", str(out)], env=ENV, capture_output=True,
                              text=True)
        if done.returncode != 0:
            sys.exit(f"the search into {out} failed:\n{done.stderr[-2000:]}")
    return [one, two]


def restored(run: Run, index: int) -> SupernetBackend:
    """A one-process backend holding round ``index`` of ``run`` as it was scored."""
    space = run.space
    data = load_space_data(space.config.data, split_seed=space.config.seed, device=torch.device("cpu"))
    backend = SupernetBackend(space, data, torch.device("cpu"), Group())
    snap = run.store.verify(run.store.round_dir(index))
    contents = read_snapshot(snap, snap.read_json("state.json"), space)
    backend.restore(contents.trained, contents.tensors, contents.backend)
    return backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run directories (default: make both, see above)")
    parser.add_argument("--quick", action="store_true", help="shorter runs when making them")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="ddp_rescore_") as tmp:
        compare([Run.open(path) for path in (args.runs or make_runs(Path(tmp), args.quick))])


def compare(runs: list[Run]) -> None:
    worst, count = 0.0, 0
    print(f"{'run':<24} {'processes':>9} {'round':>5} {'arch (best first)':<60} {'recorded':>9} {'rescored':>9}")
    for run in runs:
        processes = next((e.get("processes") for e in run.events if e["event"] == "run_started"), 1)
        for info in run.rounds:
            backend = restored(run, info.index)
            rescored = backend.scorer(info.index).evaluate_all([row["arch"] for row in info.front])
            for row, again in zip(info.front, rescored):
                diff = row["metrics"]["accuracy"] - again["accuracy"]
                worst = max(worst, abs(diff))
                arch = " ".join(row["arch"].values())
                print(f"{run.path.name[:24]:<24} {processes:>9} {info.index:>5} {arch[:60]:<60} "
                      f"{row['metrics']['accuracy']:>9.4f} {again['accuracy']:>9.4f}")
            count += 1
    if len(runs) == 2:
        first, second = runs
        print(f"\nthe best architecture of {first.path} per round, on both supernets (one process each)")
        for a, b in zip(first.rounds, second.rounds):
            arch = a.front[0]["arch"]
            on_a = restored(first, a.index).scorer(a.index).evaluate_all([arch])[0]["accuracy"]
            on_b = restored(second, b.index).scorer(b.index).evaluate_all([arch])[0]["accuracy"]
            print(f"round {a.index}: {' '.join(arch.values())}: {on_a:.4f} on {first.path}, {on_b:.4f} on "
                  f"{second.path}")
    print(f"RESULT max_abs_diff={worst:.6f} rounds={count}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
