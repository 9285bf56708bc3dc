"""A loaded, validated search space: config plus what follows from it (choice points, costs, queues)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evospace.data import DataInfo, DataRequest, check_request, dataset_info
from evospace.errors import DataError, SpaceError, closest
from evospace.space.branches import BranchBounds, split_branches
from evospace.space.cells import cell_topology
from evospace.space.costs import fixed_cost, operator_costs, total
from evospace.space.objectives import MAX_OBJECTIVES, UnknownObjectiveError, leading_objectives, objective
from evospace.space.ops import OpCost, UnknownOpError, parse_op
from evospace.space.ranges import check_ranges
from evospace.space.schema import (
    RECORDED,
    FewShotConfig,
    SpaceConfig,
    apply_overrides,
    check_signals,
    from_dict,
    parse_score,
    read_space_file,
    to_dict,
)
from evospace.space.subspace import Arch, Subspace

__all__ = ["ChoicePoint", "SearchSpace", "cell_labels", "load_space", "space_from_dict"]


def cell_labels(nodes: int) -> tuple[str, ...]:
    """Edge labels ``cell.e{j}_{i}`` (edge i → j) of a cell, in NAS-Bench-201 string order.

    NAS-Bench-201 writes a cell node by node, each node's inputs in order, so this order makes an
    architecture's operators read left to right like its NAS-Bench-201 string.

    Example:
        >>> cell_labels(3)
        ('cell.e1_0', 'cell.e2_0', 'cell.e2_1')
    """
    return tuple(f"cell.e{j}_{i}" for j in range(1, nodes) for i in range(j))


@dataclass(frozen=True)
class ChoicePoint:
    """One place of the skeleton that takes exactly one operator."""

    label: str  # stable name, e.g. "s2.b1"
    c_in: int  # input channels
    c_out: int  # output channels
    stride: int  # stride of the operator
    side: int  # input side (sequence length or image height)
    branches: BranchBounds | None = None  # multi-branch points: how many operators run at once

    @property
    def keeps_shape(self) -> bool:
        """Whether input and output shapes agree (only such a block can be skipped)."""
        return self.c_in == self.c_out and self.stride == 1


@dataclass(frozen=True, eq=False)
class SearchSpace:
    """A validated space: use :func:`load_space` to make one."""

    config: SpaceConfig  # the resolved space file
    source: str  # where it was read from (for error messages)
    data: DataInfo  # the data set's sample shape
    choice_points: tuple[ChoicePoint, ...]  # in forward order

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(cp.label for cp in self.choice_points)

    @property
    def pool(self) -> tuple[str, ...]:
        return self.config.pool

    @functools.cached_property
    def branch_bounds(self) -> dict[str, BranchBounds]:
        """Branch bounds of the multi-branch choice points (empty in a one-operator-per-point space).

        Computed once and shared: read it, do not change it.
        """
        return {cp.label: cp.branches for cp in self.choice_points if cp.branches is not None}

    @property
    def multi_branch(self) -> bool:
        return bool(self.branch_bounds)

    def subspace(self, active) -> Subspace:
        """A subspace of this space holding ``active`` (``{label: ops}``), with its branch bounds."""
        return Subspace(active, self.branch_bounds)

    def subspace_from_config(self, data: dict) -> Subspace:
        """A subspace read back from its ``to_config`` record."""
        return Subspace.from_config(data, self.branch_bounds)

    def choice_point(self, label: str) -> ChoicePoint:
        for cp in self.choice_points:
            if cp.label == label:
                return cp
        raise KeyError(label)

    # -- the order operators enter in -----------------------------------------------------------
    def pool_order(self, label: str) -> tuple[str, ...]:
        """The order in which ``label``'s pool becomes active: initial operators first, then its queue.

        ``shuffled`` draws one seeded permutation per choice point (seeded by the space seed and the
        choice point's position, so it never depends on other random draws of a run). ``flops`` sorts that
        permutation by the operator's FLOPs at the point, largest first, so that ties (the parameter-free
        operators) keep the shuffle's order: a cost prior, known before any training, picks who starts.
        """
        initial = self.config.initial
        index = self.labels.index(label)
        if initial.order in ("shuffled", "flops"):
            rng = np.random.default_rng([self.config.seed, 7919, index])
            pool = [self.pool[i] for i in rng.permutation(len(self.pool))]
            if initial.order == "flops":
                pool.sort(key=lambda op: -self.op_cost(label, op).flops)
        else:
            pool = list(self.pool)
        if initial.ops is not None:
            return tuple(initial.ops) + tuple(op for op in pool if op not in initial.ops)
        return tuple(pool)

    def initial_subspace(self) -> Subspace:
        """The round-0 subspace: ``initial.ops`` or the first ``initial.size`` of each pool order."""
        count = len(self.config.initial.ops) if self.config.initial.ops is not None else self.config.initial.size
        return self.subspace({label: self.pool_order(label)[:count] for label in self.labels})

    def full_subspace(self) -> Subspace:
        """Every pool operator active at every choice point."""
        return self.subspace({label: self.pool for label in self.labels})

    # -- costs (counted in space/costs.py) -------------------------------------------------------
    @functools.cached_property
    def _cost_table(self) -> dict[tuple[str, str], OpCost]:
        return operator_costs(self.config.skeleton, self.data, self.choice_points, self.pool)

    @functools.cached_property
    def base_cost(self) -> OpCost:
        """Cost of the fixed parts: stem and classifier head (cells: also transition blocks, last BN)."""
        return fixed_cost(self.config.skeleton, self.data)

    def op_cost(self, label: str, op: str) -> OpCost:
        """Parameters and FLOPs of operator ``op`` (or of a branch set's operators) at choice point ``label``.

        A multi-branch block costs the sum of its branches: averaging them is free by the FLOP convention.
        """
        if label in self.branch_bounds:
            return total(self._cost_table[(label, name)] for name in split_branches(op))
        return self._cost_table[(label, op)]

    def cost(self, arch: Arch) -> OpCost:
        """Exact parameters and FLOPs of a stand-alone model of ``arch``."""
        out = self.base_cost
        for label in self.labels:
            out = out + self.op_cost(label, arch[label])
        return out

    # -- persistence ------------------------------------------------------------------------------
    def to_config(self) -> dict:
        """The resolved space as plain data (what ``run.yaml`` records)."""
        return to_dict(self.config)

    @classmethod
    def from_config(cls, data: dict, source: str = "<config>") -> SearchSpace:
        return space_from_dict(data, source)

    def fingerprint(self) -> str:
        """A hash of what makes two spaces the same for a run: its shapes, data, pools and seed.

        Built from resolved values (choice-point shapes, initial subspace, pool orders), not from the whole
        config, so that a new optional schema key with a default does not orphan the runs already on disk.
        """
        data = self.config.data
        key = {
            "kind": self.config.skeleton.kind,
            "dims": self.config.skeleton.dims,
            "stem": self.config.skeleton.stem.channels,
            "stages": [[st.channels, st.depth, st.stride] for st in self.config.skeleton.stages],
            "choice_points": [[cp.label, cp.c_in, cp.c_out, cp.stride, cp.side] for cp in self.choice_points],
            "data": [data.name, data.val_fraction, data.batch_size, data.samples],
            "pool_orders": {label: list(self.pool_order(label)) for label in self.labels},
            "initial": self.initial_subspace().to_config(),
            "seed": self.config.seed,
        }
        if data.test_samples is not None:  # only then, as for darts cells below
            key["data"].append(data.test_samples)
        if self.config.skeleton.cell == "darts":  # only then: the fingerprints of other spaces stay what they were
            key["cell"] = [self.config.skeleton.cell, self.config.skeleton.nodes, self.config.skeleton.inputs]
        if self.multi_branch:  # only then: the fingerprints of one-operator spaces stay what they were
            key["branches"] = {label: [b.min, b.max] for label, b in self.branch_bounds.items()}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_space(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> SearchSpace:
    """Read, override and validate a space file.

    Args:
        path: a YAML space file, e.g. ``spaces/mnist1d.yaml``.
        overrides: ``key.path=value`` strings, as the CLI's ``--set``.

    Raises:
        SpaceError: naming the file, the key path and what is expected.

    Example:
        >>> space = load_space("spaces/mnist1d.yaml", ["search.rounds=2"])  # doctest: +SKIP
    """
    data = read_space_file(path)
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        return space_from_dict(data, str(path))
    except SpaceError as err:
        raise _blame_override(err, overrides) from None


def _blame_override(err: SpaceError, overrides: list[str] | tuple[str, ...]) -> SpaceError:
    """The error as the ``--set`` that put the bad value there says it, when one did (else ``err`` itself)."""
    for item in reversed(overrides):
        key = item.split("=", 1)[0].strip()
        if err.key == key or err.key.startswith((f"{key}.", f"{key}[")):
            return SpaceError("--set", err.key, err.message)
    return err


def space_from_dict(data: dict, source: str, data_info: DataInfo | None = None) -> SearchSpace:
    """Validate plain space data (as read from YAML) and derive the choice points.

    Args:
        data_info: the data set's sample shape as a run recorded it (``run.yaml``): a recorded run opens without
            its data (a file moved, a data set registered only by the script that searched). ``None``: ask the
            data set (which may read its file).
    """
    config = from_dict(SpaceConfig, data, source)
    config = _default_initial_size(config, data)
    if config.data.path is not None:  # relative to the current directory; recorded absolute, so a run resumes anywhere
        absolute = str(Path(config.data.path).expanduser().absolute())
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, path=absolute))
    return _validate(config, source, data_info)


def _default_initial_size(config: SpaceConfig, data: dict) -> SpaceConfig:
    """``initial.size`` left to its default is at most the pool size (a pool of two starts with both)."""
    initial = data.get("initial")
    if (isinstance(initial, dict) and "size" in initial) or config.initial.ops is not None or not config.pool:
        return config
    size = min(config.initial.size, len(config.pool))
    return dataclasses.replace(config, initial=dataclasses.replace(config.initial, size=size))


def _describe_data(config: SpaceConfig, source: str) -> DataInfo:
    """The data set's sample shape; its errors become the space's, at the key that chose what failed."""
    data = config.data
    request = DataRequest.of(data)
    try:
        check_request(data.name, request)
        return dataset_info(data.name, request)
    except DataError as err:
        raise SpaceError(source, err.key or "data.name", str(err)) from None


def _validate(config: SpaceConfig, source: str, data_info: DataInfo | None = None) -> SearchSpace:
    def fail(key: str, message: str) -> None:
        raise SpaceError(source, key, message)

    if not config.name.strip():
        fail("name", "must not be empty")
    check_ranges(config, fail, lower=False)  # first: an absurd size must not cost anything below
    info = data_info if data_info is not None else _describe_data(config, source)
    if not 0.0 < config.data.val_fraction < 1.0:
        fail("data.val_fraction", f"must be between 0 and 1 (exclusive), got {config.data.val_fraction}")
    if config.data.batch_size < 1:
        fail("data.batch_size", f"must be ≥ 1, got {config.data.batch_size}")
    if config.data.size is not None and config.data.size < 4:
        fail("data.size", f"must be ≥ 4 pixels (or null for 32), got {config.data.size}")
    if config.data.samples is not None and config.data.samples < 20:
        fail("data.samples", f"must be ≥ 20 (or null for the data set's default), got {config.data.samples}")

    skeleton = config.skeleton
    if skeleton.kind == "cell" and skeleton.cell == "nb201" and (skeleton.nodes is None or skeleton.nodes < 2):
        fail("skeleton.nodes", f"a cell skeleton needs nodes ≥ 2 (NAS-Bench-201: 4), got {skeleton.nodes}")
    if skeleton.kind == "cell" and skeleton.cell == "darts" and (skeleton.nodes is None or skeleton.nodes < 1):
        fail("skeleton.nodes", f"a darts cell needs nodes ≥ 1 intermediate nodes (DARTS: 4), got {skeleton.nodes}")
    if skeleton.kind == "chain" and skeleton.nodes is not None:
        fail("skeleton.nodes", "only cell skeletons have nodes; remove it or set kind: cell")
    if skeleton.kind == "chain" and (skeleton.cell != "nb201" or skeleton.inputs is not None):
        fail("skeleton.cell" if skeleton.cell != "nb201" else "skeleton.inputs",
             "only cell skeletons have a cell type and inputs; remove it or set kind: cell")
    if skeleton.inputs is not None and skeleton.cell != "darts":
        fail("skeleton.inputs", "only darts cells choose how many input edges a node takes; set cell: darts or "
                                "remove it")
    if skeleton.inputs is not None and skeleton.inputs < 1:
        fail("skeleton.inputs", f"must be ≥ 1 (or null: every predecessor), got {skeleton.inputs}")
    if skeleton.dims != info.dims:
        fail("skeleton.dims", f"data set {info.name!r} is {info.dims}-D, so dims must be {info.dims}, "
                              f"got {skeleton.dims}")
    if skeleton.stem.channels < 1:
        fail("skeleton.stem.channels", f"must be ≥ 1, got {skeleton.stem.channels}")
    if not skeleton.stages:
        fail("skeleton.stages", "must list at least one stage, e.g. [{channels: 16, depth: 2, stride: 1}]")
    choice_points = []
    c_in, side = skeleton.stem.channels, info.side
    for s, stage in enumerate(skeleton.stages):
        key = f"skeleton.stages[{s}]"
        if stage.channels < 1:
            fail(f"{key}.channels", f"must be ≥ 1, got {stage.channels}")
        if stage.depth < 1:
            fail(f"{key}.depth", f"must be ≥ 1, got {stage.depth}")
        if stage.stride < 1:
            fail(f"{key}.stride", f"must be ≥ 1, got {stage.stride}")
        if stage.stride > 1 and side < stage.stride:
            fail(f"{key}.stride", f"stride {stage.stride} on a feature map of side {side}: the input "
                                  f"({info.name}, side {info.side}) is too small for this many strides")
        if skeleton.kind == "cell":
            side = (side - 1) // stage.stride + 1  # the stage's transition block; its cells keep the shape
            continue
        bounds = _stage_bounds(stage, key, len(config.pool), skeleton.kind, fail)
        for b in range(stage.depth):
            stride = stage.stride if b == 0 else 1
            point = ChoicePoint(f"s{s + 1}.b{b + 1}", c_in, stage.channels, stride, side, bounds)
            if bounds is not None and bounds.min == 0 and not point.keeps_shape:
                point = dataclasses.replace(point, branches=BranchBounds(1, bounds.max))  # it cannot be skipped
            choice_points.append(point)
            side = (side - 1) // stride + 1
            c_in = stage.channels
    if skeleton.kind == "cell":
        first = skeleton.stages[0].channels
        first_side = (info.side - 1) // skeleton.stages[0].stride + 1
        choice_points = [ChoicePoint(label, first, first, 1, first_side) for label in cell_topology(skeleton).labels]

    if not config.pool:
        fail("pool", "must list at least one operator")
    seen = set()
    for i, op in enumerate(config.pool):
        try:
            family, _ = parse_op(op)
        except UnknownOpError as err:
            fail(f"pool[{i}]", str(err))
        if family.cells_only and skeleton.kind == "chain":
            fail(f"pool[{i}]", f"operator {op!r} is only allowed on cell edges; a chain layer must compute something")
        if op in seen:
            fail(f"pool[{i}]", f"operator {op!r} is listed twice")
        seen.add(op)

    initial = config.initial
    if initial.ops is not None:
        if not initial.ops:
            fail("initial.ops", "must list at least one operator")
        for i, op in enumerate(initial.ops):
            if op not in config.pool:
                fail(f"initial.ops[{i}]", f"operator {op!r} is not in the pool; add it to `pool` or remove it here")
        if len(set(initial.ops)) != len(initial.ops):
            fail("initial.ops", "lists an operator twice")
    elif initial.size is None or not 1 <= initial.size <= len(config.pool):
        fail("initial.size", f"must be between 1 and the pool size ({len(config.pool)}), got {initial.size}")

    search = config.search
    if search.rounds < 1:
        fail("search.rounds", f"must be ≥ 1, got {search.rounds}")
    if search.epochs_per_round < 1:
        fail("search.epochs_per_round", f"must be ≥ 1, got {search.epochs_per_round}")
    if search.first_round_epochs is not None and search.first_round_epochs < 1:
        fail("search.first_round_epochs", f"must be ≥ 1 (or null: search.epochs_per_round), "
                                          f"got {search.first_round_epochs}")
    pop = search.population
    if pop.size < 2:
        fail("search.population.size", f"must be ≥ 2, got {pop.size}")
    if pop.generations < 1:
        fail("search.population.generations", f"must be ≥ 1, got {pop.generations}")
    if pop.tournament < 1:
        fail("search.population.tournament", f"must be ≥ 1, got {pop.tournament}")
    if pop.size < pop.tournament:
        fail("search.population.size", f"must be ≥ search.population.tournament ({pop.tournament}), got {pop.size}")
    for key in ("mutation_prob", "crossover_prob"):
        value = getattr(pop, key)
        if not 0.0 <= value <= 1.0:
            fail(f"search.population.{key}", f"must be a probability in [0, 1], got {value}")
    if not search.objectives:
        fail("search.objectives", "must list at least one objective, e.g. [accuracy]")
    for i, obj in enumerate(search.objectives):
        try:
            objective(obj)
        except UnknownObjectiveError as err:
            fail(f"search.objectives[{i}]", str(err))
    if len(set(search.objectives)) != len(search.objectives):
        fail("search.objectives", "lists an objective twice")
    if search.objectives[0] not in leading_objectives():
        fail("search.objectives[0]", f"the first objective must be a measure of quality the search maximises "
                                     f"({' or '.join(leading_objectives())}), got {search.objectives[0]!r}")
    if len(search.objectives) > MAX_OBJECTIVES:
        fail("search.objectives", f"at most {MAX_OBJECTIVES} objectives, got {len(search.objectives)}")
    _check_constraints(search.constraints, fail)
    if search.shrink.keep < 1:
        fail("search.shrink.keep", f"must be ≥ 1 (a choice point is never emptied), got {search.shrink.keep}")
    if search.shrink.keep > len(config.pool):
        fail("search.shrink.keep", f"must be ≤ the pool size ({len(config.pool)}), got {search.shrink.keep}")
    try:
        parse_score(search.shrink.score)
    except ValueError as err:
        fail("search.shrink.score", str(err))
    if search.grow.per_round < 0:
        fail("search.grow.per_round", f"must be ≥ 0, got {search.grow.per_round}")
    train = search.train
    if train.lr <= 0:
        fail("search.train.lr", f"must be > 0, got {train.lr}")
    if not 0.0 <= train.label_smoothing < 1.0:
        fail("search.train.label_smoothing", f"must be in [0, 1), got {train.label_smoothing}")
    if train.recalibration_batches < 1:
        fail("search.train.recalibration_batches", f"must be ≥ 1, got {train.recalibration_batches}")
    if train.batch_size is not None and train.batch_size < 1:
        fail("search.train.batch_size", f"must be ≥ 1 (or null for data.batch_size), got {train.batch_size}")
    if pop.hall_of_fame < 1:
        fail("search.population.hall_of_fame", f"must be ≥ 1, got {pop.hall_of_fame}")
    scoring = search.scoring
    for key in ("accuracy_samples", "exhaustive_limit", "angle_samples"):
        if getattr(scoring, key) < 1:
            fail(f"search.scoring.{key}", f"must be ≥ 1, got {getattr(scoring, key)}")
    _check_calibrated_score(scoring, fail)
    for i, name in enumerate(scoring.record):
        if name not in RECORDED:
            fail(f"search.scoring.record[{i}]", f"unknown metric {name!r}{closest(name, RECORDED)}; expected some of "
                                                f"{', '.join(RECORDED)}")
    if search.checkpoint_every < 1:
        fail("search.checkpoint_every", f"must be ≥ 1, got {search.checkpoint_every}")
    if search.few_shot is not None:
        _check_few_shot(search.few_shot, tuple(choice_points), fail)
    _check_branches(config, tuple(choice_points), fail)
    check_ranges(config, fail)

    space = SearchSpace(config, source, info, tuple(choice_points))
    _check_size(space, source)
    _check_feasible(space, source)
    return space


def _check_calibrated_score(scoring, fail) -> None:
    """The calibrated score's signals are known and distinct, its prior a non-empty subset, its numbers sane."""
    for key in ("signals", "prior"):
        names = getattr(scoring, key)
        if not names:
            fail(f"search.scoring.{key}", "must name at least one signal, e.g. [flops]")
        for i, name in enumerate(names):
            try:
                check_signals([name])
            except ValueError as err:
                fail(f"search.scoring.{key}[{i}]", str(err))
            if name in names[:i]:
                fail(f"search.scoring.{key}[{i}]", f"{name!r} is listed twice")
    for i, name in enumerate(scoring.prior):
        if name not in scoring.signals:
            fail(f"search.scoring.prior[{i}]", f"{name!r} is not among search.scoring.signals; add it there or "
                                               f"drop it here")
    if not 0 <= scoring.anchors <= 1000:
        fail("search.scoring.anchors", f"must be between 0 (the prior alone) and 1000, got {scoring.anchors}")
    if not 1 <= scoring.anchor_epochs <= 1000:
        fail("search.scoring.anchor_epochs", f"must be between 1 and 1000, got {scoring.anchor_epochs}")
    if not 0 <= scoring.anchor_steps <= 10**6:
        fail("search.scoring.anchor_steps", f"must be between 0 (anchor_epochs alone) and 1000000, "
                                            f"got {scoring.anchor_steps}")
    if not 0 <= scoring.refresh < 1:
        fail("search.scoring.refresh", f"must be in [0, 1): the share of the anchors kept for later rounds, "
                                       f"got {scoring.refresh}")
    if not scoring.ridge > 0 or scoring.ridge != scoring.ridge:
        fail("search.scoring.ridge", f"must be > 0 (.inf keeps the prior whatever the anchors say), "
                                     f"got {scoring.ridge}")


def _check_constraints(constraints, fail) -> None:
    """Limits: positive costs; ``max``/``min`` keyed by registered objectives other than params and FLOPs."""
    for key in ("max_params", "max_flops"):
        value = getattr(constraints, key)
        if value is not None and value < 1:
            fail(f"search.constraints.{key}", f"must be ≥ 1 (or null for no limit), got {value}")
    for side in ("max", "min"):
        for name in getattr(constraints, side) or {}:
            key = f"search.constraints.{side}.{name}"
            if name in ("params", "flops"):
                fail(key, f"use search.constraints.max_{name}: it is repaired (cheaper operators swapped in), "
                          f"not penalised")
            try:
                objective(name)
            except UnknownObjectiveError as err:
                fail(key, str(err))


def _stage_bounds(stage, key: str, pool_size: int, kind: str, fail) -> BranchBounds | None:
    """A stage's branch bounds (``None`` when it is not multi-branch), checked against the pool."""
    if not stage.multi_branch:
        if stage.min_branches != 1 or stage.max_branches is not None:
            fail(f"{key}.multi_branch", "min_branches and max_branches need multi_branch: true")
        return None
    if kind == "cell":
        fail(f"{key}.multi_branch", "multi-branch choice points exist in chain skeletons only")
    if stage.min_branches < 0:
        fail(f"{key}.min_branches", f"must be ≥ 0, got {stage.min_branches}")
    most = pool_size if stage.max_branches is None else stage.max_branches
    if most < max(stage.min_branches, 1):
        fail(f"{key}.max_branches", f"must be ≥ max(1, min_branches) ({max(stage.min_branches, 1)}), got {most}")
    return BranchBounds(stage.min_branches, most)


def _check_branches(config: SpaceConfig, choice_points: tuple[ChoicePoint, ...], fail) -> None:
    """Multi-branch points need enough initial operators; branch learning needs them and a Pareto search."""
    initial = config.initial
    count = len(initial.ops) if initial.ops is not None else initial.size
    multi = [cp for cp in choice_points if cp.branches is not None]
    for s, stage in enumerate(config.skeleton.stages):
        if stage.multi_branch and stage.min_branches > count:
            fail(f"skeleton.stages[{s}].min_branches", f"must be ≤ the initial operators per choice point ({count}), "
                                                        f"got {stage.min_branches}")
    search = config.search
    learning = search.branch_learning
    if multi and search.few_shot is not None:
        names = {cp.label for cp in multi}
        single = [cp.label for cp in choice_points if cp.label not in names]
        for i, label in enumerate(search.few_shot.split or ()):
            if label in names:
                fail(f"search.few_shot.split[{i}]", f"{label} is a multi-branch choice point; a few-shot split fixes "
                                                    f"one operator per sub-supernet, so it only splits single-branch "
                                                    f"points ({', '.join(single) or 'the space has none'})")
        if search.few_shot.split is None and search.few_shot.auto_count > len(single):
            fail("search.few_shot.count", f"only {len(single)} choice point(s) are single-branch, and only those "
                                          f"can be split; got {search.few_shot.auto_count}")
    if learning is None:
        return
    key = "search.branch_learning"
    if not multi:
        fail(key, "learns the branch probabilities of multi-branch choice points, and the space has none; set "
                  "multi_branch: true on a stage of skeleton.stages")
    if learning.target < 1:
        fail(f"{key}.target", f"must be ≥ 1, got {learning.target}")
    if learning.weight < 0:
        fail(f"{key}.weight", f"must be ≥ 0, got {learning.weight}")
    if learning.every < 1:
        fail(f"{key}.every", f"must be ≥ 1, got {learning.every}")
    if learning.lr <= 0:
        fail(f"{key}.lr", f"must be > 0, got {learning.lr}")
    if not 0.0 <= learning.prune_below < 0.5:
        fail(f"{key}.prune_below", f"must be in [0, 0.5) (an untrained operator has probability 0.5), "
                                   f"got {learning.prune_below}")
    shortest = min(search.epochs_of(0), search.epochs_per_round)
    if not 0 <= learning.warmup_epochs < shortest:
        fail(f"{key}.warmup_epochs", f"must be between 0 and the shortest round's epochs - 1 ({shortest - 1}: "
                                     f"search.epochs_per_round, search.first_round_epochs), "
                                     f"got {learning.warmup_epochs}")
    if learning.cost not in search.objectives:
        fail("search.objectives", f"branch learning picks the optimised subset from an accuracy-vs-{learning.cost} "
                                  f"Pareto front; add {learning.cost} to the objectives, e.g. "
                                  f"[{search.objectives[0]}, {learning.cost}]")


def _check_few_shot(config: FewShotConfig, choice_points: tuple[ChoicePoint, ...], fail) -> None:
    """Split labels must be distinct choice points; counts, epochs and the learning rate positive."""
    labels = [cp.label for cp in choice_points]
    if config.split is not None:
        if not config.split:
            fail("search.few_shot.split", "must name at least one choice point (or leave it out to choose by `count`)")
        for i, label in enumerate(config.split):
            if label not in labels:
                fail(f"search.few_shot.split[{i}]",
                     f"unknown choice point {label!r}{closest(label, labels)}; expected one of {', '.join(labels)}")
            if label in config.split[:i]:
                fail(f"search.few_shot.split[{i}]", f"{label!r} is listed twice")
    # count 1 beside a split is what run.yaml files of earlier versions resolved the default to: still accepted
    if config.split is not None and config.count not in (None, 1):
        fail("search.few_shot.count", "give either `split` (the choice points to split on) or `count` (how many "
                                      "to choose automatically), not both")
    if not 1 <= config.auto_count <= len(labels):
        fail("search.few_shot.count", f"must be between 1 and the number of choice points ({len(labels)}), "
                                      f"got {config.auto_count}")
    if config.epochs < 1:
        fail("search.few_shot.epochs", f"must be ≥ 1, got {config.epochs}")
    if config.lr is not None and config.lr <= 0:
        fail("search.few_shot.lr", f"must be > 0 (or null for search.train.lr), got {config.lr}")


MAX_SUPERNET_PARAMS = 500_000_000  # 2 GB of float32 weights: beyond what a search of this library can train


def _check_size(space: SearchSpace, source: str) -> None:
    """Refuse a space whose supernet (every pool operator at every choice point) could not be held in memory."""
    params = space.base_cost.params + sum(cost.params for cost in space._cost_table.values())
    if params > MAX_SUPERNET_PARAMS:
        raise SpaceError(source, "skeleton.stages", f"a supernet holding the whole pool would have {params:,} "
                                                    f"parameters (at most {MAX_SUPERNET_PARAMS:,}); use fewer "
                                                    f"channels, fewer choice points or a smaller pool")


def _check_feasible(space: SearchSpace, source: str) -> None:
    """Refuse constraints that no architecture of the initial subspace can meet (costs are additive)."""
    limits = space.config.search.constraints
    initial = space.initial_subspace()
    for key, attr in (("max_params", "params"), ("max_flops", "flops")):
        limit = getattr(limits, key)
        if limit is None:
            continue
        smallest = getattr(space.base_cost, attr) + sum(
            min(getattr(space.op_cost(label, op), attr) for op in initial.choices(label)) for label in space.labels)
        if smallest > limit:
            raise SpaceError(source, f"search.constraints.{key}",
                             f"no architecture of the initial subspace fits: the smallest has {smallest:,} "
                             f"{attr}, the limit is {limit:,}; raise the limit or start from smaller operators")
