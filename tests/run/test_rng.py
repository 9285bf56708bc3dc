"""Global generator states survive a trip through JSON exactly, cached Gaussian halves included."""

from __future__ import annotations

import json
import random

import numpy as np
import torch

from evospace.run import global_rng_state, numpy_stream, set_global_rng_state, torch_stream


def draws() -> list[float]:
    return [random.random(), random.gauss(0, 1), float(np.random.rand()), float(np.random.standard_normal()),
            float(torch.rand(1)), float(torch.randn(1))]


def test_global_states_round_trip_through_json():
    untouched = global_rng_state()
    try:
        random.gauss(0, 1)  # leaves a cached second value in Python's generator
        np.random.standard_normal()  # and in NumPy's legacy one
        state = json.loads(json.dumps(global_rng_state()))
        first = draws()
        draws()
        set_global_rng_state(state)
        assert draws() == first
        assert global_rng_state() != state  # the draws moved it on
    finally:
        set_global_rng_state(untouched)


def test_streams_depend_only_on_their_key():
    assert numpy_stream(0, "paths", 1, 2).random() == numpy_stream(0, "paths", 1, 2).random()
    assert numpy_stream(0, "paths", 1, 2).random() != numpy_stream(0, "paths", 1, 3).random()
    a, b = (torch.rand(4, generator=torch_stream(3, "order")) for _ in range(2))
    assert torch.equal(a, b)
