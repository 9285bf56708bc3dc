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
