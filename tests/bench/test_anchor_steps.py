"""bench/anchor_steps.py: what it reads and what it refuses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("anchor_steps")


def test_epoch_lists_are_distinct_integers_above_their_minimum(bench):
    assert bench.int_list(1)("2,6,10") == [2, 6, 10]
    assert bench.int_list(0)("0") == [0]
    for bad in ("0", "2,2", "a", "3,-1", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.int_list(1)(bad)


def test_retrained_rows_keep_one_row_per_architecture_of_the_space_with_enough_seeds(bench, tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text("space,label,method,seed,test_acc,tests,epochs,params,arch\n"
                    'a,x,evolving,0,97.0,97;97;97,40,1,"conv_k3,skip"\n'
                    'a,x,random,1,96.0,96;96;96,40,1,"conv_k3,skip"\n'  # the same architecture: the first row
                    'a,x,random,2,95.0,95;95,40,1,"skip,skip"\n'  # too few seeds
                    'b,x,random,3,94.0,94;94;94,40,1,"conv_k5,skip"\n')  # another space
    assert bench.retrained_rows(path, "a", 3) == (["conv_k3,skip"], [97.0])
    assert bench.retrained_rows(path, "a", 2) == (["conv_k3,skip", "skip,skip"], [97.0, 95.0])
    assert bench.retrained_rows(path, "a", 3, label="y") == ([], [])


def test_a_missing_ground_truth_is_one_line_and_exit_status_2(bench, capsys):
    assert bench.main(["--space", str(ROOT / "spaces" / "mnist1d_rank.yaml"), "--gt", "/nonexistent.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("anchor_steps: /nonexistent.csv: no such ground-truth file") and err.count("\n") == 1


def test_budgets_print_each_spaces_anchor_epochs_and_why_a_space_cannot_be_read(bench, capsys):
    assert bench.main(["--budgets", str(ROOT / "spaces" / "mnist1d_lowdata.yaml"),
                       str(ROOT / "spaces" / "nb201.yaml")]) == 0
    low, cifar = capsys.readouterr().out.splitlines()
    assert low.endswith("anchors train 7 epochs (84 steps)") and "12 steps an epoch" in low
    assert "cifar10" in cifar and "data.path" in cifar


def test_a_row_of_another_space_is_one_line_and_exit_status_2(bench, tmp_path, capsys):
    path = tmp_path / "pool.csv"
    path.write_text("space,label,method,seed,test_acc,tests,epochs,params,arch\n"
                    + "".join(f'mnist1d_lowdata,x,random,{s},97.0,97;97;97,40,1,"conv_k3,warp_k9"\n' for s in range(3)))
    assert bench.main(["--space", str(ROOT / "spaces" / "mnist1d_lowdata.yaml"), "--retrained", str(path),
                       "--min-seeds", "3"]) == 2
    err = capsys.readouterr().err
    assert "'conv_k3,warp_k9' is not one of" in err and err.count("\n") == 1
