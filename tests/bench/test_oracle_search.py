"""The controller on the NAS-Bench-201 table: `evospace search spaces/nb201.yaml --oracle TABLE`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from evospace.bench import TabularOracle, TabularTable
from evospace.cli import main
from evospace.errors import RunError
from evospace.evolve import OracleBackend, Search
from evospace.run import Run, read_jsonl
from evospace.space import load_space

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "bench" / "data" / "nb201_cifar10.csv"
SPACE = REPO / "spaces" / "nb201.yaml"


def test_cli_oracle_search_leaves_a_normal_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    status = main(["search", str(SPACE), "--oracle", str(TABLE), "--budget", "40", "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    run = Run.open(out)
    assert run.finished and run.rounds
    best = run.best
    assert set(best["arch"]) == set(load_space(SPACE).labels)
    # the best is the table's validation accuracy of that architecture, as a fraction
    table = TabularTable.load(TABLE, load_space(SPACE))
    assert best["metrics"]["accuracy"] == pytest.approx(table.valid[table.index(best["arch"])] / 100)
    assert main(["inspect", str(out)]) == 0


def test_search_spends_exactly_the_budget(tmp_path: Path) -> None:
    space = load_space(SPACE)
    table = TabularTable.load(TABLE, space)
    oracle = TabularOracle(table, budget=30)
    result = Search(space, tmp_path / "run", progress=False, log=lambda _: None,
                    backend=OracleBackend(space, oracle, {"table": str(TABLE), "budget": 30})).run()
    assert oracle.queries == 30 and result.stop_reason == "query budget spent"
    # what the run reports as best is the best by validation among the queried architectures
    assert table.index(result.best["arch"]) == oracle.best()
    assert np.isin(oracle.history, np.arange(table.size)).all()


@pytest.mark.parametrize(("argv", "fragment"), [
    (["spaces/mnist1d.yaml", "--oracle", str(TABLE)], "needs a cell space"),
    ([str(SPACE)], "nothing is downloaded: set data.path to the directory holding the CIFAR binary files"),
    ([str(SPACE), "--oracle", "nope.csv"], "no such file"),
])
def test_mismatches_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str],
                                        fragment: str) -> None:
    argv = [str(REPO / a) if a.startswith("spaces/") else a for a in argv]
    status = main(["search", *argv, "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_an_oracle_run_resumes_from_its_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    argv = ["search", str(SPACE), "--oracle", str(TABLE), "--budget", "300", "--quiet", "--set", "search.rounds=3"]
    assert main([*argv, "--out", str(whole)]) == 0
    shutil.copytree(whole, cut)
    rounds = sorted((cut / "rounds").iterdir())
    assert len(rounds) == 3
    shutil.rmtree(rounds[-1])  # as if killed before the last round was written
    with pytest.raises(RunError, match="was scored by an oracle .* pass load_oracle"):
        Search.resume(cut, progress=False, log=lambda _: None)
    assert main(["resume", str(cut), "--quiet"]) == 0
    for name in ("events.jsonl", "metrics.jsonl"):
        kept = [{k: v for k, v in row.items() if k not in ("time", "seconds")} for row in read_jsonl(whole / name)]
        again = [{k: v for k, v in row.items() if k not in ("time", "seconds")} for row in read_jsonl(cut / name)
                 if row.get("event") != "resumed"]
        assert again == kept, name
    assert (whole / "best" / "arch.json").read_bytes() == (cut / "best" / "arch.json").read_bytes()
