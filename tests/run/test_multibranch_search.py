"""End to end: a multi-branch search with learned branch probabilities prunes within rounds, journals why,
resumes bit for bit from checkpoints taken around the pruning, and exports models that run alone."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import multi_branch_stages, tiny_variant
from resume_runs import Killed, differences, journal_rows

from evospace import Run, Search
from evospace.inspect import export_run, lineage_graph
from evospace.run import RunStore
from evospace.space import space_from_dict, split_branches

pytestmark = pytest.mark.slow

MULTI_SPACE = tiny_variant("tiny_multibranch", data={"batch_size": 32}, search={
    "rounds": 2,
    "epochs_per_round": 3,
    "objectives": ["angle", "params"],
    "population": {"size": 6, "generations": 2, "tournament": 2},
    "checkpoint_every": 3,
    "branch_learning": {"target": 700, "every": 2, "warmup_epochs": 1, "lr": 0.5, "prune_below": 0.35},
})
MULTI_SPACE["skeleton"]["stages"] = multi_branch_stages(2, 3)
STEPS = 36  # per round: 384 training samples / 32 per batch * 3 epochs


def run(out: Path, kill_at: tuple[int, ...] = ()) -> Path:
    """The search in this process; each step of ``kill_at`` (round * 10**6 + step) kills it once after its
    checkpoint, and the run is resumed from what is on disk."""
    space = space_from_dict(copy.deepcopy(MULTI_SPACE), "<tiny-multibranch>")
    real = RunStore.write_checkpoint
    pending = set(kill_at)

    def write_checkpoint(self, step, files, keep=2):
        snap = real(self, step, files, keep)
        if step in pending:
            pending.discard(step)
            raise Killed
        return snap

    RunStore.write_checkpoint = write_checkpoint
    try:
        search = Search(space, out, device="cpu", progress=False, log=lambda message: None)
        while True:
            try:
                search.run()
                break
            except Killed:
                search = Search.resume(out, device="cpu", progress=False, log=lambda message: None)
    finally:
        RunStore.write_checkpoint = real
    assert not pending, f"no checkpoint at {sorted(pending)}"
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return run(tmp_path_factory.mktemp("multibranch") / "run")


def in_round_removals(path: Path) -> list[dict]:
    events = [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e["event"] == "op_removed" and "epoch" in e]


def test_branch_probabilities_prune_within_the_round_and_say_why(reference) -> None:
    removed = in_round_removals(reference)
    assert removed, "the settings are meant to prune within a round"
    for event in removed:
        assert event["scores"]["probability"] < 0.35
        assert "branch probability" in event["reason"] and "prune_below" in event["reason"]
    metrics = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    rows = [m for m in metrics if m["kind"] == "branches"]
    assert len(rows) == 2 * 3 and rows[0]["architecture_steps"] == 0 and rows[-1]["architecture_steps"] > 0
    # the expected cost moves from the uniform distribution's towards the target
    assert abs(rows[-1]["expected_cost"] - 700) < abs(rows[0]["expected_cost"] - 700)
    graph = lineage_graph(Run.open(reference))
    for event in removed:
        node = graph.nodes[f"{event['label']}/{event['op']}"]
        assert node["died"] == event["round"]


def test_round_fronts_are_branch_sets_within_their_bounds(reference) -> None:
    space = Run.open(reference).space
    for info in Run.open(reference).rounds:
        assert info.front
        for row in info.front:
            for label, value in row["arch"].items():
                bounds = space.choice_point(label).branches
                assert bounds is not None and bounds.allows(len(split_branches(value)))
                assert set(split_branches(value)) <= set(info.subspace.ops(label))
        probabilities = [s.get("probability") for ops in info.op_scores.values() for s in ops.values()]
        assert all(p is not None and 0.0 < p < 1.0 for p in probabilities)


def test_killed_around_the_pruning_and_resumed_it_ends_bit_for_bit(reference, tmp_path) -> None:
    removal = in_round_removals(reference)[0]
    epoch_end = removal["round"] * 10**6 + (removal["epoch"] + 1) * 12  # the checkpoint right after the pruning
    out = run(tmp_path / "run", kill_at=(15, epoch_end - 3, epoch_end, 10**6 + 9))
    assert differences(reference, out) == []
    for name in ("000", "001"):
        a, b = (p / "rounds" / name / "branch_logits.safetensors" for p in (reference, out))
        assert a.read_bytes() == b.read_bytes()
    assert journal_rows(out) == journal_rows(reference)


def test_exported_multibranch_models_run_without_evospace(reference, tmp_path) -> None:
    written = export_run(Run.open(reference), 2, tmp_path / "export")
    assert written
    for directory in written:
        record = json.loads((directory / "arch.json").read_text())
        shutil.copy(directory / "model.py", tmp_path / "model.py")
        result = subprocess.run([sys.executable, "model.py"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert f"{record['params']} parameters" in result.stdout


def test_reports_show_operators_pruned_within_a_round(reference) -> None:
    from evospace.inspect import draw_figures, final_size

    run = Run.open(reference)
    graph = lineage_graph(run)
    assert final_size(graph) == run.rounds[-1].next_subspace.size  # branch sets counted, not operators
    figures = draw_figures(run, graph)
    assert set(figures) == {"space", "scores", "fitness", "front"}
    assert all(data.startswith(b"\x89PNG") for data in figures.values())
