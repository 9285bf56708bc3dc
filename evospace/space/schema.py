"""Space files: YAML → frozen dataclasses, validated with errors that name the file and the key path.

The dataclasses below *are* the schema: :func:`from_dict` walks their type hints, so a new field is one
line with a comment, and unknown keys, missing keys and wrong types are reported the same way for every
section. Checks that span several keys (an initial operator outside the pool, a population smaller than
its tournament) come after, in :func:`validate`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import reprlib
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from evospace.errors import SpaceError, closest

__all__ = [
    "DataConfig",
    "StemConfig",
    "StageConfig",
    "SkeletonConfig",
    "InitialConfig",
    "PopulationConfig",
    "ConstraintsConfig",
    "ShrinkConfig",
    "GrowConfig",
    "TrainConfig",
    "ScoreConfig",
    "FewShotConfig",
    "BranchLearningConfig",
    "SearchConfig",
    "SpaceConfig",
    "from_dict",
    "to_dict",
    "read_space_file",
    "apply_overrides",
    "parse_score",
    "check_signals",
    "SIGNALS",
]


@dataclass(frozen=True)
class DataConfig:
    name: str = "mnist1d"  # registered data set: mnist1d | digits | npz | csv | cifar10 | cifar100 | image_folder | ...
    val_fraction: float = 0.2  # share of the training data held out to score architectures
    # samples per training step: the supernet's (unless search.train.batch_size), the anchors' and stand-alone
    # trainings', and BN recalibration's
    batch_size: int = 128
    samples: int | None = None  # total samples to generate (None: the data set's default); files: a training subset
    # generated data sets (mnist1d): test samples generated beyond data.samples, which then all train (None: the data
    # set's own split). A large test set judges retrained models finely; a small data.samples makes the task harder
    test_samples: int | None = None
    path: str | None = None  # the file or directory of a data set read from disk; relative to the current directory
    target: str | None = None  # csv: the column holding the labels
    size: int | None = None  # image_folder: the side (pixels) images are resized to (None: 32)


@dataclass(frozen=True)
class StemConfig:
    channels: int = 16  # output channels of the fixed 3-wide stem convolution


@dataclass(frozen=True)
class StageConfig:
    channels: int  # output channels of every choice point of the stage
    depth: int  # number of choice points in the stage
    stride: int = 1  # stride of the stage's first choice point
    multi_branch: bool = False  # each choice point runs a set of operators at once and averages them (NSE)
    min_branches: int = 1  # fewest branches of a multi-branch point; 0 lets a shape-keeping block be skipped
    max_branches: int | None = None  # most branches of a multi-branch point (None: every active operator)


@dataclass(frozen=True)
class SkeletonConfig:
    kind: Literal["chain", "cell"] = "chain"  # chain of searchable layers, or a cell DAG
    dims: Literal[1, 2] = 1  # 1-D or 2-D convolutions; must match the data set
    stem: StemConfig = field(default_factory=StemConfig)  # fixed first layer
    stages: tuple[StageConfig, ...] = ()  # stages in order; in a cell skeleton `depth` counts cells
    nodes: int | None = None  # cell skeletons only: nodes of the cell DAG, node 0 its input, the last its output
    # cell skeletons only: nb201 (one input, output = the last node) or darts (two inputs: the previous two cells;
    # `nodes` intermediate nodes; output = their concatenation). space/cells.py
    cell: Literal["nb201", "darts"] = "nb201"
    inputs: int | None = None  # darts cells: input edges per intermediate node, from its nearest ones (None: all)


@dataclass(frozen=True)
class InitialConfig:
    size: int | None = 4  # active operators per choice point in round 0 (None with `ops`)
    # queue order: a seeded shuffle per choice point, the pool's order, or the shuffle sorted by FLOPs at the point,
    # largest first (the cost prior's favourites start; parameter-free operators wait)
    order: Literal["shuffled", "listed", "flops"] = "shuffled"
    ops: tuple[str, ...] | None = None  # explicit round-0 operators for every choice point (instead of `size`)


@dataclass(frozen=True)
class PopulationConfig:
    size: int = 32  # individuals per generation
    generations: int = 8  # generations per round
    mutation_prob: float = 0.1  # probability that each gene is resampled
    crossover_prob: float = 0.5  # probability that a pair of parents is crossed (uniform crossover)
    tournament: int = 3  # tournament size of selection (single objective)
    hall_of_fame: int = 3  # best architectures kept as the round's front (single objective)


@dataclass(frozen=True)
class ConstraintsConfig:
    max_params: int | None = None  # hard limit on trainable parameters of an architecture
    max_flops: int | None = None  # hard limit on FLOPs per sample
    # upper and lower limits on other objectives by name (space/objectives.py), e.g. max: {latency: 1.5} (ms).
    # Unlike max_params and max_flops (repaired: cheaper operators swapped in), an architecture past one of these
    # is penalised: it ranks below every architecture within them
    max: dict[str, float] | None = None
    min: dict[str, float] | None = None


@dataclass(frozen=True)
class ShrinkConfig:
    keep: int = 2  # operators kept per choice point by combined score (besides the front's)
    # one metric, or rank_mean(m1, m2, ...): the calibrated score by default (search.scoring; its operator τ on the
    # shipped ground truths is in the README's ranking table, bench/ranking.py)
    score: str = "score"
    keep_front: bool = True  # keep every operator used by the front / hall of fame


@dataclass(frozen=True)
class GrowConfig:
    per_round: int = 2  # new operators per choice point per round, taken from its queue


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 0.1  # peak learning rate of SGD-Nesterov, cosine-annealed over the round
    momentum: float = 0.9  # Nesterov momentum
    weight_decay: float = 5e-4  # on conv/linear weights only, not on BN or biases
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    grad_clip: float = 5.0  # gradient-norm clipping
    recalibration_batches: int = 8  # training batches (of data.batch_size) that re-estimate BN statistics
    # samples per supernet training step (null: data.batch_size). A supernet trains each path on a fraction of its
    # steps, so it needs more steps than one network: 32 trains it much further than 128 in the same epochs (the
    # README's *Steps, not epochs*). Anchors, stand-alone trainings and recalibration keep data.batch_size
    batch_size: int | None = 32


@dataclass(frozen=True)
class ScoreConfig:
    # how a path's angle is built (metrics/angle.py); "sum" ranked mnist1d_rank best (bench/ranking.py)
    angle_definition: Literal["abs", "ops", "mean", "sum"] = "sum"
    angle_reference: Literal["birth", "round"] = "birth"  # a survivor's V0: its weights at birth or at round start
    accuracy_samples: int = 128  # uniformly sampled architectures per round behind operators' accuracy scores
    exhaustive_limit: int = 1000000  # score every architecture by angle up to this subspace size
    angle_samples: int = 10000  # architectures sampled for angle scores above the limit
    # The calibrated score ("score", metrics/predictor.py): what it weighs, its prior mix and its anchors. Chosen
    # leave-one-space-out on the shipped ground truths (bench/ranking_loso.py, the README's ranking table); with
    # the supernet on its own batch that table prefers neg_loss in the prior, which lost in searches (README)
    signals: tuple[str, ...] = ("params", "flops", "synflow", "snip", "naswot", "angle", "angle_ops", "neg_loss")
    prior: tuple[str, ...] = ("synflow", "snip", "flops")  # weighed equally before any anchor
    anchors: int = 16  # architectures trained stand-alone once per run to calibrate the weights (0: the prior)
    anchor_epochs: int = 5  # stand-alone epochs of each anchor (recipe: search.train, batch data.batch_size)
    # ...and at least this many optimizer steps (more epochs on a small data set; 0: epochs alone). Anchors near chance
    # rank networks backwards: on the five ground truths τ collapses at 25-35 steps and is within 0.1 of its best from
    # 70-75 on, 75 on every leave-one-space-out fold (bench/anchor_steps.py, the README's *Anchors need steps*)
    anchor_steps: int = 75
    # share of the anchors kept for the later rounds, drawn from each one's shrunk subspace and spread evenly over
    # them: the first round's anchors soon leave the subspace, and a fit with none inside is frozen (0: all first)
    refresh: float = 0.0
    # what costs and zero-cost proxies are ranked within: each round's reference sample, or the first round's (the
    # scale the first fit was made on); supernet signals change as it trains and are always ranked per round
    reference: Literal["round", "first"] = "round"
    ridge: float = 8.0  # how strongly the weights stay near the prior (larger: trust the anchors less)
    # metrics computed for every architecture scored even when no objective and no shrink score needs them
    # (e.g. [accuracy]: the rest get them only in the front; accuracy was 49% of a default search's rounds)
    record: tuple[str, ...] = ()


@dataclass(frozen=True)
class FewShotConfig:
    # choice points to split on: one sub-supernet per combination of their active operators (None: the `count`
    # choice points whose operators' angle scores disagree most, see supernet/sub_supernets.py)
    split: tuple[str, ...] | None = None
    count: int | None = None  # choice points chosen automatically (None: 1); not with `split`, which names them

    @property
    def auto_count(self) -> int:
        """How many choice points the automatic rule picks."""
        return 1 if self.count is None else self.count
    epochs: int = 1  # epochs each sub-supernet trains, starting from the shared supernet's weights
    lr: float | None = None  # peak learning rate of each sub-supernet's cosine schedule (None: search.train.lr)


@dataclass(frozen=True)
class BranchLearningConfig:
    target: int  # expected params (or FLOPs) of an architecture that the branch probabilities are pushed to
    cost: Literal["params", "flops"] = "params"  # what `target` counts
    weight: float = 2.0  # λ of the penalty λ·((E[cost] − target) / target)², added to the cross-entropy
    every: int = 4  # weight steps between two architecture steps (each on one held-out batch)
    lr: float = 0.05  # Adam learning rate of the logits α (p = sigmoid(α))
    prune_below: float = 0.1  # an operator whose probability ends an epoch below this leaves the subspace
    warmup_epochs: int = 1  # epochs of each round that train the weights only, before any architecture step


@dataclass(frozen=True)
class SearchConfig:
    rounds: int = 4  # train → score → evolve → shrink → grow cycles
    epochs_per_round: int = 5  # supernet epochs per round
    # supernet epochs of round 0 alone (None: epochs_per_round): round 0's shrink is the first decision and the
    # supernet has trained least when it is made, so a longer first round can inform it (`epochs_of`)
    first_round_epochs: int | None = None
    # path sampling during supernet training: uniform (SPOS), fair (FairNAS: every operator every step) or
    # catch_up (an operator that entered j rounds after the oldest of its choice point is drawn 1 + j times as often)
    sampling: Literal["uniform", "fair", "catch_up"] = "uniform"
    population: PopulationConfig = field(default_factory=PopulationConfig)  # evolution inside the subspace
    # what the population maximises first: score (the calibrated score, search.scoring), angle or accuracy, plus
    # params, flops, latency or registered objectives (space/objectives.py) for a Pareto search. The calibrated
    # score by default: on the shipped ground truths it ranks well above the angle, which fell below the parameter
    # count on some spaces (bench/ranking.py, the README's ranking table)
    objectives: tuple[str, ...] = ("score",)
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)  # hard limits
    shrink: ShrinkConfig = field(default_factory=ShrinkConfig)  # what a round keeps
    grow: GrowConfig = field(default_factory=GrowConfig)  # what a round adds
    inherit_weights: bool = True  # survivors keep their trained weights across rounds
    # warm start (supernet/warm_start.py): Adam steps that fit each new operator, before its round trains, to the
    # output of an older operator of its choice point (round 0: the first one); 0: new operators start as initialised
    match_steps: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)  # supernet optimiser recipe
    scoring: ScoreConfig = field(default_factory=ScoreConfig)  # how architectures and operators are scored
    checkpoint_every: int = 50  # supernet steps between mid-round checkpoints
    # split the trained supernet into sub-supernets before scoring (off: on the ranking ground truth it ranked no
    # better than one-shot trained as many steps, τ 0.571 vs 0.583; supernet/sub_supernets.py)
    few_shot: FewShotConfig | None = None
    # learn a probability per operator of every multi-branch choice point under a cost target (NSE); off: uniform
    branch_learning: BranchLearningConfig | None = None

    def epochs_of(self, round_index: int) -> int:
        """Supernet epochs of round ``round_index``: ``first_round_epochs`` for round 0 when set."""
        if round_index == 0 and self.first_round_epochs is not None:
            return self.first_round_epochs
        return self.epochs_per_round


@dataclass(frozen=True)
class SpaceConfig:
    name: str  # space name, recorded in every run
    skeleton: SkeletonConfig  # fixed structure around the choice points
    pool: tuple[str, ...]  # every operator the search may use at a choice point
    data: DataConfig = field(default_factory=DataConfig)  # data set and batching
    initial: InitialConfig = field(default_factory=InitialConfig)  # round-0 subspace
    search: SearchConfig = field(default_factory=SearchConfig)  # controller settings
    seed: int = 0  # seed of every random draw of a run

    @property
    def supernet_batch_size(self) -> int:
        """Samples per supernet training step: ``search.train.batch_size``, else ``data.batch_size``."""
        own = self.search.train.batch_size
        return self.data.batch_size if own is None else own


SCORE_METRICS = ("score", "angle", "accuracy", "magnitude")
# what the calibrated score can weigh (computed by metrics/signals.py): costs, zero-cost proxies, supernet metrics
SIGNALS = ("params", "flops", "synflow", "snip", "grad_norm", "naswot", "angle", "angle_ops", "magnitude", "accuracy",
           "neg_loss")


def check_signals(names) -> None:
    """Raise ``ValueError`` naming the first unknown signal (validation turns it into a key-path error)."""
    for name in names:
        if name not in SIGNALS:
            raise ValueError(f"unknown signal {name!r}{closest(name, SIGNALS)}; expected some of {', '.join(SIGNALS)}")
RECORDED = ("accuracy", "angle", "params", "flops")  # what search.scoring.record may name


def parse_score(text: str) -> tuple[str, ...]:
    """Metric names of a score expression: ``accuracy`` or ``rank_mean(angle, accuracy)``."""
    text = text.strip()
    match = re.fullmatch(r"rank_mean\((.*)\)", text)
    names = tuple(n.strip() for n in match.group(1).split(",")) if match else (text,)
    for name in names:
        if name not in SCORE_METRICS:
            raise ValueError(f"unknown metric {name!r}{closest(name, SCORE_METRICS)}; "
                             f"expected one of {', '.join(SCORE_METRICS)} or rank_mean(...) of them")
    return names


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of names, each to {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def from_dict(cls: type, data: Any, source: str, path: str = "") -> Any:
    """Build dataclass ``cls`` from plain YAML data, checking keys and types recursively."""
    return _coerce(cls, data, source, path)


def _coerce(tp: Any, value: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SpaceError(source, path, f"expected a mapping, got {_show(value)}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for key in value:
            if key not in fields:
                raise SpaceError(source, _join(path, str(key)),
                                 f"unknown key{closest(str(key), fields)}; expected one of {', '.join(fields)}")
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _coerce(hints[name], value[name], source, _join(path, name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpaceError(source, _join(path, name), f"missing; expected {_type_name(hints[name])}")
        return tp(**kwargs)
    if origin is Literal:
        if value not in typing.get_args(tp) or isinstance(value, bool):
            raise SpaceError(source, path, f"expected {_type_name(tp)}, got {_show(value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise SpaceError(source, path, f"expected {_type_name(tp)}, got null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, source, path)
            except SpaceError as err:
                errors.append(err)
        if len(errors) == 1 and isinstance(value, dict):  # an optional section: its own error names the key inside
            raise errors[0]
        raise SpaceError(source, path, f"expected {_type_name(tp)}, got {_show(value)}")
    if origin is dict:
        if not isinstance(value, dict):
            raise SpaceError(source, path, f"expected {_type_name(tp)}, got {_show(value)}")
        item = typing.get_args(tp)[1]
        return {str(k): _coerce(item, v, source, _join(path, str(k))) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise SpaceError(source, path, f"expected {_type_name(tp)}, got {_show(value)}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_coerce(item, v, source, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise SpaceError(source, path, f"expected true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpaceError(source, path, f"expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpaceError(source, path, f"expected a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            raise SpaceError(source, path, f"expected a number, got one of {len(str(value))} digits") from None
        if math.isnan(number):
            raise SpaceError(source, path, "expected a number, got .nan (not a number)")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise SpaceError(source, path, f"expected a string, got {_show(value)}")
        return value
    raise TypeError(f"schema type {tp!r} is not supported")  # a bug in the schema, not user input


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 3, 60, 60, 6, 6


def _show(value: Any) -> str:
    """A value as an error line quotes it: short, whatever its size or depth."""
    return _SHORT.repr(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def to_dict(config: Any) -> Any:
    """Plain YAML-ready data of a config dataclass (tuples become lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, tuple):
        return [to_dict(v) for v in config]
    if isinstance(config, dict):
        return {k: to_dict(v) for k, v in config.items()}
    return config


MAX_SPACE_FILE_BYTES = 1 << 20  # a space file is a page of YAML; anything near this is not one


def read_space_file(path: str | Path) -> dict:
    """Read a space file as plain data (``yaml.safe_load``), with a one-line error if it is not a YAML mapping.

    Only a regular file of at most :data:`MAX_SPACE_FILE_BYTES` is opened (a FIFO would block forever, a device
    never end), and its bytes must be UTF-8, as YAML 1.2 asks.
    """
    path = Path(path)
    source = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpaceError(source, "",
                         "no such file; give the path of a space file such as spaces/mnist1d.yaml") from None
    except OSError as err:
        raise SpaceError(source, "", f"cannot be read: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise SpaceError(source, "", f"{kind}; give the path of a space file such as spaces/mnist1d.yaml")
    if info.st_size > MAX_SPACE_FILE_BYTES:
        raise SpaceError(source, "", f"{info.st_size:,} bytes is not a space file (at most "
                                     f"{MAX_SPACE_FILE_BYTES:,}); give the path of a YAML space file")
    try:
        raw = path.read_bytes()[: MAX_SPACE_FILE_BYTES + 1]
    except OSError as err:
        raise SpaceError(source, "", f"cannot be read: {err.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SpaceError(source, "", f"not UTF-8 text (byte {err.start + 1}, line {line}); save it as UTF-8") from None
    return _load_mapping(text, source)


def _load_mapping(text: str, source: str) -> dict:
    data = load_yaml(text, source, "")
    if not isinstance(data, dict):
        raise SpaceError(source, "", "expected a mapping of keys (name, skeleton, pool, ...) at the top level")
    return data


def load_yaml(text: str, source: str, key: str) -> Any:
    """``yaml.safe_load`` with every failure (syntax, nesting too deep for the parser) as one :class:`SpaceError`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise SpaceError(source, key, f"not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise SpaceError(source, key, "nested too deeply to be a space (lists or mappings inside each other "
                                      "hundreds of times)") from None


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to plain space data.

    The key must exist in the schema (even if the file leaves it at its default); the result is
    validated like the file itself.
    """
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise SpaceError("--set", item, "expected key.path=value, e.g. search.epochs_per_round=1")
        key, raw = item.split("=", 1)
        key = key.strip()
        value = load_yaml(raw, "--set", key)
        parts = key.split(".")
        cls: Any = SpaceConfig
        node = data
        for depth, part in enumerate(parts):
            fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
            if part not in fields:
                raise SpaceError("--set", key, f"no such key{closest(part, fields)}"
                                 + (f"; expected one of {', '.join(fields)}" if fields else ""))
            if depth == len(parts) - 1:
                node[part] = value
            else:
                cls = _dataclass_of(typing.get_type_hints(cls)[part])
                if cls is None:
                    raise SpaceError("--set", key, f"{part!r} has no sub-keys")
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return data


def _dataclass_of(tp: Any) -> type | None:
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) is tuple:
        return None  # a list (e.g. skeleton.stages) is only set whole
    for arg in typing.get_args(tp):
        if dataclasses.is_dataclass(arg):
            return arg
    return None
