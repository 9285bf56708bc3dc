"""Supernet accuracy: recalibration leaves the supernet untouched; many archs score as one by one."""

import numpy as np
import pytest
import torch

from evospace.data import load_data
from evospace.errors import EvospaceError
from evospace.metrics import AccuracyEvaluator
from evospace.supernet import Supernet


def test_recalibrated_scores_do_not_change_the_supernet(tiny_space):
    cfg = tiny_space.config.data
    data = load_data(cfg.name, val_fraction=cfg.val_fraction, samples=cfg.samples, split_seed=0)
    net = Supernet(tiny_space, tiny_space.initial_subspace(), seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    evaluator = AccuracyEvaluator(data, batch_size=64, batches=2, seed=0)
    archs = [tiny_space.initial_subspace().sample(np.random.default_rng(i)) for i in range(3)]
    many = evaluator.accuracy_many(net, archs)
    assert many.tolist() == [evaluator.accuracy(net, a) for a in archs]
    assert all(0.0 <= v <= 1.0 for v in many)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    inactive = next(op for op in tiny_space.pool if op not in tiny_space.initial_subspace().ops("s1.b1"))
    with pytest.raises(EvospaceError, match="is not active at 's1.b1'"):
        evaluator.accuracy(net, {**archs[0], "s1.b1": inactive})
