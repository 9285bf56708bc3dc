"""Signals of an architecture that the calibrated score weighs: costs, zero-cost proxies, supernet metrics.

Every signal is oriented so that larger predicts a better architecture, and only its ranks matter:

- costs: ``params``, ``flops`` (their logarithms; :meth:`SearchSpace.cost`);
- zero-cost proxies of a fresh stand-alone model on one fixed training batch: ``synflow``, ``snip``,
  ``grad_norm``, ``naswot`` (:mod:`evospace.metrics.proxies`); they never change during a run, so they are
  computed once per architecture;
- the round's supernet: ``angle`` (the run's angle definition), ``angle_ops`` (the operators-only
  concatenation), ``magnitude``, and after BN recalibration the validation ``accuracy`` and ``neg_loss``
  (minus the validation cross-entropy), both from one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.errors import EvospaceError
from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.metrics.angle import AngleScorer
from evospace.metrics.magnitude import magnitude_table
from evospace.metrics.proxies import PROXIES, proxy_scores
from evospace.run.rng import torch_stream
from evospace.space.schema import SIGNALS, check_signals
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch
from evospace.supernet.supernet import build_model

__all__ = ["SIGNALS", "COST_SIGNALS", "PROXY_SIGNALS", "SUPERNET_SIGNALS", "PROXY_BATCH", "SignalComputer",
           "check_signals"]

COST_SIGNALS = ("params", "flops")
PROXY_SIGNALS = tuple(PROXIES)
SUPERNET_SIGNALS = ("angle", "angle_ops", "magnitude", "accuracy", "neg_loss")
PROXY_BATCH = 128  # training samples every proxy sees (one fixed batch per run)


class SignalComputer:
    """Raw signal values of architectures, rows in ``names`` order (see the module docstring).

    Args:
        space: the search space (costs, stand-alone models).
        names: the signals to compute.
        data: the data splits (training batches for proxies and recalibration, validation for accuracy).
        seed: the run seed (the proxies' batch and models, the recalibration batches).
        batch_size, recalibration_batches: the BN recalibration sample of supernet accuracy.
        angle_definition: what ``angle`` means (``search.scoring.angle_definition``).
    """

    def __init__(self, space: SearchSpace, names: Sequence[str], *, data: DataSplits, seed: int, batch_size: int,
                 recalibration_batches: int, angle_definition: str = "sum") -> None:
        check_signals(names)
        self.space = space
        self.names = tuple(names)
        self.data = data
        self.seed = seed
        self.angle_definition = angle_definition
        self._proxies = [n for n in self.names if n in PROXY_SIGNALS]
        self._supernet_names = [n for n in self.names if n in SUPERNET_SIGNALS]
        n = len(data.y_train)
        order = torch.randperm(n, generator=torch_stream(seed, "proxy-batch"))[:min(PROXY_BATCH, n)]
        self._batch = data.train_rows(order)
        self._evaluator = (AccuracyEvaluator(data, batch_size=batch_size, batches=recalibration_batches, seed=seed)
                           if {"accuracy", "neg_loss"} & set(self.names) else None)
        self._fixed: dict[tuple[str, ...], dict[str, float]] = {}  # costs and proxies, for the whole run
        self._round: dict[tuple[str, ...], dict[str, float]] = {}  # supernet signals of the current supernet
        self._supernet = None
        self._angles: dict[str, AngleScorer] = {}
        self._magnitude: np.ndarray | None = None

    @property
    def needs_supernet(self) -> bool:
        return bool(self._supernet_names)

    def use_supernet(self, supernet, reference: dict[str, torch.Tensor]) -> None:
        """Score with this (trained) supernet from now on; its signals are computed afresh."""
        self._supernet = supernet
        self._round = {}
        self._angles = {name: AngleScorer(supernet, reference, definition)
                        for name, definition in (("angle", self.angle_definition), ("angle_ops", "ops"))
                        if name in self.names}
        self._magnitude = magnitude_table(supernet) if "magnitude" in self.names else None

    def values(self, archs: Sequence[Arch]) -> np.ndarray:
        """Raw signals of ``archs``, one row each (supernet signals need :meth:`use_supernet` first)."""
        labels = self.space.labels
        keys = [tuple(arch[label] for label in labels) for arch in archs]
        for key, arch in zip(keys, archs):
            if key not in self._fixed:
                self._fixed[key] = self._fixed_signals(arch)
        todo = [(key, arch) for key, arch in zip(keys, archs) if key not in self._round]
        if self._supernet_names and todo:
            if self._supernet is None:
                raise EvospaceError("supernet signals need a trained supernet (SignalComputer.use_supernet)")
            for (key, _), values in zip(todo, self._supernet_signals([arch for _, arch in todo])):
                self._round[key] = values
        return np.array([[{**self._fixed[key], **self._round.get(key, {})}[name] for name in self.names]
                         for key in keys], dtype=float).reshape(len(keys), len(self.names))

    def _fixed_signals(self, arch: Arch) -> dict[str, float]:
        out = {}
        if "params" in self.names or "flops" in self.names:
            cost = self.space.cost(arch)
            out["params"], out["flops"] = float(np.log(max(cost.params, 1))), float(np.log(max(cost.flops, 1)))
        if self._proxies:
            out.update(proxy_scores(self._proxies, lambda: build_model(self.space, arch, seed=self.seed),
                                    *self._batch))
        return out

    def _supernet_signals(self, archs: list[Arch]) -> list[dict[str, float]]:
        subspace = self._supernet.subspace
        rows = np.array([subspace.encode(arch) for arch in archs], dtype=np.int64).reshape(len(archs), -1)
        columns: dict[str, np.ndarray] = {}
        if "angle" in self._angles:
            columns["angle"] = self._angles["angle"].score_indices(rows)
        if "angle_ops" in self._angles:
            columns["angle_ops"] = self._angles["angle_ops"].score_indices(rows)
        if self._magnitude is not None:
            columns["magnitude"] = self._magnitude[np.arange(rows.shape[1])[None, :], rows].sum(axis=1)
        if self._evaluator is not None:
            accuracy, loss = self._evaluator.accuracy_and_loss_many(self._supernet, archs)
            columns["accuracy"], columns["neg_loss"] = accuracy, -loss
        return [{name: float(columns[name][i]) for name in self._supernet_names} for i in range(len(archs))]
