"""bench/ranking.py and ranking_loso.py: the supernet trains on its own batch as a run's does, and --set reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from evospace import load_space

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "spaces" / "mnist1d_rank.yaml"
TRUTH = ROOT / "bench" / "data" / "mnist1d_rank_gt.csv"


@pytest.fixture(scope="module")
def ranking(bench_script):
    return bench_script("ranking")


@pytest.fixture(scope="module")
def ranking_loso(bench_script):
    return bench_script("ranking_loso")


class Trained(Exception):
    """Raised in place of training: carries the batch the supernet would have trained on."""


@pytest.mark.parametrize(("overrides", "batch"), [(["search.train.batch_size=16"], 16),
                                                  (["search.train.batch_size=null"], 128)])
def test_the_supernet_trains_on_the_batch_a_run_would_use(ranking, monkeypatch, overrides, batch):
    def trainer(net, data, train, *, batch_size, **kwargs):
        raise Trained(batch_size)

    monkeypatch.setattr(ranking, "RoundTrainer", trainer)
    space = load_space(SPACE, overrides)
    assert space.config.data.batch_size == 128  # the data's batch stays the anchors' and recalibration's
    with pytest.raises(Trained) as trained:
        ranking.train_supernet(space, None, 1, 0)
    assert trained.value.args[0] == batch == space.config.supernet_batch_size


def test_a_bad_override_is_one_error_line_before_any_training(ranking, monkeypatch, capsys):
    monkeypatch.setattr(ranking, "collect", lambda *a, **k: pytest.fail("trained with a bad --set"))
    assert ranking.main(["--space", str(SPACE), "--gt", str(TRUTH), "--set", "search.train.lr=abc"]) == 2
    assert capsys.readouterr().err == "error: --set: search.train.lr: expected a number, got 'abc'\n"


@pytest.mark.parametrize(("gt", "message"), [("missing.csv", "no such ground-truth file"),
                                              (ROOT / "bench" / "data" / "digits_mixed_gt.csv", "not of")])
def test_a_missing_or_foreign_ground_truth_is_one_error_line(ranking, capsys, tmp_path, gt, message):
    gt = gt if Path(gt).is_absolute() else tmp_path / gt
    assert ranking.main(["--space", str(SPACE), "--gt", str(gt)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_loso_hands_its_overrides_to_every_ranking_run(ranking_loso, monkeypatch, tmp_path):
    commands = []

    def call(command, **kwargs):
        commands.append(command)
        return 1  # as if ranking.py failed: the script stops after the first

    monkeypatch.setattr(ranking_loso.subprocess, "call", call)
    argv = ["--dir", str(tmp_path), "--epochs", "5", "--spaces", "mnist1d_rank",
            "--set", "search.train.batch_size=null", "--set", "search.train.lr=0.2"]
    assert ranking_loso.main(argv) == 1
    (command,) = commands
    assert command[-2:] == ["--set=search.train.batch_size=null", "--set=search.train.lr=0.2"]
    assert command[command.index("--save") + 1] == str(tmp_path / "mnist1d_rank_e5.npz")


def test_loso_runs_an_added_ground_truth_beside_the_shipped_ones(ranking_loso, monkeypatch, tmp_path):
    commands = []

    def call(command, **kwargs):
        commands.append(command)
        return 1

    monkeypatch.setattr(ranking_loso.subprocess, "call", call)
    argv = ["--dir", str(tmp_path), "--epochs", "5", "--spaces", "mine",
            "--add", f"mine={SPACE},{TRUTH}"]
    assert ranking_loso.main(argv) == 1
    (command,) = commands
    assert command[command.index("--gt") + 1] == str(TRUTH)
    assert command[command.index("--save") + 1] == str(tmp_path / "mine_e5.npz")


@pytest.mark.parametrize(("add", "message"), [
    ("mine", "--add: expected NAME=SPACE.yaml,GT.csv, got 'mine'"),
    (f"mnist1d_rank={SPACE},{TRUTH}", "--add: the name 'mnist1d_rank' is taken; give this ground truth another"),
    (f"mine={SPACE},nowhere.csv", "--add mine: no file nowhere.csv"),
])
def test_loso_refuses_a_bad_added_ground_truth_in_one_line(ranking_loso, monkeypatch, capsys, tmp_path, add, message):
    monkeypatch.setattr(ranking_loso.subprocess, "call", lambda *a, **k: pytest.fail("ran with a bad --add"))
    with pytest.raises(SystemExit) as stopped:
        ranking_loso.main(["--dir", str(tmp_path), "--add", add])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"error: {message}")


def test_loso_names_an_unknown_space(ranking_loso, capsys, tmp_path):
    with pytest.raises(SystemExit):
        ranking_loso.main(["--dir", str(tmp_path), "--spaces", "mnist1d_rank,nope"])
    assert "--spaces: unknown nope" in capsys.readouterr().err


def test_loso_refuses_a_saved_file_of_another_ground_truth(ranking_loso):
    """Files are found by name: one computed against another ground truth (rebuilt, or another added under the
    same name) must not be read as this one's; a --quick file holds a prefix of it and belongs."""
    from types import SimpleNamespace

    from evospace.metrics import load_ground_truth

    truth = load_ground_truth(TRUTH, load_space(SPACE)).test_acc
    assert ranking_loso.stale_reason(SimpleNamespace(truth=truth.copy()), SPACE, TRUTH) is None
    assert ranking_loso.stale_reason(SimpleNamespace(truth=truth[:120].copy()), SPACE, TRUTH) is None
    changed = truth.copy()
    changed[3] += 0.01
    assert "another ground truth" in ranking_loso.stale_reason(SimpleNamespace(truth=changed), SPACE, TRUTH)
