"""The controller on the NAS-Bench-201 table: `evospace search spaces/nb201.yaml --oracle TABLE`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import evospace
from evospace.bench import TabularOracle, TabularTable, load_oracle
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


def cifar100_table(tmp_path: Path) -> Path:
    """The shipped table as another data set's might come: its own column names, a second pair (the CIFAR-10
    figures, halved) so that the data set has to be chosen, and neither costs nor latency."""
    lines = TABLE.read_text().splitlines()
    header = lines[0].split(",")
    valid, test = header.index("cifar10_valid"), header.index("cifar10_test")
    out = [",".join(["arch", "cifar100_valid", "cifar100_test", "svhn_valid", "svhn_test"])]  # no costs, no latency
    for line in lines[1:]:
        f = line.split(",")
        a, b = float(f[valid]), float(f[test])
        out.append(",".join([f[1], f"{100 - a:.4f}", f"{100 - b:.4f}", f"{a / 2:.4f}", f"{b / 2:.4f}"]))
    path = tmp_path / "other.csv"
    path.write_text("\n".join(out) + "\n")
    return path


def test_a_table_of_another_data_set(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    table = cifar100_table(tmp_path)
    argv = ["search", str(SPACE), "--oracle", str(table), "--budget", "60", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "several data sets (cifar100, svhn)" in err and "--oracle-dataset" in err and err.count("\n") == 1
    assert main([*argv, "--out", str(tmp_path / "run"), "--oracle-dataset", "cifar100"]) == 0
    run = Run.open(tmp_path / "run")
    loaded = TabularTable.load(table, load_space(SPACE), dataset="cifar100")
    # the search maximised cifar100_valid (here: 100 - CIFAR-10's), so it found one of CIFAR-10's worst cells
    found = loaded.valid[loaded.index(run.best["arch"])]
    assert run.best["metrics"]["accuracy"] == pytest.approx(found / 100)
    assert found > np.median(loaded.valid) + 25  # the median cell: about 13
    assert run.record["oracle"]["dataset"] == "cifar100"
    shipped = TabularTable.load(TABLE, load_space(SPACE))  # costs counted by evospace: the shipped table's own
    assert np.array_equal(loaded.params, shipped.params) and np.array_equal(loaded.flops, shipped.flops)
    cut = tmp_path / "cut"  # resumed, it reads the same columns again
    shutil.copytree(tmp_path / "run", cut)
    shutil.rmtree(sorted((cut / "rounds").iterdir())[-1])
    assert main(["resume", str(cut), "--quiet"]) == 0
    assert (cut / "best" / "arch.json").read_bytes() == (tmp_path / "run" / "best" / "arch.json").read_bytes()
    capsys.readouterr()
    # latency named but not measured by this table: one line naming the key
    status = main([*argv, "--out", str(tmp_path / "b"), "--oracle-dataset", "svhn",
                   "--set", "search.objectives=[accuracy, latency]"])
    err = capsys.readouterr().err
    assert status == 2 and "search.objectives: names latency" in err and err.count("\n") == 1, err
    assert main(["search", str(SPACE), "--oracle-dataset", "svhn", "--quiet", "--out", str(tmp_path / "c")]) == 2
    assert "--oracle-dataset chooses a table's accuracy columns: it needs --oracle" in capsys.readouterr().err


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


def test_a_run_started_by_another_version_says_so_on_resume(tmp_path: Path) -> None:
    """Algorithms change between versions without a key in run.yaml to show it: a resume under another version
    says that the rest of the run is this version's search, and the resumed event records who continued it."""
    out = tmp_path / "run"
    argv = ["search", str(SPACE), "--oracle", str(TABLE), "--budget", "120", "--quiet", "--set", "search.rounds=3"]
    assert main([*argv, "--out", str(out)]) == 0
    shutil.rmtree(sorted((out / "rounds").iterdir())[-1])
    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["versions"]["evospace"] == evospace.__version__
    lines: list[str] = []
    Search.resume(out, progress=False, log=lines.append, load_oracle=load_oracle)._lock.close()
    assert not any("was started by" in line for line in lines)
    record["versions"]["evospace"] = "0.0.1"
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    lines.clear()
    Search.resume(out, progress=False, log=lines.append, load_oracle=load_oracle).run()
    assert any(f"was started by evospace 0.0.1 and continues under {evospace.__version__}" in line for line in lines)
    resumed = [row for row in read_jsonl(out / "events.jsonl") if row.get("event") == "resumed"]
    assert resumed and all(row["version"] == evospace.__version__ for row in resumed)
    assert main(["inspect", str(out), "--format", "html", "--out", str(tmp_path / "report.html")]) == 0
    assert "evospace 0.0.1, torch" in (tmp_path / "report.html").read_text()
    assert f"; resumed under evospace {evospace.__version__}" in (tmp_path / "report.html").read_text()
