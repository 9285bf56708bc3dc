"""Ground-truth build speed: ``--jobs N`` worker processes against one process, same architectures, same rows.

A ground truth trains every architecture stand-alone, one CPU thread each; ``evospace groundtruth --jobs N``
trains N at once in spawned processes. Both builds run here, in this process, on the first ``--archs``
architectures of the space's build order (``--limit``), one after the other (``--repeats`` times, alternating
which goes first); each side's time is its median wall-clock time, worker start-up included. The two files must
hold the same rows in the same order, every figure equal but the training time.

    python bench/groundtruth_jobs.py [--space spaces/mnist1d_rank.yaml] [--archs 16] [--epochs 2] [--jobs 2]
                                     [--repeats 2] [--quick]

Final line: ``RESULT jobs=N speedup=... serial_s=... parallel_s=... archs=... identical=0|1 cores=...``. The
speed-up is bounded by the cores (``cores``, what this process may run on) and by worker start-up, which a short
build does not pay back.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evospace import load_space  # noqa: E402
from evospace.data import load_space_data  # noqa: E402
from evospace.errors import EvospaceError  # noqa: E402
from evospace.metrics import build_ground_truth  # noqa: E402


def rows(path: Path) -> list[str]:
    """The file's header and rows, each row without its last column (training time, the clock's)."""
    lines = path.read_text().splitlines()
    return lines[:3] + [line.rsplit(",", 1)[0] for line in lines[3:]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=str(ROOT / "spaces" / "mnist1d_rank.yaml"))
    parser.add_argument("--archs", type=int, default=16, help="architectures per build (default 16)")
    parser.add_argument("--epochs", type=int, default=2, help="stand-alone epochs (default 2)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of the parallel build (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="builds per side (default 2)")
    parser.add_argument("--quick", action="store_true", help="4 architectures, 1 epoch, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.archs, args.epochs, args.repeats = 4, 1, 1
    torch.set_num_threads(1)
    try:
        space = load_space(args.space)
    except EvospaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = space.config
    data = load_space_data(config.data, split_seed=config.seed, device="cpu")
    times: dict[int, list[float]] = {1: [], args.jobs: []}
    files: dict[int, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = (1, args.jobs) if repeat % 2 == 0 else (args.jobs, 1)
            for jobs in order:
                out = Path(tmp) / f"jobs{jobs}_{repeat}.csv"
                start = time.perf_counter()
                build_ground_truth(space, out, data, epochs=args.epochs, seeds=1, limit=args.archs, jobs=jobs)
                times[jobs].append(time.perf_counter() - start)
                files[jobs] = out
                print(f"  repeat {repeat}: --jobs {jobs}: {times[jobs][-1]:.1f} s", flush=True)
        identical = rows(files[1]) == rows(files[args.jobs])
    serial, parallel = statistics.median(times[1]), statistics.median(times[args.jobs])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{space.name}: {args.archs} architectures x {args.epochs} epochs: one process {serial:.1f} s, "
          f"{args.jobs} processes {parallel:.1f} s (x{serial / parallel:.2f}); rows identical: {identical}")
    print(f"RESULT jobs={args.jobs} speedup={serial / parallel:.3f} serial_s={serial:.2f} parallel_s={parallel:.2f} "
          f"archs={args.archs} identical={int(identical)} cores={cores}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
