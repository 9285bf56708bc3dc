"""Few-shot rounds under torchrun: the split is journaled once (rank 0 writes), and a one-process run stopped
in its last round's few-shot phase resumes under two processes to the same results bit for bit (the
sub-supernets train alike on every rank; only the evaluations are dealt out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evolve"))  # the few-shot search helpers
import test_fewshot_search as fs  # noqa: E402

import evospace.supernet.sub_supernets as fewshot_module  # noqa: E402
from evospace.run import read_jsonl  # noqa: E402

pytestmark = pytest.mark.slow
ENV_KEYS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "EVOSPACE_DIST_TIMEOUT": "60"}


def torchrun(*args: str) -> subprocess.CompletedProcess:
    import os

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "--monitor-interval=0.2", "-m", "evospace", *args]
    return subprocess.run(command, env={**os.environ, **ENV_KEYS}, capture_output=True, text=True, timeout=300)


def test_a_run_stopped_mid_phase_resumes_under_two_processes_bit_for_bit(tmp_path: Path, monkeypatch) -> None:
    reference = tmp_path / "reference"
    fs.search(reference)
    real = fewshot_module.train_sub_supernet
    calls = []

    def train_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == fs.OWNERS + 2:  # the second sub-supernet of the last round
            raise fs.Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(fewshot_module, "train_sub_supernet", train_then_die)
    out = tmp_path / "run"
    with pytest.raises(fs.Killed):
        fs.search(out)
    done = torchrun("resume", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    # everything but the recorded number of processes of the round it finished
    assert [d for d in fs.differences(reference, out) if d != "001/state.json: processes"] == []
    splits = [e for e in read_jsonl(out / "events.jsonl") if e["event"] == "few_shot_split"]
    assert [e["round"] for e in splits] == [0, 1]
