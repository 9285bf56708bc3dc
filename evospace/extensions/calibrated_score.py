"""The calibrated score as a round extension: anchors trained stand-alone, a fit per round, the ``score`` metric.

When an objective or the shrink score names ``score`` (the default), every round, between the supernet's
training and its scoring (``after_training``)::

    signals  = search.scoring.signals of a reference sample of the round's subspace (accuracy_samples
               architectures covering every operator) and of the anchors still inside it
    anchors  = in the first round, search.scoring.anchors architectures of the reference sample, one from
               each equal stratum of its prior score (the prior mix's ranks), each trained stand-alone once per
               run (search.train, anchor_epochs epochs and at least anchor_steps steps, the run seed) and
               followed by a snapshot, so a run stopped among them resumes at the next one. With
               search.scoring.refresh > 0 (and more than one round) the first round trains only its share of
               them; every later round draws its part of the rest from its own reference sample, one per stratum
               of the previous fit's score
    fit      = ridge toward the prior: the signals' prior mix in the first round, the previous round's weights
               after it, on the anchors drawn in this round (and still inside its subspace). Each anchor teaches
               one fit: the previous weights already hold what the earlier anchors taught, and fitting them again
               in a shrunk subspace counts them twice, with the handful that remain standardised to the whole
               space's spread (on mnist1d_rank, three anchors turned params against accuracy in a last round and
               the search returned a network ranked 231 of 625). Without refresh, the later rounds keep the first
               round's weights, applied to each round's own ranks of the signals; refresh's later anchors refine them

The round's scorer then gives every architecture a ``score`` (:class:`~evospace.extensions.AddedMetrics`):
the population maximises it and the shrink rule ranks operators by its mean over the architectures scored
this round, the reference sample included. The fit is journalled (``score_fitted``, with its weights) and
recorded in ``metrics.jsonl`` (``kind: score``); each anchor is an ``anchor_trained`` event.

Under torchrun every rank trains every anchor (the same seeds, so the same accuracy) and the ranks check
that they agree. Snapshots hold the planned anchors, those trained so far with their accuracy, and every fit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evospace.extensions.base import AddedMetrics, RoundExtension, RoundHooks, Scorer, SupernetRound
from evospace.metrics.predictor import CalibratedScore, RankNormalizer, fit_calibrated, stratified_picks
from evospace.metrics.scores import covering_sample
from evospace.metrics.signals import SUPERNET_SIGNALS, SignalComputer
from evospace.run.events import AnchorTrained, ScoreFitted
from evospace.run.rng import numpy_stream
from evospace.space.schema import parse_score
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch
from evospace.supernet.precision import place, precision_for
from evospace.supernet.standalone import train_standalone
from evospace.supernet.supernet import build_model
from evospace.supernet.train import steps_per_epoch

__all__ = ["CalibratedScoring", "anchor_epochs", "uses_score"]

METRIC = "score"


def uses_score(space: SearchSpace) -> bool:
    """Whether the search ranks anything by the calibrated score (an objective or the shrink score)."""
    search = space.config.search
    return METRIC in search.objectives or METRIC in parse_score(search.shrink.score)


def anchor_epochs(space: SearchSpace, train_samples: int) -> int:
    """Epochs an anchor trains: ``search.scoring.anchor_epochs``, or more where those would be fewer than
    ``anchor_steps`` optimizer steps. A budget in epochs shrinks with the data set: anchors still near chance
    rank by how fast a network starts to learn, which favours small ones (see :class:`ScoreConfig`)."""
    scoring = space.config.search.scoring
    per_epoch = steps_per_epoch(train_samples, space.config.data.batch_size)
    return max(scoring.anchor_epochs, math.ceil(scoring.anchor_steps / per_epoch))


def draw_anchors(candidates: list[Arch], prior_scores: np.ndarray, count: int, seed: int,
                 round_index: int = 0, exclude: Sequence[Arch] = ()) -> list[Arch]:
    """``count`` distinct candidates not in ``exclude``, one per equal stratum of their scores (all if fewer)."""
    taken = {tuple(sorted(arch.items())) for arch in exclude}
    distinct: dict[tuple[tuple[str, str], ...], int] = {}
    for i, arch in enumerate(candidates):
        key = tuple(sorted(arch.items()))
        if key not in taken:
            distinct.setdefault(key, i)
    keep = list(distinct.values())
    rng = numpy_stream(seed, "anchors") if round_index == 0 else numpy_stream(seed, "anchors", round_index)
    picks = stratified_picks(np.asarray(prior_scores, dtype=float)[keep], count, rng)
    return [dict(candidates[keep[i]]) for i in picks]


def json_float(value: float) -> float | str:
    """``value`` as JSON holds it: a signal can be ±inf (an empty flow's log), which JSON has no number for."""
    return value if math.isfinite(value) else repr(value)


def anchors_due(total: int, refresh: float, rounds: int, round_index: int, first_round: int, planned: int) -> int:
    """How many anchors round ``round_index`` draws, ``planned`` being drawn already.

    The first round takes all but ``round(total · refresh)`` (all of them in a one-round search); each later
    round an even part of what is left over the rounds left, so the last round takes the remainder.
    """
    later = int(round(total * refresh)) if rounds - first_round > 1 else 0
    if round_index == first_round:
        return total - later
    left = rounds - round_index
    remaining = total - planned
    if left <= 0 or remaining <= 0:
        return 0
    return -(-remaining // left)


class CalibratedScoring(RoundExtension):
    """``score``: signals weighed by weights fitted on stand-alone anchors (see the module docstring)."""

    name = "calibrated_score"

    def __init__(self, space: SearchSpace, net: SupernetRound) -> None:
        config = space.config
        self.space = space
        self.scoring = config.search.scoring
        self.seed = config.seed
        self.computer = SignalComputer(space, self.scoring.signals, data=net.data, seed=self.seed,
                                       batch_size=config.data.batch_size,
                                       recalibration_batches=config.search.train.recalibration_batches,
                                       angle_definition=self.scoring.angle_definition)
        self.planned: list[Arch] | None = None  # the run's anchors, drawn in the first round that scores
        # the rounds that drew anchors, in order (None: a snapshot from before refresh, which draws no more)
        self.drawn: list[int] | None = []
        self.anchors: list[dict] = []  # [{"arch", "val_acc"}] trained so far, in order
        self.fits: dict[int, list[float]] = {}  # {round: the weights fitted in it}, journalled as they are made
        self.score: CalibratedScore | None = None
        self.fitted_round: int | None = None  # the round self.score belongs to
        self.reference: list[Arch] = []
        # with scoring.reference "first": the first fitted round's reference signals, which the round-independent
        # signals stay ranked within
        self.first_reference: np.ndarray | None = None
        self._reference_round: int | None = None  # the round whose supernet the signals come from

    @classmethod
    def for_space(cls, space: SearchSpace, net: SupernetRound) -> CalibratedScoring | None:
        """The extension if an objective or the shrink score is ``score``."""
        return cls(space, net) if uses_score(space) else None

    # -- between training and scoring --------------------------------------------------------------
    def after_training(self, net: SupernetRound, round_index: int, hooks: RoundHooks) -> None:
        """Train the anchors still missing (a snapshot after each), then fit this round's score."""
        reference, values = self._reference(net, round_index)
        config = self.space.config
        if self.planned is None or (self.drawn is not None and round_index not in self.drawn):
            first = round_index if self.planned is None else self.drawn[0]
            count = anchors_due(self.scoring.anchors, self.scoring.refresh, config.search.rounds, round_index,
                                first, len(self.planned or []))
            drawn = list(self.planned or [])
            if count > 0:
                scores = fit_calibrated(self.scoring.signals, values, self._prior(round_index), self.scoring.ridge,
                                        normalizer=self._normalizer(values))(values)
                drawn += draw_anchors(reference, scores, count, self.seed, round_index - first, drawn)
            self.planned = drawn
            self.drawn.append(round_index)
        epochs = anchor_epochs(self.space, len(net.data.y_train))
        for index in range(len(self.anchors), len(self.planned)):
            arch = self.planned[index]
            start = time.perf_counter()
            device = net.data.device
            model = place(build_model(self.space, arch, seed=self.seed), device, config.skeleton.dims)
            result = train_standalone(model, net.data, config.search.train, epochs=epochs,
                                      batch_size=config.data.batch_size, seed=self.seed,
                                      precision=precision_for(device))
            seconds = time.perf_counter() - start
            # no clock: snapshots compare equal; the round that drew it is the one whose fit it teaches
            self.anchors.append({"arch": dict(arch), "val_acc": result.val_acc, "round": round_index})
            hooks.record(AnchorTrained(round=round_index, index=index, arch=dict(arch), val_acc=result.val_acc,
                                       epochs=epochs, seconds=seconds))
            hooks.checkpoint(index + 1)
        if net.group.distributed:
            net.group.check_agree("the calibrated score's anchors", repr([a["val_acc"] for a in self.anchors]))
        self._fit(net, round_index, hooks)

    def _reference(self, net: SupernetRound, round_index: int) -> tuple[list[Arch], np.ndarray]:
        """The round's reference sample and its signals under the round's trained supernet (once per round)."""
        if self._reference_round != round_index:
            subspace = net.supernet.subspace
            self.computer.use_supernet(net.supernet, net.reference)
            rows = covering_sample(subspace, numpy_stream(self.seed, "score-reference", round_index),
                                   self.scoring.accuracy_samples)
            self.reference = [subspace.decode(row) for row in rows]
            self._reference_round = round_index
        return self.reference, self.computer.values(self.reference)

    def _fit(self, net: SupernetRound, round_index: int, hooks: RoundHooks) -> None:
        subspace = net.supernet.subspace
        reference, reference_values = self._reference(net, round_index)
        first = self.drawn[0] if self.drawn else min(self.fits, default=round_index)
        inside = [a for a in self.anchors if a.get("round", first) == round_index and a["arch"] in subspace]
        values = self.computer.values([a["arch"] for a in inside]) if inside else None
        if self.first_reference is None:
            self.first_reference = reference_values
        self.score = fit_calibrated(self.scoring.signals, reference_values, self._prior(round_index),
                                    self.scoring.ridge, values,
                                    [a["val_acc"] for a in inside], normalizer=self._normalizer(reference_values))
        self.fitted_round = round_index
        if round_index in self.fits:  # resumed from a snapshot taken after this fit was journalled
            return
        self.fits[round_index] = [float(w) for w in self.score.weights]
        earlier = [r for r in self.fits if r < round_index]
        prior_name = f"round {max(earlier)}" if earlier else "signals"
        hooks.record(ScoreFitted(round=round_index, weights=self.score.parts(), anchors=self.score.anchors,
                                 of=len(self.anchors), prior=prior_name, reference=len(self.reference)))
        hooks.metrics({"kind": "score", "round": round_index, "weights": self.score.parts(),
                       "anchors": self.score.anchors, "prior": prior_name})

    def _prior(self, round_index: int) -> tuple[str, ...] | np.ndarray:
        """What round ``round_index``'s fit shrinks toward: the prior mix first, then the previous fit (with no
        anchor left in the subspace, the fit keeps it)."""
        earlier = [r for r in self.fits if r < round_index]
        return np.array(self.fits[max(earlier)]) if earlier else tuple(self.scoring.prior)

    def _normalizer(self, reference_values: np.ndarray) -> RankNormalizer:
        """Ranks within the round's reference sample; with ``reference: first`` the round-independent signals'
        within the first fitted round's."""
        names = self.scoring.signals
        normalizer = RankNormalizer.fit(names, reference_values)
        if self.scoring.reference == "first" and self.first_reference is not None:
            normalizer = normalizer.keeping(RankNormalizer.fit(names, self.first_reference),
                                            [n for n in names if n not in SUPERNET_SIGNALS])
        return normalizer

    # -- scoring -----------------------------------------------------------------------------------
    def scorer(self, net: SupernetRound, round_index: int, scorer: Scorer) -> Scorer:
        """Every architecture gains ``score``; the reference sample is scored first, so every operator has one."""
        if self.score is None or self.fitted_round != round_index:
            self._fit(net, round_index, RoundHooks.ignored())  # resumed past after_training's snapshot
        score = self.score

        def metrics(arch: Arch) -> dict[str, float]:
            return {METRIC: float(score(self.computer.values([arch]))[0])}

        wrapped = AddedMetrics(scorer, metrics, (METRIC,), net.supernet.subspace, self.space.labels)
        wrapped.evaluate_many(self.reference)
        return wrapped

    # -- snapshots ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        first = None if self.first_reference is None else [[json_float(v) for v in row]
                                                            for row in self.first_reference.tolist()]
        return {self.name: {"planned": self.planned, "anchors": self.anchors, "drawn": self.drawn,
                            "fits": {str(r): w for r, w in self.fits.items()}, "first_reference": first}}

    def restore(self, net: SupernetRound, tensors: Mapping[str, Any], state: Mapping[str, Any]) -> None:
        saved = state.get(self.name)
        if not saved:
            return
        self.planned = saved["planned"]
        drawn = saved.get("drawn")
        self.drawn = list(drawn) if drawn is not None else (None if self.planned is not None else [])
        self.anchors = list(saved["anchors"])
        self.fits = {int(r): list(w) for r, w in saved["fits"].items()}
        first = saved.get("first_reference")
        self.first_reference = None if first is None else np.asarray(first, dtype=float).reshape(
            -1, len(self.scoring.signals))
        self.score = None  # refitted from the restored supernet when the round scores
        self.fitted_round = None
        self._reference_round = None
