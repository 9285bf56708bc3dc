"""`evospace export --onnx --torchscript` and `evospace train --onnx --torchscript`: the files load, and give the
outputs of the model they came from (initial weights for export, trained ones for train)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_SPACE
from safetensors.torch import load_file

from evospace import Run, Search, build_model
from evospace.cli import main
from evospace.errors import EvospaceError
from evospace.inspect import formats
from evospace.space import space_from_dict

ort = pytest.importorskip("onnxruntime", reason="the onnx extra (pip install -e '.[onnx]') is not installed")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    Search(space_from_dict(TINY_SPACE, "<tiny>"), out, device="cpu", progress=False, log=lambda _: None).run()
    return out


def outputs_agree(directory, model: torch.nn.Module) -> None:
    model.eval()
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(5, 1, 40)).astype(np.float32))  # another batch size
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(directory / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    scripted = torch.jit.load(str(directory / "model.torchscript.pt"))
    np.testing.assert_allclose(scripted(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_export_and_train_write_loadable_models(run_dir, tmp_path, capsys) -> None:
    out = tmp_path / "export"
    assert main(["export", str(run_dir), "--top", "1", "--out", str(out), "--onnx", "--torchscript"]) == 0
    top1 = out / "top1"
    arch = json.loads((top1 / "arch.json").read_text())["arch"]
    outputs_agree(top1, build_model(Run.open(run_dir).space, arch))

    trained = tmp_path / "trained"
    assert main(["train", str(top1 / "arch.json"), "--epochs", "1", "--out", str(trained), "--quiet", "--device",
                 "cpu", "--onnx", "--torchscript"]) == 0
    model = build_model(Run.open(run_dir).space, arch)
    model.load_state_dict(load_file(trained / "weights.safetensors"))
    outputs_agree(trained, model)


def test_missing_onnx_packages_are_one_line(run_dir, monkeypatch, capsys) -> None:
    real = formats.importlib.util.find_spec
    monkeypatch.setattr(formats.importlib.util, "find_spec", lambda name: None if name == "onnxscript" else real(name))
    assert main(["export", str(run_dir), "--onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'evospace[onnx]'" in err
    with pytest.raises(EvospaceError, match="unknown export format 'tflite'"):
        formats.check_formats(["tflite"])
