"""On-device latency of architectures, from a per-operator lookup table measured once (as HW-NAS-Bench and
nn-Meter do).

Every operator of the pool is timed once at every distinct shape it takes in the space (operator, input
channels, output channels, stride, side), on the device that runs the search, with ``torch.utils.benchmark``;
so are the stem and the head. An architecture's latency is the sum of its entries (a multi-branch block: the
sum of its branches) plus one offset, calibrated on a few whole models: a whole model pays some overhead that
its pieces timed alone do not (on the default space the raw sums came out 11% low). The table is measured
before the first architecture needs it, written to the run directory and read back on resume, so the latencies
a run's decisions used never change.

How one module is timed: batch 1, eval mode, no gradients, one thread. Every module of a table (or every
model of a validation) is timed in ``PASSES`` round-robin passes of about ``SAMPLE_SECONDS`` each and keeps its
fastest pass: on a machine shared with other processes, interference only ever adds time, and interleaving
spreads slow spells over all modules alike. With the median of one block per module instead, the table ranked
50 whole models of the default space at Kendall τ 0.23 on this 2-core machine under a load of 8, and the
models' own repeated measurements agreed at τ 0.0; with 40 interleaved passes, τ 0.94 (``bench/latency.py``).
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils import benchmark

from evospace.errors import EvospaceError
from evospace.metrics.ranking import kendall_tau
from evospace.run.rng import numpy_stream
from evospace.run.store import atomic_write, json_bytes
from evospace.space.branches import split_branches
from evospace.space.ops import create_op
from evospace.space.space import ChoicePoint, SearchSpace
from evospace.space.subspace import Arch
from evospace.supernet.skeleton import make_head, make_stem
from evospace.supernet.supernet import build_model

__all__ = ["LatencyTable", "measure_latencies", "measure_table", "calibrate", "validate_table", "table_for_run",
           "PASSES",
           "SAMPLE_SECONDS", "TABLE_FILE"]

PASSES = 40  # round-robin passes; each module keeps its fastest
SAMPLE_SECONDS = 2e-4  # about this long per timed sample: short enough to fit between other processes' slices
BATCH = 1  # inputs per forward pass: the latency of one sample, as a deployed model would see it
VALIDATION_ARCHS = 8  # whole models measured when a table is built, to record how well its sums agree
TABLE_FILE = "latency.json"


@dataclass(frozen=True)
class LatencyTable:
    """Measured latencies (ms) of every operator at every shape of one space, on one device."""

    device: str  # what measured it, e.g. "cpu (AMD EPYC), 1 thread, torch 2.13.0"
    entries: dict[str, float]  # entry_key(op, point) -> ms
    base_ms: float  # the stem and the head
    batch: int = BATCH
    offset_ms: float = 0.0  # what whole models take beyond their pieces' sum (median over the calibration models)
    validation: dict = field(default_factory=dict)  # {"archs", "tau", "median_rel_error"}: raw sums vs whole models

    def op_ms(self, point: ChoicePoint, op: str, dims: int) -> float:
        """One block's latency: its operator's entry, or the sum of its branches' (an empty set: nothing)."""
        return sum(self.entries[entry_key(name, point, dims)] for name in split_branches(op))

    def estimate(self, space: SearchSpace, arch: Arch) -> float:
        """The architecture's latency (ms): the stem and head plus every block's entry."""
        dims = space.config.skeleton.dims
        return self.base_ms + self.offset_ms + sum(self.op_ms(cp, arch[cp.label], dims) for cp in space.choice_points)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LatencyTable:
        return cls(data["device"], {k: float(v) for k, v in data["entries"].items()}, float(data["base_ms"]),
                   int(data.get("batch", BATCH)), float(data.get("offset_ms", 0.0)), dict(data.get("validation", {})))


def entry_key(op: str, point: ChoicePoint, dims: int) -> str:
    """The table's key of ``op`` at ``point``'s shape: points of one shape share their entries."""
    return f"{op} {point.c_in}->{point.c_out} s{point.stride} side{point.side} {dims}d"


def device_name(device: torch.device) -> str:
    """What a table was measured on, in words (recorded with it)."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"cpu ({platform.processor() or platform.machine()}), 1 thread, torch {torch.__version__}"


def measure_latencies(modules: Sequence[tuple[nn.Module, torch.Tensor]], device: torch.device, *,
                      passes: int | None = None) -> list[float]:
    """Latency (ms) of each ``module(input)``: the fastest of ``passes`` (default ``PASSES``) interleaved samples."""
    passes = passes or PASSES
    timers, numbers = [], []
    with torch.no_grad():
        for module, x in modules:
            module = module.to(device).eval()
            x = x.to(device)
            for _ in range(3):  # warm-up: first calls allocate
                module(x)
            timer = benchmark.Timer("module(x)", globals={"module": module, "x": x}, num_threads=1)
            one = timer.timeit(5).median
            timers.append(timer)
            numbers.append(max(1, int(SAMPLE_SECONDS / max(one, 1e-7))))
        best = [float("inf")] * len(timers)
        for _ in range(passes):
            for i, (timer, number) in enumerate(zip(timers, numbers)):
                best[i] = min(best[i], timer.timeit(number).median)
    return [seconds * 1e3 for seconds in best]


def _check_chain(space: SearchSpace) -> None:
    if space.config.skeleton.kind != "chain":
        raise EvospaceError(f"{space.source}: latency is measured per operator for chain skeletons; a cell space "
                            f"gets it from a tabular oracle (evospace search --oracle TABLE.csv)")


def measure_table(space: SearchSpace, device: torch.device | str = "cpu", *, passes: int | None = None) -> LatencyTable:
    """Time every pool operator at every distinct choice-point shape of ``space``, and the stem and head."""
    _check_chain(space)
    device = torch.device(device)
    dims = space.config.skeleton.dims
    keys: list[str] = []
    modules: list[tuple[nn.Module, torch.Tensor]] = []
    for cp in space.choice_points:
        for op in space.pool:
            key = entry_key(op, cp, dims)
            if key not in keys:
                keys.append(key)
                modules.append((create_op(op, cp.c_in, cp.c_out, cp.stride, dims), _input(cp.c_in, cp.side, dims)))
    last = space.choice_points[-1]
    side_out = (last.side - 1) // last.stride + 1
    modules.append((make_stem(space), _input(space.data.channels, space.data.side, dims)))
    modules.append((make_head(space), _input(last.c_out, side_out, dims)))
    ms = measure_latencies(modules, device, passes=passes)
    return LatencyTable(device_name(device), dict(zip(keys, ms[:-2])), ms[-2] + ms[-1])


def validate_table(table: LatencyTable, space: SearchSpace, archs: Sequence[Arch], device: torch.device | str,
                   *, passes: int | None = None) -> dict:
    """How the table's sums agree with ``archs`` measured whole: Kendall τ and the median relative error.

    Returns:
        ``{"archs", "tau", "median_rel_error", "estimated_ms", "measured_ms"}``.
    """
    device = torch.device(device)
    dims = space.config.skeleton.dims
    models = [(build_model(space, arch), _input(space.data.channels, space.data.side, dims)) for arch in archs]
    measured = np.array(measure_latencies(models, device, passes=passes))
    estimated = np.array([table.estimate(space, arch) for arch in archs])
    return {"archs": len(archs), "tau": kendall_tau(estimated, measured) if len(archs) > 1 else float("nan"),
            "median_rel_error": float(np.median(np.abs(estimated - measured) / measured)),
            "estimated_ms": estimated.tolist(), "measured_ms": measured.tolist()}


def calibrate(table: LatencyTable, space: SearchSpace, device: torch.device | str, *,
              passes: int | None = None) -> LatencyTable:
    """``table`` with its offset set from ``VALIDATION_ARCHS`` whole models (drawn from the run's seeded stream), and
    how its raw sums agreed with them recorded as ``validation``."""
    rng = numpy_stream(space.config.seed, "latency-validation")
    full = space.full_subspace()
    archs = [full.sample(rng) for _ in range(VALIDATION_ARCHS)]
    raw = dataclasses.replace(table, offset_ms=0.0)
    check = validate_table(raw, space, archs, device, passes=passes)
    offset = float(np.median(np.array(check["measured_ms"]) - np.array(check["estimated_ms"])))
    return dataclasses.replace(raw, offset_ms=offset, validation={k: check[k] for k in ("archs", "tau",
                                                                                         "median_rel_error")})


def table_for_run(space: SearchSpace, run_dir: Path, device: torch.device | str,
                  log: Callable[[str], None] = lambda message: None) -> LatencyTable:
    """The run's table: read from ``run_dir/latency.json``, or measured now, validated and written there.

    Raises:
        EvospaceError: the space is not a chain, or the file is damaged.
    """
    path = Path(run_dir) / TABLE_FILE
    if path.exists():
        try:
            return LatencyTable.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as err:
            raise EvospaceError(f"{path}: damaged ({err}); the run's latencies cannot be read back") from None
    _check_chain(space)
    log(f"measuring the latency table of {space.name} on {device}: every operator at every shape")
    table = calibrate(measure_table(space, device), space, device)
    atomic_write(path, json_bytes(table.to_json()))
    check = table.validation
    log(f"latency table: {len(table.entries)} entries on {table.device}; against {check['archs']} whole models "
        f"its sums rank at Kendall τ {check['tau']:.2f}, median relative error {check['median_rel_error']:.1%} "
        f"before adding the calibrated offset of {table.offset_ms:.3f} ms")
    return table


def _input(channels: int, side: int, dims: int) -> torch.Tensor:
    return torch.randn((BATCH, channels) + (side,) * dims, generator=torch.Generator().manual_seed(0))
