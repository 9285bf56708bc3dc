"""A search with search.few_shot: the split is recorded and shown by inspect, the sub-supernets are part of
every snapshot, and a run stopped mid-phase (or while scoring) resumes to bit-identical results."""

from __future__ import annotations

import contextlib
import copy
import filecmp
import io
import json
from pathlib import Path

import pytest
from conftest import tiny_variant

import evospace.supernet.sub_supernets as fewshot_module
from evospace.cli import main
from evospace.evolve import Search
from evospace.metrics import FewShotScorer
from evospace.run import read_jsonl
from evospace.space import space_from_dict

SPACE = tiny_variant("tiny_fewshot", search={"rounds": 2, "few_shot": {"epochs": 1},
                                             "scoring": {"accuracy_samples": 8, "anchors": 3, "anchor_epochs": 1,
                                                         "anchor_steps": 0},
                                             "shrink": {"keep": 2, "score": "rank_mean(angle, accuracy)"},
                                             "train": {"batch_size": None}})  # the run OWNERS describes
OWNERS = 3  # three active operators at the split choice point, in both rounds


class Killed(BaseException):
    """Stands for SIGKILL in process: nothing catches it."""


def search(out: Path) -> None:
    Search(space_from_dict(copy.deepcopy(SPACE), "<tiny-fewshot>"), out, device="cpu", progress=False,
           log=lambda message: None).run()


def resume(out: Path) -> None:
    Search.resume(out, device="cpu", progress=False, log=lambda message: None).run()


def events(out: Path, kind: str) -> list[dict]:
    return [e for e in read_jsonl(out / "events.jsonl") if e["event"] == kind]


def differences(a: Path, b: Path) -> list[str]:
    """Every round's state (but journal offsets and global RNG states), tensors and space, and the best."""
    found = []
    for index in ("000", "001"):
        da, db = a / "rounds" / index, b / "rounds" / index
        state_a, state_b = (json.loads((d / "state.json").read_text()) for d in (da, db))
        found += [f"{index}/state.json: {key}" for key in sorted(set(state_a) | set(state_b) - {"journals", "rng"})
                  if key not in ("journals", "rng") and state_a.get(key) != state_b.get(key)]
        found += [f"{index}/{name}" for name in ("supernet.safetensors", "reference.safetensors",
                                                 "few_shot.safetensors", "space.yaml")
                  if not filecmp.cmp(da / name, db / name, shallow=False)]
    if not filecmp.cmp(a / "best" / "arch.json", b / "best" / "arch.json", shallow=False):
        found.append("best/arch.json")
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fewshot") / "run"
    search(out)
    return out


def test_each_round_records_its_split_and_keeps_its_sub_supernets(reference: Path) -> None:
    splits = events(reference, "few_shot_split")
    assert [e["round"] for e in splits] == [0, 1]
    for e in splits:
        assert len(e["labels"]) == 1 and len(e["owners"]) == OWNERS and e["epochs"] == 1
        chosen = max(e["disagreement"], key=e["disagreement"].get)
        assert e["labels"] == [chosen] and "variance" in e["reason"]
        assert e["delta_bytes"] < OWNERS * e["supernet_bytes"]
    epochs = [row for row in read_jsonl(reference / "metrics.jsonl") if row["kind"] == "few_shot_epoch"]
    assert len(epochs) == 2 * OWNERS
    for index, split in zip(("000", "001"), splits):
        state = json.loads((reference / "rounds" / index / "state.json").read_text())
        assert state["backend"]["few_shot"]["done"] == split["owners"]
        assert "few_shot" in state["tensors"]


def test_inspect_shows_the_split_of_every_round(reference: Path, tmp_path: Path) -> None:
    labels = [e["labels"][0] for e in events(reference, "few_shot_split")]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["inspect", str(reference)]) == 0
    text = stdout.getvalue()
    assert "Few-shot splits" in text
    for r, label in enumerate(labels):
        assert f"round {r}: split on {label} into {OWNERS} sub-supernets × 1 epoch(s)" in text
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["inspect", str(reference), "--round", "1"]) == 0
    assert f"Few-shot: split on {labels[1]} into {OWNERS}" in stdout.getvalue()
    page = tmp_path / "report.html"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["inspect", str(reference), "--format", "html", "--out", str(page)]) == 0
    assert f"round 1: {labels[1]} into {OWNERS} sub-supernets × 1 epoch(s)" in page.read_text()


@pytest.mark.parametrize("kill_at", [2, OWNERS + 2])  # the second sub-supernet of round 0, of round 1
def test_a_run_killed_mid_phase_resumes_bit_for_bit(reference: Path, tmp_path: Path, monkeypatch,
                                                    kill_at: int) -> None:
    real = fewshot_module.train_sub_supernet
    calls = []

    def train_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == kill_at:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(fewshot_module, "train_sub_supernet", train_then_die)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        search(out)
    after = []

    def train_and_count(*args, **kwargs):
        after.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fewshot_module, "train_sub_supernet", train_and_count)
    resume(out)
    assert differences(reference, out) == []
    assert [e["round"] for e in events(out, "few_shot_split")] == [0, 1]
    # resumed at the sub-supernet that was cut: the ones finished before were loaded, not trained again
    assert len(after) == 2 * OWNERS - (kill_at - 1)
    assert len([row for row in read_jsonl(out / "metrics.jsonl") if row["kind"] == "few_shot_epoch"]) == 2 * OWNERS


def test_a_run_killed_while_scoring_resumes_from_the_finished_phase(reference: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    real = FewShotScorer._compute_many
    calls = []

    def evaluate_then_die(self, archs, metrics):
        calls.append(1)
        if len(calls) == 2:  # the first generation is scored, the second not
            raise Killed
        return real(self, archs, metrics)

    monkeypatch.setattr(FewShotScorer, "_compute_many", evaluate_then_die)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        search(out)
    trained = [row for row in read_jsonl(out / "metrics.jsonl") if row["kind"] == "few_shot_epoch"]
    assert len(trained) == OWNERS
    monkeypatch.setattr(FewShotScorer, "_compute_many", real)
    resume(out)
    assert differences(reference, out) == []
    assert [e["round"] for e in events(out, "few_shot_split")] == [0, 1]
    # the finished phase was loaded, not trained again: each sub-supernet's epochs are journaled once
    assert len([row for row in read_jsonl(out / "metrics.jsonl") if row["kind"] == "few_shot_epoch"]) == 2 * OWNERS
