"""Zero-cost proxies: defined on every operator family, ordered as their definitions say, side-effect free."""

import numpy as np
import pytest
import torch

from evospace.errors import EvospaceError
from evospace.metrics.proxies import PROXIES, proxy_score, proxy_scores
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
