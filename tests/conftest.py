"""Shared fixtures: a tiny space (as data, as a SearchSpace, as a file) and tiny ``--set`` overrides.

Everything here is sized so that a supernet epoch takes a fraction of a second on one CPU core:
stem of 4 channels, three choice points of 4–8 channels, 600 MNIST-1D samples (cached after the
first test that needs them, like any user run).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
import yaml
from hypothesis import settings
from torch import nn

from evospace.space import SearchSpace, space_from_dict

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPACE_FILE = REPO / "spaces" / "mnist1d.yaml"

# Tests are small: one thread is faster than two here, and the machine is shared.
torch.set_num_threads(1)

# `make test` runs one pytest worker per core: an example's wall time then says more about its neighbours than
# about it, so no property test has a deadline (a slow example would be reported as a flaky failure)
settings.register_profile("evospace", deadline=None)
settings.load_profile("evospace")

TINY_STAGES = "[{channels: 4, depth: 1, stride: 1}, {channels: 8, depth: 2, stride: 2}]"

TINY_SPACE: dict = {
    "name": "tiny",
    "data": {"name": "mnist1d", "val_fraction": 0.2, "batch_size": 64, "samples": 600},
    "skeleton": {
        "kind": "chain",
        "dims": 1,
        "stem": {"channels": 4},
        "stages": yaml.safe_load(TINY_STAGES),
    },
    "pool": ["conv_k3", "sep_k3", "mb_e2_k3", "dil_k3_d2", "avg_pool_k3", "skip"],
    "initial": {"size": 3, "order": "shuffled"},
    "search": {
        "rounds": 1,
        "epochs_per_round": 1,
        "population": {"size": 4, "generations": 1, "tournament": 2},
        "shrink": {"keep": 2},
        "grow": {"per_round": 1},
        "scoring": {"accuracy_samples": 8, "anchors": 3, "anchor_epochs": 1, "anchor_steps": 0},
    },
    "seed": 0,
}

# A tiny NAS-Bench-201-style cell space: 4 nodes (6 edges), two stages (the second a reduction), one cell each.
TINY_CELL_SPACE: dict = {
    "name": "tiny_cell",
    "data": {"name": "mnist1d", "val_fraction": 0.2, "batch_size": 64, "samples": 600},
    "skeleton": {"kind": "cell", "dims": 1, "nodes": 4, "stem": {"channels": 4},
                 "stages": [{"channels": 4, "depth": 1, "stride": 1}, {"channels": 8, "depth": 1, "stride": 2}]},
    "pool": ["zero", "skip", "conv_k1", "conv_k3", "avg_pool_k3"],
    "initial": {"size": 3, "order": "shuffled"},
    "search": copy.deepcopy(TINY_SPACE["search"]),
    "seed": 0,
}


def tiny_cell_dict(dims: int = 1, darts: bool = False) -> dict:
    """The tiny cell space (a fresh copy); ``dims=2`` puts it on the 8x8 digits images, two cells per stage;
    ``darts``: a DARTS-style cell of 3 intermediate nodes, each with edges from every predecessor (9 edges)."""
    space = copy.deepcopy(TINY_CELL_SPACE)
    if darts:
        space["name"] = "tiny_darts"
        space["skeleton"] |= {"cell": "darts", "nodes": 3}
        space["initial"] = {"size": 2, "order": "shuffled"}
    if dims == 2:
        space["name"] = "tiny_cell_2d"
        space["data"] = {"name": "digits", "val_fraction": 0.2, "batch_size": 64}
        space["skeleton"]["dims"] = 2
        for stage in space["skeleton"]["stages"]:
            stage["depth"] = 2
    return space


def multi_branch_stages(first_max: int = 2, second_max: int = 2) -> list[dict]:
    """The tiny stages as multi-branch stages: s1.b1 keeps the shape (may run no branch), s2.b1 strides and
    widens (its minimum is raised to one branch), s2.b2 keeps the shape."""
    return [
        {"channels": 4, "depth": 1, "stride": 1, "multi_branch": True, "min_branches": 0, "max_branches": first_max},
        {"channels": 8, "depth": 2, "stride": 2, "multi_branch": True, "min_branches": 0, "max_branches": second_max},
    ]


def perturb(net: nn.Module, seed: int, scale: float = 0.1) -> None:
    """Stand in for training: move every weight and BN statistic away from its initial value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def tiny_variant(name: str, *, data: dict | None = None, search: dict | None = None) -> dict:
    """The tiny space under another name, with some ``data`` and ``search`` keys changed (for shared runs)."""
    space = copy.deepcopy(TINY_SPACE)
    space["name"] = name
    space["data"].update(data or {})
    space["search"].update(search or {})
    return space


# `key=value` strings that shrink spaces/mnist1d.yaml to a run of a few seconds.
TINY_OVERRIDES: tuple[str, ...] = (
    "search.epochs_per_round=1",
    "search.rounds=1",
    "search.population.size=4",
    "search.population.generations=1",
    "search.population.tournament=2",
    "search.scoring.accuracy_samples=8",
    "search.scoring.anchors=3",
    "search.scoring.anchor_epochs=1",
    "search.scoring.anchor_steps=0",
    "data.samples=600",
    "skeleton.stem.channels=4",
    f"skeleton.stages={TINY_STAGES}",
)


@pytest.fixture
def tiny_space_dict() -> dict:
    """The tiny space as plain data (a fresh copy: edit it freely)."""
    return copy.deepcopy(TINY_SPACE)


@pytest.fixture
def tiny_space(tiny_space_dict: dict) -> SearchSpace:
    """The tiny space, validated: three choice points (s1.b1, s2.b1, s2.b2), pool of six, three active."""
    return space_from_dict(tiny_space_dict, "<tiny>")


@pytest.fixture
def tiny_space_file(tmp_path: Path, tiny_space_dict: dict) -> Path:
    """The tiny space written as a YAML file in ``tmp_path``."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_space_dict, sort_keys=False))
    return path


@pytest.fixture
def default_space_file() -> Path:
    """The shipped default space, spaces/mnist1d.yaml (independent of the working directory)."""
    return DEFAULT_SPACE_FILE


@pytest.fixture
def tiny_overrides() -> list[str]:
    """``key=value`` strings for ``load_space(path, overrides)`` that make spaces/mnist1d.yaml tiny."""
    return list(TINY_OVERRIDES)


@pytest.fixture
def tiny_cli_args(tiny_overrides: list[str]) -> list[str]:
    """The same overrides as CLI arguments: ``["--set", "k=v", "--set", ...]``."""
    return [arg for item in tiny_overrides for arg in ("--set", item)]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-round run directory made by the CLI (a few seconds, once per session).

    ``evospace search spaces/mnist1d.yaml --seed 3`` with the tiny overrides. Shared: read it, or copy it
    (``shutil.copytree``) before changing anything in it.
    """
    from evospace.cli import main

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    argv = ["search", str(DEFAULT_SPACE_FILE), "--out", str(out), "--quiet", "--device", "cpu", "--seed", "3"]
    argv += [arg for item in TINY_OVERRIDES for arg in ("--set", item)]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(argv)
    if status != 0 or "Traceback" in stderr.getvalue():
        raise RuntimeError(f"the tiny search failed (exit {status}):\n{stderr.getvalue()}")
    return out


@pytest.fixture(scope="session")
def bench_script() -> Callable[[str], ModuleType]:
    """``bench_script("controller_loso")``: bench/controller_loso.py as a module (bench/ is no package), loaded once
    per session."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    loaded: dict[str, ModuleType] = {}

    def load(name: str) -> ModuleType:
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    return load
