"""The round-extension protocol: a new feature plugs into a search without touching the backend or the controller."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_variant

import evospace.extensions as extensions_module
from evospace.data import load_data
from evospace.evolve import Search, SupernetBackend
from evospace.extensions import AddedMetrics, EpochReport, RoundExtension, evaluated_op_means
from evospace.run import read_jsonl
from evospace.space import Subspace, space_from_dict

SPACE = tiny_variant("tiny_extension", search={"rounds": 2})


class Counting(RoundExtension):
    """Records every hook it gets, counts weight steps (its own tensor) and writes its own metrics row."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.steps = torch.zeros((), dtype=torch.int64)
        self.restored: dict | None = None

    @classmethod
    def for_space(cls, space, net) -> Counting:
        return cls()

    def _log(self, name: str) -> None:
        if not self.calls or self.calls[-1] != name:  # runs of the same hook count once
            self.calls.append(name)

    def after_step(self, net, trainer) -> None:
        self._log("after_step")
        self.steps += 1

    def after_epoch(self, net, trainer) -> EpochReport:
        self._log("after_epoch")
        return EpochReport(rows=({"kind": "counting", "round": trainer.round, "steps": int(self.steps)},))

    def after_training(self, net, round_index, hooks) -> None:
        self._log("after_training")

    def scorer(self, net, round_index, scorer):
        self._log("scorer")
        return scorer

    def sampler(self, round_index):
        self._log("sampler")
        return None

    def op_extras(self):
        self._log("op_extras")
        return {}

    def subspace_changed(self, net) -> None:
        self._log("subspace_changed")

    def tensors(self):
        return {"counting": {"steps": self.steps}}

    def state(self):
        return {"counting": {"steps": int(self.steps)}}

    def restore(self, net, tensors, state) -> None:
        self.restored = {"tensor": int(tensors["counting"]["steps"]), "state": state["counting"]["steps"]}
        self.steps = tensors["counting"]["steps"].clone()


def test_an_extension_is_called_in_order_and_snapshotted_and_restored(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions_module, "KNOWN", (Counting,))  # the one line a new extension adds
    space = space_from_dict(copy.deepcopy(SPACE), "<tiny>")
    search = Search(space, tmp_path / "run", device="cpu", progress=False, log=lambda _: None)
    counting = search.backend.extensions[0]
    search.run()
    round_calls = ["after_step", "after_epoch", "after_training", "scorer", "sampler", "op_extras"]
    assert counting.calls == [*round_calls, "subspace_changed", *round_calls]  # no change after the last round
    steps = [row["steps"] for row in read_jsonl(tmp_path / "run" / "metrics.jsonl") if row["kind"] == "counting"]
    assert steps == [int(counting.steps) // 2, int(counting.steps)] and steps[0] > 0
    state = json.loads((tmp_path / "run" / "rounds" / "001" / "state.json").read_text())
    assert "counting" in state["tensors"] and state["backend"]["counting"] == {"steps": steps[1]}
    resumed = Search.resume(tmp_path / "run", device="cpu", progress=False, log=lambda _: None)
    assert resumed.finished and resumed.backend.extensions[0].restored == {"tensor": steps[1], "state": steps[1]}
    resumed.run()


class Predicting(RoundExtension):
    """Adds a per-architecture metric, as a predictor trained during the round would."""

    def scorer(self, net, round_index, scorer):
        labels = net.space.labels

        def predicted(arch):  # prefers the first operators of the pool
            return {"predicted": -float(sum(net.space.pool.index(arch[label]) for label in labels))}

        return AddedMetrics(scorer, predicted, ("predicted",), net.supernet.subspace, labels)


def test_an_added_metric_reaches_the_objectives_and_the_record(tmp_path: Path) -> None:
    space = space_from_dict(copy.deepcopy(SPACE), "<tiny>")
    search_config = dataclasses.replace(space.config.search, objectives=("angle", "predicted"))
    space = dataclasses.replace(space, config=dataclasses.replace(space.config, search=search_config))
    cfg = space.config.data
    data = load_data(cfg.name, val_fraction=cfg.val_fraction, samples=cfg.samples, split_seed=space.config.seed)
    backend = SupernetBackend(space, data, torch.device("cpu"), extensions=[Predicting()])
    result = Search(space, tmp_path / "run", device="cpu", progress=False, log=lambda _: None,
                    backend=backend).run()
    state = json.loads((tmp_path / "run" / "rounds" / "000" / "state.json").read_text())
    assert all("predicted" in row["metrics"] for row in state["population"] + result.front)
    front = [(row["metrics"]["angle"], row["metrics"]["predicted"]) for row in result.front]
    for a in front:  # no member of the front dominates another
        assert not any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in front)


class _Fixed:
    """A scorer of known metrics, for the arithmetic of AddedMetrics."""

    evaluated = 0

    def __init__(self, labels):
        self.labels = labels
        self._cache = {}

    def evaluate(self, arch):
        key = tuple(arch[label] for label in self.labels)
        self._cache.setdefault(key, {"angle": float(len(self._cache))})
        return self._cache[key]

    def evaluate_many(self, archs):
        return [self.evaluate(arch) for arch in archs]

    def cached(self):
        return self._cache

    def op_scores(self, rng, metrics):
        assert "predicted" not in metrics  # the inner scorer is never asked for the added metric
        return {"x": {op: {m: 0.0 for m in metrics} for op in ("a", "b", "c")}}


def test_added_metric_operator_scores_are_means_over_what_was_evaluated() -> None:
    subspace = Subspace({"x": ("a", "b", "c")})
    values = {"a": 1.0, "b": 5.0, "c": 9.0}
    scorer = AddedMetrics(_Fixed(("x",)), lambda arch: {"predicted": values[arch["x"]]}, ("predicted",), subspace,
                          ("x",))
    assert scorer.evaluate_many([{"x": "a"}, {"x": "b"}]) == [{"angle": 0.0, "predicted": 1.0},
                                                               {"angle": 1.0, "predicted": 5.0}]
    scores = scorer.op_scores(np.random.default_rng(0), ("angle", "predicted"))
    # c was never evaluated: no evidence, so it ties with the worst evaluated operator
    assert {op: s["predicted"] for op, s in scores["x"].items()} == {"a": 1.0, "b": 5.0, "c": 1.0}
    assert scores["x"]["a"]["angle"] == 0.0
    assert evaluated_op_means(subspace, [], ("predicted",)) == {"x": {op: {"predicted": 0.0} for op in "abc"}}
