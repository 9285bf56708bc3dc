"""bench/nb201_search.py: the paired comparison of two settings and its error lines (no search run)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def nb201(bench_script):
    return bench_script("nb201_search")


def test_paired_cells_are_the_mean_difference_its_standard_error_and_the_seeds_ahead(nb201):
    base = np.array([[93.0, 94.0, 94.3, 94.37], [93.5, 94.1, 94.3, 94.37], [93.2, 94.2, 94.37, 94.37]])
    variant = base + np.array([[0.3, 0.0, 0.0, 0.0], [0.1, -0.1, 0.0, 0.0], [0.2, 0.1, 0.0, 0.0]])
    cells = nb201.paired_cells(variant, base)
    # at 50 queries: differences 0.3, 0.1, 0.2: mean 0.2, std 0.1, standard error 0.1 / sqrt(3)
    assert cells[0] == f"50: +0.200 ± {0.1 / np.sqrt(3):.3f} (3, 0)"
    assert cells[1] == f"100: +0.000 ± {0.1 / np.sqrt(3):.3f} (1, 1)"
    assert cells[3] == "500: +0.000 ± 0.000 (0, 0)"


@pytest.mark.parametrize(("flag", "named"), [("--paired", "--paired"), ("--set", "--set")])
def test_a_bad_override_is_one_error_line_naming_its_flag(nb201, capsys, flag, named):
    assert nb201.main(["--seeds", "1", "--no-fronts", flag, "search.rounds=abc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {named}: search.rounds: expected an integer, got 'abc'"


def test_a_table_of_another_data_set_without_latency(nb201, capsys, tmp_path):
    """NAS-Bench-201's other tables name their accuracy columns after their data set; the bench reads them
    (choosing with --dataset where there are several) and skips the multi-objective part without latency."""
    rows = (nb201.REPO / "bench" / "data" / "nb201_cifar10.csv").read_text().splitlines()
    header = rows[0].split(",")
    keep = [header.index(c) for c in ("arch", "params_M", "flops_M", "cifar10_valid", "cifar10_test")]
    lines = ["arch,params_M,flops_M,cifar100_valid,cifar100_test,x_valid,x_test"]
    lines += [",".join([*(row.split(",")[i] for i in keep), "1", "2"]) for row in rows[1:]]
    table = tmp_path / "cifar100.csv"
    table.write_text("\n".join(lines) + "\n")
    argv = ["--table", str(table), "--seeds", "1", "--methods", "rea"]
    assert nb201.main(argv) == 2
    assert "several data sets (cifar100, x)" in capsys.readouterr().err
    assert nb201.main([*argv, "--dataset", "cifar100"]) == 0
    out = capsys.readouterr().out
    assert "(cifar100): 15625 architectures" in out and "published" not in out
    assert "no multi-objective part" in out and "RESULT rea_50=" in out


def test_valid_noise_changes_the_search_signal_not_the_judge(nb201, capsys):
    assert nb201.main(["--seeds", "1", "--no-fronts", "--valid-noise", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --valid-noise: a standard deviation must be ≥ 0, got -1.0"
    assert nb201.main(["--seeds", "1", "--methods", "rea", "--no-fronts", "--valid-noise", "50"]) == 0
    out = capsys.readouterr().out
    assert "fixed error of σ = 50.0 points (seed 0)" in out
    # the best test accuracy is the table's; the best by (noisy) validation is almost surely another architecture
    assert "best test 94.37, test of the best by validation 94.37" not in out and "best test 94.37" in out
