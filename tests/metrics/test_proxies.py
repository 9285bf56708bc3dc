"""Zero-cost proxies: defined on every operator family, ordered as their definitions say, side-effect free."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.errors import EvospaceError
from evospace.metrics.proxies import PROXIES, hamming_kernel, proxy_score, proxy_scores
from evospace.space import space_from_dict
from evospace.supernet import build_model


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(16, 1, 40, generator=gen), torch.randint(0, 10, (16,), generator=gen)


def _space(tiny_space_dict, width: int):
    stages = [{"channels": width, "depth": 1, "stride": 1}, {"channels": 2 * width, "depth": 2, "stride": 2}]
    return space_from_dict({**tiny_space_dict, "skeleton": {**tiny_space_dict["skeleton"], "stages": stages}}, "<t>")


def test_every_proxy_is_finite_on_every_operator(tiny_space, batch):
    x, y = batch
    for op in tiny_space.pool:
        arch = {label: op for label in tiny_space.labels}
        values = proxy_scores(tuple(PROXIES), lambda arch=arch: build_model(tiny_space, arch, seed=0), x, y)
        assert all(np.isfinite(v) for v in values.values()), (op, values)


def test_synflow_grows_with_width_and_parameter_free_paths_flow_less(tiny_space_dict, batch):
    x, y = batch
    narrow, wide = _space(tiny_space_dict, 4), _space(tiny_space_dict, 8)
    conv = {label: "conv_k3" for label in narrow.labels}
    assert (proxy_score("synflow", lambda: build_model(wide, conv), x, y)
            > proxy_score("synflow", lambda: build_model(narrow, conv), x, y))
    skip = {**conv, "s2.b2": "skip"}
    assert (proxy_score("synflow", lambda: build_model(narrow, conv), x, y)
            > proxy_score("synflow", lambda: build_model(narrow, skip), x, y))


def test_proxies_leave_the_global_generator_and_the_model_builder_alone(tiny_space, batch):
    x, y = batch
    arch = {label: "conv_k3" for label in tiny_space.labels}
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = proxy_scores(tuple(PROXIES), lambda: build_model(tiny_space, arch, seed=0), x, y)
    np.testing.assert_array_equal(torch.rand(3), expected)
    assert proxy_scores(tuple(PROXIES), lambda: build_model(tiny_space, arch, seed=0), x, y) == first


def test_an_unknown_proxy_names_the_known_ones(tiny_space, batch):
    with pytest.raises(EvospaceError, match="unknown zero-cost proxy 'synflw'.*synflow"):
        proxy_score("synflw", lambda: build_model(tiny_space, {l: "skip" for l in tiny_space.labels}), *batch)


def test_proxies_computed_together_equal_each_alone(tiny_space, batch):
    arch = {label: "mb_e2_k3" for label in tiny_space.labels}
    together = proxy_scores(tuple(PROXIES), lambda: build_model(tiny_space, arch, seed=1), *batch)
    for name in PROXIES:
        assert proxy_score(name, lambda: build_model(tiny_space, arch, seed=1), *batch) == together[name]


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 12), columns=st.integers(1, 300), seed=st.integers(0, 2 ** 31 - 1))
def test_the_hamming_kernel_equals_its_definition_bit_for_bit(rows, columns, seed):
    gen = torch.Generator().manual_seed(seed)
    codes = torch.rand(rows, columns, generator=gen) < torch.rand(1, generator=gen)
    c = codes.double()
    assert torch.equal(hamming_kernel(codes), c @ c.T + (1 - c) @ (1 - c).T)


def test_naswot_shared_with_the_gradient_proxies_equals_its_definition(tiny_space, batch):
    x, y = batch
    for op in tiny_space.pool:
        arch = {label: op for label in tiny_space.labels}
        model = build_model(tiny_space, arch, seed=2)
        codes = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append((out.detach().flatten(1) > 0).double()))
                 for m in model.modules() if isinstance(m, torch.nn.ReLU)]
        model.train()
        with torch.no_grad():
            model(x)
        for hook in hooks:
            hook.remove()
        expected = 0.0
        if codes:
            c = torch.cat(codes, dim=1)
            expected = float(torch.linalg.slogdet(c @ c.T + (1 - c) @ (1 - c).T)[1])
        shared = proxy_scores(("snip", "naswot"), lambda arch=arch: build_model(tiny_space, arch, seed=2), x, y)
        assert shared["naswot"] == expected, op
