"""bench/evolve_vs_static.py: which spaces leave evolving nothing to grow (then it is shrink-only reordered)."""

from __future__ import annotations

from pathlib import Path

import pytest

SPACES = Path(__file__).resolve().parents[2] / "spaces"


@pytest.fixture(scope="module")
def compare(bench_script):
    return bench_script("evolve_vs_static")


@pytest.mark.parametrize(("space", "extra", "expected"), [
    ("mnist1d_mbconv.yaml", [], True),  # 4 operators, the default initial size
    ("mnist1d_rank.yaml", [], False),  # 5 operators: one waits in each queue
    ("nb201_mnist1d.yaml", [], False),
    ("mnist1d_rank.yaml", ["initial.size=5"], True),
    ("mnist1d_mbconv.yaml", ["initial.size=2"], False),
])
def test_grows_nothing_when_the_initial_subspace_is_the_whole_pool(compare, space, extra, expected):
    assert compare.grows_nothing(SPACES / space, 12, 4, extra) is expected


def test_a_bad_override_is_one_error_line_before_any_search(compare, capsys):
    assert compare.main(["--seeds", "10-10", "--methods", "static", "--set", "search.rounds=abc"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --set: search.rounds: expected an integer, got 'abc'\n"
