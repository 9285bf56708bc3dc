"""bench/evolve_vs_static.py: which spaces leave evolving nothing to grow, and how finely the ground truth judges."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
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


def test_refined_accuracy_adds_training_seeds_to_the_ground_truths_and_reuses_them(compare, tmp_path, monkeypatch):
    data = Path(__file__).resolve().parents[2] / "bench" / "data"
    truth_file = tmp_path / "mnist1d_rank_gt.csv"
    truth_file.write_text((data / "mnist1d_rank_gt.csv").read_text())
    trained = []

    def fake_training(self, arch, seed):
        trained.append((self.key(arch), seed))
        return SimpleNamespace(val_acc=0.5, test_acc=0.9 + seed / 100, seconds=1.0)

    monkeypatch.setattr(compare.Truth, "_train_seed", fake_training)
    truth = compare.Truth(SPACES / "mnist1d_rank.yaml", truth_file)
    arch = dict(truth.truth.archs[0])
    own = [float(v) for v in truth.truth.test_seeds[0]]
    assert truth.refined_acc(arch, 2) == pytest.approx(np.mean(own)) and trained == []
    assert truth.refined_acc(arch, 4) == pytest.approx(np.mean([*own, 0.92, 0.93]))
    assert trained == [(truth.key(arch), 2), (truth.key(arch), 3)]
    again = compare.Truth(SPACES / "mnist1d_rank.yaml", truth_file)  # read back from the refined file, not trained
    assert again.refined_acc(arch, 4) == pytest.approx(np.mean([*own, 0.92, 0.93])) and len(trained) == 2
    assert again.refined_acc(arch, 5) == pytest.approx(np.mean([*own, 0.92, 0.93, 0.94])) and len(trained) == 3

    refined = truth_file.with_name("mnist1d_rank_gt_refined.csv")
    lines = refined.read_text().splitlines()
    refined.write_text("\n".join([lines[0].replace("epochs=5", "epochs=6"), *lines[1:]]) + "\n")
    with pytest.raises(compare.EvospaceError, match="mnist1d_rank_gt_refined.csv: not trained with the recipe"):
        compare.Truth(SPACES / "mnist1d_rank.yaml", truth_file)
    refined.write_text("\n".join([*lines, "conv_k3,skip,oops"]) + "\n")
    with pytest.raises(compare.EvospaceError, match="mnist1d_rank_gt_refined.csv: line 6 is not a training"):
        compare.Truth(SPACES / "mnist1d_rank.yaml", truth_file)


def test_entry_noise_is_the_standard_error_of_an_entry_among_the_best(compare):
    test_seeds = np.array([[0.90, 0.92], [0.50, 0.50], [0.80, 0.84], [0.40, 0.40]])
    truth = SimpleNamespace(test_acc=test_seeds.mean(axis=1), test_seeds=test_seeds)
    noise, spread, count = compare.entry_noise(truth, top=0.5)
    assert count == 2
    assert noise == pytest.approx(100 * np.sqrt(np.mean([0.02 ** 2 / 2, 0.04 ** 2 / 2]) / 2))
    assert spread == pytest.approx(100 * np.std([0.91, 0.82]))


def test_refine_below_one_seed_is_one_error_line(compare, capsys):
    assert compare.main(["--seeds", "10-10", "--methods", "static", "--refine", "0"]) == 2
    assert capsys.readouterr().err == "error: --refine: expected a number of training seeds ≥ 1, got 0\n"


@pytest.mark.parametrize(("text", "seeds"), [
    ("3", [0, 1, 2]), ("10-12", [10, 11, 12]), ("0,3,7", [0, 3, 7]), ("1,20-22", [1, 20, 21, 22]), ("7-7", [7]),
])
def test_seeds_are_a_count_a_range_a_list_or_a_mix(compare, text, seeds):
    assert compare.parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "", "x", "1,x", "3-1", "3-1,1", "1,1", "1-3,2", "-2"])
def test_bad_seeds_are_one_usage_error_before_any_search(compare, capsys, text):
    with pytest.raises(SystemExit) as exit_:
        compare.main(["--seeds", text, "--methods", "static"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: argument --seeds: expected" in err and repr(text) in err


def test_a_read_only_ground_truth_keeps_its_extra_trainings_in_the_cache(compare, tmp_path, monkeypatch):
    """A ground truth in a directory that cannot be written (data shipped read-only) still gets the trainings it
    lacks: in the cache, starting from those already beside it, under a name tied to the truth's content."""
    data = Path(__file__).resolve().parents[2] / "bench" / "data"
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    truth_file = shipped / "mnist1d_rank_gt.csv"
    truth_file.write_text((data / "mnist1d_rank_gt.csv").read_text())
    monkeypatch.setenv("EVOSPACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(compare.Truth, "_train_seed",
                        lambda self, arch, seed: SimpleNamespace(val_acc=0.5, test_acc=0.9 + seed / 100, seconds=1.0))
    truth = compare.Truth(SPACES / "mnist1d_rank.yaml", truth_file)  # writable: beside it, as before
    arch = dict(truth.truth.archs[0])
    truth.refined_acc(arch, 3)
    beside = shipped / "mnist1d_rank_gt_refined.csv"
    kept = beside.read_bytes()
    # from now on nothing under shipped/ may be written (os.access, since a test run as root could write anyway)
    real_access = compare.os.access
    monkeypatch.setattr(compare.os, "access",
                        lambda path, mode: False if Path(path).is_relative_to(shipped) else real_access(path, mode))
    again = compare.Truth(SPACES / "mnist1d_rank.yaml", truth_file)
    assert again.refined_file.parent == tmp_path / "cache" / "groundtruth"
    assert again.refined_file.name.startswith("mnist1d_rank_gt-")
    assert again.extra_file.parent == again.refined_file.parent
    assert again.refined_acc(arch, 3) == truth.refined_acc(arch, 3)  # the copy holds the seed trained beside it
    again.refined_acc(arch, 4)
    assert beside.read_bytes() == kept and again.refined_file.read_bytes().startswith(kept)
    assert compare.Truth(SPACES / "mnist1d_rank.yaml", truth_file).refined[truth.key(arch)][3] == pytest.approx(0.93)


def test_jobs_search_seeds_side_by_side_with_the_figures_of_one_process(tmp_path):
    """Seeds searched in two spawned processes file the same rows, anchors and RESULT as one process."""
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "bench" / "evolve_vs_static.py"
    tiny = ["--seeds", "0-1", "--methods", "static,rea,random", "--epochs", "1", "--rounds", "1",
            "--set", "search.population.size=4", "--set", "search.population.generations=1",
            "--set", "search.scoring.accuracy_samples=8", "--set", "search.scoring.anchors=3",
            "--set", "search.scoring.anchor_epochs=1", "--set", "search.scoring.anchor_steps=0"]
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}.csv"
        done = subprocess.run([sys.executable, str(script), *tiny, "--csv", str(out), "--jobs", str(jobs)],
                              capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        outputs[jobs] = (out.read_text(), [line for line in lines if line.startswith(("RESULT", "anchors:"))])
    assert outputs[1] == outputs[2]
    assert outputs[1][1][0] == "anchors: 6 trained, 0 reused across the methods of a seed"


def test_jobs_below_one_is_one_error_line(compare, capsys):
    assert compare.main(["--seeds", "10-10", "--methods", "static", "--jobs", "0"]) == 2
    assert capsys.readouterr().err == "error: --jobs: expected a number of processes ≥ 1, got 0\n"
