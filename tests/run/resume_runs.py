"""Runs of a tiny space for the resume and corruption tests: made in process, or as `evospace` subprocesses
that are killed at seeded random moments and resumed.

A helper module rather than ``tests/run/conftest.py`` (a second ``conftest`` module would shadow
``tests/conftest.py``). The uninterrupted reference run is made once per session and cached here; it is
shared and read-only, so tests copy it before changing anything.

Progress of a run on disk is counted in units of one training step: checkpoint (round r, step s) is
``r * (STEPS + 1) + s`` and a finished round r is ``(r + 1) * (STEPS + 1)``, so the moment between the
post-training checkpoint and the round's snapshot (scoring and evolution) has a value of its own.
"""

from __future__ import annotations

import copy
import filecmp
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import tiny_variant

# Three rounds of two epochs of 12 steps, checkpoints every 3 steps: a run takes a few seconds.
RESUME_SPACE: dict = tiny_variant("tiny_resume", data={"batch_size": 32}, search={
    "rounds": 3,
    "epochs_per_round": 2,
    "population": {"size": 6, "generations": 2, "tournament": 2},
    "checkpoint_every": 3,
})
ROUNDS = 3
STEPS = 24  # training steps per round: 384 training samples / 32 per batch * 2 epochs
CLI_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_CACHE: dict[str, Path] = {}


def space_dict(**search) -> dict:
    """The resume space, with ``search`` keys replaced (e.g. ``rounds=1``)."""
    space = copy.deepcopy(RESUME_SPACE)
    space["search"].update(search)
    return space


def write_space(path: Path, space: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump(space or RESUME_SPACE, sort_keys=False))
    return path


def run_in_process(out: Path, space: dict | None = None, log=lambda message: None):
    """A whole search in this process, as ``evospace search`` would run it."""
    from evospace import Search
    from evospace.space import space_from_dict

    return Search(space_from_dict(copy.deepcopy(space or RESUME_SPACE), "<tiny-resume>"), out, device="cpu",
                  progress=False, log=log).run()


def reference_run(factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run (shared and read-only: copy it before changing anything)."""
    if "reference" not in _CACHE:
        out = factory.mktemp("reference") / "run"
        run_in_process(out)
        _CACHE["reference"] = out
    return _CACHE["reference"]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``evospace ARGS`` in a subprocess (one thread, like the in-process runs)."""
    return subprocess.run([sys.executable, "-m", "evospace", *args], env=CLI_ENV, capture_output=True, text=True,
                          timeout=timeout)


def progress(run: Path) -> int:
    """How far ``run`` got on disk, in steps (see the module docstring); -1 before its first snapshot."""
    best = -1
    rounds = run / "rounds"
    if rounds.is_dir():
        for path in rounds.iterdir():
            if path.name.isdigit() and (path / "COMPLETE").exists():
                best = max(best, (int(path.name) + 1) * (STEPS + 1))
    checkpoints = run / "checkpoint"
    if checkpoints.is_dir():
        for path in checkpoints.iterdir():
            if path.name.isdigit() and (path / "COMPLETE").exists():
                r, s = divmod(int(path.name), 10**6)
                best = max(best, r * (STEPS + 1) + s)
    return best


def kill_and_resume(space_file: Path, out: Path, kills: int, seed: int, *, jitter: float = 0.15,
                    poll: float = 0.005) -> tuple[int, list[str]]:
    """Run ``evospace search``, SIGKILL it at ``kills`` seeded random moments, ``evospace resume`` after each.

    Each kill waits until the run on disk has passed a random point of its progress, then a random
    0..``jitter`` seconds more (to land inside training, scoring or a write). The last resume runs to the
    end. Returns the number of kills that landed before the run finished and every process's stderr.

    Raises:
        AssertionError: a resumed process failed.
    """
    rng = random.Random(seed)
    total = ROUNDS * (STEPS + 1)
    targets = sorted(rng.sample(range(1, total - 1), kills))
    command = ["search", str(space_file), "--out", str(out), "--quiet"]
    landed, logs = 0, []
    for target in [*targets, None]:
        proc = subprocess.Popen([sys.executable, "-m", "evospace", *command], env=CLI_ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if target is not None:
            start = progress(out)
            while proc.poll() is None and progress(out) < max(target, start + 1):
                time.sleep(poll)
            time.sleep(rng.uniform(0, jitter))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                landed += 1
        _, err = proc.communicate(timeout=300)
        logs.append(err)
        assert proc.returncode in (0, -signal.SIGKILL), f"exit {proc.returncode}:\n{err}"
        command = ["resume", str(out), "--quiet"]
    return landed, logs


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two runs' results, bit for bit: every round's state (but the journal offsets
    and the global RNG states, which depend on the process), tensors and space, and ``best/arch.json``."""
    found = []
    rounds_a = sorted(p.name for p in (a / "rounds").iterdir() if p.name.isdigit())
    rounds_b = sorted(p.name for p in (b / "rounds").iterdir() if p.name.isdigit())
    if rounds_a != rounds_b:
        return [f"rounds {rounds_a} != {rounds_b}"]
    for name in rounds_a:
        da, db = a / "rounds" / name, b / "rounds" / name
        state_a, state_b = (json.loads((d / "state.json").read_text()) for d in (da, db))
        for key in sorted(set(state_a) | set(state_b) - {"journals", "rng"}):
            if key not in ("journals", "rng") and state_a.get(key) != state_b.get(key):
                found.append(f"rounds/{name}/state.json: {key}")
        for file in ("supernet.safetensors", "reference.safetensors", "space.yaml"):
            if not filecmp.cmp(da / file, db / file, shallow=False):
                found.append(f"rounds/{name}/{file}")
    if not filecmp.cmp(a / "best" / "arch.json", b / "best" / "arch.json", shallow=False):
        found.append("best/arch.json")
    return found


class Killed(BaseException):
    """Stands for SIGKILL in process: nothing catches it, nothing after it runs."""


def interrupted_run(factory: pytest.TempPathFactory) -> Path:
    """The reference run as a kill in round 2 leaves it, right after its checkpoint of step 6 (shared and
    read-only: copy it before changing anything). Its checkpoints are steps 3 and 6 of round 2."""
    if "interrupted" not in _CACHE:
        from evospace.evolve import Search
        from evospace.run import RunStore

        out = factory.mktemp("interrupted") / "run"
        shutil.copytree(reference_run(factory), out)
        shutil.rmtree(out / "rounds" / "002")
        real = RunStore.write_checkpoint

        def write_checkpoint(self, step, files, keep=2):
            snap = real(self, step, files, keep)
            if step == 2 * 10**6 + 6:
                raise Killed
            return snap

        RunStore.write_checkpoint = write_checkpoint
        try:
            Search.resume(out, device="cpu", progress=False, log=lambda message: None).run()
        except Killed:
            pass
        finally:
            RunStore.write_checkpoint = real
        _CACHE["interrupted"] = out
    return _CACHE["interrupted"]


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def files_of(run: Path) -> dict[str, bytes]:
    """Every file of a run (but the lock) by relative path, with its bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def journal_rows(run: Path) -> dict[str, list[dict]]:
    """Both journals without what depends on the clock or on being resumed (times, ``resumed`` events)."""
    from evospace.run import read_jsonl

    return {name: [{k: v for k, v in row.items() if k not in ("time", "seconds")}
                   for row in read_jsonl(run / f"{name}.jsonl") if row.get("event") != "resumed"]
            for name in ("events", "metrics")}
