"""Does evolving the space return better architectures than searching a fixed one? Any space with a ground truth.

Every method gets the same supernet training (``--epochs`` in total), the same population settings and the
same calibrated score (so the same number of anchors trained stand-alone); only how the space and the
population are handled differs:

- ``evolving``: the controller with its defaults: a few operators per choice point (``initial.size``), shrunk
  and grown round after round (``search.rounds`` rounds sharing the epochs);
- ``static``: SPOS on the whole pool, one round of every epoch, the population search on that supernet;
- ``shrink``: ABS-style, the whole pool shrunk round after round, nothing grown;
- ``rea``, ``random_search``: regularized evolution and random search on static's trained supernet, ranking by
  the same score, with as many distinct evaluations as static's population makes;
- ``random``: one architecture drawn uniformly (no supernet).

Each method returns one architecture per seed; it is judged by the ground truth: its mean stand-alone test
accuracy and its rank among the ground truth's architectures (1 = best; over the whole space when the ground
truth is complete). A sampled ground truth does not hold most architectures: one that is missing is trained
stand-alone with the ground truth's own recipe (epochs, seeds, training settings, split) and appended to
``<ground truth>_extra.csv`` beside it, which later runs reuse; its rank is then where it falls among the
sampled rows. The table reports how many returned architectures the ground truth held (``found``).
When the pool fits in evolving's round-0 subspace (``mnist1d_mbconv``: 4 operators), evolving and shrink-only
are one search but for each point's operator order, and the script says so: their difference is that noise.

    python bench/evolve_vs_static.py [--space spaces/mnist1d_rank.yaml --gt bench/data/mnist1d_rank_gt.csv]
                                     [--seeds 0-9] [--epochs 12] [--methods evolving,static,...] [--quick]
                                     [--csv results.csv --label NAME] [--refine K] [--jobs N]

With ``--csv``, every seed's result is appended to the CSV as it is known (space, label, method, seed, accuracy,
rank, architecture), under ``--label`` (say, the ``--set`` overrides' name); seeds whose methods are already
there under the same space and label are read back instead of run again, so a long comparison resumes, and
``bench/controller_loso.py`` chooses between labels by leave-one-space-out from such files.

``--jobs N`` searches N seeds at once in N processes (on 2 cores, 1.96 times as fast for two seeds of evolving and
static on ``mnist1d_mixed``); every search is seeded by its seed alone, so the figures are those of one process,
and the judging (trainings the ground truth lacks, ``--refine``) stays in the main process, which writes every
file.

Anchors are memoised across the methods of one seed: an anchor drawn by two methods is the same stand-alone
training (same architecture, seed and recipe, so the same result on CPU), trained once here; each method still
counts it as its own. Prints mean ± std per method, the paired difference evolving − method per seed, and
ends with ``RESULT evolving_true_acc=… static_true_acc=… <method>_true_acc=… <method>_rank=…
<method>_found=… evolving_minus_<method>=… gt_entry_noise=…`` (accuracies in %, means over seeds). The table gives
each paired difference's standard error (``s.e.``); ``gt_entry_noise`` is how well the ground truth itself knows
one of its best architectures (the standard error of an entry over its training seeds, among the best 10 %): the
difference of two returned architectures is known to √2 times that, whatever the number of search seeds, because
each entry's error is fixed once the ground truth is built. ``--refine K`` narrows it: every returned architecture
is also judged by the mean of K training seeds, the ground truth's own and the rest trained here with its recipe
(kept in ``<ground truth>_refined.csv`` beside it and reused), in a second table and as ``<method>_refined_acc=…
evolving_minus_<method>_refined=…``; ranks stay those of the ground truth's entries. Where nothing can be written
beside the ground truth (a read-only data directory), both files live in evospace's cache instead
(``$EVOSPACE_CACHE/groundtruth``, default ``~/.cache/evospace``), named after the ground truth's content, and start
from a copy of those beside it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import evospace.extensions.calibrated_score as calibrated_score  # noqa: E402
from evospace import Search, load_space  # noqa: E402
from evospace.data import load_space_data  # noqa: E402
from evospace.data.mnist1d import cache_dir  # noqa: E402
from evospace.errors import EvospaceError  # noqa: E402
from evospace.metrics import load_ground_truth  # noqa: E402
from evospace.metrics.groundtruth import GroundTruth  # noqa: E402
from evospace.metrics.training_pool import ordered_map  # noqa: E402
from evospace.run import atomic_write, numpy_stream  # noqa: E402
from evospace.run.store import append_durably  # noqa: E402
from evospace.space.subspace import Arch, Subspace  # noqa: E402
from evospace.supernet import build_model, train_standalone  # noqa: E402

SPACE = ROOT / "spaces" / "mnist1d_rank.yaml"
TRUTH = ROOT / "bench" / "data" / "mnist1d_rank_gt.csv"
METHODS = ("evolving", "static", "shrink", "rea", "random_search", "random")
REA_POPULATION, REA_SAMPLE = 10, 3  # NAS-Bench-201's regularized evolution settings (evospace/bench/baselines.py)

Key = tuple[str, ...]


def parse_seeds(text: str) -> list[int]:
    """``"5"`` → seeds 0..4; ``"10-19"`` → 10..19; ``"0,3,7"`` → those; ``"1,20-29"`` → 1 and 20..29.

    Raises:
        argparse.ArgumentTypeError: ``text`` is none of these (argparse prints it as one error line).
    """
    try:
        if "," in text or "-" in text:
            seeds = []
            for item in text.split(","):
                lo, sep, hi = item.partition("-")
                first, last = int(lo), int(hi) if sep else int(lo)
                if last < first:
                    raise ValueError(item)
                seeds.extend(range(first, last + 1))
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected N (0..N-1), A-B with A ≤ B, a,b,c or a mix such as 1,20-29; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected at least one seed, each once; got {text!r}")
    return seeds


def parse_methods(text: str, known: tuple[str, ...]) -> list[str] | None:
    """The comma-separated methods of ``text``; ``None``, after one error line, if one is not in ``known``."""
    methods = [m for m in text.split(",") if m]
    unknown = [m for m in methods if m not in known]
    if unknown:
        print(f"error: --methods: unknown {', '.join(unknown)}; choose from {', '.join(known)}", file=sys.stderr)
        return None
    return methods


def variants(epochs: int, rounds: int, pool: tuple[str, ...]) -> dict[str, list[str]]:
    """Overrides of each supernet search; every one trains ``epochs`` supernet epochs in all.

    The space files of ground truths make the whole pool active in one round (what a ground truth is built on);
    the evolving search takes the controller's defaults for the initial subspace and growth back.
    """
    full = f"initial={{ops: [{', '.join(pool)}], size: null}}"
    per_round = max(1, epochs // rounds)
    return {
        "evolving": [f"search.rounds={rounds}", f"search.epochs_per_round={per_round}", "initial={}",
                     "search.grow={}", "search.shrink.keep=2"],
        "static": [full, "search.rounds=1", f"search.epochs_per_round={per_round * rounds}", "search.grow.per_round=0"],
        "shrink": [full, f"search.rounds={rounds}", f"search.epochs_per_round={per_round}", "search.grow.per_round=0",
                   "search.shrink.keep=2"],
    }


class AnchorMemo:
    """Stand-alone anchor trainings shared by the methods of a seed (a deterministic function of their inputs)."""

    def __init__(self) -> None:
        self.results: dict[tuple, object] = {}
        self.trained = 0
        self.reused = 0
        self._train = calibrated_score.train_standalone

    def __call__(self, model, data, config, *, epochs, batch_size, seed, **kwargs):
        key = (repr(model), float(data.x_train.sum()), repr(config), epochs, batch_size, seed,
               float(sum(p.detach().double().sum() for p in model.parameters())))
        if key in self.results:
            self.reused += 1
            return self.results[key]
        self.trained += 1
        result = self._train(model, data, config, epochs=epochs, batch_size=batch_size, seed=seed, **kwargs)
        self.results[key] = result
        return result


def csv_line(values: list) -> str:
    """``values`` as one CSV line (quoted where needed), newline included."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def side_file(truth_file: Path, kind: str) -> Path:
    """Where the trainings a ground truth lacks are kept: ``<truth>_<kind>.csv`` beside it, or, where that cannot
    be written (a read-only data directory), a copy in the cache named after the truth's content, so that two
    ground truths of one name never share one."""
    beside = truth_file.with_name(f"{truth_file.stem}_{kind}.csv")
    if os.access(beside, os.W_OK) if beside.exists() else os.access(truth_file.parent, os.W_OK):
        return beside
    digest = hashlib.sha256(truth_file.read_bytes()).hexdigest()[:16]
    cached = cache_dir() / "groundtruth" / f"{truth_file.stem}-{digest}_{kind}.csv"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        if beside.exists():
            atomic_write(cached, beside.read_bytes())
    return cached


class Truth:
    """A ground truth plus the architectures trained here because the ground truth lacked them."""

    def __init__(self, space_file: Path, truth_file: Path) -> None:
        self.space = load_space(space_file)
        self.truth: GroundTruth = load_ground_truth(truth_file, self.space)
        self.extra_file = side_file(truth_file, "extra")
        self.labels = self.truth.labels
        self.acc = {self.key(a): float(t) for a, t in zip(self.truth.archs, self.truth.test_acc)}
        self.sorted = np.sort(self.truth.test_acc)[::-1]
        self.extra: dict[Key, float] = {}
        self.seed_accs = {self.key(a): [float(t) for t in ts] for a, ts in zip(self.truth.archs, self.truth.test_seeds)}
        if self.extra_file.exists():
            extra = load_ground_truth(self.extra_file, self.space)
            if extra.spec.epochs != self.truth.spec.epochs or extra.spec.seeds != self.truth.spec.seeds:
                raise EvospaceError(f"{self.extra_file}: built with another recipe than {truth_file}; delete it")
            self.extra = {self.key(a): float(t) for a, t in zip(extra.archs, extra.test_acc)}
            self.seed_accs.update({self.key(a): [float(t) for t in ts] for a, ts in zip(extra.archs, extra.test_seeds)})
        self.refined_file = side_file(truth_file, "refined")
        self.recipe_line = self.truth.spec.header().split(" sample=")[0]  # the recipe, without the sample's size
        self.refined: dict[Key, dict[int, float]] = self._read_refined()
        self._data = None

    def key(self, arch: Arch) -> Key:
        return tuple(arch[label] for label in self.labels)

    def found(self, arch: Arch) -> bool:
        return self.key(arch) in self.acc

    def test_acc(self, arch: Arch) -> float:
        """Mean stand-alone test accuracy: from the ground truth, else from (or into) the extra file."""
        key = self.key(arch)
        if key in self.acc:
            return self.acc[key]
        if key not in self.extra:
            self.extra[key] = self._train(arch)
        return self.extra[key]

    def rank(self, acc: float) -> int:
        """1 + the ground-truth architectures with a higher test accuracy."""
        return 1 + int((self.sorted > acc).sum())

    def refined_acc(self, arch: Arch, seeds: int) -> float:
        """Mean stand-alone test accuracy over training seeds ``0..seeds-1``: the ground truth's own seeds, then more
        seeds trained with its recipe (kept in the refined file beside it, which later runs reuse)."""
        key = self.key(arch)
        self.test_acc(arch)  # the ground truth's seeds (trained into the extra file if it lacks the architecture)
        accs = list(self.seed_accs[key][:seeds])
        for seed in range(len(accs), seeds):
            done = self.refined.setdefault(key, {})
            if seed not in done:
                result = self._train_seed(arch, seed)
                done[seed] = result.test_acc
                self._append_refined(key, seed, result)
            accs.append(done[seed])
        return float(np.mean(accs))

    def _read_refined(self) -> dict[Key, dict[int, float]]:
        if not self.refined_file.exists():
            return {}
        lines = self.refined_file.read_text().splitlines()
        if len(lines) < 2 or lines[0] != self.recipe_line:
            raise EvospaceError(f"{self.refined_file}: not trained with the recipe of {self.recipe_line!r}; delete it")
        out: dict[Key, dict[int, float]] = {}
        for number, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines[1:]))), start=3):
            try:
                key, seed, acc = tuple(row[label] for label in self.labels), int(row["seed"]), float(row["test_acc"])
            except (KeyError, TypeError, ValueError):
                raise EvospaceError(f"{self.refined_file}: line {number} is not a training of this space "
                                    f"({', '.join(self.labels)}, seed, test_acc); delete the line or the file"
                                    ) from None
            out.setdefault(key, {})[seed] = acc
        return out

    def _append_refined(self, key: Key, seed: int, result) -> None:
        if not self.refined_file.exists():
            columns = [*self.labels, "seed", "val_acc", "test_acc", "seconds"]
            append_durably(self.refined_file, f"{self.recipe_line}\n{csv_line(columns)}".encode())
        append_durably(self.refined_file, csv_line([*key, seed, f"{result.val_acc:.6f}", f"{result.test_acc:.6f}",
                                                    f"{result.seconds:.2f}"]).encode())

    def _train_seed(self, arch: Arch, seed: int):
        """One stand-alone training of ``arch`` with the ground truth's recipe (epochs, training settings, split)."""
        spec, space = self.truth.spec, self.space
        if self._data is None:
            self._data = load_space_data(space.config.data, split_seed=space.config.seed)
        model = build_model(space, arch, seed=seed)
        return train_standalone(model, self._data, space.config.search.train, epochs=spec.epochs,
                                batch_size=space.config.data.batch_size, seed=seed, max_shift=spec.max_shift)

    def _train(self, arch: Arch) -> float:
        """Train ``arch`` with the ground truth's recipe (its seeds, epochs, split) and append it to the extra file."""
        spec, space = self.truth.spec, self.space
        results = [self._train_seed(arch, seed) for seed in range(spec.seeds)]
        val, test = [r.val_acc for r in results], [r.test_acc for r in results]
        if not self.extra_file.exists():
            columns = [*self.labels, "params", "flops", "val_acc", "test_acc",
                       *[f"{s}_acc_seed{i}" for i in range(spec.seeds) for s in ("val", "test")], "seconds"]
            header = f"# evospace ground truth\n{self.recipe_line}\n{csv_line(columns)}"
            append_durably(self.extra_file, header.encode())
        cost = space.cost(arch)
        row = [*self.key(arch), cost.params, cost.flops, f"{np.mean(val):.6f}", f"{np.mean(test):.6f}",
               *[f"{v:.6f}" for pair in zip(val, test, strict=True) for v in pair],
               f"{sum(r.seconds for r in results):.2f}"]
        append_durably(self.extra_file, csv_line(row).encode())
        self.seed_accs[self.key(arch)] = [float(t) for t in test]
        return float(np.mean(test))


def best_of(scores: dict[Key, float]) -> Key:
    return max(scores, key=lambda k: (scores[k], k))


def score_random_search(evaluate: Callable[[Arch], float], subspace: Subspace, budget: int,
                        rng: np.random.Generator) -> Arch:
    """The best by score of ``budget`` distinct uniform architectures."""
    scores: dict[Key, float] = {}
    order = rng.permutation(subspace.size)[:budget] if subspace.size <= 10**6 else None
    while len(scores) < min(budget, subspace.size):
        row = (np.unravel_index(int(order[len(scores)]), [len(subspace.choices(l)) for l in subspace.labels])
               if order is not None else [int(rng.integers(len(subspace.choices(l)))) for l in subspace.labels])
        arch = subspace.decode(np.asarray(row, dtype=np.int64))
        scores[tuple(arch[l] for l in subspace.labels)] = evaluate(arch)
    return dict(zip(subspace.labels, best_of(scores)))


def score_rea(evaluate: Callable[[Arch], float], subspace: Subspace, budget: int, rng: np.random.Generator) -> Arch:
    """Regularized evolution (aging, one edge mutated per child) until ``budget`` distinct architectures."""
    labels = subspace.labels
    scores: dict[Key, float] = {}

    def score(key: Key) -> float:
        if key not in scores:
            scores[key] = evaluate(dict(zip(labels, key)))
        return scores[key]

    members: deque[Key] = deque()
    while len(members) < REA_POPULATION:
        key = tuple(subspace.choices(l)[int(rng.integers(len(subspace.choices(l))))] for l in labels)
        score(key)
        members.append(key)
    target = min(budget, subspace.size)
    for _ in range(100 * budget):
        if len(scores) >= target:
            break
        picks = rng.integers(len(members), size=REA_SAMPLE)
        parent = max((members[int(p)] for p in picks), key=score)
        movable = [i for i, l in enumerate(labels) if len(subspace.choices(l)) > 1]
        i = movable[int(rng.integers(len(movable)))]
        others = [op for op in subspace.choices(labels[i]) if op != parent[i]]
        child = parent[:i] + (others[int(rng.integers(len(others)))],) + parent[i + 1:]
        score(child)
        members.append(child)
        members.popleft()
    return dict(zip(labels, best_of(scores)))


def grows_nothing(space_file: Path, epochs: int, rounds: int, extra: list[str]) -> bool:
    """Whether evolving's round-0 subspace already holds the whole pool at every choice point.

    Then evolving and shrink-only are one search (nothing is left to grow) but for the order of each point's
    operators (a seeded shuffle against the pool's order), which changes which paths are sampled: their
    difference measures that noise, not the growth.
    """
    space = load_space(space_file, [*variants(epochs, rounds, ())["evolving"], *extra])
    initial, full = space.initial_subspace(), space.full_subspace()
    return all(set(initial.ops(label)) == set(full.ops(label)) for label in full.labels)


def run_seed(space_file: Path, seed: int, methods: list[str], epochs: int, rounds: int, extra: list[str],
             pool: tuple[str, ...], truth_archs: Sequence[Arch], out: Path) -> dict[str, tuple[Arch, float]]:
    """The architecture each method returns for ``seed`` and the seconds it took (``pool``: the space's;
    ``truth_archs``: the ground truth's architectures, which ``random`` draws from)."""
    picks: dict[str, tuple[Arch, float]] = {}
    overrides = variants(epochs, rounds, pool)
    for name in ("evolving", "static", "shrink"):
        needed = name in methods or (name == "static" and {"rea", "random_search"} & set(methods))
        if not needed:
            continue
        space = load_space(space_file, [*overrides[name], *extra, f"seed={seed}"])
        start = time.perf_counter()
        search = Search(space, out / f"{name}-{seed}", progress=False, log=lambda _: None)
        result = search.run()
        picks[name] = (result.best["arch"], time.perf_counter() - start)
        if name != "static":
            continue
        # rea and random search rank by static's own score on its trained supernet (its last round)
        scorer = search.backend.scorer(result.rounds - 1)
        first = space.config.search.objectives[0]
        population = space.config.search.population
        budget = population.size * (population.generations + 1)

        def evaluate(arch: Arch) -> float:
            return float(scorer.evaluate(arch)[first])

        for method, fn in (("rea", score_rea), ("random_search", score_random_search)):
            if method in methods:
                start = time.perf_counter()
                picks[method] = (fn(evaluate, result.subspace, budget, numpy_stream(seed, "bench", method)),
                                 time.perf_counter() - start)
    if "random" in methods:
        row = int(numpy_stream(seed, "bench", "random").integers(len(truth_archs)))
        picks["random"] = (dict(truth_archs[row]), 0.0)
    return picks


_MEMO: AnchorMemo | None = None  # this process's anchor memo, installed by the first seed it searches


def searched_seed(job: tuple) -> tuple[dict[str, tuple[Arch, float]], int, int]:
    """:func:`run_seed` on ``job`` (its arguments), in this process or a ``--jobs`` worker: the picks, and the
    anchors the seed trained and reused (its methods share a memo; seeds do not)."""
    global _MEMO
    if _MEMO is None:
        _MEMO = AnchorMemo()
        calibrated_score.train_standalone = _MEMO
    trained, reused = _MEMO.trained, _MEMO.reused
    _MEMO.results.clear()
    picks = run_seed(*job)
    return picks, _MEMO.trained - trained, _MEMO.reused - reused


CSV_COLUMNS = ["space", "label", "method", "seed", "test_acc", "rank", "found", "arch"]


def read_rows(path: Path | None, space: str, label: str,
              keep: Callable[[dict], bool] = lambda row: True) -> dict[tuple[str, int], dict]:
    """``{(method, seed): row}`` of ``path`` for this space and label, of the rows ``keep`` accepts (none if there is
    no file)."""
    if path is None or not path.exists():
        return {}
    with path.open(newline="") as f:
        return {(r["method"], int(r["seed"])): r for r in csv.DictReader(f)
                if r["space"] == space and r["label"] == label and keep(r)}


def append_row(path: Path, row: dict, columns: Sequence[str] = CSV_COLUMNS) -> None:
    """One result line of ``columns``, durably (with the header if the file is new)."""
    text = csv_line([row[c] for c in columns])
    append_durably(path, (text if path.exists() else csv_line(columns) + text).encode())


def entry_noise(truth: GroundTruth, top: float = 0.1) -> tuple[float, float, int]:
    """How finely the ground truth resolves its best architectures: ``(noise, spread, count)``.

    ``noise`` is the standard error of one entry (the std between its training seeds over the square root of their
    number, root mean square over the best ``top`` fraction), ``spread`` the std of those entries' accuracies, in
    percentage points. Returned architectures sit among the best; the difference of two entries is known to
    ``√2 · noise``, and the ground truth does not tell apart two whose entries differ by less than about twice that.
    """
    acc = truth.test_acc
    best = acc >= np.quantile(acc, 1 - top)
    seeds = truth.test_seeds[best]
    if seeds.shape[1] < 2:
        return float("nan"), float(100 * acc[best].std()), int(best.sum())
    noise = np.sqrt(np.mean(seeds.var(axis=1, ddof=1)) / seeds.shape[1])
    return float(100 * noise), float(100 * acc[best].std()), int(best.sum())


def paired(diffs: Sequence[float]) -> tuple[float, float, float, int]:
    """Paired differences per seed: mean, std, standard error of the mean (nan below two) and how many are > 0."""
    d = np.asarray(diffs, dtype=float)
    error = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), float(d.std()), error, int((d > 0).sum())


def summary(values: np.ndarray) -> str:
    return f"{values.mean():7.2f} ± {values.std():5.2f}" if len(values) else "    n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=SPACE)
    parser.add_argument("--gt", type=Path, default=TRUTH, help="the space's ground-truth CSV")
    parser.add_argument("--seeds", type=parse_seeds, default="10",
                        help="N (0..N-1), A-B, a,b,c or a mix such as 1,20-29 (default 10)")
    parser.add_argument("--epochs", type=int, default=12, help="supernet epochs of every search, in all")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of evolving and shrink (default: the controller's search.rounds)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 epochs in 2 rounds, a small population")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the space for every search, e.g. --set search.scoring.anchors=8")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep the run directories in DIR (evospace inspect them) instead of a temporary one")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE",
                        help="append each seed's results here; seeds already there (same space and label) are reused")
    parser.add_argument("--label", default="default", help="what the results are filed under in --csv")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (per process with --jobs)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="search N seeds at once in N processes (default 1); every figure is the same")
    parser.add_argument("--refine", type=int, default=None, metavar="K",
                        help="also judge each returned architecture by the mean of K training seeds (the ground "
                             "truth's own and more, trained with its recipe into <ground truth>_refined.csv)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = parse_methods(args.methods, METHODS)
    if methods is None:
        return 2
    seeds, epochs, extra = args.seeds, args.epochs, list(args.overrides)
    if args.jobs < 1:
        print(f"error: --jobs: expected a number of processes ≥ 1, got {args.jobs}", file=sys.stderr)
        return 2
    if args.refine is not None and args.refine < 1:
        print(f"error: --refine: expected a number of training seeds ≥ 1, got {args.refine}", file=sys.stderr)
        return 2
    if args.quick:
        seeds, epochs = seeds[:2], 4
        extra = ["search.population.size=12", "search.population.generations=3", "search.scoring.accuracy_samples=32",
                 "search.scoring.anchors=4", "search.scoring.anchor_epochs=1", "search.scoring.anchor_steps=0", *extra]
    try:
        truth = Truth(args.space, args.gt)
        rounds = args.rounds or (2 if args.quick else load_space(args.space, ["search={}"]).config.search.rounds)
        same_search = grows_nothing(args.space, epochs, rounds, extra)  # also checks the --set overrides
    except EvospaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    gt, size = truth.truth, truth.space.initial_subspace().size
    kind = "complete" if len(gt.archs) == size else "sampled"
    print(f"{args.space.name}: ground truth {args.gt.name} holds {len(gt.archs)} of {size:,} architectures ({kind}); "
          f"best test acc {100 * gt.test_acc.max():.2f}%, median {100 * np.median(gt.test_acc):.2f}%")
    print(f"{epochs} supernet epochs per search ({rounds} rounds for evolving and shrink), "
          f"seeds {seeds[0]}..{seeds[-1]}")
    if {"evolving", "shrink"} <= set(methods) and same_search:
        print("note: evolving's round-0 subspace is the whole pool, so evolving and shrink-only are the same search "
              "here but for the order of each point's operators; their difference is the noise of that order")
    anchors_trained = anchors_reused = 0
    rows: dict[str, list[tuple[int, float, int, bool]]] = {m: [] for m in methods}
    archs: dict[str, list[tuple[int, Arch]]] = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
        done = read_rows(args.csv, args.space.stem, args.label)
        filed = {seed for seed in seeds if all((method, seed) in done for method in methods)}
        jobs = [(args.space, seed, methods, epochs, rounds, extra, truth.space.pool, truth.truth.archs,
                 args.keep or Path(tmp)) for seed in seeds if seed not in filed]
        searched = ordered_map(searched_seed, jobs, args.jobs, threads=args.threads)
        for seed in seeds:
            if seed in filed:
                picks = {m: (dict(zip(truth.labels, done[(m, seed)]["arch"].split(","))), 0.0) for m in methods}
            else:
                picks, trained, reused = next(searched)
                anchors_trained += trained
                anchors_reused += reused
            for method in methods:
                arch, took = picks[method]
                found = truth.found(arch)
                acc = 100 * truth.test_acc(arch)
                rank = truth.rank(acc / 100)
                rows[method].append((seed, acc, rank, found))
                archs[method].append((seed, arch))
                seconds[method] += took
                if args.csv is not None and (method, seed) not in done:
                    append_row(args.csv, {"space": args.space.stem, "label": args.label, "method": method,
                                          "seed": seed, "test_acc": f"{acc:.4f}", "rank": rank, "found": int(found),
                                          "arch": ",".join(truth.key(arch))})
                print(f"  seed {seed:3d} {method:14s} test acc {acc:6.2f}%  rank {rank:4d}"
                      f"{'' if found else '  (trained here: not in the ground truth)'}  {','.join(truth.key(arch))}",
                      flush=True)
        searched.close()  # its workers, if any, are done
    print(f"\n{'method':14s} {'true test acc (%)':>17s} {'rank (1 = best)':>17s} {'found':>6s} "
          f"{'evolving − it (pp)':>19s} {'s.e.':>5s} {'wins':>5s} {'minutes':>8s}")
    result = {}
    evolving = {s: a for s, a, _, _ in rows.get("evolving", [])}
    for method in methods:
        acc = np.array([r[1] for r in rows[method]])
        rank = np.array([r[2] for r in rows[method]], dtype=float)
        found = np.mean([r[3] for r in rows[method]])
        result[f"{method}_true_acc"] = f"{acc.mean():.3f}"
        result[f"{method}_rank"] = f"{rank.mean():.1f}"
        result[f"{method}_found"] = f"{found:.2f}"
        paired_text = error_text = wins = ""
        if evolving and method != "evolving":
            diffs = [evolving[s] - a for s, a, _, _ in rows[method]]
            mean, std, error, ahead = paired(diffs)
            paired_text, wins = f"{mean:+7.2f} ± {std:5.2f}", f"{ahead}/{len(diffs)}"
            error_text = f"{error:5.2f}" if len(diffs) > 1 else ""
            result[f"evolving_minus_{method}"] = f"{mean:.3f}"
        print(f"{method:14s} {summary(acc):>17s} {rank.mean():8.1f} ± {rank.std():6.1f} {found:6.2f} "
              f"{paired_text:>19s} {error_text:>5s} {wins:>5s} {seconds[method] / 60:8.1f}")
    print(f"anchors: {anchors_trained} trained, {anchors_reused} reused across the methods of a seed")
    noise, spread, count = entry_noise(gt)
    if args.refine:
        refined = {m: [(seed, truth.refined_acc(arch, args.refine)) for seed, arch in archs[m]] for m in methods}
        print(f"\njudged by the mean of {args.refine} training seeds ({gt.test_seeds.shape[1]} in the ground truth, "
              f"the rest in {truth.refined_file.name})")
        print(f"{'method':14s} {'true test acc (%)':>17s} {'evolving − it (pp)':>19s} {'s.e.':>5s} {'wins':>5s}")
        base = dict(refined.get("evolving", []))
        for method in methods:
            acc = 100 * np.array([a for _, a in refined[method]])
            line = f"{method:14s} {summary(acc):>17s}"
            result[f"{method}_refined_acc"] = f"{acc.mean():.3f}"
            if base and method != "evolving":
                diffs = [100 * (base[s] - a) for s, a in refined[method]]
                mean, std, error, ahead = paired(diffs)
                line += f" {mean:+7.2f} ± {std:5.2f} {error:5.2f} {ahead}/{len(diffs)}"
                result[f"evolving_minus_{method}_refined"] = f"{mean:.3f}"
            print(line)
        noise *= np.sqrt(gt.test_seeds.shape[1] / args.refine)
    judged = args.refine or gt.test_seeds.shape[1]
    print(f"ground-truth resolution: its best {count} entries spread by {spread:.2f} pp (std); each is known to "
          f"±{noise:.2f} pp (standard error over {judged} training seeds), so the difference of two returned "
          f"architectures to ±{np.sqrt(2) * noise:.2f} pp")
    result["gt_entry_noise"] = f"{noise:.3f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
