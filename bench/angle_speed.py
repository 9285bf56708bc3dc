"""Angle metric: exact per-operator decomposition vs the naive concatenation, on the default space.

Scores the same seeded sample of architectures of spaces/mnist1d.yaml (the whole pool active at every
choice point, so the sample is drawn from 12^6 ≈ 3·10^6 architectures) with a supernet whose weights are
randomly moved away from their reference, for every angle definition. The decomposition's time includes
collecting the per-operator sums, so it is the cost a round pays.

    python bench/angle_speed.py [--quick] [--archs N]

Final line: ``RESULT archs=N max_abs_diff=... speedup=...`` (largest difference over every definition,
in radians; speedup = naive time / decomposition time summed over the definitions).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from evospace.metrics import DEFINITIONS, AngleScorer, naive_angle, reference_weights
from evospace.run import numpy_stream, torch_stream
from evospace.space import load_space
from evospace.supernet import Supernet

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "mnist1d.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 architectures instead of 10,000")
    parser.add_argument("--archs", type=int, help="number of architectures (overrides --quick)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = args.archs or (1000 if args.quick else 10000)

    space = load_space(SPACE)
    net = Supernet(space, space.full_subspace(), seed=args.seed)
    reference = reference_weights(net)
    gen = torch_stream(args.seed, "angle-speed")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * p.detach().std().nan_to_num(1.0) * torch.randn(p.shape, generator=gen))
    rows = net.subspace.sample_indices(numpy_stream(args.seed, "angle-speed-archs"), n)
    archs = [net.subspace.decode(r) for r in rows]

    print(f"{n:,} architectures of {space.full_subspace().size:,} ({SPACE.name}, full pool)")
    print(f"{'definition':<10} {'naive s':>9} {'decomposed s':>13} {'speedup':>9} {'max |diff| rad':>15}")
    total_naive = total_fast = 0.0
    worst = 0.0
    for definition in DEFINITIONS:
        start = time.perf_counter()
        slow = np.array([naive_angle(net, reference, a, definition) for a in archs])
        naive_s = time.perf_counter() - start
        start = time.perf_counter()
        fast = AngleScorer(net, reference, definition).score_indices(rows)
        fast_s = time.perf_counter() - start
        diff = float(np.abs(fast - slow).max())
        worst = max(worst, diff)
        total_naive += naive_s
        total_fast += fast_s
        print(f"{definition:<10} {naive_s:9.2f} {fast_s:13.4f} {naive_s / fast_s:9.0f} {diff:15.2e}")
    print(f"RESULT archs={n} max_abs_diff={worst:.3e} speedup={total_naive / total_fast:.0f}")


if __name__ == "__main__":
    main()
