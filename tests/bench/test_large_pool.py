"""bench/large_pool.py: per-seed results filed in a CSV and read back instead of searched and retrained again."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def large_pool(bench_script):
    sys.path.insert(0, str(BENCH))  # the script imports its sibling evolve_vs_static, as when run from bench/
    try:
        yield bench_script("large_pool")
    finally:
        sys.path.remove(str(BENCH))


def row(method: str, seed: int, acc: float, *, label: str = "default", epochs: int = 40, tests: str = "1;2;3") -> dict:
    return {"space": "mnist1d", "label": label, "method": method, "seed": seed, "test_acc": f"{acc:.4f}",
            "tests": tests, "epochs": epochs, "params": 1234, "arch": "conv_k3,skip"}


def test_rows_are_read_back_only_for_the_same_label_and_retraining(large_pool, tmp_path):
    path = tmp_path / "large_pool.csv"
    large_pool.append_row(path, row("evolving", 0, 98.5))
    large_pool.append_row(path, row("static", 0, 98.7, label="other"))
    large_pool.append_row(path, row("static", 1, 98.6, epochs=5))
    large_pool.append_row(path, row("static", 2, 98.4, tests="1;2"))
    assert path.read_text().splitlines()[0] == ",".join(large_pool.CSV_COLUMNS)
    read = large_pool.read_rows(path, "mnist1d", "default", 40, 3)
    assert list(read) == [("evolving", 0)]
    assert read[("evolving", 0)]["test_acc"] == "98.5000"
    assert large_pool.read_rows(tmp_path / "none.csv", "mnist1d", "default", 40, 3) == {}


def test_seeds_already_filed_are_summarised_without_a_search(large_pool, tmp_path, capsys, monkeypatch):
    def no_search(*args):
        raise AssertionError("a filed seed was searched again")

    monkeypatch.setattr(large_pool, "search", no_search)
    path = tmp_path / "large_pool.csv"
    for seed, (evolving, static) in enumerate([(99.0, 98.8), (98.7, 98.9)]):
        large_pool.append_row(path, row("evolving", seed, evolving))
        large_pool.append_row(path, row("static", seed, static))
    assert large_pool.main(["--search-seeds", "0-1", "--csv", str(path), "--out", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert "RESULT evolving_retrained_acc=98.850 static_retrained_acc=98.850 evolving_minus_static=0.000 " \
           "wins_static=1/2 retraining_std=1.000" in out
    assert "static             98.85 ±  0.05      +0.00 ±  0.20  0.20  1/2" in out


def test_a_seed_not_filed_is_searched_retrained_and_filed_beside_those_read_back(large_pool, tmp_path, capsys,
                                                                               monkeypatch):
    searched = []
    arch = {"s1.b1": "conv_k3", "s1.b2": "skip", "s2.b1": "conv_k5", "s2.b2": "sep_k3", "s3.b1": "mb_e3_k3",
            "s3.b2": "conv_k7"}
    monkeypatch.setattr(large_pool, "search", lambda file, overrides, directory: searched.append(directory) or 0.0)
    monkeypatch.setattr(large_pool, "resolve_arch", lambda run_dir: SimpleNamespace(arch=arch, record={"params": 42}))
    monkeypatch.setattr(large_pool, "retrain", lambda spec, directory, *, epochs, seed, device:
                        SimpleNamespace(result={"test_acc": 0.98 + seed / 100}))
    path = tmp_path / "large_pool.csv"
    large_pool.append_row(path, row("evolving", 0, 99.5))
    large_pool.append_row(path, row("evolving", 2, 99.0))
    argv = ["--search-seeds", "0-2", "--methods", "evolving", "--csv", str(path), "--out", str(tmp_path / "work")]
    assert large_pool.main(argv) == 0
    assert searched == [tmp_path / "work" / "evolving-1"]
    read = large_pool.read_rows(path, "mnist1d", "default", 40, 3)
    assert sorted(read) == [("evolving", 0), ("evolving", 1), ("evolving", 2)]
    assert read[("evolving", 1)]["tests"] == "98.00;99.00;100.00"
    assert read[("evolving", 1)]["arch"] == ",".join(arch.values())
    assert "RESULT evolving_retrained_acc=99.167" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "expected"), [
    (["--set", "search.rounds=abc"], "error: --set: search.rounds: expected an integer, got 'abc'\n"),
    (["--csv", "no/such/dir/rows.csv"], "error: --csv: no/such/dir is no directory; create it or name a file in one\n"),
])
def test_bad_input_is_one_error_line_before_any_search(large_pool, capsys, monkeypatch, argv, expected):
    monkeypatch.setattr(large_pool, "search", lambda *args: pytest.fail("searched with bad input"))
    assert large_pool.main(["--search-seeds", "0-0", *argv]) == 2
    assert capsys.readouterr().err == expected


def test_random_draws_respect_the_limits_are_seeded_and_are_retrained_without_a_search(large_pool, tmp_path, capsys,
                                                                                   monkeypatch):
    space = large_pool.load_space(large_pool.SPACE, ["search.constraints.max_params=20000"])
    draws = [large_pool.random_arch(space, seed) for seed in range(8)]
    assert all(spec.record["params"] <= 20000 for spec in draws)
    assert [d.arch for d in draws] == [large_pool.random_arch(space, seed).arch for seed in range(8)]
    assert len({tuple(d.arch.values()) for d in draws}) == 8
    with pytest.raises(large_pool.EvospaceError, match="no architecture within search.constraints"):
        large_pool.random_arch(large_pool.load_space(large_pool.SPACE, ["search.constraints.max_params=5500"]), 0,
                               tries=50)

    monkeypatch.setattr(large_pool, "search", lambda *args: pytest.fail("random ran a search"))
    trained = []
    monkeypatch.setattr(large_pool, "retrain", lambda spec, directory, *, epochs, seed, device:
                        trained.append(spec.arch) or SimpleNamespace(result={"test_acc": 0.9}))
    path = tmp_path / "large_pool.csv"
    argv = ["--search-seeds", "3-3", "--methods", "random", "--csv", str(path), "--out", str(tmp_path / "work")]
    assert large_pool.main(argv) == 0
    drawn = large_pool.random_arch(large_pool.load_space(large_pool.SPACE, ["seed=3"]), 3).arch
    assert trained == [drawn] * 3
    assert large_pool.read_rows(path, "mnist1d", "default", 40, 3)[("random", 3)]["arch"] == ",".join(drawn.values())
    assert "RESULT random_retrained_acc=90.000" in capsys.readouterr().out


def test_a_random_draw_that_finds_nothing_within_the_limits_is_one_error_line(large_pool, capsys, monkeypatch):
    def nothing_fits(space, seed):
        raise large_pool.EvospaceError("spaces/mnist1d.yaml: no architecture within search.constraints in 5 random "
                                       "draws")

    monkeypatch.setattr(large_pool, "random_arch", nothing_fits)
    assert large_pool.main(["--search-seeds", "0-0", "--methods", "random"]) == 2
    assert capsys.readouterr().err == ("error: spaces/mnist1d.yaml: no architecture within search.constraints in 5 "
                                       "random draws\n")
