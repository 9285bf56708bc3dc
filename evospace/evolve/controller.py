"""The round loop: train → score → evolve → shrink → grow → checkpoint, until the space settles.

Per round r (DESIGN.md §2, §5)::

    train the supernet on subspace_r for E epochs (mid-round checkpoints every N steps)
    scorer   = metrics of subspace_r's architectures (accuracy after BN recalibration, angle, cost)
    result   = evolve a population inside subspace_r, seeded by the previous front (repaired)
    scores   = per-operator means of the shrink metrics, combined by mean rank per choice point
    shrunk   = shrink(subspace_r, scores, result.front)         → op_removed events with scores
    next     = grow(shrunk, queues)  (not after the last round)  → op_added events
    write rounds/r (trained weights, reference, state with `next`), then apply(next) with inheritance
    stop when r + 1 == rounds, or when every queue is empty and the subspace did not change

The controller only talks to a :class:`~evospace.evolve.backend.Backend` (a supernet, or a tabular
oracle in benchmark mode) through ``make_trainer``, ``scorer`` and ``apply_subspace``.
All randomness comes from streams keyed by (seed, purpose, round, ...), so state on
disk is counters, tensors and plain data; resuming from any snapshot continues bit for bit on CPU.

Under ``torchrun`` every rank runs this same loop (see :mod:`evospace.distributed`): the ranks share
out the training batch and the evaluations, and reach every decision themselves; the decisions are
checked to agree before rank 0, the only writer, records them. Rank 0 reads the snapshot to resume from
and sends it to the others, so any snapshot resumes under any number of processes.
"""

from __future__ import annotations

import json
import platform
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from evospace.data import load_data
from evospace.distributed import Group, MirroredError
from evospace.distributed import group as join_group
from evospace.errors import EvospaceError, RunError
from evospace.evolve.backend import Backend, Oracle, OracleBackend, SupernetBackend
from evospace.evolve.fewshot import PhaseHooks
from evospace.evolve.policy import combined_scores, grow, queue_of, shrink
from evospace.evolve.population import evolve
from evospace.run import store as run_store
from evospace.run.rng import global_rng_state, numpy_stream, set_global_rng_state
from evospace.run.store import CHECKPOINT_ROUND, FollowerStore, IncompleteSnapshot, MemorySnapshot, RunStore
from evospace.space.schema import parse_score
from evospace.space.space import SearchSpace, space_from_dict
from evospace.space.subspace import Arch, Subspace
from evospace.supernet.train import RoundTrainer

__all__ = ["Search", "SearchResult", "Interrupted", "BudgetExhausted", "on_main"]

T = TypeVar("T")


class Interrupted(EvospaceError):
    """The search stopped on a signal after writing a checkpoint."""


class BudgetExhausted(EvospaceError):
    """An oracle's query budget is spent (raised by oracles; the controller ends the search on it)."""


@dataclass
class SearchResult:
    """What a finished search leaves (also on disk under the run directory)."""

    path: Path
    rounds: int  # rounds completed
    subspace: Subspace  # the final optimised subspace
    front: list[dict]  # [{"arch": {...}, "metrics": {...}}], best first
    best: dict  # front[0]
    stop_reason: str
    oracle: bool = False  # scored by a tabular oracle rather than a supernet


@dataclass
class _State:
    """The controller's plain-data state at the start of (or during) round ``round``."""

    round: int
    subspace: Subspace
    seen: dict[str, list[str]]  # every operator ever active, per choice point
    born: dict[str, dict[str, int]]  # round each active operator entered in
    front: list[dict] = field(default_factory=list)  # the previous round's front
    finished: bool = False
    stop_reason: str = ""

    def to_json(self) -> dict:
        return {"round": self.round, "subspace": self.subspace.to_config(), "seen": self.seen, "born": self.born,
                "front": self.front, "finished": self.finished,
                "stop_reason": self.stop_reason}

    @classmethod
    def from_json(cls, data: dict, space: SearchSpace) -> _State:
        return cls(data["round"], space.subspace_from_config(data["subspace"]), data["seen"], data["born"],
                   data["front"], data["finished"], data["stop_reason"])


def _tensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return st_save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()})


def _json_bytes(data) -> bytes:
    return json.dumps(data, indent=1, allow_nan=False).encode()


class Search:
    """A search bound to a run directory; :meth:`run` runs (or continues) it to the end.

    Args:
        space: the validated search space.
        out: the run directory (``runs/NAME``); must be new or empty.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        oracle: a tabular oracle to use instead of a supernet (no training; its table answers queries).
        oracle_spec: how to rebuild the oracle on resume (recorded in ``run.yaml``), e.g. ``{"table": path}``.
        progress: show tqdm progress bars.
        log: where one-line status messages go.
        group: the run's processes (default: joined from torchrun's environment, else a group of one);
            only rank 0 writes, shows progress and logs.

    Example:
        >>> result = Search(load_space("spaces/mnist1d.yaml"), "runs/demo").run()  # doctest: +SKIP
    """

    def __init__(self, space: SearchSpace, out: str | Path, *, device: str = "auto", progress: bool = True,
                 log: Callable[[str], None] = print, oracle: Oracle | None = None, oracle_spec: dict | None = None,
                 group: Group | None = None, _resume: bool = False) -> None:
        self.group = group or join_group(device)
        self.group.hint = f"; continue with `evospace resume {out}` (under torchrun or not)"
        self.space = space
        self.oracle = oracle
        self.oracle_spec = oracle_spec
        self.store = RunStore(out) if self.group.is_main else FollowerStore(out)
        self.device = self.group.device(device)
        self.progress = progress and self.group.is_main
        self.log = log if self.group.is_main else _silent
        self.config = space.config.search
        self.seed = space.config.seed
        self._stop_signal: int | None = None
        self._trainer: RoundTrainer | None = None
        self._lock = None  # held from creation or resume until run() returns
        batch = space.config.data.batch_size
        if oracle is None and batch % self.group.world:
            raise EvospaceError(f"{space.source}: data.batch_size {batch} does not split over {self.group.world} "
                                f"processes (the global batch stays {batch} whatever their number); choose a "
                                f"multiple of {self.group.world} with --set data.batch_size=N")
        if not _resume:
            on_main(self.group, self._create_directory, "creating the run directory", share=False)
            self._lock = on_main(self.group, self.store.lock, "locking the run", share=False)
            self.backend = self._make_backend()
            self.state = self._initial_state()
            for row in self._initial_events():
                self.store.append("events", row)

    # -- creation and resume ----------------------------------------------------------------------
    def _create_directory(self) -> None:
        if self.store.exists():
            record = self.store.read_record()
            same = record.get("fingerprint") == self.space.fingerprint()
            hint = (f"it holds a run of this space: continue it with `evospace resume {self.store.path}`"
                    if same else f"it holds a run of another space ({record.get('space', {}).get('name')!r})")
            raise RunError(f"{self.store.path}: {hint}; or choose another --out")
        self.store.create({
            "space": self.space.to_config(),
            "source": self.space.source,
            "fingerprint": self.space.fingerprint(),
            "seed": self.seed,
            "oracle": self.oracle_spec,
            "versions": {"evospace": _version(), "torch": str(torch.__version__), "python": platform.python_version()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })

    def _initial_state(self) -> _State:
        subspace = self.space.initial_subspace()
        return _State(0, subspace, {l: list(subspace.ops(l)) for l in subspace.labels},
                      {l: {op: 0 for op in subspace.ops(l)} for l in subspace.labels})

    def _initial_events(self) -> list[dict]:
        subspace = self.space.initial_subspace()
        return [{"event": "run_started", "space": self.space.name, "seed": self.seed, "processes": self.group.world,
                 "time": time.time()},
                *({"event": "op_added", "round": 0, "label": label, "op": op, "reason": "initial", "scores": None}
                  for label in subspace.labels for op in subspace.ops(label))]

    @classmethod
    def resume(cls, path: str | Path, *, device: str = "auto", progress: bool = True,
               log: Callable[[str], None] = print, group: Group | None = None) -> Search:
        """Continue the run in ``path`` from its newest valid snapshot (mid-round if there is one).

        A snapshot that fails verification is reported in one line, renamed (``rounds/002.damaged``, never
        loaded nor overwritten) and the next older one is used. If none is left, a run whose snapshots were
        all interrupted writes starts its first round over; one with a damaged snapshot is refused. A
        finished run only gets what a kill may have cut short after its last round (``best/``, checkpoints);
        :attr:`finished` then says there is nothing left to run. Any snapshot resumes under any number of
        processes; the same number continues bit for bit.

        Raises:
            RunError: ``path`` is not a run, another process holds it, or no snapshot can be used.
        """
        group = group or join_group(device)
        record = on_main(group, RunStore(path).read_record, "reading run.yaml")
        space = space_from_dict(record["space"], str(Path(path) / "run.yaml"))
        spec = record.get("oracle")
        oracle = load_oracle(spec, space) if spec else None
        self = cls(space, path, device=device, progress=progress, log=log, oracle=oracle, oracle_spec=spec,
                   group=group, _resume=True)
        if record.get("fingerprint") not in (None, space.fingerprint()):
            raise RunError(f"{self.store.run_yaml}: the recorded space does not match its fingerprint; "
                           f"the run was edited by hand")
        self._lock = on_main(group, self.store.lock, "locking the run", share=False)
        self.backend = self._make_backend()
        picked = on_main(group, self._restore_newest, "choosing the snapshot to resume from")
        if picked is None:  # only interrupted writes: the run stopped before its first checkpoint
            self.state = self._initial_state()
            self._offsets = {"events": 0, "metrics": 0}
            self.store.rewrite_journal("events", self._initial_events())
            self.store.rewrite_journal("metrics", [])
            self.store.remove_leftovers()
            self.log(f"no complete snapshot in {path}: starting its first round again")
            return self
        kind, name, files = picked
        if group.is_main:
            for file in files:
                group.broadcast_bytes(self._picked.read_bytes(file), "sending the snapshot")
        else:
            contents = {file: group.broadcast_bytes(b"", "receiving the snapshot") for file in files}
            self._restore(kind, MemorySnapshot(self.store.path / name, contents))
        if self.state.front:
            self._write_best(self.state.front, self.state.round - 1)
        if self.state.finished:  # killed after writing its last round: only the tidying was left
            self.store.clear_checkpoints()
            return self
        self.store.append("events", {"event": "resumed", "from": kind, "snapshot": name, "round": self.state.round,
                                     "processes": group.world, "time": time.time()})
        was = self._snapshot_processes
        self.log(f"resuming {path} from {kind} {name} (round {self.state.round})"
                 + (f" on {group.world} processes; it was written by {was}, so the run continues but not bit for "
                    f"bit as it would have on {was} (each rank normalises its own slice of the batch)"
                    if was != group.world and self._trainer is not None else ""))
        return self

    def _restore_newest(self) -> tuple[str, str, list[str]] | None:
        """On rank 0: restore the newest usable snapshot and tidy the run; ``None`` means start over.

        Returns what the other ranks need to restore the same snapshot: its kind, name and files.
        """
        store = self.store
        skipped: list[tuple[Path, RunError]] = []
        for kind, directory in store.snapshots():
            try:
                snap = store.verify(directory)
                self._restore(kind, snap)
            except RunError as err:
                skipped.append((directory, err))
                continue
            self._set_aside(skipped)
            for name in store.torn_journals():
                self.log(f"{store.path / name}: dropping its torn last line (the run was killed while writing it)")
            store.truncate_journals(self._offsets)
            store.remove_leftovers()
            self._picked = snap
            return kind, directory.name, sorted(snap.files)
        damaged = [err for _, err in skipped if not isinstance(err, IncompleteSnapshot)]
        if damaged:
            raise RunError(f"{damaged[0]}; no other snapshot to fall back to, so the run cannot continue "
                           f"(start a new one with `evospace search --out NEW_DIR`)")
        self._set_aside(skipped)
        return None

    def _set_aside(self, skipped: list[tuple[Path, RunError]]) -> None:
        for directory, err in skipped:
            kept = self.store.set_aside(directory, "incomplete" if isinstance(err, IncompleteSnapshot) else "damaged")
            self.log(f"{err}; falling back to an older snapshot ({directory.name} kept as {kept.name})")

    def _restore(self, kind: str, snap: run_store.Snapshot) -> None:
        """Load a verified snapshot; anything unusable in it is a :class:`RunError` naming the snapshot."""
        self._trainer = None
        meta = snap.read_json("state.json")
        try:
            state = _State.from_json(meta["controller"], self.space)
            trained = self.space.subspace_from_config(meta["trained_subspace"])
            tensors = {name: st_load(snap.read_bytes(f"{name}.safetensors")) for name in meta["tensors"]}
            momentum = st_load(snap.read_bytes("optimizer.safetensors")) if snap.has("optimizer.safetensors") else {}
            offsets = {name: int(meta["journals"][name]) for name in ("events", "metrics")}
            self.backend.restore(trained, tensors, meta.get("backend", {}))
            set_global_rng_state(meta["rng"])
            trainer = None
            if kind == "checkpoint":
                trainer = self.backend.make_trainer(state.round)
                trainer.load_state_dict(meta["trainer"], momentum)
        except (KeyError, TypeError, ValueError, AttributeError, SafetensorError, RunError) as err:
            raise RunError(f"{snap.path}: unusable snapshot ({err.__class__.__name__}: {err})") from None
        self.state = state
        self._offsets = offsets
        self._trainer = trainer
        self._snapshot_processes = int(meta.get("processes", 1))
        if kind == "round" and not state.finished:
            self.backend.apply_subspace(state.subspace, state.round, state.born)

    def _make_backend(self) -> Backend:
        if self.oracle is not None:
            return OracleBackend(self.space, self.oracle)
        cfg = self.space.config.data
        data = load_data(cfg.name, val_fraction=cfg.val_fraction, samples=cfg.samples, split_seed=self.seed,
                         device=self.device)
        return SupernetBackend(self.space, data, self.device, self.group)

    # -- the loop ---------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Whether the search has reached its stop rule (then :meth:`run` returns at once)."""
        return self.state.finished

    def run(self) -> SearchResult:
        """Run rounds until the stop rule holds; SIGINT/SIGTERM checkpoint and raise :class:`Interrupted`."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for sig in previous:
                signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread: no signal handling
            previous = {}
        try:
            while not self.state.finished:
                self._run_round()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._lock is not None:
                self._lock.close()
                self._lock = None
        return self.result()

    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum

    def _stop_requested(self) -> bool:
        """Whether a signal asked this process (or, in a process group, any rank) to stop.

        In a group this is a collective, so every rank stops after the same step.
        """
        return self.group.any(self._stop_signal is not None, "a stop check")

    def _check_stop(self, requested: bool | None = None) -> None:
        if requested is None:
            requested = self._stop_requested()
        if requested:
            name = ("a signal to another rank" if self._stop_signal is None
                    else signal.Signals(self._stop_signal).name)
            raise Interrupted(f"stopped by {name} in round {self.state.round}; the last checkpoint is on disk. "
                              f"Continue with: evospace resume {self.store.path}")

    def _run_round(self) -> None:
        r = self.state.round
        started = time.perf_counter()
        if self._trainer is None:
            self.store.append("events", {"event": "round_started", "round": r, "size": self.state.subspace.size,
                                         "subspace": self.state.subspace.to_config(), "time": time.time()})
            self._trainer = self.backend.make_trainer(r)
        if self._trainer is not None:
            self._train(self._trainer)
            self._after_training(self._trainer)
        self._trainer = None
        self._score_and_decide(r, started)

    def _train(self, trainer: RoundTrainer) -> None:
        bar = self._bar(trainer.total_steps, f"round {trainer.round + 1}/{self.config.rounds} train",
                        initial=trainer.global_step)

        last_checkpoint = trainer.global_step

        def maybe_checkpoint(t: RoundTrainer) -> bool:
            nonlocal last_checkpoint
            stop = self._stop_requested()
            if t.global_step - last_checkpoint >= self.config.checkpoint_every or stop:
                self._checkpoint(t)
                last_checkpoint = t.global_step
            if stop:
                self._close(bar)
                self._check_stop(stop)
            return True

        try:
            while not trainer.done:
                figures = trainer.train_epoch(on_step=maybe_checkpoint, progress=bar.update if bar else None)
                self.store.append("metrics", {"kind": "epoch", **vars(figures)})
                self._after_epoch(trainer, figures.epoch)
                if bar is not None:
                    bar.set_postfix(loss=f"{figures.loss:.3f}", acc=f"{figures.train_acc:.3f}")
                if not trainer.done:
                    maybe_checkpoint(trainer)
        finally:
            self._close(bar)
        if trainer.global_step > last_checkpoint:  # resumed from the trained state: it is on disk already
            self._checkpoint(trainer)  # the trained state: scoring restarts from here
        self.backend.finish_training(trainer.round)

    def _after_epoch(self, trainer: RoundTrainer, epoch: int) -> None:
        """The backend's figures and in-round pruning after an epoch (branch learning), journalled."""
        extra = self.backend.epoch_figures()
        if extra is not None:
            self.store.append("metrics", {"kind": "branches", "round": trainer.round, "epoch": epoch, **extra})
        pruned = self.backend.after_epoch(trainer.round)
        if not pruned:
            return
        trainer.refresh_params()
        state = self.state
        state.subspace = self.backend.subspace
        threshold = self.config.branch_learning.prune_below
        for item in pruned:
            state.born[item.label].pop(item.op, None)
            self.store.append("events", {
                "event": "op_removed", "round": trainer.round, "label": item.label, "op": item.op, "epoch": epoch,
                "reason": f"its branch probability {item.probability:.3f} fell below "
                          f"search.branch_learning.prune_below ({threshold}) after epoch {epoch + 1}",
                "scores": {"probability": item.probability, "logit": item.logit}})
        self.log(f"round {trainer.round + 1}, epoch {epoch + 1}: "
                 + ", ".join(f"{item.label} {item.op} (p={item.probability:.3f})" for item in pruned)
                 + " left the subspace")

    def _after_training(self, trainer: RoundTrainer) -> None:
        """The backend's work before scoring (few-shot sub-supernets), with a checkpoint after each piece."""

        def checkpoint(done: int) -> None:
            trainer_state = trainer.state_dict()  # on every rank, as in _checkpoint
            if self.group.is_main:
                self.store.write_checkpoint(trainer.round * CHECKPOINT_ROUND + trainer.global_step + done,
                                            self._snapshot_files(self.state, self.state.subspace,
                                                                 trainer_state=trainer_state))
            self._check_stop()

        self.backend.after_training(trainer.round, PhaseHooks(checkpoint, self.store.append))

    def _score_and_decide(self, r: int, started: float) -> None:
        trained = self.state.subspace
        scorer = self.backend.scorer(r)

        def evaluate(arch: Arch) -> dict[str, float]:
            self._check_stop()
            return scorer.evaluate(arch)

        def evaluate_many(archs: list[Arch]) -> list[dict[str, float]]:
            self._check_stop()
            return scorer.evaluate_many(archs)

        first = self.config.objectives[0]
        bar = self._bar(self.config.population.generations + 1, f"round {r + 1}/{self.config.rounds} evolve")

        def on_generation(entry: dict) -> None:
            self.store.append("metrics", {"kind": "generation", "round": r, **entry})
            if bar is not None:
                bar.update(1)
                bar.set_postfix({f"best {first}": f"{entry[first]['max']:.3f}"})

        metrics = parse_score(self.config.shrink.score)
        budget_spent = False
        try:
            result = evolve(trained, evaluate, tuple(self.config.objectives), self.config.population,
                            self.config.constraints, self.backend.cost, self.backend.op_cost,
                            numpy_stream(self.seed, "evolve", r),
                            seeds=[row["arch"] for row in self.state.front], on_generation=on_generation,
                            evaluate_many=evaluate_many, sample=self.backend.sampler(r))
            front = sorted(({"arch": ind.arch(trained.labels), "metrics": ind.metrics} for ind in result.front),
                           key=lambda row: -row["metrics"][first])
            history = result.history
            population = [{"arch": ind.arch(trained.labels), "metrics": ind.metrics} for ind in result.population]
        except BudgetExhausted:
            budget_spent = True  # the front is the best of what was queried
            evaluated = sorted(scorer.cached().items(), key=lambda item: -item[1][first])
            population = [{"arch": dict(zip(trained.labels, key)), "metrics": m} for key, m in evaluated]
            front = population[:self.config.population.hall_of_fame]
            history = []
        finally:
            self._close(bar)
        if not front:
            raise RunError(f"{self.store.path}: the query budget was spent before any architecture was scored")
        per_op = scorer.op_scores(numpy_stream(self.seed, "op-scores", r), metrics)
        combined = combined_scores(per_op, metrics)
        shrunk, shrink_decisions = shrink(trained, combined, [row["arch"] for row in front],
                                          self.config.shrink.keep, self.config.shrink.keep_front)
        last = r + 1 >= self.config.rounds or budget_spent
        queues = {l: queue_of(self.space.pool_order(l), self.state.seen[l]) for l in trained.labels}
        if last:
            following, grow_decisions = shrunk, []
        else:
            following, grow_decisions = grow(shrunk, queues, self.config.grow.per_round)

        keep = self.config.shrink.keep
        for d in shrink_decisions:
            if not d.kept:
                ranked = sorted(combined[d.label].values(), reverse=True)
                self.store.append("events", {
                    "event": "op_removed", "round": r, "label": d.label, "op": d.op,
                    "reason": f"not in the front and ranked below the best {keep} by "
                              f"{self.config.shrink.score} at its choice point",
                    "rank_in_point": ranked.index(d.score) + 1, "of": len(ranked),
                    "scores": {**per_op[d.label][d.op], "combined": d.score}})
        for d in grow_decisions:
            self.store.append("events", {"event": "op_added", "round": r + 1, "label": d.label, "op": d.op,
                                         "reason": "grown from queue", "scores": None})
        self.store.append("events", {"event": "front", "round": r, "front": front})

        exhausted = all(not [op for op in q if op not in following.ops(l)] for l, q in queues.items())
        stop_reason = ""
        if budget_spent:
            stop_reason = "query budget spent"
        elif last:
            stop_reason = "rounds reached"
        elif exhausted and following == trained and not (self.oracle_spec or {}).get("budget"):
            # with a query budget the budget is the stop rule: a settled space keeps evolving its population
            stop_reason = "pools exhausted and the subspace did not change"
        seen = {l: self.state.seen[l] + [op for op in following.ops(l) if op not in self.state.seen[l]]
                for l in trained.labels}
        born = {l: {op: self.state.born[l].get(op, r + 1) for op in following.ops(l)} for l in trained.labels}
        next_state = _State(r + 1, following, seen, born, front, bool(stop_reason), stop_reason)
        self.group.check_agree(f"round {r}'s decision (next subspace, front, stop rule)",
                               json.dumps(next_state.to_json(), sort_keys=True))
        best = front[0]
        self.store.append("events", {
            "event": "round_ended", "round": r, "size_before": trained.size, "size_after": following.size,
            "removed": sum(not d.kept for d in shrink_decisions), "added": len(grow_decisions),
            "evaluated": scorer.evaluated, "best": best, "seconds": time.perf_counter() - started,
            "time": time.time()})
        self.store.append("metrics", {"kind": "round", "round": r, "evaluated": scorer.evaluated,
                                      "best_accuracy": best["metrics"]["accuracy"], "size": trained.size,
                                      "seconds": time.perf_counter() - started})
        if stop_reason:
            self.store.append("events", {"event": "finished", "rounds": r + 1, "reason": stop_reason,
                                         "subspace": following.to_config(), "best": best, "time": time.time()})
        extras = self.backend.op_extras()
        op_scores = {l: {op: {**per_op[l][op], "combined": combined[l][op], **extras.get(l, {}).get(op, {})}
                         for op in trained.ops(l)} for l in trained.labels}
        if self.group.is_main:
            self.store.write_round(r, self._snapshot_files(next_state, trained, extra={
                "op_scores": op_scores, "logbook": history, "population": population}, space_yaml=True))
        self.store.clear_checkpoints()
        self._write_best(front, r)
        self.state = next_state
        if not next_state.finished:
            self.backend.apply_subspace(following, next_state.round, next_state.born)
        self.log(f"round {r + 1}/{self.config.rounds}: {trained.size:,} → {following.size:,} architectures, "
                 f"best {'oracle' if self.oracle is not None else 'supernet'} accuracy "
                 f"{best['metrics']['accuracy']:.3f}"
                 + (f"; stopping: {stop_reason}" if stop_reason else ""))

    # -- snapshots --------------------------------------------------------------------------------
    def _snapshot_files(self, state: _State, trained: Subspace, extra: dict | None = None,
                        trainer_state: tuple[dict, dict] | None = None, space_yaml: bool = False) -> dict[str, bytes]:
        groups = self.backend.tensors()
        meta = {"controller": state.to_json(), "trained_subspace": trained.to_config(),
                "journals": self.store.journal_offsets(), "rng": global_rng_state(), "tensors": sorted(groups),
                "backend": self.backend.state(), "processes": self.group.world, **(extra or {})}
        files = {}
        if trainer_state is not None:
            trainer_meta, momentum = trainer_state
            meta["trainer"] = trainer_meta
            files["optimizer.safetensors"] = _tensors_bytes(momentum)
        for name, tensors in groups.items():
            files[f"{name}.safetensors"] = _tensors_bytes(tensors)
        files["state.json"] = _json_bytes(meta)
        if space_yaml:
            files["space.yaml"] = yaml.safe_dump({"round": state.round - 1, "subspace": trained.to_config(),
                                                  "size": trained.size}, sort_keys=False).encode()
        return files

    def _checkpoint(self, trainer: RoundTrainer) -> None:
        trainer_state = trainer.state_dict()  # on every rank: it totals the epoch's running sums over them
        if self.group.is_main:
            self.store.write_checkpoint(trainer.round * CHECKPOINT_ROUND + trainer.global_step,
                                        self._snapshot_files(self.state, self.state.subspace,
                                                             trainer_state=trainer_state))

    def _write_best(self, front: list[dict], r: int) -> None:
        """``best/arch.json`` from round ``r``'s front (rewritten on resume: a kill may have left it stale)."""
        best = front[0]
        self.store.write_best({**best, "round": r, "params": int(best["metrics"]["params"]),
                               "flops": int(best["metrics"]["flops"]), "space": self.space.name})

    # -- results ----------------------------------------------------------------------------------
    def result(self) -> SearchResult:
        front = self.state.front
        return SearchResult(self.store.path, self.state.round, self.state.subspace, front,
                            front[0] if front else {}, self.state.stop_reason, self.oracle is not None)

    def _bar(self, total: int, desc: str, initial: int = 0):
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, initial=initial, leave=False, dynamic_ncols=True)

    @staticmethod
    def _close(bar) -> None:
        if bar is not None:
            bar.close()


def on_main(group: Group, fn: Callable[[], T], what: str, share: bool = True) -> T | None:
    """Run ``fn`` on rank 0 only; the other ranks get its result (plain JSON data) or raise its error.

    For what only one process may do (reading or changing the run directory). With ``share=False`` the
    others get ``None``: only the outcome is shared.
    """
    if not group.distributed:
        return fn()
    if group.is_main:
        try:
            value = fn()
        except Exception as err:
            message = str(err) if isinstance(err, EvospaceError) else f"rank 0 failed while {what}: {err!r}"
            group.broadcast({"error": message}, what)
            raise
        group.broadcast({"value": value if share else None}, what)
        return value
    reply = group.broadcast(None, what)
    if "error" in reply:
        raise MirroredError(reply["error"])
    return reply["value"]


def _silent(message: str) -> None:
    """The log of ranks other than 0: rank 0 speaks for the run."""


def load_oracle(spec: dict, space: SearchSpace) -> Oracle:
    """Rebuild the oracle a run was started with (``run.yaml``'s ``oracle`` entry)."""
    from evospace.bench.tabular import TabularOracle, TabularTable

    return TabularOracle(TabularTable.load(spec["table"], space), budget=spec.get("budget"))


def _version() -> str:
    from evospace import __version__

    return __version__
