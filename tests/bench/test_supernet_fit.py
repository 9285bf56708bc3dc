"""bench/supernet_fit.py: --set reaches every supernet, a bad one is one line, τ is taken on the file's ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

SPACES = Path(__file__).resolve().parents[2] / "spaces"


@pytest.fixture(scope="module")
def supernet_fit(bench_script):
    return bench_script("supernet_fit")


def test_a_bad_override_is_one_error_line_before_any_training(supernet_fit, capsys, monkeypatch):
    monkeypatch.setattr(supernet_fit, "fit", lambda *a, **k: pytest.fail("trained with a bad --set"))
    argv = ["--spaces", str(SPACES / "mnist1d_rank.yaml"), "--set", "search.train.lr=abc"]
    assert supernet_fit.main(argv) == 2
    assert capsys.readouterr().err == "error: --set: search.train.lr: expected a number, got 'abc'\n"


def test_tau_is_taken_on_the_ground_truth_of_the_file_as_written(supernet_fit):
    truth = supernet_fit.truth_of(SPACES / "mnist1d_rank.yaml")
    assert truth is not None and len(truth.head(supernet_fit.TRUTH_ARCHS).archs) == supernet_fit.TRUTH_ARCHS
    assert supernet_fit.truth_of(SPACES / "mnist1d.yaml") is None  # no ground truth shipped for the default space


class Built(Exception):
    """Raised in place of building a supernet: carries the space it would have been built from."""


def test_overrides_reach_the_supernet_each_subspace_is_built_from(supernet_fit, monkeypatch):
    def build(space, subspace, seed):
        raise Built(space)

    monkeypatch.setattr(supernet_fit, "Supernet", build)
    with pytest.raises(Built) as built:
        supernet_fit.fit(SPACES / "mnist1d_rank.yaml", None, ["conv_k3"], 1, 10, overrides=["search.train.lr=0.2"])
    space = built.value.args[0]
    assert space.config.search.train.lr == 0.2
    assert space.initial_subspace().ops(space.labels[0]) == ("conv_k3",)
