"""Ground truth: rows appended and resumed, refused for another space or recipe, noise ceiling."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from evospace.cli import main
from evospace.data import load_data
from evospace.errors import EvospaceError
from evospace.metrics import build_ground_truth, build_order, load_ground_truth, noise_ceiling
from evospace.space import ops as ops_module
from evospace.space import space_from_dict


@pytest.fixture(scope="module")
def tiny_data():
    from conftest import TINY_SPACE

    cfg = TINY_SPACE["data"]
    return load_data(cfg["name"], val_fraction=cfg["val_fraction"], samples=cfg["samples"], split_seed=0)


def test_build_appends_resumes_and_drops_a_torn_line(tmp_path, tiny_space, tiny_data):
    out = tmp_path / "gt.csv"
    first = build_ground_truth(tiny_space, out, tiny_data, epochs=1, seeds=2, limit=2)
    assert len(first.archs) == 2 and not first.complete
    assert first.val_seeds.shape == (2, 2)
    np.testing.assert_allclose(first.val_acc, first.val_seeds.mean(axis=1), atol=1e-6)
    for arch, params in zip(first.archs, first.params, strict=True):
        assert params == tiny_space.cost(arch).params
    with open(out, "a") as f:
        f.write("conv_k3,sep_k3,0.5")  # an interrupted write: no newline
    second = build_ground_truth(tiny_space, out, tiny_data, epochs=1, seeds=2, limit=3)
    assert second.archs[:2] == first.archs and len(second.archs) == 3
    subspace = tiny_space.initial_subspace()
    assert second.archs == [subspace.decode(r) for r in build_order(tiny_space)[:3]]  # a prefix of the seeded order
    np.testing.assert_array_equal(second.test_acc[:2], first.test_acc)
    assert "0.5\n" not in out.read_text().split("\n", 3)[3].splitlines()[-1]


def test_another_recipe_or_space_is_refused(tmp_path, tiny_space, tiny_space_dict, tiny_data):
    out = tmp_path / "gt.csv"
    build_ground_truth(tiny_space, out, tiny_data, epochs=1, seeds=1, limit=1)
    with pytest.raises(EvospaceError, match="built differently"):
        build_ground_truth(tiny_space, out, tiny_data, epochs=2, seeds=1, limit=1)
    other = space_from_dict({**tiny_space_dict, "seed": 5}, "<other>")
    with pytest.raises(EvospaceError, match="ground truth of space 'tiny'.*not of <other>"):
        load_ground_truth(out, other)


SHIPPED = sorted(path.name.removesuffix("_gt.csv")
                 for path in (Path(__file__).resolve().parents[2] / "bench" / "data").glob("*_gt.csv"))


def test_the_shipped_ground_truths_are_found():
    assert len(SHIPPED) >= 8 and "mnist1d_rank" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_ground_truth_can_be_resumed_by_its_space(name):
    """The header is what a build of the space would write: settings that only the supernet uses (BN
    recalibration, search.train.batch_size) must not make a shipped file look built differently."""
    from evospace.metrics.groundtruth import GroundTruthSpec
    from evospace.space import load_space

    root = Path(__file__).resolve().parents[2]
    lines = (root / "bench" / "data" / f"{name}_gt.csv").read_text().splitlines()
    shipped = GroundTruthSpec.parse(lines[1], name)
    for overrides in ([], ["search.train.batch_size=16", "search.train.recalibration_batches=3"]):
        space = load_space(root / "spaces" / f"{name}.yaml", overrides)
        sample = shipped.archs if shipped.archs < space.initial_subspace().size else None
        built = GroundTruthSpec.for_space(space, shipped.epochs, shipped.seeds, shipped.max_shift, sample,
                                          shipped.sample_seed)
        assert built == shipped, (built.header(), shipped.header())


def test_not_a_ground_truth_file(tmp_path, tiny_space):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(EvospaceError, match="not an evospace ground-truth CSV"):
        load_ground_truth(path, tiny_space)
    with pytest.raises(EvospaceError, match="no such ground-truth file"):
        load_ground_truth(tmp_path / "missing.csv", tiny_space)


def test_cli_builds_and_reports_bad_input_in_one_line(tmp_path, tiny_space_dict, tiny_space_file, capsys):
    out = tmp_path / "gt.csv"
    assert main(["groundtruth", str(tiny_space_file), "--out", str(out), "--epochs", "1", "--seeds", "2",
                 "--limit", "2", "--quiet"]) == 0
    assert "noise ceiling" in capsys.readouterr().out
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**tiny_space_dict, "pool": ["conv_k3", "sep_k3", "skip"],
                                     "initial": {"size": 2, "order": "listed"}}))
    assert main(["groundtruth", str(other), "--out", str(out), "--epochs", "1", "--limit", "1", "--quiet"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("evospace groundtruth:")]
    assert len(errors) == 1 and "built differently" in errors[0]
    assert main(["groundtruth", str(tiny_space_file), "--out", str(out), "--max-archs", "10", "--quiet"]) == 2
    assert "more than --max-archs" in capsys.readouterr().err


def test_noise_ceiling_of_a_perfectly_repeatable_truth(tmp_path, tiny_space, tiny_data):
    truth = build_ground_truth(tiny_space, tmp_path / "gt.csv", tiny_data, epochs=1, seeds=2, limit=3)
    ceiling = noise_ceiling(truth)
    assert -1.0 <= ceiling.between_seeds_test <= 1.0
    same = type(truth)(truth.spec, truth.labels, truth.archs, truth.params, truth.flops, truth.val_acc,
                       truth.val_acc, np.stack([truth.val_acc, truth.val_acc], 1), truth.test_seeds)
    assert noise_ceiling(same).between_seeds_val == pytest.approx(1.0)
    assert noise_ceiling(same).val_vs_test == pytest.approx(1.0)


def test_a_sampled_ground_truth_draws_distinct_architectures_and_resumes(tmp_path, tiny_space, tiny_data):
    subspace = tiny_space.initial_subspace()
    rows = build_order(tiny_space, 7, 3)
    assert rows.shape == (7, len(subspace.labels))
    assert len({tuple(r) for r in rows}) == 7  # without replacement
    np.testing.assert_array_equal(rows, build_order(tiny_space, 7, 3))
    assert not np.array_equal(rows, build_order(tiny_space, 7, 4))
    assert {tuple(r) for r in build_order(tiny_space, 10**6, 0)} == {tuple(r) for r in subspace.all_indices()}
    out = tmp_path / "gt.csv"
    first = build_ground_truth(tiny_space, out, tiny_data, epochs=1, seeds=1, sample=4, sample_seed=3, limit=2)
    assert first.spec.sampled and first.spec.archs == 4 and not first.complete
    assert "sample=4 sample_seed=3" in out.read_text().splitlines()[1]
    second = build_ground_truth(tiny_space, out, tiny_data, epochs=1, seeds=1, sample=4, sample_seed=3)
    assert second.complete and second.archs == [
        subspace.decode(r) for r in build_order(tiny_space, 4, 3)]
    with pytest.raises(EvospaceError, match="built differently"):
        build_ground_truth(tiny_space, out, tiny_data, epochs=1, seeds=1, sample=4, sample_seed=5)


def test_cli_samples_a_space_too_large_to_train_whole(tmp_path, tiny_space_file, capsys):
    out = tmp_path / "gt.csv"
    assert main(["groundtruth", str(tiny_space_file), "--out", str(out), "--max-archs", "10", "--sample", "3",
                 "--seed", "1", "--epochs", "1", "--seeds", "1", "--quiet"]) == 0
    assert "3/3 architectures" in capsys.readouterr().err
    assert main(["groundtruth", str(tiny_space_file), "--out", str(tmp_path / "b.csv"), "--sample", "1",
                 "--quiet"]) == 2
    assert "--sample must be ≥ 2" in capsys.readouterr().err


USER_OP = '''
from evospace.space.ops import conv_bn, register_op


@register_op("userconv_k{k}")
def _userconv(c_in, c_out, stride, dims, k):
    return conv_bn(c_in, c_out, k, stride, dims)
'''


def without_seconds(path) -> list[str]:
    """The file's lines, each row without its training time (the only column a clock decides)."""
    head, rows = path.read_text().splitlines()[:3], path.read_text().splitlines()[3:]
    return head + [row.rsplit(",", 1)[0] for row in rows]


def test_jobs_write_the_rows_one_process_writes_with_user_operators_in_every_worker(tmp_path, tiny_space_dict,
                                                                                    monkeypatch):
    """Workers are spawned, so a user operator reaches them only through --import; the rows, their order and
    their figures are those of a build in one process, and a build cut short resumes with the other setting."""
    (tmp_path / "user_ops.py").write_text(USER_OP)
    tiny_space_dict["pool"] = ["userconv_k3", "avg_pool_k3", "skip"]
    tiny_space_dict["initial"] = {"size": 2, "order": "listed"}
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump(tiny_space_dict, sort_keys=False))
    common = ["--import", str(tmp_path / "user_ops.py"), "groundtruth", str(space_file), "--epochs", "1",
              "--seeds", "1", "--quiet"]
    serial, parallel = tmp_path / "serial.csv", tmp_path / "parallel.csv"

    def build(*extra: str) -> int:  # each in-process run imports the user file again: a registry of its own
        monkeypatch.setattr(ops_module, "_FAMILIES", dict(families))
        return main([*common, *extra])

    families = dict(ops_module._FAMILIES)
    assert build("--out", str(serial)) == 0
    assert build("--out", str(parallel), "--jobs", "2", "--limit", "3") == 0
    assert without_seconds(parallel) == without_seconds(serial)[:6]
    assert build("--out", str(parallel), "--jobs", "3") == 0
    assert without_seconds(parallel) == without_seconds(serial)
    assert len(without_seconds(serial)) == 3 + 8


def test_jobs_below_one_is_one_error_line(tmp_path, tiny_space_file, capsys):
    assert main(["groundtruth", str(tiny_space_file), "--out", str(tmp_path / "gt.csv"), "--jobs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "evospace groundtruth: --jobs must be ≥ 1 (worker processes), got 0"
    assert not (tmp_path / "gt.csv").exists()
