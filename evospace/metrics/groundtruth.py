"""Ground truth of a small space: every architecture trained stand-alone with one fixed recipe.

The file is a CSV that names what it was built from in two comment lines, so that a ground truth is never
compared with a supernet of another space::

    # evospace ground truth
    # space=mnist1d_rank fingerprint=0123456789abcdef epochs=6 seeds=2 max_shift=0 recipe=<train config> archs=625
    s1.b1,s1.b2,...,params,flops,val_acc,test_acc,val_acc_seed0,test_acc_seed0,...,seconds

One row per architecture, appended and fsynced as soon as it is trained: an interrupted build resumes
where it stopped (a torn last line is dropped). Architectures are trained in a seeded shuffled order, so a
partial file is a uniform sample of the space, usable while the build runs. A space too large to train
whole gets a *sampled* ground truth (``sample=N``): N distinct architectures drawn uniformly with their own
seed, recorded in the header as ``sample=N sample_seed=S``. Seed ``i`` initialises the
model with ``build_model(space, arch, seed=i)`` and orders the data with seed ``i``; ``val_acc`` and
``test_acc`` are means over the seeds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.errors import EvospaceError
from evospace.metrics.ranking import kendall_tau
from evospace.metrics.training_pool import ordered_map
from evospace.run.rng import numpy_stream
from evospace.run.store import append_durably
from evospace.space.schema import to_dict
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace
from evospace.supernet.precision import place, precision_for
from evospace.supernet.standalone import train_standalone
from evospace.supernet.supernet import build_model

__all__ = ["GroundTruth", "GroundTruthSpec", "NoiseCeiling", "build_ground_truth", "build_order", "load_ground_truth",
           "noise_ceiling", "truth_fingerprint"]

MAGIC = "# evospace ground truth"
_FIRST_DATA_KEYS = ("name", "val_fraction", "batch_size", "samples")


def truth_fingerprint(space: SearchSpace) -> str:
    """A hash of what decides a stand-alone accuracy: data and split, stem, choice-point shapes, operators, seed.

    Built from resolved values rather than the whole config, so that a new optional schema key does not
    orphan every ground truth already built.
    """
    config = space.config
    # only the data keys that existed when ground truths were first built, plus any later key that is set:
    # a new optional key left at its default must not orphan the files already built
    data = {k: v for k, v in to_dict(config.data).items() if k in _FIRST_DATA_KEYS or v is not None}
    key = {
        "data": data,
        "stem": config.skeleton.stem.channels,
        "dims": config.skeleton.dims,
        "head": config.skeleton.stages[-1].channels if config.skeleton.stages else None,
        "choice_points": [[cp.label, cp.c_in, cp.c_out, cp.stride, cp.side] for cp in space.choice_points],
        "subspace": space.initial_subspace().to_config(),
        "seed": config.seed,
    }
    if config.skeleton.kind == "cell":  # a cell's choice points are its edges: the stages live outside them
        key["cell"] = {"nodes": config.skeleton.nodes,
                       "stages": [[st.channels, st.depth, st.stride] for st in config.skeleton.stages]}
        if config.skeleton.cell == "darts":
            key["cell"] |= {"type": "darts", "inputs": config.skeleton.inputs}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class GroundTruthSpec:
    """What a ground-truth file was built from; two files agree only if every field does."""

    space: str  # space name
    fingerprint: str  # truth_fingerprint(space)
    epochs: int  # stand-alone epochs per architecture
    seeds: int  # training seeds per architecture
    max_shift: int  # random-shift augmentation range
    recipe: str  # the training recipe (search.train) as compact JSON
    archs: int  # architectures the file holds when complete (the space's size, or the sample's)
    sample_seed: int | None = None  # seed of the uniform sample of a sampled ground truth (None: every architecture)

    @property
    def sampled(self) -> bool:
        return self.sample_seed is not None

    def header(self) -> str:
        sample = f" sample={self.archs} sample_seed={self.sample_seed}" if self.sampled else ""
        return (f"# space={self.space} fingerprint={self.fingerprint} epochs={self.epochs} seeds={self.seeds} "
                f"max_shift={self.max_shift} recipe={self.recipe} archs={self.archs}{sample}")

    @classmethod
    def for_space(cls, space: SearchSpace, epochs: int, seeds: int, max_shift: int,
                  sample: int | None = None, sample_seed: int = 0) -> GroundTruthSpec:
        # recalibration and the supernet's own batch only concern the supernet, so they do not make two ground
        # truths differ (stand-alone training takes data.batch_size, which the fingerprint holds)
        train = {k: v for k, v in to_dict(space.config.search.train).items()
                 if k not in ("recalibration_batches", "batch_size")}
        recipe = json.dumps(train, sort_keys=True, separators=(",", ":"))
        size = space.initial_subspace().size
        if sample is None:
            return cls(space.name, truth_fingerprint(space), epochs, seeds, max_shift, recipe, size)
        return cls(space.name, truth_fingerprint(space), epochs, seeds, max_shift, recipe, min(sample, size),
                   sample_seed)

    @classmethod
    def parse(cls, line: str, source: str) -> GroundTruthSpec:
        fields = {}
        for item in line.lstrip("# ").strip().split(" "):
            key, _, value = item.partition("=")
            fields[key] = value
        try:
            sample_seed = int(fields["sample_seed"]) if "sample_seed" in fields else None
            return cls(fields["space"], fields["fingerprint"], int(fields["epochs"]), int(fields["seeds"]),
                       int(fields["max_shift"]), fields["recipe"], int(fields["archs"]), sample_seed)
        except (KeyError, ValueError):
            raise EvospaceError(f"{source}: the second line is not a ground-truth header "
                                f"(expected '# space=... fingerprint=... epochs=...'); rebuild the file") from None


@dataclass(frozen=True)
class GroundTruth:
    """A loaded ground truth: one entry per architecture trained so far (all arrays share the order)."""

    spec: GroundTruthSpec
    labels: tuple[str, ...]
    archs: list[Arch]
    params: np.ndarray
    flops: np.ndarray
    val_acc: np.ndarray  # mean over seeds, fraction in [0, 1]
    test_acc: np.ndarray
    val_seeds: np.ndarray  # shape (archs, seeds)
    test_seeds: np.ndarray
    seconds: np.ndarray | None = None  # training time of each architecture, over all its seeds

    @property
    def complete(self) -> bool:
        return len(self.archs) == self.spec.archs

    def head(self, count: int) -> GroundTruth:
        """The first ``count`` architectures (a uniform sample too: rows are in a seeded random order)."""
        cut = slice(0, count)
        return GroundTruth(self.spec, self.labels, self.archs[cut], self.params[cut], self.flops[cut],
                           self.val_acc[cut], self.test_acc[cut], self.val_seeds[cut], self.test_seeds[cut],
                           None if self.seconds is None else self.seconds[cut])

    def indices(self, subspace: Subspace) -> np.ndarray:
        """The architectures as index rows of ``subspace`` (for vectorised scoring)."""
        return np.array([subspace.encode(a) for a in self.archs], dtype=np.int64).reshape(len(self.archs), -1)


@dataclass(frozen=True)
class NoiseCeiling:
    """How well the ground truth agrees with itself: the best τ any metric can hope for against it."""

    between_seeds_val: float  # Kendall τ of seed 0 vs seed 1 validation accuracy
    between_seeds_test: float  # the same on the test split
    val_vs_test: float  # τ of mean validation vs mean test accuracy


def noise_ceiling(truth: GroundTruth) -> NoiseCeiling:
    """Kendall τ between two seeds (validation and test) and between validation and test accuracy."""
    if truth.val_seeds.shape[1] >= 2:
        seeds_val = kendall_tau(truth.val_seeds[:, 0], truth.val_seeds[:, 1])
        seeds_test = kendall_tau(truth.test_seeds[:, 0], truth.test_seeds[:, 1])
    else:
        seeds_val = seeds_test = float("nan")
    return NoiseCeiling(seeds_val, seeds_test, kendall_tau(truth.val_acc, truth.test_acc))


def _columns(labels: tuple[str, ...], seeds: int) -> list[str]:
    per_seed = [f"{split}_acc_seed{i}" for i in range(seeds) for split in ("val", "test")]
    return [*labels, "params", "flops", "val_acc", "test_acc", *per_seed, "seconds"]


def _read(path: Path) -> tuple[GroundTruthSpec, list[str], list[dict[str, str]], int]:
    """Spec, columns, complete rows, and the byte length of the file's complete lines."""
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1  # a torn last line (interrupted write) is not part of the file
    text = raw[:end].decode()
    lines = text.splitlines()
    if len(lines) < 3 or lines[0].strip() != MAGIC:
        raise EvospaceError(f"{path}: not an evospace ground-truth CSV (its first line should be '{MAGIC}'); "
                            f"build one with `evospace groundtruth SPACE.yaml --out {path}`")
    spec = GroundTruthSpec.parse(lines[1], str(path))
    reader = csv.DictReader(io.StringIO("\n".join(lines[2:]) + "\n"))
    return spec, list(reader.fieldnames or []), list(reader), end


def load_ground_truth(path: str | Path, space: SearchSpace) -> GroundTruth:
    """Read a ground-truth CSV and check that it belongs to ``space``.

    Raises:
        EvospaceError: the file is missing, malformed, or was built for another space.
    """
    path = Path(path)
    if not path.exists():
        raise EvospaceError(f"{path}: no such ground-truth file; build it with "
                            f"`evospace groundtruth {space.source} --out {path}`")
    spec, columns, rows, _ = _read(path)
    if spec.fingerprint != truth_fingerprint(space):
        raise EvospaceError(f"{path}: ground truth of space {spec.space!r} (fingerprint {spec.fingerprint}), "
                            f"not of {space.source} ({space.name!r}, fingerprint {truth_fingerprint(space)}); "
                            f"use the CSV built for this space or build one with `evospace groundtruth`")
    labels = space.labels
    if columns != _columns(labels, spec.seeds):
        raise EvospaceError(f"{path}: columns {columns} do not match the space's choice points {list(labels)}; "
                            f"rebuild the file")
    subspace = space.initial_subspace()
    archs = []
    for i, row in enumerate(rows):
        arch = {label: row[label] for label in labels}
        try:
            subspace.check(arch)
        except EvospaceError as err:
            raise EvospaceError(f"{path}: row {i + 1}: {err}") from None
        archs.append(arch)

    def column(name: str) -> np.ndarray:
        return np.array([float(r[name]) for r in rows], dtype=float)

    seeds = range(spec.seeds)
    val_seeds = np.stack([column(f"val_acc_seed{i}") for i in seeds], axis=1) if rows else np.zeros((0, spec.seeds))
    test_seeds = np.stack([column(f"test_acc_seed{i}") for i in seeds], axis=1) if rows else np.zeros((0, spec.seeds))
    return GroundTruth(spec, labels, archs, column("params"), column("flops"), column("val_acc"),
                       column("test_acc"), val_seeds, test_seeds, column("seconds"))


def build_order(space: SearchSpace, sample: int | None = None, sample_seed: int = 0) -> np.ndarray:
    """Index rows of the initial subspace in the order a ground truth trains them.

    Every architecture in a seeded shuffle, or (``sample``) that many distinct architectures drawn uniformly
    with ``sample_seed``, without listing the space: a sample of a space of millions costs only the sample.
    """
    subspace = space.initial_subspace()
    if sample is None:
        return subspace.all_indices()[numpy_stream(space.config.seed, "groundtruth-order").permutation(subspace.size)]
    counts = [len(subspace.choices(label)) for label in subspace.labels]
    size = subspace.size
    rng = numpy_stream(sample_seed, "groundtruth-sample")
    if sample >= size:
        flat = rng.permutation(size)
    else:
        chosen: dict[int, None] = {}  # insertion-ordered: the draw order is the training order
        while len(chosen) < sample:
            for value in rng.integers(0, size, sample - len(chosen)):
                chosen.setdefault(int(value))
        flat = np.fromiter(chosen, dtype=np.int64)
    return np.stack(np.unravel_index(flat, counts), axis=1).astype(np.int64)


def build_ground_truth(space: SearchSpace, out: str | Path, data: DataSplits, *, epochs: int, seeds: int = 2,
                       max_shift: int = 0, limit: int | None = None, sample: int | None = None,
                       sample_seed: int = 0, progress: Callable[[int, int], None] | None = None,
                       jobs: int = 1, imports: Sequence[str] = ()) -> GroundTruth:
    """Train every architecture of ``space``'s initial subspace stand-alone and append one row each to ``out``.

    Resumes an existing file built with the same spec; refuses one built otherwise.

    Args:
        data: the space's data splits (validation carved with the space seed, as the search does).
        epochs, seeds, max_shift: the recipe's free parameters (the rest is ``search.train``).
        limit: stop after this many architectures in total (for a quick look).
        sample, sample_seed: train only ``sample`` architectures drawn uniformly with ``sample_seed``.
        progress: called with (architectures done, total) after each row.
        jobs: worker processes training architectures side by side on the CPU, each with this process's torch
            thread count; the rows and their order are those of one process (:mod:`evospace.metrics.training_pool`).
        imports: modules or ``.py`` files each worker imports first (``evospace --import``: user operators and
            data sets).

    Returns:
        The ground truth as written so far.
    """
    out = Path(out)
    if jobs > 1 and data.device.type != "cpu":
        raise EvospaceError(f"--jobs {jobs} trains in CPU processes; on {data.device} train with --jobs 1")
    spec = GroundTruthSpec.for_space(space, epochs, seeds, max_shift, sample, sample_seed)
    subspace = space.initial_subspace()
    columns = _columns(space.labels, seeds)
    done: set[tuple[str, ...]] = set()
    if out.exists() and out.stat().st_size > 0:
        old, old_columns, rows, end = _read(out)
        if old != spec or old_columns != columns:
            raise EvospaceError(f"{out}: already holds a ground truth built differently ({old.header()[2:]}); "
                                f"pass the same space, --epochs, --seeds and --sample/--seed to resume, "
                                f"or another --out")
        with open(out, "r+b") as f:
            f.truncate(end)
        done = {tuple(r[label] for label in space.labels) for r in rows}
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(columns)
        append_durably(out, f"{MAGIC}\n{spec.header()}\n{buffer.getvalue()}".encode())
    rows_all = build_order(space, spec.archs if spec.sampled else None, sample_seed)
    total = len(rows_all) if limit is None else min(limit, len(rows_all))
    count = len(done)
    if progress is not None:
        progress(count, total)
    pending = []
    for row in rows_all:
        if count + len(pending) >= total:
            break
        arch = subspace.decode(row)
        if tuple(arch[label] for label in space.labels) not in done:
            pending.append(arch)
    train = partial(_trained_row, space, data, epochs=epochs, seeds=seeds, max_shift=max_shift)
    for values in ordered_map(train, pending, jobs, threads=torch.get_num_threads(), imports=imports):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        append_durably(out, buffer.getvalue().encode())
        count += 1
        if progress is not None:
            progress(count, total)
    return load_ground_truth(out, space)


def _trained_row(space: SearchSpace, data: DataSplits, arch: Arch, *, epochs: int, seeds: int,
                 max_shift: int) -> list:
    """One ground-truth row: ``arch`` trained with seeds 0..seeds-1, its costs and accuracies (a worker's task)."""
    config = space.config
    results = []
    for seed in range(seeds):
        model = place(build_model(space, arch, seed=seed), data.device, config.skeleton.dims)
        results.append(train_standalone(model, data, config.search.train, epochs=epochs,
                                        batch_size=config.data.batch_size, seed=seed, max_shift=max_shift,
                                        precision=precision_for(data.device)))
    cost = space.cost(arch)
    val = [r.val_acc for r in results]
    test = [r.test_acc for r in results]
    per_seed = [f"{v:.6f}" for pair in zip(val, test, strict=True) for v in pair]
    return [*(arch[label] for label in space.labels), cost.params, cost.flops, f"{np.mean(val):.6f}",
            f"{np.mean(test):.6f}", *per_seed, f"{sum(r.seconds for r in results):.2f}"]
