"""bench/controller_loso.py: the leave-one-space-out choice of a controller setting from per-seed results."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def loso(bench_script):
    return bench_script("controller_loso")


def write(path: Path, rows: list[tuple[str, str, int, float]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["space", "label", "method", "seed", "test_acc", "rank", "found", "arch"])
        for space, label, seed, acc in rows:
            writer.writerow([space, label, "evolving", seed, acc, 1, 1, "conv_k3"])
    return path


def test_a_setting_that_wins_on_one_space_only_is_not_chosen_for_the_others(loso, tmp_path, capsys):
    # "big" gains 5 points on space a and loses 1 on b and c; "small" gains 0.5 on b and c and loses 0.2 on a
    rows = []
    for seed in range(3):
        for space, base in (("a", 90.0), ("b", 95.0), ("c", 96.0)):
            rows.append((space, "default", seed, base + seed))
            rows.append((space, "big", seed, base + seed + (5.0 if space == "a" else -1.0)))
            rows.append((space, "small", seed, base + seed + (-0.2 if space == "a" else 0.5)))
    path = write(tmp_path / "r.csv", rows)
    assert loso.main([str(path), "--baseline", "default"]) == 0
    out = capsys.readouterr().out
    # a held out: small (+0.5 on b, c) beats big (-1); b held out: big (+2 on a, c) beats small (+0.15)
    assert "a                  chosen on the others: small          its gain here -0.20" in out
    assert "b                  chosen on the others: big            its gain here -1.00" in out
    assert "c                  chosen on the others: big            its gain here -1.00" in out
    assert out.strip().endswith("RESULT spaces=3 chosen=big loso_gain=-0.733 folds=a:small,b:big,c:big")


def test_only_paired_seeds_count_and_the_baseline_wins_ties(loso, tmp_path):
    path = write(tmp_path / "r.csv", [("a", "default", 0, 90.0), ("a", "other", 0, 90.0), ("a", "other", 1, 99.0),
                                      ("b", "default", 0, 95.0), ("b", "other", 0, 95.0)])
    table = loso.gains(loso.read_results([path], "evolving"), "default")
    assert table["a"]["other"] == (0.0, 1, 0)  # seed 1 has no baseline to pair with
    assert loso.choose(table, ["a", "b"], ["default", "other"], "default") == "default"


def test_a_missing_file_or_a_baseline_on_one_space_is_one_error_line(loso, tmp_path, capsys):
    assert loso.main([str(tmp_path / "none.csv"), "--baseline", "x"]) == 2
    path = write(tmp_path / "r.csv", [("a", "default", 0, 90.0)])
    assert loso.main([str(path), "--baseline", "default"]) == 2
    assert capsys.readouterr().err.count("error:") == 2


def test_labels_weigh_one_setting_against_the_baseline_alone(loso, tmp_path, capsys):
    # "big" wins everywhere; with --labels flat the choice is between flat and the baseline only: a held out,
    # flat loses on b and the baseline is chosen; b held out, flat gains on a and loses 0.25 on b
    rows = []
    for seed in range(2):
        for space, base in (("a", 90.0), ("b", 95.0)):
            rows += [(space, "default", seed, base), (space, "big", seed, base + 1.0),
                     (space, "flat", seed, base + (0.5 if space == "a" else -0.25))]
    path = write(tmp_path / "r.csv", rows)
    assert loso.main([str(path), "--baseline", "default", "--labels", "flat"]) == 0
    out = capsys.readouterr().out
    assert " big" not in out
    assert out.strip().endswith("RESULT spaces=2 chosen=flat loso_gain=-0.125 folds=a:default,b:flat")
    assert loso.main([str(path), "--baseline", "default", "--labels", "flat,nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --labels: no results under nope; the files hold big, default, flat"
