"""On-device latency: the per-operator lookup table's sums against whole models measured on this machine.

Builds the latency table of spaces/mnist1d.yaml (every pool operator at every choice-point shape, the stem and
the head) on the CPU, calibrates its offset on 8 whole models as a run does, draws 50 other random architectures
of the whole pool, measures each whole model the same way (interleaved passes, fastest kept: see
evospace/metrics/latency.py) and compares. The models are measured twice,
so the table is also set against the measurement's own repeatability.

    OMP_NUM_THREADS=1 python bench/latency.py [--quick] [--archs N] [--passes P]

Final line: ``RESULT tau=... median_rel_error=... repeat_tau=... archs=N entries=E load=L`` (τ: Kendall's, of the
table's sums against the first whole-model measurement; repeat_tau: the two whole-model measurements against
each other; load: the 1-minute load average when the script started).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from evospace.metrics.latency import PASSES, calibrate, measure_table, validate_table
from evospace.metrics.ranking import kendall_tau
from evospace.run import numpy_stream
from evospace.space import load_space

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "mnist1d.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 architectures and 10 passes instead of 50 and 40")
    parser.add_argument("--archs", type=int, help="random architectures (overrides --quick)")
    parser.add_argument("--passes", type=int, help=f"interleaved timing passes (default {PASSES}; --quick 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = args.archs or (12 if args.quick else 50)
    passes = args.passes or (10 if args.quick else PASSES)
    load = os.getloadavg()[0]

    space = load_space(SPACE)
    start = time.perf_counter()
    table = calibrate(measure_table(space, "cpu", passes=passes), space, "cpu", passes=passes)
    table_s = time.perf_counter() - start
    rng = numpy_stream(args.seed, "bench-latency")
    full = space.full_subspace()
    archs = [full.sample(rng) for _ in range(n)]
    start = time.perf_counter()
    first = validate_table(table, space, archs, "cpu", passes=passes)
    second = validate_table(table, space, archs, "cpu", passes=passes)
    models_s = time.perf_counter() - start
    repeat_tau = kendall_tau(np.array(first["measured_ms"]), np.array(second["measured_ms"]))

    print(f"{space.name}: {len(table.entries)} table entries measured and calibrated (offset {table.offset_ms:.3f} ms) "
          f"in {table_s:.1f} s on {table.device}; "
          f"{n} whole models measured twice in {models_s:.1f} s; {passes} passes; load average {load:.1f}")
    print(f"{'arch':>4} {'table ms':>9} {'whole ms':>9} {'again ms':>9}")
    for i, (est, a, b) in enumerate(zip(first["estimated_ms"], first["measured_ms"], second["measured_ms"])):
        print(f"{i:>4} {est:>9.3f} {a:>9.3f} {b:>9.3f}")
    bias = float(np.median((np.array(first["estimated_ms"]) - first["measured_ms"]) / first["measured_ms"]))
    print(f"Kendall τ table vs whole {first['tau']:.3f} (second measurement {second['tau']:.3f}); whole vs whole "
          f"{repeat_tau:.3f}; median relative error {first['median_rel_error']:.3f} (median signed {bias:+.3f})")
    print(f"RESULT tau={first['tau']:.4f} median_rel_error={first['median_rel_error']:.4f} "
          f"repeat_tau={repeat_tau:.4f} archs={n} entries={len(table.entries)} load={load:.2f}")


if __name__ == "__main__":
    main()
