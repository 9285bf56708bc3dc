"""model.py of a multi-branch architecture runs with torch only and loads the supernet's path; check_arch takes sets."""

import copy

import numpy as np
import pytest
import torch
from conftest import TINY_SPACE, multi_branch_stages
from exported import exec_model, imports, run_alone
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace import build_model
from evospace.errors import EvospaceError
from evospace.inspect import check_arch, model_source
from evospace.space import EMPTY, space_from_dict
from evospace.supernet import Supernet

POOL = ["conv_k3", "sep_k3", "mb_e2_k3", "dil_k3_d2", "avg_pool_k3", "max_pool_k3", "skip"]


def _space():
    data = copy.deepcopy(TINY_SPACE)
    data.update(name="tiny-multi", pool=POOL, initial={"size": 3, "order": "listed"})
    data["skeleton"]["stages"] = multi_branch_stages(2, 3)
    return space_from_dict(data, "<tiny-multi>")


SPACE = _space()
# s1.b1 keeps the shape and is skipped; s2.b1 strides and widens; s2.b2 keeps the shape
ARCH = {"s1.b1": EMPTY, "s2.b1": "conv_k3+max_pool_k3+skip", "s2.b2": "avg_pool_k3+sep_k3"}


@pytest.fixture(scope="module")
def supernet():
    net = Supernet(SPACE, SPACE.full_subspace(), seed=2)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return net.eval()


def _check_same_network(arch, supernet, seed=0):
    source = model_source(SPACE, arch)
    assert imports(source) <= {"torch", "torch.nn"}
    exported, reference = exec_model(source), build_model(SPACE, arch, seed)
    assert {k: v.shape for k, v in exported.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    assert sum(p.numel() for p in exported.parameters()) == SPACE.cost(arch).params
    exported.load_state_dict(supernet.path_state_dict(arch), strict=True)
    x = torch.randn((3, SPACE.data.channels, SPACE.data.side), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out, expected = exported.eval()(x), supernet(x, arch)
    assert out.shape == expected.shape == (3, SPACE.data.classes)
    assert torch.equal(out, expected)
    return source


def test_model_py_of_a_multi_branch_arch_is_the_supernets_path(supernet):
    source = _check_same_network(ARCH, supernet)
    assert "class MultiBranch" in source
    assert '"s2.b1": "conv_k3+max_pool_k3+skip",' in source
    assert '"s1.b1": "none",' in source
    assert '"s1_b1": MultiBranch({}),' in source


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_model_py_of_any_multi_branch_arch_is_the_supernets_path(supernet, seed):
    _check_same_network(SPACE.full_subspace().sample(np.random.default_rng(seed)), supernet, seed % 100)


def test_multi_branch_model_py_runs_alone_without_evospace(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(model_source(SPACE, ARCH))
    done = run_alone(path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == [f"{SPACE.cost(ARCH).params} parameters, output (2, 10)", "torch only"]


# -- check_arch ------------------------------------------------------------------------------------
def test_check_arch_accepts_lists_and_returns_canonical_text():
    arch = {"s1.b1": [], "s2.b1": ["skip", "max_pool_k3", "conv_k3"], "s2.b2": "sep_k3+avg_pool_k3"}
    assert check_arch(SPACE, arch, "arch.json") == ARCH
    assert check_arch(SPACE, ARCH, "arch.json") == ARCH
    assert check_arch(SPACE, {"s2.b2": ["skip"], "s2.b1": "conv_k3", "s1.b1": "none"}, "arch.json") == {
        "s1.b1": EMPTY, "s2.b1": "conv_k3", "s2.b2": "skip"}  # in label order


@pytest.mark.parametrize(("arch", "words"), [
    ({**ARCH, "s2.b2": ["sep_k3", "conv_k9"]}, ["'conv_k9'", "s2.b2", "not in the pool"]),
    ({**ARCH, "s2.b2": "conv_k9+sep_k3"}, ["'conv_k9'", "s2.b2", "not in the pool"]),
    ({**ARCH, "s1.b1": ["conv_k3", "sep_k3", "skip"]}, ["s1.b1", "0 to 2 branches", "got 3"]),
    ({**ARCH, "s2.b1": "conv_k3+dil_k3_d2+max_pool_k3+skip"}, ["s2.b1", "1 to 3 branches", "got 4"]),
    ({**ARCH, "s2.b1": EMPTY}, ["s2.b1", "1 to 3 branches", "got 0"]),  # a shape-changing block is never skipped
    ({**ARCH, "s2.b1": [1, 2]}, ["must map choice points to operator names", "a list of names"]),
    ({**ARCH, "s1.b9": "skip"}, ["'s1.b9'", "not in space"]),
])
def test_check_arch_rejects_with_one_clear_error(arch, words):
    with pytest.raises(EvospaceError) as err:
        check_arch(SPACE, arch, "arch.json")
    assert type(err.value) is EvospaceError
    message = str(err.value)
    assert message.startswith("arch.json: ") and "\n" not in message
    for word in words:
        assert word in message


def test_check_arch_refuses_a_list_at_a_single_branch_point():
    data = copy.deepcopy(TINY_SPACE)
    data["pool"] = POOL
    data["skeleton"]["stages"][1].update(multi_branch=True, min_branches=1, max_branches=2)
    mixed = space_from_dict(data, "<mixed>")
    assert set(mixed.branch_bounds) == {"s2.b1", "s2.b2"}
    with pytest.raises(EvospaceError, match="must map choice points"):
        check_arch(mixed, {"s1.b1": ["conv_k3"], "s2.b1": "conv_k3", "s2.b2": "skip"}, "arch.json")
    assert check_arch(mixed, {"s1.b1": "conv_k3", "s2.b1": ["skip", "conv_k3"], "s2.b2": ["skip"]}, "a") == {
        "s1.b1": "conv_k3", "s2.b1": "conv_k3+skip", "s2.b2": "skip"}
