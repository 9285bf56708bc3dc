"""`evospace train` / `export` on tiny settings: outputs, bit-exact resume, and one-line errors for bad input."""

import json

import pytest
from conftest import DEFAULT_SPACE_FILE, TINY_SPACE

from evospace import Search
from evospace.cli import main
from evospace.inspect import resolve_arch, retrain
from evospace.space import space_from_dict


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    Search(space_from_dict(TINY_SPACE, "<tiny>"), out, device="cpu", progress=False, log=lambda _: None).run()
    return out


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    assert main(["export", str(run_dir), "--top", "2", "--out", str(out)]) == 0
    return out


def _one_line_error(capsys, argv: list[str], *fragments: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"evospace {argv[0]}: ")
    for fragment in fragments:
        assert fragment in err
    return err


def test_train_writes_weights_and_reports_test_accuracy(exported, tmp_path, capsys):
    out = tmp_path / "trained"
    argv = ["train", str(exported / "top1" / "arch.json"), "--epochs", "2", "--out", str(out), "--quiet",
            "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"arch.json", "train_state.json", "weights.safetensors",
                                                "optimizer.safetensors", "result.json"}
    result = json.loads((out / "result.json").read_text())
    record = json.loads((exported / "top1" / "arch.json").read_text())
    assert (result["arch"], result["params"], result["flops"]) == (record["arch"], record["params"], record["flops"])
    assert (result["epochs"], result["train_samples"], result["test_samples"]) == (2, 384, 120)
    assert f"test accuracy {result['test_acc']:.4f}" in printed
    assert len(json.loads((out / "train_state.json").read_text())["history"]) == 2
    # the same command again: finished, nothing to do; other settings in the same directory: refused
    assert main(argv) == 0
    assert "already holds this training, finished" in capsys.readouterr().err
    _one_line_error(capsys, argv[:3] + ["3"] + argv[4:], "holds another training (epochs was 2, now 3)")


def test_interrupted_training_resumes_bit_exactly(exported, tmp_path):
    spec = resolve_arch(exported / "top2" / "arch.json")
    whole = retrain(spec, tmp_path / "whole", epochs=3, seed=1, device="cpu")

    class Stop(Exception):
        pass

    def stop_after_first(epoch: int, row: dict) -> None:
        if epoch == 0:
            raise Stop

    with pytest.raises(Stop):
        retrain(spec, tmp_path / "parts", epochs=3, seed=1, device="cpu", on_epoch=stop_after_first)
    assert json.loads((tmp_path / "parts" / "train_state.json").read_text())["epoch"] == 1
    resumed = retrain(spec, tmp_path / "parts", epochs=3, seed=1, device="cpu")
    assert resumed.start_epoch == 1 and not resumed.already_done
    for name in ("weights.safetensors", "optimizer.safetensors"):
        assert (tmp_path / "parts" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert (resumed.result["val_acc"], resumed.result["test_acc"]) == (whole.result["val_acc"],
                                                                        whole.result["test_acc"])


def test_train_a_run_trains_its_best_architecture(run_dir, tmp_path, capsys):
    assert main(["train", str(run_dir), "--epochs", "1", "--out", str(tmp_path / "best"), "--quiet"]) == 0
    trained = json.loads((tmp_path / "best" / "arch.json").read_text())
    assert trained["arch"] == json.loads((run_dir / "best" / "arch.json").read_text())["arch"]
    assert trained["source"] == "front"


def test_best_arch_json_needs_its_space(run_dir, tmp_path, capsys):
    best = str(run_dir / "best" / "arch.json")
    _one_line_error(capsys, ["train", best, "--out", str(tmp_path / "a")], "records only the name", "--space")
    _one_line_error(capsys, ["train", best, "--space", str(DEFAULT_SPACE_FILE), "--out", str(tmp_path / "b")],
                    "belongs to space 'tiny'", "'mnist1d'")


def test_arch_of_another_space_is_refused(exported, tmp_path, capsys):
    _one_line_error(capsys, ["train", str(exported / "top1" / "arch.json"), "--space", str(DEFAULT_SPACE_FILE)],
                    "fingerprint", "'mnist1d'", "drop --space")


def test_operator_outside_the_pool_is_refused(exported, tmp_path, capsys):
    record = json.loads((exported / "top1" / "arch.json").read_text())
    record["arch"]["s2.b1"] = "conv_k9"
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(record))
    _one_line_error(capsys, ["train", str(path)], "'conv_k9' at s2.b1", "not in the pool of space 'tiny'")


def test_run_without_a_finished_round_is_refused(tmp_path, capsys):
    Search(space_from_dict(TINY_SPACE, "<tiny>"), tmp_path / "fresh", device="cpu", progress=False)
    for command in ("train", "export"):
        _one_line_error(capsys, [command, str(tmp_path / "fresh")], "no finished round yet")


def test_not_an_architecture_file_is_refused(tmp_path, capsys):
    path = tmp_path / "notes.json"
    path.write_text("[1, 2]")
    _one_line_error(capsys, ["train", str(path)], "not an architecture file")
    _one_line_error(capsys, ["train", str(tmp_path / "missing.json")], "no such file or run directory")
