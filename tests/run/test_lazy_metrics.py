"""Metrics that no objective or shrink score needs are computed for the front only, and change no decision."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest
import yaml
from resume_runs import run_in_process, space_dict

from evospace.metrics import AccuracyEvaluator


def state(run: Path, r: int) -> dict:
    return json.loads((run / "rounds" / f"{r:03d}" / "state.json").read_text())


@pytest.mark.slow
def test_accuracy_is_left_to_the_front_when_the_angle_decides(tmp_path: Path, monkeypatch) -> None:
    calls: list[int] = []
    real = AccuracyEvaluator.accuracy_many

    def counting(self, supernet, archs, recalibrate=True):
        calls.append(len(archs))
        return real(self, supernet, archs, recalibrate)

    monkeypatch.setattr(AccuracyEvaluator, "accuracy_many", counting)
    angle = {"rounds": 2, "objectives": ["angle"], "shrink": {"keep": 2, "score": "angle"}}
    lazy = run_in_process(tmp_path / "lazy", space_dict(**angle)).path
    lazy_calls, calls[:] = sum(calls), []
    eager = run_in_process(tmp_path / "eager", space_dict(**angle, scoring={"record": ["accuracy"]})).path
    assert 0 < lazy_calls < sum(calls)

    assert yaml.safe_load((lazy / "run.yaml").read_text())["metrics"] == {
        "every_architecture": ["angle", "params", "flops"], "front_only": ["accuracy"]}
    assert yaml.safe_load((eager / "run.yaml").read_text())["metrics"] == {
        "every_architecture": ["accuracy", "angle", "params", "flops"], "front_only": []}
    for r in range(2):
        a, b = state(lazy, r), state(eager, r)
        assert all(list(row["metrics"]) == ["angle", "params", "flops"] for row in a["population"])
        assert all("accuracy" in row["metrics"] for row in b["population"])
        assert [{**row, "metrics": {k: v for k, v in row["metrics"].items() if k != "accuracy"}}
                for row in b["population"]] == a["population"]
        assert a["controller"]["front"] == b["controller"]["front"]
        assert all(list(row["metrics"]) == ["accuracy", "angle", "params", "flops"] for row in a["controller"]["front"])
        assert {k: v for k, v in a.items() if k not in ("population", "journals", "rng")} == \
            {k: v for k, v in b.items() if k not in ("population", "journals", "rng")}
        for name in ("supernet.safetensors", "reference.safetensors", "space.yaml"):
            assert filecmp.cmp(lazy / "rounds" / f"{r:03d}" / name, eager / "rounds" / f"{r:03d}" / name, shallow=False)
    assert filecmp.cmp(lazy / "best" / "arch.json", eager / "best" / "arch.json", shallow=False)
