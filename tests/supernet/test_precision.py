"""The GPU's mixed-precision step, run on the CPU: bfloat16 autocast trains, the float16 scaler's order
(scale, backward, unscale, clip, step, update) gives the float32 step, channels-last placement is CUDA only, and
a snapshot carries the loss scale."""

from __future__ import annotations

import json

import torch
from conftest import tiny_cell_dict

from evospace.data import load_data
from evospace.evolve.backend import SupernetBackend
from evospace.space import space_from_dict
from evospace.space.schema import TrainConfig
from evospace.supernet import Supernet, build_model
from evospace.supernet.precision import Precision, place, precision_for
from evospace.supernet.train import make_optimizer, train_step


def _batch(space, n: int = 16):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, space.data.channels, *([space.data.side] * space.config.skeleton.dims), generator=gen)
    return x, torch.randint(0, space.data.classes, (n,), generator=gen)


def test_bfloat16_autocast_step_trains_a_cell_supernet_on_the_cpu() -> None:
    space = space_from_dict(tiny_cell_dict(2), "<tiny_cell_2d>")
    net = Supernet(space, space.full_subspace(), seed=0)
    arch = {label: "conv_k3" for label in space.labels}
    optimizer = make_optimizer(net, TrainConfig())
    params = list(net.parameters())
    before = [p.detach().clone() for p in params]
    x, y = _batch(space)
    losses = [float(train_step([lambda inp: net(inp, arch)], params, optimizer, x, y, TrainConfig(), 0.05,
                               precision=Precision("cpu", torch.bfloat16))[0]) for _ in range(5)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    assert any(not torch.equal(b, p) for b, p in zip(before, params, strict=True))


def test_a_gradient_scaler_step_equals_the_plain_step() -> None:
    space = space_from_dict(tiny_cell_dict(1), "<tiny_cell>")
    arch = dict.fromkeys(space.labels, "conv_k3")
    plain, scaled = build_model(space, arch), build_model(space, arch)
    x, y = _batch(space)
    config = TrainConfig()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    for model, precision in ((plain, None), (scaled, Precision("cpu", None, scaler))):
        optimizer = make_optimizer(model, config)
        for _ in range(3):
            train_step([model], list(model.parameters()), optimizer, x, y, config, 0.05, precision=precision)
    for a, b in zip(plain.parameters(), scaled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert scaler.get_scale() > 0


def test_cpu_trains_in_float32_and_keeps_its_memory_format() -> None:
    assert precision_for(torch.device("cpu")) is None
    space = space_from_dict(tiny_cell_dict(2), "<tiny_cell_2d>")
    net = place(Supernet(space, space.initial_subspace(), seed=0), torch.device("cpu"), 2)
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()


def test_a_snapshot_carries_the_float16_loss_scale(tiny_space) -> None:
    """A float16 run resumed from a snapshot goes on with the loss scale it had reached, not the initial one."""
    data = load_data("mnist1d", val_fraction=0.2, samples=600, split_seed=0)

    def backend() -> SupernetBackend:
        made = SupernetBackend(tiny_space, data, torch.device("cpu"))
        made.precision = Precision("cpu", None, torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=2))
        return made

    trained = backend()
    trained.make_trainer(0).train_epoch()
    state = json.loads(json.dumps(trained.state()))  # as written into the snapshot's state.json
    reached = trained.precision.scaler.get_scale()
    assert reached > 1024.0 and state["loss_scale"]["scale"] == reached
    resumed = backend()
    resumed.restore(trained.subspace, trained.tensors(), state)
    assert resumed.precision.scaler.state_dict() == trained.precision.scaler.state_dict()
    assert "loss_scale" not in SupernetBackend(tiny_space, data, torch.device("cpu")).state()  # CPU: float32
