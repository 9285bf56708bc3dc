"""model.py is self-contained and is build_model's network; export picks the final front, then the population."""

import json

import pytest
import torch
from conftest import TINY_SPACE
from exported import exec_model, imports, run_alone
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace import Search, build_model
from evospace.errors import EvospaceError, RunError
from evospace.inspect import export_run, model_source
from evospace.run import Run
from evospace.space import space_from_dict

POOL_1D = ["conv_k3", "conv_k5", "sep_k3", "mb_e2_k3", "mb_e3_k5", "dil_k3_d2", "avg_pool_k3", "max_pool_k3", "skip"]


def _space_1d():
    return space_from_dict({**TINY_SPACE, "pool": POOL_1D}, "<tiny-1d>")


def _space_2d():
    data = {**TINY_SPACE, "name": "tiny2d", "data": {"name": "digits", "val_fraction": 0.2, "batch_size": 64},
            "skeleton": {**TINY_SPACE["skeleton"], "dims": 2}, "pool": POOL_1D}
    return space_from_dict(data, "<tiny-2d>")


SPACES = {"1d": _space_1d(), "2d": _space_2d()}


@pytest.mark.parametrize("dims", ["1d", "2d"])
@pytest.mark.parametrize("op", POOL_1D)
def test_every_operator_exports_at_every_kind_of_choice_point(dims, op):
    # the tiny skeleton has shape-keeping choice points (s1.b1, s2.b2) and a strided, widening one (s2.b1)
    _check_same_network(SPACES[dims], dict.fromkeys(SPACES[dims].labels, op), seed=0)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), dims=st.sampled_from(["1d", "2d"]), seed=st.integers(0, 1000))
def test_model_py_is_build_models_network(data, dims, seed):
    space = SPACES[dims]
    _check_same_network(space, {label: data.draw(st.sampled_from(POOL_1D), label=label) for label in space.labels},
                        seed)


def _check_same_network(space, arch, seed):
    source = model_source(space, arch)
    assert imports(source) <= {"torch", "torch.nn"}
    exported, reference = exec_model(source), build_model(space, arch, seed)
    # same parameter names and shapes: evospace's weights load strictly, and give the same outputs
    assert {k: v.shape for k, v in exported.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    assert sum(p.numel() for p in exported.parameters()) == space.cost(arch).params
    x = torch.randn((3, space.data.channels) + (space.data.side,) * space.config.skeleton.dims,
                    generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        reference.train()(x)  # move BN statistics away from their initial values first
        exported.load_state_dict(reference.state_dict(), strict=True)
        out, expected = exported.eval()(x), reference.eval()(x)
    assert out.shape == expected.shape == (3, space.data.classes)
    assert torch.equal(out, expected)


def test_model_py_runs_alone_without_evospace(tmp_path):
    space = SPACES["1d"]
    arch = dict(zip(space.labels, ["mb_e2_k3", "max_pool_k3", "sep_k3"]))
    path = tmp_path / "model.py"
    path.write_text(model_source(space, arch))
    done = run_alone(path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == [f"{space.cost(arch).params} parameters, output (2, 10)", "torch only"]


def test_unknown_layer_type_is_a_clear_error(monkeypatch):
    import evospace.space.ops as ops

    space = SPACES["1d"]
    family, _ = ops.parse_op("conv_k3")
    monkeypatch.setitem(ops._FAMILIES, "conv", family.__class__(
        family.name, family.template, family.regex, lambda c_in, c_out, stride, dims, k: torch.nn.GELU(),
        family.cells_only))
    with pytest.raises(EvospaceError, match=r"'conv_k3' at s1.b1 uses torch.nn.modules.activation.GELU"):
        model_source(space, dict.fromkeys(space.labels, "conv_k3"))


# -- export of a run ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    # a population of 8 keeps architectures beyond its front of 3
    space = space_from_dict({**TINY_SPACE, "search": {**TINY_SPACE["search"], "population": {
        "size": 8, "generations": 1, "tournament": 2, "mutation_prob": 0.5}}}, "<tiny>")
    Search(space, out, device="cpu", progress=False, log=lambda _: None).run()
    return Run.open(out)


def test_export_takes_the_front_then_the_population(finished_run, tmp_path):
    last = finished_run.rounds[-1]
    distinct = {tuple(row["arch"].values()) for row in last.front + last.population}
    top = len(last.front) + 1
    assert len(distinct) > top - 1, "the tiny run must offer an architecture beyond its front"
    directories = export_run(finished_run, top, tmp_path)
    assert [d.name for d in directories] == [f"top{i}" for i in range(1, top + 1)]
    records = [json.loads((d / "arch.json").read_text()) for d in directories]
    assert [r["arch"] for r in records[:-1]] == [row["arch"] for row in last.front]
    assert [r["source"] for r in records] == ["front"] * len(last.front) + ["population"]
    first = finished_run.space.config.search.objectives[0]  # export fills up by what the search maximised
    best_in_population = max(row["metrics"][first] for row in last.population
                             if tuple(row["arch"].values()) not in {tuple(r["arch"].values()) for r in records[:-1]})
    assert records[-1]["metrics"][first] == best_in_population
    space = finished_run.space
    for record, directory in zip(records, directories):
        cost = space.cost(record["arch"])
        assert (record["params"], record["flops"], record["round"]) == (cost.params, cost.flops, last.index)
        assert record["space"] == space.name and record["fingerprint"] == space.fingerprint()
        assert space_from_dict(record["space_config"], "<record>").fingerprint() == space.fingerprint()
        assert (directory / "model.py").read_text() == model_source(space, record["arch"])


def test_export_offers_no_more_than_the_run_has(finished_run, tmp_path):
    last = finished_run.rounds[-1]
    distinct = {tuple(row["arch"].values()) for row in last.front + last.population}
    assert len(export_run(finished_run, 1000, tmp_path)) == len(distinct)


def test_export_of_a_run_without_a_finished_round_says_what_to_do(tmp_path):
    Search(space_from_dict(TINY_SPACE, "<tiny>"), tmp_path / "fresh", device="cpu", progress=False)
    with pytest.raises(RunError, match="no finished round yet.*evospace status"):
        export_run(Run.open(tmp_path / "fresh"), 3, tmp_path / "out")
