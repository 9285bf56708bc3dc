"""The round loop: train → score → decide → record → apply, until the space settles.

Per round r::

    train the supernet on subspace_r for E epochs        (mid-round checkpoints every N steps; extensions'
                                                          after-epoch work, e.g. branch pruning)
    after training: the extensions' work                  (e.g. few-shot sub-supernets, a checkpoint each)
    score: evolve a population inside subspace_r, seeded by the previous front; per-operator scores
    decide: decide_round(...) -> shrink, grow, stop rule  (evolve/decide.py: pure)
    record: events, metrics, rounds/r, best/arch.json     (run/recorder.py)
    apply: the backend holds the next subspace, survivors keep their weights

The controller only talks to a :class:`~evospace.evolve.backend.Backend` (a supernet, or a tabular oracle
given as :class:`~evospace.evolve.oracle.OracleBackend`). All randomness comes from streams keyed by
(seed, purpose, round, ...), so state on disk is counters, tensors and plain data; resuming from any snapshot
continues bit for bit on CPU (run/resume.py).

Under ``torchrun`` every rank runs this same loop (see :mod:`evospace.distributed`): the ranks share out the
training batch and the evaluations, and reach every decision themselves; the decisions are checked to agree
before rank 0, the only writer, records them. Rank 0 reads the snapshot to resume from and sends it to the
others, so any snapshot resumes under any number of processes.
"""

from __future__ import annotations

import _thread
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from evospace.data import DataSplits, data_record, info_from_record, load_space_data
from evospace.distributed import Group, check_batch_split, on_main
from evospace.distributed import group as join_group
from evospace.errors import BudgetExhausted, Interrupted, RunError
from evospace.evolve.backend import Backend, SupernetBackend
from evospace.evolve.callbacks import dispatch
from evospace.evolve.decide import RoundDecision, decide_round
from evospace.evolve.objectives import ObjectiveContext, ObjectiveMetrics, wanted_objectives
from evospace.evolve.population import evolve
from evospace.extensions import AddedMetrics, RoundHooks, Scorer
from evospace.metrics.scores import metrics_record
from evospace.run.events import (
    Event,
    Finished,
    OpAdded,
    OpRemoved,
    Resumed,
    RoundEnded,
    RoundStarted,
    RunStarted,
    round_name,
)
from evospace.run.recorder import Recorder, create_run
from evospace.run.resume import restore_snapshot, resume_newest
from evospace.run.rng import numpy_stream
from evospace.run.snapshot import SearchState
from evospace.run.store import FollowerStore, RunStore
from evospace.space.schema import parse_score
from evospace.space.space import SearchSpace, space_from_dict
from evospace.space.subspace import Arch, Subspace
from evospace.supernet.train import RoundTrainer, undertrained_note
from evospace.version import __version__

__all__ = ["Search", "SearchResult", "OracleLoader"]

OracleLoader = Callable[[dict, SearchSpace], Backend]  # run.yaml's `oracle` entry -> the backend to resume with

logger = logging.getLogger("evospace")


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
    stopped: str | None = None  # why a callback stopped the search before its end (resume it to go on)


@dataclass(frozen=True)
class _Scored:
    """What a round's scoring found: its population's front and the operators' scores."""

    front: list[dict]  # best first
    population: list[dict]
    logbook: list[dict]
    per_op: dict  # {label: {op: {metric: mean}}} of the shrink score's metrics
    evaluated: int  # architectures scored
    budget_spent: bool  # an oracle's budget ran out


class Search:
    """A search bound to a run directory; :meth:`run` runs (or continues) it to the end.

    Args:
        space: the validated search space.
        out: the run directory (``runs/NAME``); must be new or empty.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        workers: DataLoader worker processes for the training batches; ``None``: none on the CPU or for small
            data, up to 4 on a GPU for a training split above 256 MiB (:func:`evospace.data.datasets.auto_workers`).
            A run's results do not depend on it, so a resumed run may use another number.
        backend: what scores architectures (default: a supernet trained on the space's data), e.g.
            ``OracleBackend(space, TabularOracle(...), spec)`` for a tabular benchmark.
        progress: show tqdm progress bars (only when stderr is a terminal).
        log: where one-line status messages go (default: the ``evospace`` logger, at INFO).
        callbacks: objects whose ``on_round_start``, ``on_epoch_end``, ``on_generation``, ``on_round_end`` are
            called as the search goes (:mod:`evospace.evolve.callbacks`); one may call :meth:`stop`.
        group: the run's processes (default: joined from torchrun's environment, else a group of one);
            only rank 0 writes, shows progress and logs.

    Example:
        >>> result = Search(load_space("spaces/mnist1d.yaml"), "runs/demo").run()  # doctest: +SKIP
    """

    def __init__(self, space: SearchSpace, out: str | Path, *, device: str = "auto", progress: bool = True,
                 log: Callable[[str], None] | None = None, backend: Backend | None = None, group: Group | None = None,
                 callbacks: Sequence[object] = (), workers: int | None = None, _resume: bool = False) -> None:
        self.group = group or join_group(device)
        self.group.hint = f"; continue with `evospace resume {out}` (under torchrun or not)"
        self.space = space
        self.store = RunStore(out) if self.group.is_main else FollowerStore(out)
        self.device = self.group.device(device)
        self.workers = workers
        self.progress = progress and self.group.is_main
        self.log = (log or logger.info) if self.group.is_main else _silent
        self.callbacks = list(callbacks)
        self._stop_signal: int | None = None
        self._grace: _Grace | None = None  # after a signal: the time left to reach a safe point
        self._stop_reason: str | None = None  # a callback's stop(reason)
        self._signalled = False  # whether the last stop check found a signal (on any rank)
        self._objectives: ObjectiveMetrics | None = None  # objectives the backend does not measure
        self._trainer: RoundTrainer | None = None  # a round's trainer, restored mid-round
        self._lock = None  # held from creation or resume until run() returns
        if backend is None:
            own = space.config.search.train.batch_size is not None
            check_batch_split(space.config.supernet_batch_size, self.group.world, space.source,
                              "search.train.batch_size" if own else "data.batch_size")
        if not _resume:
            spec = backend.spec if backend else None
            metrics = metrics_record(space.config.search) if spec is None else {"every_architecture": "a table row"}
            data = self._load_data() if backend is None else None  # a data error leaves no run directory behind
            self._lock = on_main(self.group, lambda: create_run(self.store, space, spec, metrics,
                                                                data_record(data) if data is not None else None),
                                 "creating the run directory", share=False)  # locked before run.yaml is written
            self._attach(backend, data)
            self.state = SearchState.initial(space)
            for event in self._initial_events():
                self.recorder.event(event)

    def _load_data(self) -> DataSplits:
        return load_space_data(self.space.config.data, split_seed=self.space.config.seed, device=self.device,
                               workers=self.workers)

    def _attach(self, backend: Backend | None, data: DataSplits | None = None) -> None:
        """Hold ``backend`` (default: the space's supernet on ``data``, loaded if not given) and a recorder of its
        snapshots."""
        if backend is None:
            backend = SupernetBackend(self.space, data if data is not None else self._load_data(), self.device,
                                      self.group)
        self.backend = backend
        self.recorder = Recorder(self.store, backend, processes=self.group.world, is_main=self.group.is_main)

    def _initial_events(self) -> list[Event]:
        subspace = self.space.initial_subspace()
        return [RunStarted(space=self.space.name, seed=self.space.config.seed, processes=self.group.world,
                           time=time.time()),
                *(OpAdded(round=0, label=label, op=op, reason="initial")
                  for label in subspace.labels for op in subspace.ops(label))]

    @classmethod
    def resume(cls, path: str | Path, *, device: str = "auto", progress: bool = True,
               log: Callable[[str], None] | None = None, group: Group | None = None,
               load_oracle: OracleLoader | None = None, callbacks: Sequence[object] = (),
               workers: int | None = None) -> Search:
        """Continue the run in ``path`` from its newest valid snapshot (mid-round if there is one).

        A snapshot that fails verification is reported in one line, renamed (``rounds/002.damaged``, never
        loaded nor overwritten) and the next older one is used (:mod:`evospace.run.resume`). If none is left, a
        run whose snapshots were all interrupted writes starts its first round over; one with a damaged snapshot
        is refused. A finished run only gets what a kill may have cut short after its last round (``best/``,
        checkpoints); :attr:`finished` then says there is nothing left to run. Any snapshot resumes under any
        number of processes; the same number continues bit for bit.

        Args:
            callbacks: as for :class:`Search` (a resumed search calls ``on_round_start`` for the round it continues).
            workers: as for :class:`Search`.
            load_oracle: rebuilds the backend of a run scored by an oracle from ``run.yaml``'s ``oracle`` entry
                (``evospace.bench.load_oracle`` for the tabular benchmarks; the command line passes it).

        Raises:
            RunError: ``path`` is not a run, another process holds it, or no snapshot can be used.
        """
        group = group or join_group(device)
        record = on_main(group, RunStore(path).read_record, "reading run.yaml")
        recorded_data = record.get("data")
        space = space_from_dict(record["space"], str(Path(path) / "run.yaml"),
                                info_from_record(recorded_data) if recorded_data else None)
        spec = record.get("oracle")
        backend = None
        if spec:
            if load_oracle is None:
                raise RunError(f"{path} was scored by an oracle ({spec.get('table')}): resume it with `evospace resume "
                               f"{path}`, or pass load_oracle=evospace.bench.load_oracle")
            backend = load_oracle(spec, space)
        self = cls(space, path, device=device, progress=progress, log=log, backend=backend, group=group,
                   callbacks=callbacks, workers=workers, _resume=True)
        if record.get("fingerprint") != space.fingerprint():
            what = "has no fingerprint" if "fingerprint" not in record else "does not match its fingerprint"
            raise RunError(f"{self.store.run_yaml}: the recorded space {what}; the run was edited by hand or is "
                           f"damaged, so it cannot be resumed (start a new one with `evospace search --out NEW_DIR`)")
        self._lock = on_main(group, self.store.lock, "locking the run", share=False)
        on_main(group, self.store.check_links, "checking the run directory", share=False)
        self._attach(backend)
        if recorded_data and isinstance(self.backend, SupernetBackend):
            _check_same_data(recorded_data, data_record(self.backend.data), self.store.run_yaml)
        resumed = resume_newest(self.store, group, lambda kind, snap: restore_snapshot(kind, snap, space, self.backend),
                                self.log)
        if resumed is None:  # only interrupted writes: the run stopped before its first checkpoint
            self.state = SearchState.initial(space)
            self.recorder.restart(self._initial_events())
            self.log(f"no complete snapshot in {path}: starting its first round again")
            return self
        self.state, self._trainer = resumed.state, resumed.trainer
        if self.state.front:
            self.recorder.best(self.state.front, self.state.round - 1, space.name)
        if self.state.finished:  # killed after writing its last round: only the tidying was left
            self.store.clear_checkpoints()
            return self
        self.recorder.event(Resumed(source=resumed.kind, snapshot=resumed.name, round=self.state.round,
                                    processes=group.world, version=__version__, time=time.time()))
        was = resumed.processes
        self.log(f"resuming {path} from {resumed.kind} {resumed.name} (round {self.state.round})"
                 + (f" on {group.world} processes; it was written by {was}, so the run continues but not bit for "
                    f"bit as it would have on {was} (each rank normalises its own slice of the batch)"
                    if was != group.world and self._trainer is not None else ""))
        started = (record.get("versions") or {}).get("evospace")
        if started != __version__:
            self.log(f"note: {path} was started by evospace {started or 'of an unknown version'} and continues under "
                     f"{__version__}, whose algorithms may differ: the rest of the run is this version's search, "
                     f"not necessarily what {started or 'the first'} would have done")
        return self

    # -- the loop ---------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Whether the search has reached its stop rule (then :meth:`run` returns at once)."""
        return self.state.finished

    def run(self) -> SearchResult:
        """Run rounds until the stop rule holds (or a callback stops the search: ``result.stopped`` says why).

        Raises:
            Interrupted: SIGINT or SIGTERM stopped the search, after a checkpoint.
        """
        with self._locked(), self._signals_caught():
            try:
                while not self.state.finished:
                    r = self.state.round
                    started = time.perf_counter()
                    trainer = self._trainer if self._trainer is not None else self._start_round(r)
                    self._callback("on_round_start", r)
                    if trainer is not None:
                        self._train(trainer)
                        self.backend.after_training(trainer, self._hooks(trainer))
                    self._trainer = None
                    scored = self._score(r)
                    decision = decide_round(self.space, self.state, scored.front, scored.per_op,
                                            budget_spent=scored.budget_spent, budgeted=bool(self.backend.budget))
                    self._record(decision, scored, started)
                    self._advance(decision)
                    self._callback("on_round_end", decision)
            except _Stopped:
                self.log(f"stopped: {self._stop_reason}; continue with `evospace resume {self.store.path}`")
                return self.result()
        return self.result()

    def stop(self, reason: str = "stopped by a callback") -> None:
        """Ask the search to stop at the next safe point, after a checkpoint; :meth:`run` then returns.

        Meant for callbacks; the run stays resumable (``evospace resume``).
        """
        self._stop_reason = reason

    def _callback(self, hook: str, *args) -> None:
        """Call the callbacks' ``hook``; stop here if one of them (on any rank) asked to."""
        if not self.callbacks:
            return
        dispatch(self.callbacks, hook, self, *args)
        self._check_stop()

    def _start_round(self, r: int) -> RoundTrainer | None:
        subspace = self.state.subspace
        self.recorder.event(RoundStarted(round=r, size=subspace.size, subspace=subspace.to_config(), time=time.time()))
        report = self.backend.start_round(r, self.state.born)
        if report is not None:
            self.recorder.metrics({"kind": "warm_start", **vars(report)})
            self.log(f"{round_name(r, self.space.config.search.rounds)}: {report.operators} new operators fitted to "
                     f"an older one of their choice point ({report.steps} steps, mean squared error "
                     f"{report.loss_before:.3g} → {report.loss_after:.3g})")
        return self.backend.make_trainer(r, self.state.born)

    def _train(self, trainer: RoundTrainer) -> None:
        """The round's epochs (or what is left of them), a checkpoint every ``checkpoint_every`` steps and on a
        signal, and after the last step."""
        config = self.space.config.search
        bar = self._bar(trainer.total_steps, f"{round_name(trainer.round, config.rounds)} train",
                        initial=trainer.global_step)
        last_checkpoint = trainer.global_step
        figures = None

        def maybe_checkpoint(t: RoundTrainer) -> bool:
            nonlocal last_checkpoint
            stop = self._stop_requested()
            if t.global_step - last_checkpoint >= config.checkpoint_every or stop:
                self.recorder.checkpoint(self.state, t)
                last_checkpoint = t.global_step
            if stop:
                self._close(bar)
                self._check_stop(stop)
            return True

        try:
            while not trainer.done:
                figures = trainer.train_epoch(on_step=maybe_checkpoint, progress=bar.update if bar else None)
                self.recorder.metrics({"kind": "epoch", **vars(figures)})
                self._after_epoch(trainer, figures.epoch)
                if bar is not None:
                    bar.set_postfix(loss=f"{figures.loss:.3f}", acc=f"{figures.train_acc:.3f}")
                dispatch(self.callbacks, "on_epoch_end", self, trainer.round, dict(vars(figures)))
                if not trainer.done:
                    maybe_checkpoint(trainer)
        finally:
            self._close(bar)
        if trainer.global_step > last_checkpoint:  # resumed from the trained state: it is on disk already
            self.recorder.checkpoint(self.state, trainer)  # the trained state: scoring restarts from here
        note = undertrained_note(figures.train_acc, trainer.data.info.classes) if figures is not None else None
        if note is not None:
            self.log(f"{round_name(trainer.round, config.rounds)}: {note}")

    def _after_epoch(self, trainer: RoundTrainer, epoch: int) -> None:
        """The backend's figures and the operators that left within the round (branch learning), journalled."""
        report = self.backend.after_epoch(trainer)
        for row in report.rows:
            self.recorder.metrics(row)
        if not report.removed:
            return
        self.state.subspace = self.backend.subspace
        for item in report.removed:
            self.state.born[item.label].pop(item.op, None)
            self.recorder.event(OpRemoved(round=trainer.round, label=item.label, op=item.op, epoch=epoch,
                                          reason=item.reason, scores=item.scores))
        self.log(f"{round_name(trainer.round, self.space.config.search.rounds)}, epoch {epoch + 1}: "
                 + ", ".join(f"{item.label} {item.op} ({item.note})" for item in report.removed)
                 + " left the subspace")

    def _hooks(self, trainer: RoundTrainer) -> RoundHooks:
        """What the backend's work between training and scoring may write: a snapshot after each piece, journals."""

        def checkpoint(done: int) -> None:
            self.recorder.checkpoint(self.state, trainer, done)
            self._check_stop()

        return RoundHooks(checkpoint, self.recorder.event, self.recorder.metrics)

    def _score(self, r: int) -> _Scored:
        """Evolve a population inside the trained subspace, then score its operators."""
        config = self.space.config.search
        trained = self.state.subspace
        scorer = self._with_objectives(self.backend.scorer(r), trained)

        def evaluate(arch: Arch) -> dict[str, float]:
            self._check_stop()
            return scorer.evaluate(arch)

        def evaluate_many(archs: list[Arch]) -> list[dict[str, float]]:
            self._check_stop()
            return scorer.evaluate_many(archs)

        first = config.objectives[0]
        bar = self._bar(config.population.generations + 1, f"{round_name(r, config.rounds)} evolve")

        def on_generation(entry: dict) -> None:
            self.recorder.metrics({"kind": "generation", "round": r, **entry})
            if bar is not None:
                bar.update(1)
                bar.set_postfix({f"best {first}": f"{entry[first]['max']:.3f}"})
            self._callback("on_generation", r, entry)

        budget_spent = False
        try:
            result = evolve(trained, evaluate, tuple(config.objectives), config.population, config.constraints,
                            self.backend.cost, self.backend.op_cost, numpy_stream(self.space.config.seed, "evolve", r),
                            seeds=[row["arch"] for row in self.state.front], on_generation=on_generation,
                            evaluate_many=evaluate_many, sample=self.backend.sampler(r))
            front = sorted(({"arch": ind.arch(trained.labels), "metrics": ind.metrics} for ind in result.front),
                           key=lambda row: -row["metrics"][first])
            logbook = result.history
            population = [{"arch": ind.arch(trained.labels), "metrics": ind.metrics} for ind in result.population]
        except BudgetExhausted:
            budget_spent = True  # the front is the best of what was queried
            evaluated = sorted(scorer.cached().items(), key=lambda item: -item[1][first])
            population = [{"arch": dict(zip(trained.labels, key)), "metrics": m} for key, m in evaluated]
            front = population[:config.population.hall_of_fame]
            logbook = []
        finally:
            self._close(bar)
        if not front:
            raise RunError(f"{self.store.path}: the query budget was spent before any architecture was scored")
        # the population got the metrics its objectives and the shrink score need; the front gets every one
        front = [{"arch": row["arch"], "metrics": metrics}
                 for row, metrics in zip(front, scorer.evaluate_all([row["arch"] for row in front]))]
        metrics = parse_score(config.shrink.score)
        per_op = scorer.op_scores(numpy_stream(self.space.config.seed, "op-scores", r), metrics)
        return _Scored(front, population, logbook, per_op, scorer.evaluated, budget_spent)

    def _with_objectives(self, scorer: Scorer, trained: Subspace) -> Scorer:
        """The backend's scorer, plus the objectives and limits it does not measure (registered ones, latency)."""
        names = wanted_objectives(self.space, self.backend.provides)
        if not names:
            return scorer
        if self._objectives is None:  # one context per search: the latency table is read or measured once
            self._objectives = ObjectiveMetrics(names, ObjectiveContext(self.space, self.device, self.store.path,
                                                                        self.log), self.group)
        return AddedMetrics(scorer, self._objectives, names, trained, self.space.labels)

    def _record(self, decision: RoundDecision, scored: _Scored, started: float) -> None:
        """Write what round ``decision.round`` decided, once every rank agrees on it."""
        r, trained, following = decision.round, decision.trained, decision.next_state.subspace
        self.group.check_agree(f"round {r}'s decision (next subspace, front, stop rule)",
                               json.dumps(decision.next_state.to_json(), sort_keys=True))
        for event in decision.events():
            self.recorder.event(event)
        best = decision.front[0]
        self.recorder.event(RoundEnded(round=r, size_before=trained.size, size_after=following.size,
                                       removed=len(decision.removed), added=len(decision.grow),
                                       evaluated=scored.evaluated, best=best, seconds=time.perf_counter() - started,
                                       time=time.time()))
        self.recorder.metrics({"kind": "round", "round": r, "evaluated": scored.evaluated,
                               "best_accuracy": best["metrics"]["accuracy"], "size": trained.size,
                               "seconds": time.perf_counter() - started})
        if decision.stop_reason:
            self.recorder.event(Finished(rounds=r + 1, reason=decision.stop_reason, subspace=following.to_config(),
                                         best=best, time=time.time()))
        self.recorder.round(r, decision.next_state, trained, {"op_scores": decision.op_scores(self.backend.op_extras()),
                                                              "logbook": scored.logbook,
                                                              "population": scored.population})
        self.recorder.best(decision.front, r, self.space.name)

    def _advance(self, decision: RoundDecision) -> None:
        """The next round's state; the backend takes its subspace (survivors keep their weights)."""
        self.state = decision.next_state
        if not self.state.finished:
            self.backend.apply_subspace(self.state.subspace, self.state.round, self.state.born)
        stop = decision.stop_reason
        self.log(f"{round_name(decision.round, self.space.config.search.rounds)}: {decision.trained.size:,} → "
                 f"{self.state.subspace.size:,} architectures, best {self.backend.kind} accuracy "
                 f"{decision.front[0]['metrics']['accuracy']:.3f}" + (f"; stopping: {stop}" if stop else ""))

    # -- signals, lock, progress ------------------------------------------------------------------
    @contextlib.contextmanager
    def _signals_caught(self) -> Iterator[None]:
        """SIGINT and SIGTERM ask for a stop after the current step (a second one stops at once)."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for sig in previous:
                signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread: no signal handling
            previous = {}
        try:
            yield
        finally:
            if self._grace is not None:
                self._grace.cancel()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The run lock, released when :meth:`run` returns."""
        try:
            yield
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def _on_signal(self, signum, frame) -> None:
        if self._grace is not None and self._grace.expired:
            raise Interrupted(f"stopped by {signal.Signals(self._stop_signal).name} in "
                              f"{round_name(self.state.round, self.space.config.search.rounds)}, where no safe point "
                              f"came within {STOP_GRACE:g} s, so without a new checkpoint; the last one is on disk. "
                              f"Continue with: evospace resume {self.store.path}", signum=self._stop_signal)
        if self._stop_signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum
        self._grace = _Grace(STOP_GRACE)  # then stop wherever the search is: it resumes from any moment

    def _stop_requested(self) -> bool:
        """Whether a signal or a callback asked this process (or, in a process group, any rank) to stop.

        In a group this is a collective (one reduction of both flags), so every rank stops after the same step,
        and each knows whether a signal was among the reasons.
        """
        if not self.group.distributed:
            self._signalled = self._stop_signal is not None
            return self._signalled or self._stop_reason is not None
        signals, stops = self.group.sum([float(self._stop_signal is not None), float(self._stop_reason is not None)],
                                        "a stop check")
        self._signalled = signals > 0
        return signals > 0 or stops > 0

    def _check_stop(self, requested: bool | None = None) -> None:
        if requested is None:
            requested = self._stop_requested()
        if not requested:
            return
        if not self._signalled:  # a callback (here or on another rank): run() returns
            self._stop_reason = self._stop_reason or "a callback on another rank stopped the search"
            raise _Stopped(self._stop_reason)
        name = ("a signal to another rank" if self._stop_signal is None
                else signal.Signals(self._stop_signal).name)
        raise Interrupted(f"stopped by {name} in {round_name(self.state.round, self.space.config.search.rounds)}; the "
                          f"last checkpoint is on disk. Continue with: evospace resume {self.store.path}",
                          signum=self._stop_signal)

    def result(self) -> SearchResult:
        front = self.state.front
        return SearchResult(self.store.path, self.state.round, self.state.subspace, front,
                            front[0] if front else {}, self.state.stop_reason, self.backend.kind == "oracle",
                            None if self.state.finished else self._stop_reason)

    def _bar(self, total: int, desc: str, initial: int = 0) -> tqdm | None:
        if not self.progress:
            return None
        # disable=None: no bar when stderr is not a terminal, so a log file holds no carriage-return frames
        return tqdm(total=total, desc=desc, initial=initial, leave=False, dynamic_ncols=True, disable=None)

    @staticmethod
    def _close(bar: tqdm | None) -> None:
        if bar is not None:
            bar.close()


def _check_same_data(recorded: dict, now: dict, where: Path) -> None:
    """Refuse to continue a run on other data than it started with: its decisions so far were made on that data.

    Raises:
        RunError: naming what changed (the sample counts, or only the values) and what to do.
    """
    if recorded.get("fingerprint") == now["fingerprint"]:
        return
    sizes = [f"{key} {recorded.get(key)} → {now[key]}" for key in ("train", "val", "test")
             if recorded.get(key) != now[key]]
    what = "samples: " + ", ".join(sizes) if sizes else "the same sample counts, other values"
    raise RunError(f"{where}: the run's data changed since it started (fingerprint {recorded.get('fingerprint')}, now "
                   f"{now['fingerprint']}; {what}); put the original data back to resume it, or start a new run "
                   f"with --out NEW_DIR")


STOP_GRACE = 10.0  # seconds a signal waits for a safe point (a step, an evaluation) before the search stops anyway


class _Grace:
    """After a stop signal: if no safe point came within ``seconds`` (a long piece of work without stop checks),
    interrupt the main thread, whose signal handler then stops the search where it is. A run resumes from any
    moment (its writes are atomic and its snapshots checksummed), only without a checkpoint of that moment."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        _thread.interrupt_main(signal.SIGINT)  # runs the search's handler in the main thread

    def cancel(self) -> None:
        self._timer.cancel()


class _Stopped(Interrupted):
    """A callback stopped the search (after a checkpoint); :meth:`Search.run` returns instead of raising."""


def _silent(message: str) -> None:
    """The log of ranks other than 0: rank 0 speaks for the run."""
