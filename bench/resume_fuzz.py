"""Exact resume under SIGKILL, and what checkpoints cost.

Fuzz: an uninterrupted ``evospace search`` of spaces/mnist1d.yaml, shortened by ``--set`` overrides (FUZZ
below: two rounds of two epochs, a small population, a checkpoint every 4 steps), is the reference. Each
trial starts the same search in a subprocess and kills it with SIGKILL at a seeded random moment: every
other trial after a random fraction of the reference's duration (start-up, training, scoring, evolution
and writes in proportion to their time), the others once the run on disk has passed a random point of
its progress plus 0-200 ms (inside training and checkpoint writes). Then ``evospace resume`` runs to the
end (or, for a search killed before it wrote its run.yaml, where resume has nothing to continue and says so,
``evospace search`` again into the same directory) and the result is compared with the reference bit for bit:
every round's state.json (but journal offsets and the process's global RNG states), supernet and reference
safetensors, space.yaml and best/arch.json.

Overhead: one round of the default space with its default settings, in this process, timed from inside:
seconds spent in mid-round checkpoints (building and writing them) over the round's seconds. Both figures
come from the same round, so the ratio holds on a busy machine. ``--quick`` shortens the population of
this round (so its overhead fraction is an upper bound of the default one).

    python bench/resume_fuzz.py [--quick] [--trials N] [--seed S]

Final line: ``RESULT identical=N total=T checkpoint_overhead=F`` (F as a fraction of round time).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "spaces" / "mnist1d.yaml"
FUZZ = ("search.rounds=2", "search.epochs_per_round=2", "search.population.size=6",
        "search.population.generations=1", "search.scoring.accuracy_samples=8", "search.checkpoint_every=4",
        "data.samples=2000")
QUICK_OVERHEAD = ("search.population.size=8", "search.population.generations=1")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def evospace(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evospace", *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def search_args(out: Path) -> list[str]:
    return ["search", str(SPACE), "--out", str(out), "--quiet", *[a for s in FUZZ for a in ("--set", s)]]


def progress(run: Path, steps: int) -> int:
    """Progress on disk in steps: checkpoint (r, s) is r * (steps + 1) + s, a finished round r (r + 1) * (steps + 1)."""
    best = -1
    for path in (run / "rounds").glob("*/COMPLETE"):
        if path.parent.name.isdigit():
            best = max(best, (int(path.parent.name) + 1) * (steps + 1))
    for path in (run / "checkpoint").glob("*/COMPLETE"):
        if path.parent.name.isdigit():
            r, s = divmod(int(path.parent.name), 10**6)
            best = max(best, r * (steps + 1) + s)
    return best


def where(steps: int, value: int) -> str:
    r, s = divmod(value, steps + 1)
    return "before any snapshot" if value < 0 else f"round {r} step {s}" if s else f"round {r - 1} written"


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two runs' results (see the module docstring)."""
    rounds = sorted(p.name for p in (a / "rounds").iterdir() if p.name.isdigit())
    if rounds != sorted(p.name for p in (b / "rounds").iterdir() if p.name.isdigit()):
        return ["rounds"]
    found = []
    for name in rounds:
        da, db = a / "rounds" / name, b / "rounds" / name
        sa, sb = (json.loads((d / "state.json").read_text()) for d in (da, db))
        found += [f"{name}/state.json:{k}" for k in sorted(set(sa) | set(sb)) if k not in ("journals", "rng")
                  and sa.get(k) != sb.get(k)]
        found += [f"{name}/{f}" for f in ("supernet.safetensors", "reference.safetensors", "space.yaml")
                  if not filecmp.cmp(da / f, db / f, shallow=False)]
    if not filecmp.cmp(a / "best" / "arch.json", b / "best" / "arch.json", shallow=False):
        found.append("best/arch.json")
    return found


def fuzz(work: Path, trials: int, seed: int) -> int:
    reference = work / "reference"
    start = time.perf_counter()
    proc = evospace(*search_args(reference))
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"the reference run failed:\n{err}")
    rounds = len([p for p in (reference / "rounds").iterdir() if p.name.isdigit()])
    steps = _steps_per_round(reference)
    total = rounds * (steps + 1)
    rng = random.Random(seed)
    print(f"fuzz: {rounds} rounds of {steps} steps ({' '.join(FUZZ)}), {seconds:.0f} s uninterrupted; "
          f"{trials} trials, one SIGKILL each")
    print(f"{'trial':>5} {'kill after':>18} {'landed at':>20} {'resumed from':>22} {'identical':>10}")
    identical = 0
    for trial in range(trials):
        out = work / f"trial{trial:02d}"
        proc = evospace(*search_args(out))
        if trial % 2:  # a moment of the run's time: start-up, training, scoring and writes alike
            delay = rng.uniform(0.05, 0.95) * seconds
            plan = f"{delay:.1f} s"
            deadline = time.perf_counter() + delay
            while proc.poll() is None and time.perf_counter() < deadline:
                time.sleep(0.005)
        else:  # a point of the run's progress, then up to 0.2 s: inside training and checkpoint writes
            target = rng.randrange(1, total - 1)
            plan = where(steps, target)
            while proc.poll() is None and progress(out, steps) < target:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.2))
        landed = progress(out, steps)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if (out / "run.yaml").exists():
            resume = evospace("resume", str(out), "--quiet")
            _, err = resume.communicate()
            said = next((line for line in err.splitlines() if line.startswith(("resuming", "no complete"))),
                        "already finished" if "already finished" in err else err.strip()[-60:])
            origin = said.split(" from ")[1].split(" (")[0] if said.startswith("resuming") else said[:22]
        else:  # killed before run.yaml existed: nothing to resume (resume says so); the user searches again
            resume = evospace(*search_args(out))
            resume.communicate()
            origin = "search again"
        diff = differences(reference, out) if resume.returncode == 0 else [f"resume exit {resume.returncode}"]
        identical += not diff
        print(f"{trial:>5} {plan:>18} {where(steps, landed) if killed else 'not killed':>20} {origin:>22} "
              f"{'yes' if not diff else 'NO ' + ','.join(diff)[:40]:>10}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    return identical


def _steps_per_round(run: Path) -> int:
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return sum(row["steps"] for row in epochs if row.get("kind") == "epoch" and row["round"] == 0)


def overhead(work: Path, quick: bool) -> float:
    """Checkpoint seconds / round seconds for one round of the default space, timed inside this process."""
    from evospace.evolve import Search
    from evospace.run import Recorder, RunStore
    from evospace.space import load_space

    timers = {"round": 0.0, "train": 0.0, "checkpoint": 0.0, "round snapshot": 0.0}
    counts = {"checkpoint": 0}

    def timed(cls, name: str, key: str):
        real = getattr(cls, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                timers[key] += time.perf_counter() - start
                counts[key] = counts.get(key, 0) + 1

        setattr(cls, name, wrapper)
        return real

    overrides = ["search.rounds=1", *(QUICK_OVERHEAD if quick else ())]
    space = load_space(SPACE, overrides)
    originals = [(Search, "run", timed(Search, "run", "round")),  # one round: the whole search
                 (Search, "_train", timed(Search, "_train", "train")),
                 (Recorder, "checkpoint", timed(Recorder, "checkpoint", "checkpoint")),
                 (RunStore, "write_round", timed(RunStore, "write_round", "round snapshot"))]
    try:
        Search(space, work / "overhead", device="cpu", progress=False, log=lambda message: None).run()
    finally:
        for cls, name, real in originals:
            setattr(cls, name, real)
    train_steps = _steps_per_round(work / "overhead")
    print(f"\noverhead: one round of {SPACE.name} ({', '.join(overrides)}), {train_steps} training steps, "
          f"a checkpoint every {space.config.search.checkpoint_every} steps and after training")
    print(f"{'part':<16} {'seconds':>9} {'count':>6} {'of round':>9}")
    for key, seconds in timers.items():
        print(f"{key:<16} {seconds:>9.2f} {counts.get(key, 0):>6} {seconds / timers['round']:>9.4f}")
    step_seconds = (timers["train"] - timers["checkpoint"]) / train_steps
    print(f"work between checkpoints: {space.config.search.checkpoint_every * step_seconds:.1f} s of training; "
          f"scoring and evolution after the last checkpoint of the round: "
          f"{timers['round'] - timers['train'] - timers['round snapshot']:.1f} s")
    return timers["checkpoint"] / timers["round"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 trials instead of 20; a shorter overhead round")
    parser.add_argument("--trials", type=int, help="number of kill points (overrides --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    args = parser.parse_args()
    torch.set_num_threads(1)
    trials = args.trials or (5 if args.quick else 20)
    with tempfile.TemporaryDirectory(prefix="resume_fuzz_") as tmp:
        work = Path(tmp)
        identical = fuzz(work, trials, args.seed)
        fraction = overhead(work, args.quick)
    print(f"RESULT identical={identical} total={trials} checkpoint_overhead={fraction:.4f}")


if __name__ == "__main__":
    main()
