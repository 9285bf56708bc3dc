"""Every random draw of a run comes from a stream derived from (run seed, purpose, counters).

Streams are counter-based: the generator for "paths of round 3, epoch 2" is rebuilt from its key
whenever it is needed, so resuming at any step needs only the counters, never a saved generator
state. The global generators (Python, NumPy, torch CPU/CUDA) are still captured in checkpoints by
:func:`global_rng_state` for code outside evospace that may draw from them.
"""

from __future__ import annotations

import base64
import hashlib
import random

import numpy as np
import torch

__all__ = ["init_seed", "numpy_stream", "torch_stream", "global_rng_state", "set_global_rng_state"]


def init_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (run seed, purpose, label, operator, round...)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def numpy_stream(seed: int, *key: object) -> np.random.Generator:
    """A NumPy generator for one purpose of one run, e.g. ``numpy_stream(seed, "paths", round, epoch)``."""
    return np.random.default_rng(init_seed(seed, *key))


def torch_stream(seed: int, *key: object) -> torch.Generator:
    """A CPU torch generator for one purpose of one run."""
    gen = torch.Generator()
    gen.manual_seed(init_seed(seed, *key))
    return gen


def global_rng_state() -> dict:
    """Python, NumPy and torch (CPU and CUDA) global generator states as JSON-ready data."""
    py = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "state": {"key": [int(v) for v in np_state["state"]["key"]], "pos": int(np_state["state"]["pos"])},
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
        "cuda": [base64.b64encode(s.numpy().tobytes()).decode() for s in torch.cuda.get_rng_state_all()]
        if torch.cuda.is_available() else [],
    }
    return state


def set_global_rng_state(state: dict) -> None:
    """Restore what :func:`global_rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state({"bit_generator": np_state["bit_generator"],
                         "state": {"key": np.array(np_state["state"]["key"], dtype=np.uint32),
                                   "pos": np_state["state"]["pos"]},
                         "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]})
    torch.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(state["torch"])), dtype=torch.uint8))
    if state.get("cuda") and torch.cuda.is_available():  # resumed on fewer GPUs: the ones present
        for device, saved in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(saved)), dtype=torch.uint8), device)
