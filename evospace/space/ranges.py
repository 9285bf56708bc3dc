"""The range of every number of a space file, checked after the type: no NaN, no infinity, no absurd size.

A number of the wrong size does not fail where it is read but much later: a NaN learning rate at the first
checkpoint, a population of 10^30 in an allocation that never returns, a width of 10^12 in a tensor. So each
numeric key has a range here, and :func:`check_ranges` refuses a value outside it in one line that names the
key. The upper bounds are far above any search this library is meant for on one machine (the shipped spaces
use a hundredth of them or less); the cross-key checks (tournament ≤ population, ...) stay in
:mod:`evospace.space.space`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["RANGES", "check_ranges", "numeric_keys"]

_BIG = 10**15  # a count (parameters, FLOPs) that no architecture reaches

# key path -> (lowest, highest), both allowed; "[]" stands for any list index, "*" for any name of a mapping
RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**32 - 1),
    "data.val_fraction": (0.001, 0.999),
    "data.batch_size": (1, 1 << 16),
    "data.samples": (20, 10**8),
    "data.test_samples": (1, 10**8),
    "data.size": (4, 1024),
    "skeleton.stem.channels": (1, 4096),
    "skeleton.stages[].channels": (1, 4096),
    "skeleton.stages[].depth": (1, 64),
    "skeleton.stages[].stride": (1, 64),
    "skeleton.stages[].min_branches": (0, 64),
    "skeleton.stages[].max_branches": (1, 64),
    "skeleton.dims": (1, 2),
    "skeleton.nodes": (2, 16),
    "skeleton.inputs": (1, 16),
    "initial.size": (1, 1000),
    "search.rounds": (1, 1000),
    "search.epochs_per_round": (1, 10**4),
    "search.first_round_epochs": (1, 10**4),
    "search.population.size": (2, 10**5),
    "search.population.generations": (1, 10**4),
    "search.population.mutation_prob": (0.0, 1.0),
    "search.population.crossover_prob": (0.0, 1.0),
    "search.population.tournament": (1, 10**5),
    "search.population.hall_of_fame": (1, 10**5),
    "search.constraints.max_params": (1, _BIG),
    "search.constraints.max_flops": (1, _BIG),
    "search.constraints.max.*": (-_BIG, _BIG),
    "search.constraints.min.*": (-_BIG, _BIG),
    "search.shrink.keep": (1, 1000),
    "search.grow.per_round": (0, 1000),
    "search.match_steps": (0, 10**5),
    "search.train.lr": (1e-12, 100.0),
    "search.train.momentum": (0.0, 0.999999),
    "search.train.weight_decay": (0.0, 1.0),
    "search.train.label_smoothing": (0.0, 0.999999),
    "search.train.grad_clip": (1e-12, 1e12),
    "search.train.recalibration_batches": (1, 10**4),
    "search.train.batch_size": (1, 1 << 16),
    "search.scoring.accuracy_samples": (1, 10**6),
    "search.scoring.exhaustive_limit": (1, 10**8),
    "search.scoring.angle_samples": (1, 10**7),
    "search.scoring.anchors": (0, 1000),
    "search.scoring.anchor_epochs": (1, 1000),
    "search.scoring.anchor_steps": (0, 10**6),
    "search.scoring.refresh": (0.0, 0.999999),
    "search.scoring.ridge": (1e-12, math.inf),  # .inf: keep the prior whatever the anchors say
    "search.checkpoint_every": (1, 10**9),
    "search.few_shot.count": (1, 64 * 16),
    "search.few_shot.epochs": (1, 1000),
    "search.few_shot.lr": (1e-12, 100.0),
    "search.branch_learning.target": (1, _BIG),
    "search.branch_learning.weight": (0.0, 1e6),
    "search.branch_learning.every": (1, 10**6),
    "search.branch_learning.lr": (1e-12, 100.0),
    "search.branch_learning.prune_below": (0.0, 0.499999),
    "search.branch_learning.warmup_epochs": (0, 10**4),
}


def _pattern(path: str) -> str:
    """A concrete key path as its :data:`RANGES` key (list indices and mapping names generalised)."""
    out = []
    for part in path.split("."):
        out.append(part.split("[")[0] + "[]" if "[" in part else part)
    return ".".join(out)


def _numbers(config: Any, path: str = "") -> Iterator[tuple[str, str, float]]:
    """``(key path, RANGES key, value)`` of every number held by a config dataclass."""
    if dataclasses.is_dataclass(config):
        for f in dataclasses.fields(config):
            yield from _numbers(getattr(config, f.name), f"{path}.{f.name}" if path else f.name)
    elif isinstance(config, tuple):
        for i, item in enumerate(config):
            yield from _numbers(item, f"{path}[{i}]")
    elif isinstance(config, dict):
        for name, item in config.items():
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                yield f"{path}.{name}", f"{_pattern(path)}.*", item
    elif isinstance(config, (int, float)) and not isinstance(config, bool):
        yield path, _pattern(path), config


def check_ranges(config: Any, fail: Callable[[str, str], None], *, lower: bool = True) -> None:
    """Call ``fail(key, message)`` for the first number of ``config`` outside its range (NaN never is within).

    Args:
        lower: check the lowest values too; ``False`` checks only what is too large or not a number, which is
            what must be refused before anything is derived from the config (the lower ends have their own,
            more specific messages in the space's validation, and this check runs again after it).
    """
    for path, pattern, value in _numbers(config):
        low, high = RANGES[pattern]
        if not value <= high or (lower and not low <= value):  # NaN fails both
            fail(path, f"must be between {_number(low)} and {_number(high)}, got {_number(value)}")


def _number(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan")
    if isinstance(value, int) and abs(value) >= 10**6:
        return f"{value:,}" if abs(value) < 10**18 else f"a number of {len(str(abs(value)))} digits"
    return f"{value:g}" if isinstance(value, float) else str(value)


def numeric_keys(cls: type, path: str = "") -> Iterator[str]:
    """The :data:`RANGES` key of every numeric field of the config dataclass ``cls`` (for the tests)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        yield from _keys_of(hints[f.name], key)


def _keys_of(tp: Any, key: str) -> Iterator[str]:
    if dataclasses.is_dataclass(tp):
        yield from numeric_keys(tp, key)
        return
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is tuple:
        yield from _keys_of(args[0], key + "[]")
    elif origin is dict:
        yield from _keys_of(args[1], key + ".*")
    elif args and origin is not typing.Literal and origin is not None:
        for arg in args:
            yield from _keys_of(arg, key)
    elif tp in (int, float) or (origin is typing.Literal and all(isinstance(a, int) for a in args)):
        yield key
