"""The calibrated score in a search: anchors trained once and journalled, a fit per round shown by inspect, the
``score`` metric ranking the population and the operators, and a run killed among the anchors (or while scoring)
resuming bit for bit."""

from __future__ import annotations

import contextlib
import copy
import filecmp
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import tiny_variant
from hypothesis import given
from hypothesis import strategies as st

import evospace.extensions.calibrated_score as calibrated_module
from evospace.cli import main
from evospace.evolve import Search
from evospace.extensions import AddedMetrics
from evospace.extensions.calibrated_score import anchor_epochs, anchors_due, draw_anchors, uses_score
from evospace.run import Run, read_jsonl
from evospace.space import ScoreConfig, space_from_dict
from evospace.supernet.train import steps_per_epoch

ANCHORS = 3
SPACE = tiny_variant("tiny_score", search={"rounds": 2, "scoring": {"accuracy_samples": 8, "anchors": ANCHORS,
                                                                    "anchor_epochs": 1, "anchor_steps": 0}})


class Killed(BaseException):
    """Stands for SIGKILL in process: nothing catches it."""


def search(out: Path) -> None:
    Search(space_from_dict(copy.deepcopy(SPACE), "<tiny-score>"), out, device="cpu", progress=False,
           log=lambda message: None).run()


def resume(out: Path) -> None:
    Search.resume(out, device="cpu", progress=False, log=lambda message: None).run()


def events(out: Path, kind: str) -> list[dict]:
    return [e for e in read_jsonl(out / "events.jsonl") if e["event"] == kind]


def differences(a: Path, b: Path) -> list[str]:
    """Every round's state (but journal offsets and global RNG states), tensors, space, and the best."""
    found = []
    for index in ("000", "001"):
        da, db = a / "rounds" / index, b / "rounds" / index
        state_a, state_b = (json.loads((d / "state.json").read_text()) for d in (da, db))
        found += [f"{index}/state.json: {key}" for key in sorted(set(state_a) | set(state_b))
                  if key not in ("journals", "rng") and state_a.get(key) != state_b.get(key)]
        found += [f"{index}/{name}" for name in ("supernet.safetensors", "reference.safetensors", "space.yaml")
                  if not filecmp.cmp(da / name, db / name, shallow=False)]
    if not filecmp.cmp(a / "best" / "arch.json", b / "best" / "arch.json", shallow=False):
        found.append("best/arch.json")
    return found


def count_trainings(monkeypatch, real) -> list[int]:
    """Let anchors train for real from now on, each one appending to the list returned."""
    trained: list[int] = []

    def train_and_count(*args, **kwargs):
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(calibrated_module, "train_standalone", train_and_count)
    return trained


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("score") / "run"
    search(out)
    return out


def test_the_default_search_ranks_by_the_calibrated_score(tiny_space) -> None:
    assert tiny_space.config.search.objectives == ("score",)
    assert tiny_space.config.search.shrink.score == "score"
    assert uses_score(tiny_space)


def test_anchors_are_trained_once_and_each_round_is_fitted(reference: Path) -> None:
    anchors = events(reference, "anchor_trained")
    assert [a["index"] for a in anchors] == list(range(ANCHORS)) and {a["round"] for a in anchors} == {0}
    assert all(0.0 <= a["val_acc"] <= 1.0 and a["epochs"] == 1 for a in anchors)
    assert len({json.dumps(a["arch"], sort_keys=True) for a in anchors}) == ANCHORS  # distinct architectures
    fits = events(reference, "score_fitted")
    assert [f["round"] for f in fits] == [0, 1]
    assert fits[0]["prior"] == "signals" and fits[0]["anchors"] == ANCHORS and fits[0]["of"] == ANCHORS
    assert fits[1]["prior"] == "round 0"
    # each anchor teaches one fit: round 1 draws none, so it keeps round 0's weights (it does not refit them on
    # the few round-0 anchors its subspace still holds)
    assert fits[1]["anchors"] == 0 and fits[1]["weights"] == fits[0]["weights"]
    signals = SPACE["search"].get("scoring", {}).get("signals") or list(fits[0]["weights"])
    assert list(fits[0]["weights"]) == list(signals)
    rows = [row for row in read_jsonl(reference / "metrics.jsonl") if row["kind"] == "score"]
    assert [row["round"] for row in rows] == [0, 1] and rows[0]["weights"] == fits[0]["weights"]
    front = events(reference, "front")[-1]["front"]
    assert all("score" in row["metrics"] for row in front)
    scores = [row["metrics"]["score"] for row in front]
    assert scores == sorted(scores, reverse=True)  # the front is ordered by the first objective
    removed = [e for e in events(reference, "op_removed")]
    assert removed and all("score" in e["scores"] for e in removed)


def test_inspect_shows_each_rounds_fit(reference: Path) -> None:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["inspect", str(reference)]) == 0
    text = stdout.getvalue()
    assert "Calibrated score per round" in text
    assert "round 0: " in text and f"{ANCHORS} of {ANCHORS} anchors, shrunk toward signals" in text
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["inspect", str(reference), "--round", "1"]) == 0
    assert "Calibrated score:" in stdout.getvalue() and "no new anchor: round 0's weights" in stdout.getvalue()


@pytest.mark.parametrize("kill_at", [2, ANCHORS + 1])  # the second anchor; the first evaluation after the fit
def test_a_run_killed_among_the_anchors_resumes_bit_for_bit(reference: Path, tmp_path: Path, monkeypatch,
                                                            kill_at: int) -> None:
    real = calibrated_module.train_standalone
    real_metrics = AddedMetrics.evaluate_many
    calls = []

    def count(kind):
        calls.append(kind)
        if len(calls) == kill_at:
            raise Killed

    def train_then_die(*args, **kwargs):
        count("anchor")
        return real(*args, **kwargs)

    def evaluate_then_die(self, archs):
        count("evaluate")
        return real_metrics(self, archs)

    monkeypatch.setattr(calibrated_module, "train_standalone", train_then_die)
    monkeypatch.setattr(AddedMetrics, "evaluate_many", evaluate_then_die)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        search(out)
    trained = count_trainings(monkeypatch, real)
    monkeypatch.setattr(AddedMetrics, "evaluate_many", real_metrics)
    resume(out)
    assert differences(reference, out) == []
    # the anchors finished before the kill were loaded, not trained again
    assert len(trained) == ANCHORS - min(kill_at - 1, ANCHORS)
    assert [a["index"] for a in events(out, "anchor_trained")] == list(range(ANCHORS))


def test_anchors_are_distinct_and_spread_along_the_prior(tiny_space) -> None:
    subspace = tiny_space.initial_subspace()
    candidates = [subspace.decode(row) for row in subspace.sample_indices(np.random.default_rng(0), 40)]
    prior = np.arange(len(candidates), dtype=float)
    drawn = draw_anchors(candidates, prior, 5, seed=3)
    keys = [tuple(sorted(a.items())) for a in drawn]
    assert len(set(keys)) == 5 and all(a in subspace for a in drawn)
    assert draw_anchors(candidates, prior, 5, seed=3) == drawn
    distinct = {tuple(sorted(a.items())) for a in candidates}
    assert len(draw_anchors(candidates, prior, 10**6, seed=0)) == len(distinct)  # duplicates drawn once


def test_no_anchors_rank_by_the_prior_mix(tmp_path: Path) -> None:
    space = tiny_variant("tiny_prior", search={"rounds": 1, "scoring": {"accuracy_samples": 8, "anchors": 0}})
    out = tmp_path / "run"
    Search(space_from_dict(space, "<t>"), out, device="cpu", progress=False, log=lambda m: None).run()
    assert events(out, "anchor_trained") == []
    fit = events(out, "score_fitted")[0]
    weights = np.array(list(fit["weights"].values()))
    chosen = ScoreConfig().prior
    prior = [name in chosen for name in fit["weights"]]
    np.testing.assert_allclose(weights, np.where(prior, 1 / np.sqrt(len(chosen)), 0.0))


@given(epochs=st.integers(1, 20), steps=st.integers(0, 500), samples=st.integers(1, 5000), batch=st.integers(1, 256))
def test_anchors_train_their_epochs_and_at_least_their_steps(epochs: int, steps: int, samples: int,
                                                              batch: int) -> None:
    space = space_from_dict(tiny_variant("tiny_steps", data={"batch_size": batch},
                                         search={"scoring": {"anchor_epochs": epochs, "anchor_steps": steps}}), "<t>")
    chosen = anchor_epochs(space, samples)
    per_epoch = steps_per_epoch(samples, batch)
    assert chosen >= epochs and chosen * per_epoch >= steps
    assert chosen == epochs or (chosen - 1) * per_epoch < steps  # no epoch more than the steps need


def test_the_default_space_keeps_its_epochs_and_little_data_trains_more_of_them() -> None:
    space = space_from_dict(tiny_variant("tiny_steps", search={"scoring": {"anchor_epochs": 2}}), "<t>")
    assert ScoreConfig().anchor_steps == 75
    assert anchor_epochs(space, 3200) == 2  # 50 steps an epoch at batch 64: 100 steps, as before anchor_steps
    assert anchor_epochs(space, 800) == 7  # 12 steps an epoch: 24 steps would leave the anchors near chance


def test_anchors_on_little_data_train_the_epochs_their_steps_need(tmp_path: Path) -> None:
    scoring = {"accuracy_samples": 8, "anchors": 3, "anchor_epochs": 1, "anchor_steps": 20}
    space = tiny_variant("tiny_anchor_steps", search={"rounds": 1, "scoring": scoring})
    out = tmp_path / "run"
    Search(space_from_dict(space, "<t>"), out, device="cpu", progress=False, log=lambda m: None).run()
    anchors = events(out, "anchor_trained")
    assert len(anchors) == 3 and {a["epochs"] for a in anchors} == {4}  # 384 training rows // 64: 6 steps an epoch


def test_a_run_written_before_anchor_steps_resumes_as_it_started(tmp_path: Path) -> None:
    """Its run.yaml has no anchor_steps: the resumed run trains anchor_epochs, as the code that began it did."""
    scoring = {"accuracy_samples": 8, "anchors": 3, "anchor_epochs": 1, "anchor_steps": 20}
    out = tmp_path / "run"
    Search(space_from_dict(tiny_variant("tiny_old_run", search={"rounds": 1, "scoring": scoring}), "<t>"), out,
           device="cpu", progress=False, log=lambda m: None)._lock.close()
    record = yaml.safe_load((out / "run.yaml").read_text())
    del record["space"]["search"]["scoring"]["anchor_steps"]
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    assert Run.open(out).space.config.search.scoring.anchor_steps == 0
    Search.resume(out, device="cpu", progress=False, log=lambda m: None).run()
    assert {a["epochs"] for a in events(out, "anchor_trained")} == {1}


@given(total=st.integers(0, 200), refresh=st.floats(0, 0.99), rounds=st.integers(1, 12), first=st.integers(0, 3))
def test_anchors_due_spends_the_whole_budget_over_the_rounds(total: int, refresh: float, rounds: int,
                                                             first: int) -> None:
    planned, per_round = 0, []
    for r in range(first, max(rounds, first + 1)):
        count = anchors_due(total, refresh, rounds, r, first, planned)
        assert count >= 0
        per_round.append(count)
        planned += count
    assert planned == total
    if rounds - first <= 1 or round(total * refresh) == 0:
        assert per_round[0] == total  # one round, or nothing kept back: all at once, as before refresh
    assert per_round[1:] == sorted(per_round[1:], reverse=True)  # later rounds split the rest evenly


def test_anchors_due_default_search() -> None:
    assert [anchors_due(16, 0.5, 4, r, 0, p) for r, p in ((0, 0), (1, 8), (2, 11), (3, 14))] == [8, 3, 3, 2]
    assert anchors_due(16, 0.0, 4, 1, 0, 16) == 0


REFRESH = tiny_variant("tiny_refresh", search={"rounds": 2, "scoring": {"accuracy_samples": 8, "anchors": 6,
                                                                        "anchor_epochs": 1, "anchor_steps": 0,
                                                                        "refresh": 0.5}})


def arch_in(arch: dict, subspace: dict) -> bool:
    return all(op in subspace[label] for label, op in arch.items())


def refresh_search(out: Path) -> None:
    Search(space_from_dict(copy.deepcopy(REFRESH), "<tiny-refresh>"), out, device="cpu", progress=False,
           log=lambda message: None).run()


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refresh") / "run"
    refresh_search(out)
    return out


def test_refresh_trains_later_anchors_inside_the_shrunk_subspace(refreshed: Path) -> None:
    anchors = events(refreshed, "anchor_trained")
    assert [a["round"] for a in anchors] == [0, 0, 0, 1, 1, 1] and [a["index"] for a in anchors] == list(range(6))
    assert len({json.dumps(a["arch"], sort_keys=True) for a in anchors}) == 6
    trained = json.loads((refreshed / "rounds" / "001" / "state.json").read_text())["trained_subspace"]
    assert all(arch_in(a["arch"], trained) for a in anchors[3:])  # drawn from round 1's own subspace
    fits = events(refreshed, "score_fitted")
    assert fits[1]["of"] == 6 and fits[1]["anchors"] == 3  # fitted on round 1's own anchors, and only on them
    assert fits[1]["weights"] != fits[0]["weights"]


def test_a_run_killed_among_a_later_rounds_anchors_resumes_bit_for_bit(refreshed: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    real = calibrated_module.train_standalone
    calls = []

    def train_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # round 1's second anchor
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(calibrated_module, "train_standalone", train_then_die)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        refresh_search(out)
    trained = count_trainings(monkeypatch, real)
    Search.resume(out, device="cpu", progress=False, log=lambda message: None).run()
    assert differences(refreshed, out) == []
    assert len(trained) == 2  # round 1's first anchor was loaded from its snapshot, not drawn or trained again
    assert [a["index"] for a in events(out, "anchor_trained")] == list(range(6))


FIRST = tiny_variant("tiny_first", search={"rounds": 2, "scoring": {"accuracy_samples": 8, "anchors": ANCHORS,
                                                                    "anchor_epochs": 1, "anchor_steps": 0,
                                                                    "reference": "first"}})


def first_search(out: Path) -> None:
    Search(space_from_dict(copy.deepcopy(FIRST), "<tiny-first>"), out, device="cpu", progress=False,
           log=lambda message: None).run()


def test_reference_first_keeps_round_zeros_ranks_for_costs_and_proxies(reference: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    out = tmp_path / "run"
    first_search(out)
    state = json.loads((out / "rounds" / "001" / "state.json").read_text())["backend"]["calibrated_score"]
    zero = json.loads((out / "rounds" / "000" / "state.json").read_text())["backend"]["calibrated_score"]
    assert state["first_reference"] == zero["first_reference"] and len(zero["first_reference"]) >= 8
    # round 0 is the same search as with per-round ranks; round 1 scores the shrunk subspace differently
    assert events(out, "score_fitted")[0] == events(reference, "score_fitted")[0]
    scored = [e for e in events(out, "op_removed") if e["round"] == 1]
    default = [e for e in events(reference, "op_removed") if e["round"] == 1]
    assert scored and [e["scores"] for e in scored] != [e["scores"] for e in default]

    real = calibrated_module.CalibratedScoring.scorer

    def scorer_then_die(self, net, round_index, scorer):
        wrapped = real(self, net, round_index, scorer)
        if round_index == 1:  # after round 1's fit: the resumed run must rank costs as round 0 did
            raise Killed
        return wrapped

    monkeypatch.setattr(calibrated_module.CalibratedScoring, "scorer", scorer_then_die)
    killed = tmp_path / "killed"
    with pytest.raises(Killed):
        first_search(killed)
    monkeypatch.setattr(calibrated_module.CalibratedScoring, "scorer", real)
    Search.resume(killed, device="cpu", progress=False, log=lambda message: None).run()
    assert differences(out, killed) == []


def test_signals_without_a_json_number_survive_a_snapshot() -> None:
    values = [0.5, -math.inf, math.inf]
    text = json.dumps([calibrated_module.json_float(v) for v in values], allow_nan=False)
    assert np.asarray(json.loads(text), dtype=float).tolist() == values


def test_anchors_still_inside_a_later_subspace_are_not_fitted_twice(tmp_path: Path) -> None:
    kept = tiny_variant("tiny_kept", search={"rounds": 2, "shrink": {"keep": 3}, "grow": {"per_round": 0},
                                             "scoring": {"accuracy_samples": 8, "anchors": ANCHORS,
                                                         "anchor_epochs": 1, "anchor_steps": 0}})
    out = tmp_path / "run"
    Search(space_from_dict(kept, "<tiny-kept>"), out, device="cpu", progress=False, log=lambda message: None).run()
    trained = [json.loads((out / "rounds" / r / "state.json").read_text())["trained_subspace"] for r in ("000", "001")]
    assert trained[0] == trained[1]  # nothing left: every round-0 anchor is still inside round 1's subspace
    fits = events(out, "score_fitted")
    assert [f["anchors"] for f in fits] == [ANCHORS, 0] and fits[1]["weights"] == fits[0]["weights"]
