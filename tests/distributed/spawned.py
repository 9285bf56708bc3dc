"""Scenarios run by every rank of a process group that ``ranks.run_ranks`` starts (as torchrun would).

    python tests/distributed/spawned.py SCENARIO OUT.json

Each rank writes what it saw as JSON to ``OUT.json.RANK``; the scenario's name is a function here.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from evospace.distributed import DistributedError, group


def averaged_gradient(g) -> dict:
    """Each rank's half of a batch, gradients averaged: equal to the whole batch's gradient in one process."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    full = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), list(model.parameters()))
    share = 16 // g.world
    part = slice(g.rank * share, (g.rank + 1) * share)
    torch.nn.functional.cross_entropy(model(x[part]), y[part]).backward()
    params = list(model.parameters())
    g.all_reduce_grads(params)
    return {"max_diff": max(float((p.grad - f).abs().max()) for p, f in zip(params, full))}


def exchange(g) -> dict:
    """Broadcast, gather, shard/unshard, sums and the stop vote."""
    values = [0.1 * i + g.rank for i in range(5)]
    return {"broadcast": g.broadcast({"x": [0.1, 1 / 3], "rank": g.rank}),
            "bytes": g.broadcast_bytes(b"abc\x00" if g.is_main else b"").hex(),
            "gathered": g.all_gather(values),
            "unshard": g.unshard([i * 10 for i in g.shard(list(range(7)))], 7),
            "sum": g.sum([g.rank, 1.5]),
            "any_none": g.any(False), "any_one": g.any(g.rank == 1)}


def disagree(g) -> dict:
    """Rank 1 reaches another decision: every rank must raise."""
    try:
        g.check_agree("the test decision", "same" if g.rank != 1 else "different")
    except DistributedError as err:
        return {"raised": str(err)}
    return {"raised": None}


def agree(g) -> dict:
    g.check_agree("the test decision", "same")
    return {"raised": None}


def rank_dies(g) -> dict:
    """Rank 1 leaves without a word; rank 0 must stop within the timeout with a clear error."""
    if g.rank == 1:
        os._exit(0)
    start = time.monotonic()
    try:
        g.any(False)
        g.any(False)
    except DistributedError as err:
        return {"raised": str(err), "seconds": time.monotonic() - start}
    return {"raised": None, "seconds": time.monotonic() - start}


def rank_hangs(g) -> dict:
    """Rank 1 stops answering (but lives); rank 0 must give up after the timeout."""
    if g.rank == 1:
        time.sleep(g.timeout + 3)
        os._exit(0)
    start = time.monotonic()
    try:
        g.any(False)
    except DistributedError as err:
        return {"raised": str(err), "seconds": time.monotonic() - start}
    return {"raised": None, "seconds": time.monotonic() - start}


def main() -> None:
    scenario, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    g = group("cpu", float(os.environ.get("EVOSPACE_DIST_TIMEOUT", "30")))
    result = globals()[scenario](g)
    with open(f"{out}.{g.rank}", "w") as f:
        json.dump(result, f)
    os._exit(0)  # no teardown: in the failure scenarios the peer is gone


if __name__ == "__main__":
    main()
