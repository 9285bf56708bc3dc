"""Zero-cost proxy speed: the calibrated score's proxies of one architecture, shared passes against one pass each.

The calibrated score's default proxies (``synflow``, ``snip``, ``naswot``) are computed once per architecture a
run scores, on a freshly built stand-alone model: in a default search of ``spaces/mnist1d.yaml`` that is several
hundred architectures, a large part of the scoring time. Two ways are timed here on the same architectures, in
this process, interleaved over ``--repeats`` rounds (each side's time is its median, CPU time of one thread):

- *separate*: each proxy by its definition alone: ``synflow`` on a model of its own, ``naswot`` from its own
  forward pass with the kernel ``C Cᵀ + (1 − C)(1 − C)ᵀ`` formed in float64 from float64 codes, ``snip`` from
  another forward and a backward (:func:`~evospace.metrics.proxies.snip` alone);
- *shared*: :func:`evospace.metrics.proxies.proxy_scores` as a run calls it (one forward for ``naswot`` and
  ``snip``, the kernel as one float32 product of exact integers).

The values of the two sides must be equal, bit for bit.

    python bench/proxy_speed.py [--space spaces/mnist1d.yaml] [--archs 24] [--repeats 5] [--quick]

Final line: ``RESULT proxy_speedup=... separate_ms=... shared_ms=... max_abs_diff=...``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evospace import load_space  # noqa: E402
from evospace.errors import EvospaceError  # noqa: E402
from evospace.metrics.proxies import proxy_scores, snip, synflow  # noqa: E402
from evospace.space.subspace import Arch  # noqa: E402
from evospace.supernet import build_model  # noqa: E402

NAMES = ("synflow", "snip", "naswot")


def naswot_by_definition(model: nn.Module, x: torch.Tensor) -> float:
    """``log |det K|`` from a forward pass of its own, the kernel formed as defined, in float64."""
    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append((out.detach().flatten(1) > 0).double()))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    if not codes:
        return 0.0
    c = torch.cat(codes, dim=1)
    return float(torch.linalg.slogdet(c @ c.T + (1 - c) @ (1 - c).T)[1])


def separate(space, arch: Arch, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Each proxy alone on a fresh model."""
    def build() -> nn.Module:
        return build_model(space, arch, seed=0)

    return {"synflow": synflow(build(), x, y), "snip": snip(build(), x, y), "naswot": naswot_by_definition(build(), x)}


def shared(space, arch: Arch, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return proxy_scores(NAMES, lambda: build_model(space, arch, seed=0), x, y)


def timed(fn, space, archs: list[Arch], x: torch.Tensor, y: torch.Tensor) -> tuple[float, list[dict[str, float]]]:
    start = time.process_time()
    values = [fn(space, arch, x, y) for arch in archs]
    return time.process_time() - start, values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=ROOT / "spaces" / "mnist1d.yaml")
    parser.add_argument("--archs", type=int, default=24, help="architectures sampled uniformly (seed 0)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="4 architectures, 2 repeats")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    count, repeats = (4, 2) if args.quick else (args.archs, args.repeats)
    try:  # a bad space file is one error line, not a traceback
        space = load_space(args.space)
    except EvospaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    full = space.full_subspace()
    rng = np.random.default_rng(0)
    archs = [full.sample(rng) for _ in range(count)]
    data = space.data
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, data.channels, *([data.side] * data.dims), generator=gen)
    y = torch.randint(0, data.classes, (128,), generator=gen)
    times: dict[str, list[float]] = {"separate": [], "shared": []}
    diff = 0.0
    for _ in range(repeats):
        t_sep, v_sep = timed(separate, space, archs, x, y)
        t_sh, v_sh = timed(shared, space, archs, x, y)
        times["separate"].append(t_sep)
        times["shared"].append(t_sh)
        diff = max(diff, *(abs(a[n] - b[n]) for a, b in zip(v_sep, v_sh) for n in NAMES))
    sep_ms, sh_ms = (statistics.median(times[k]) / count * 1000 for k in ("separate", "shared"))
    print(f"{space.name}: {count} architectures x {repeats} repeats, proxies {', '.join(NAMES)}")
    print(f"  separate passes  {sep_ms:8.1f} ms per architecture (median CPU time)")
    print(f"  shared passes    {sh_ms:8.1f} ms per architecture")
    print(f"  speed-up {sep_ms / sh_ms:.2f}x, largest difference of a value {diff:g}")
    print(f"RESULT proxy_speedup={sep_ms / sh_ms:.3f} separate_ms={sep_ms:.2f} shared_ms={sh_ms:.2f} "
          f"max_abs_diff={diff:g}")
    return 0 if diff == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
