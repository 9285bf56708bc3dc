"""Objectives by name: the registry, limits, fitness directions and penalties, and a search that adds a registered
objective and the on-device latency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_SPACE

import evospace
from evospace import Search
from evospace.errors import EvospaceError, SpaceError
from evospace.evolve import PENALTY, evolve, fitness
from evospace.evolve.objectives import ObjectiveContext, ObjectiveMetrics
from evospace.metrics import latency
from evospace.space import space_from_dict
from evospace.space.objectives import list_objectives, objective, register_objective
from evospace.space.ops import OpCost
from evospace.space.schema import ConstraintsConfig, PopulationConfig

evospace.register_objective("test_ops_named_skip", lambda arch, ctx: sum(op == "skip" for op in arch.values()),
                            "maximize")
evospace.register_objective("test_kilobytes", lambda model, ctx: 4 * sum(p.numel() for p in model.parameters()) / 1e3,
                            "minimize", on="model")


def with_search(**search) -> dict:
    return {**TINY_SPACE, "search": {**TINY_SPACE["search"], **search}}


def test_registry_rejects_bad_registrations() -> None:
    assert list_objectives()[:6] == ["score", "accuracy", "angle", "params", "flops", "latency"]
    assert objective("test_kilobytes").minimised and not objective("test_ops_named_skip").minimised
    for args, message in [(("Bad-Name", len), "lower-case"), (("params", len), "already registered"),
                          (("fresh", len, "smaller"), "direction"), (("fresh", 3), "callable")]:
        with pytest.raises(ValueError, match=message):
            register_objective(*args)


@pytest.mark.parametrize(("search", "key", "message"), [
    ({"objectives": ["angle", "latncy"]}, "search.objectives[1]", "did you mean 'latency'"),
    ({"objectives": ["test_kilobytes"]}, "search.objectives[0]", "first objective must be a measure of quality"),
    ({"constraints": {"max": {"speed": 1.0}}}, "search.constraints.max.speed", "unknown objective 'speed'"),
    ({"constraints": {"max": {"params": 100}}}, "search.constraints.max.params", "use search.constraints.max_params"),
    ({"constraints": {"min": {"accuracy": "high"}}}, "search.constraints.min.accuracy", "expected a number"),
])
def test_space_errors_name_the_key(search: dict, key: str, message: str) -> None:
    with pytest.raises(SpaceError, match=message) as err:
        space_from_dict(with_search(**search), "s.yaml")
    assert err.value.key == key


def test_fitness_negates_minimised_and_penalises_limits() -> None:
    metrics = {"angle": 0.5, "params": 100.0, "latency": 2.0, "test_ops_named_skip": 1.0}
    objectives = ("angle", "params", "test_ops_named_skip")
    assert fitness(metrics, objectives, ConstraintsConfig()) == (0.5, -100.0, 1.0)
    within = fitness(metrics, objectives, ConstraintsConfig(max={"latency": 2.5}))
    past = fitness(metrics, objectives, ConstraintsConfig(max={"latency": 1.0}))
    further = fitness(metrics, objectives, ConstraintsConfig(max={"latency": 0.5}))
    assert within == (0.5, -100.0, 1.0)
    assert all(p < PENALTY / 2 for p in past) and further < past  # below any feasible value, the nearest first


def test_evolution_keeps_the_front_within_a_limit(tiny_space) -> None:
    subspace = tiny_space.initial_subspace()

    def evaluate(arch):
        skips = sum(op == "skip" for op in arch.values())
        return {"angle": float(skips), "params": 1.0, "flops": 1.0, "latency": 1.0 + skips}

    result = evolve(subspace, evaluate, ("angle",), PopulationConfig(size=8, generations=4, tournament=2),
                    ConstraintsConfig(max={"latency": 2.0}), lambda arch: OpCost(1, 1), lambda label, op: OpCost(1, 1),
                    np.random.default_rng(0))
    assert all(ind.metrics["latency"] <= 2.0 for ind in result.front)


def test_a_function_that_returns_no_number_is_one_line(tiny_space) -> None:
    register_objective("test_broken", lambda arch, ctx: "fast", "minimize")
    metrics = ObjectiveMetrics(["test_broken"], ObjectiveContext(tiny_space, __import__("torch").device("cpu")))
    with pytest.raises(EvospaceError, match="objective 'test_broken' returned str .* must return a finite number"):
        metrics(tiny_space.initial_subspace().sample(np.random.default_rng(0)))


@pytest.mark.slow
def test_search_with_registered_objectives_and_latency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency, "PASSES", 2)
    space = space_from_dict(with_search(objectives=["angle", "latency", "test_kilobytes"],
                                        constraints={"max": {"test_kilobytes": 1e9}, "min": {"test_ops_named_skip": 0}},
                                        rounds=2, checkpoint_every=5), "<t>")
    out = tmp_path / "run"
    result = Search(space, out, device="cpu", progress=False, log=lambda _: None,
                    callbacks=[_StopAfterFirstRound()]).run()
    assert result.stopped
    table = json.loads((out / "latency.json").read_text())
    assert table["validation"]["archs"] == latency.VALIDATION_ARCHS and table["entries"]
    for row in result.front:
        assert {"latency", "test_kilobytes", "test_ops_named_skip"} <= set(row["metrics"])
        assert row["metrics"]["latency"] > 0 and row["metrics"]["test_kilobytes"] > 0
    monkeypatch.setattr(latency, "measure_table", _never)  # resumed: the table is read back, never re-measured
    finished = Search.resume(out, device="cpu", progress=False, log=lambda _: None).run()
    assert finished.rounds == 2 and not finished.stopped


class _StopAfterFirstRound:
    def on_round_end(self, search, decision) -> None:
        search.stop("first round done")


def _never(*args, **kwargs):
    raise AssertionError("the latency table was measured again")
