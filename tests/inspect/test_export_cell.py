"""model.py of a cell architecture: torch only, build_model's network and parameter names, runs alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import perturb, tiny_cell_dict
from exported import exec_model, imports, run_alone

from evospace import build_model
from evospace.inspect import model_source
from evospace.space import space_from_dict


@pytest.mark.parametrize("darts", [False, True], ids=["nb201", "darts"])
@pytest.mark.parametrize("dims", [1, 2])
def test_cell_model_py_is_build_models_network(dims: int, darts: bool) -> None:
    space = space_from_dict(tiny_cell_dict(dims, darts), "<tiny_cell>")
    full = space.full_subspace()
    picked = [full.decode(row) for row in full.sample_indices(np.random.default_rng(dims), 4)]
    for arch in [*picked, {label: "zero" for label in space.labels}]:
        source = model_source(space, arch)
        assert imports(source) <= {"torch", "torch.nn"}
        exported, reference = exec_model(source), build_model(space, arch)
        perturb(reference, 0)
        exported.load_state_dict(reference.state_dict(), strict=True)
        assert sum(p.numel() for p in exported.parameters()) == space.cost(arch).params
        x = torch.randn(3, space.data.channels, *([space.data.side] * dims))
        assert torch.equal(exported.eval()(x), reference.eval()(x))


def test_cell_model_py_runs_alone_without_evospace(tmp_path) -> None:
    space = space_from_dict(tiny_cell_dict(1), "<tiny_cell>")
    arch = dict(zip(space.labels, ["conv_k3", "skip", "zero", "avg_pool_k3", "conv_k1", "skip"], strict=True))
    path = tmp_path / "model.py"
    path.write_text(model_source(space, arch))
    result = run_alone(path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("torch only")
    assert f"{space.cost(arch).params} parameters" in result.stdout
