"""What the controller asks of the thing that scores architectures: a supernet, or a tabular oracle.

The controller is the same in both modes; it only talks to a :class:`Backend`. Call order per round r::

    backend.start_round(r, born)               # a fresh round (not a restored one): new operators' warm start
    trainer = backend.make_trainer(r, born)    # None: nothing to train (an oracle)
    ... trainer.train_epoch() until trainer.done, backend.after_epoch(trainer) after each (checkpointed) ...
    backend.after_training(trainer, hooks)     # ranks line up; work between training and scoring
    scorer  = backend.scorer(r)                # evaluate(arch) -> metrics, op_scores(rng, metrics)
    sample  = backend.sampler(r)               # how the population's first generation is drawn
    backend.apply_subspace(next, r + 1, born)  # survivors keep their weights

Snapshots hold ``backend.tensors()`` (safetensors files) and ``backend.state()`` (JSON); ``backend.restore``
reads them back. The supernet's optional features (few-shot sub-supernets, branch learning, ...) are
:class:`~evospace.extensions.RoundExtension` objects: :class:`SupernetBackend` calls them at these points and
knows none of them. The oracle backend is :class:`evospace.evolve.oracle.OracleBackend`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.distributed import Group, digest
from evospace.errors import RunError
from evospace.extensions import EpochReport, RoundExtension, RoundHooks, Scorer
from evospace.extensions import for_space as extensions_for
from evospace.metrics.angle import reference_weights
from evospace.metrics.scores import RoundScorer, every_architecture_metrics
from evospace.run.rng import torch_stream
from evospace.space.ops import OpCost
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace
from evospace.supernet.precision import place, precision_for
from evospace.supernet.skeleton import module_key
from evospace.supernet.supernet import Supernet
from evospace.supernet.train import RoundTrainer
from evospace.supernet.warm_start import MatchReport, match_operators, match_plan, ops_with_weights

__all__ = ["Backend", "SupernetBackend"]


class Backend(ABC):
    """The controller's view of a supernet or an oracle (see the module docstring for the call order).

    Attributes:
        kind: what scores the architectures, in messages: ``"supernet"`` or ``"oracle"``.
        spec: how to rebuild this backend on resume, recorded in ``run.yaml`` (``oracle``); ``None``: from the
            space alone.
        budget: a query budget: the search then stops when it is spent, not when the space settles.
        provides: the objectives its scorer measures; the search adds any other one a space names
            (:mod:`evospace.evolve.objectives`).
    """

    kind: str = "supernet"
    spec: dict | None = None
    budget: int | None = None
    provides: tuple[str, ...] = ("accuracy", "angle", "params", "flops")

    @property
    @abstractmethod
    def subspace(self) -> Subspace:
        """The subspace held now."""

    def start_round(self, round_index: int, born: Mapping[str, Mapping[str, int]]) -> MatchReport | None:
        """Work once per round before its first step, never again when the round resumes from a checkpoint
        (the supernet's warm start of new operators, ``search.match_steps``); what it did, or ``None``."""
        return None

    @abstractmethod
    def make_trainer(self, round_index: int,
                     born: Mapping[str, Mapping[str, int]] | None = None) -> RoundTrainer | None:
        """The round's trainer, or ``None`` when there is nothing to train (``born``: each active operator's
        first round, for catch-up sampling)."""

    def after_epoch(self, trainer: RoundTrainer) -> EpochReport:
        """After each training epoch: figures to record, operators that left the subspace (none by default)."""
        return EpochReport()

    def after_training(self, trainer: RoundTrainer, hooks: RoundHooks | None = None) -> None:  # noqa: B027
        """Once the round's training is over, before scoring (only called when there was a trainer).

        ``hooks`` lets this work write snapshots and journal lines (none: it writes nothing).
        """

    @abstractmethod
    def scorer(self, round_index: int) -> Scorer:
        """Scores of the (trained) subspace of this round."""

    def sampler(self, round_index: int) -> Callable[[np.random.Generator], Arch] | None:
        """How the population's first generation is drawn: ``rng -> arch``, or ``None`` for uniformly."""
        return None

    def op_extras(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per-operator figures recorded beside the scores, ``{label: {op: {...}}}`` (none by default)."""
        return {}

    @abstractmethod
    def apply_subspace(self, subspace: Subspace, round_index: int, born: Mapping[str, Mapping[str, int]]) -> None:
        """Hold ``subspace`` from round ``round_index`` on (``born``: each active operator's first round)."""

    @abstractmethod
    def cost(self, arch: Arch) -> OpCost:
        """Parameters and FLOPs of ``arch`` (for the constraints and objectives)."""

    @abstractmethod
    def op_cost(self, label: str, op: str) -> OpCost:
        """Parameters and FLOPs of ``op`` at ``label`` (for constraint repair)."""

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """Named groups of tensors to snapshot (one safetensors file each)."""
        return {}

    def state(self) -> dict[str, Any]:
        """JSON-ready state to snapshot besides the tensors."""
        return {}

    @abstractmethod
    def restore(self, trained: Subspace, tensors: Mapping[str, dict[str, torch.Tensor]], state: dict) -> None:
        """Rebuild from a snapshot: the subspace trained when it was taken, its tensors and state."""


class SupernetBackend(Backend):
    """A weight-sharing supernet with its angle reference, trained and scored on a data set.

    Args:
        space: the search space.
        data: its data splits, on ``device``.
        device: where the supernet computes.
        group: the run's processes.
        extensions: the round extensions in play (default: those the space's settings switch on,
            :func:`evospace.extensions.for_space`), called in this order.
    """

    def __init__(self, space: SearchSpace, data: DataSplits, device: torch.device, group: Group | None = None,
                 extensions: Sequence[RoundExtension] | None = None) -> None:
        self.space = space
        self.data = data
        self.device = device
        self.group = group or Group()
        self.dims = space.config.skeleton.dims
        self.supernet = place(Supernet(space, space.initial_subspace(), space.config.seed), device, self.dims)
        self.precision = precision_for(device)  # GPU: mixed precision (supernet/precision.py); CPU: float32
        self.reference = reference_weights(self.supernet)
        self.extensions = list(extensions) if extensions is not None else extensions_for(space, self)

    @property
    def subspace(self) -> Subspace:
        return self.supernet.subspace

    @property
    def _scaler(self) -> torch.amp.GradScaler | None:
        """float16 training's gradient scaler (GPUs without bfloat16), else ``None``."""
        return self.precision.scaler if self.precision is not None else None

    def start_round(self, round_index: int, born: Mapping[str, Mapping[str, int]]) -> MatchReport | None:
        """Fit the round's new operators to an older operator of their choice point (``search.match_steps``
        steps, :mod:`evospace.supernet.warm_start`); their angle reference becomes the fitted weights, where
        training starts from.

        Every rank fits the same batches, then takes rank 0's result, so the ranks start the round equal.
        """
        search = self.space.config.search
        if not search.match_steps:
            return None
        plan = match_plan(self.supernet.subspace, born, round_index, ops_with_weights(self.supernet),
                          search.inherit_weights)
        report = match_operators(self.supernet, self.data, plan, search.match_steps,
                                 torch_stream(self.space.config.seed, "match", round_index),
                                 self.space.config.supernet_batch_size, round_index)
        if report is None:
            return None
        prefixes = tuple(f"choices.{module_key(label)}.{op}." for label, ops in plan.fitted.items() for op in ops)
        fitted = {name: t for name, t in self.supernet.state_dict().items() if name.startswith(prefixes)}
        self.group.broadcast_tensors([fitted[name] for name in sorted(fitted)], "sharing the warm start")
        for name, tensor in reference_weights(self.supernet).items():
            if name.startswith(prefixes):
                self.reference[name] = tensor
        return report

    def make_trainer(self, round_index: int, born: Mapping[str, Mapping[str, int]] | None = None) -> RoundTrainer:
        search = self.space.config.search
        return RoundTrainer(self.supernet, self.data, search.train, batch_size=self.space.config.supernet_batch_size,
                            epochs=search.epochs_of(round_index), round_index=round_index, seed=self.space.config.seed,
                            sampling=search.sampling, group=self.group,
                            after_step=self._after_step if self.extensions else None, precision=self.precision,
                            born=born)

    def _after_step(self, trainer: RoundTrainer) -> None:
        for extension in self.extensions:
            extension.after_step(self, trainer)

    def after_epoch(self, trainer: RoundTrainer) -> EpochReport:
        """The extensions' figures; operators they remove leave the supernet now (the trainer follows)."""
        reports = [extension.after_epoch(self, trainer) for extension in self.extensions]
        removed = tuple(item for report in reports for item in report.removed)
        if removed:
            subspace = self.supernet.subspace
            for item in removed:
                subspace = subspace.remove(item.label, [item.op])
            self.supernet.apply_subspace(subspace, trainer.round, inherit_weights=True)
            kept = {name for name, p in self.supernet.named_parameters() if p.ndim > 1}  # the angle's kernels
            self.reference = {k: v for k, v in self.reference.items() if k in kept}
            self._subspace_changed()
            trainer.refresh_params()
        return EpochReport(tuple(row for report in reports for row in report.rows), removed)

    def after_training(self, trainer: RoundTrainer, hooks: RoundHooks | None = None) -> None:
        """Give every rank rank 0's BN running statistics (they drift apart per rank) and check the weights; then
        the extensions' work between training and scoring.

        The weights themselves never differ (every rank applies the same averaged gradients); the check makes
        sure of it before anything is scored.
        """
        if self.group.distributed:
            self.group.broadcast_tensors(list(self.supernet.buffers()), "sharing BN statistics")
            tensors = list(self.supernet.state_dict().values())
            for extension in self.extensions:  # their tensors too (branch logits follow the averaged gradients);
                for _, group in sorted(extension.tensors().items()):  # by name: a restored group's order is not fixed
                    tensors += [t for _, t in sorted(group.items())]
            self.group.check_agree(f"the supernet weights after round {trainer.round}'s training", digest(tensors))
        for extension in self.extensions:
            extension.after_training(self, trainer.round, hooks or RoundHooks.ignored())

    def scorer(self, round_index: int) -> Scorer:
        search = self.space.config.search
        scorer: Scorer = RoundScorer(self.space, self.supernet, self.reference, self.data, search.scoring,
                                     batch_size=self.space.config.data.batch_size,
                                     recalibration_batches=search.train.recalibration_batches,
                                     seed=self.space.config.seed, group=self.group,
                                     metrics=every_architecture_metrics(search))
        for extension in self.extensions:
            scorer = extension.scorer(self, round_index, scorer)
        return scorer

    def sampler(self, round_index: int) -> Callable[[np.random.Generator], Arch] | None:
        for extension in self.extensions:
            sample = extension.sampler(round_index)
            if sample is not None:
                return sample
        return None

    def op_extras(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for extension in self.extensions:
            for label, ops in extension.op_extras().items():
                for op, figures in ops.items():
                    out.setdefault(label, {}).setdefault(op, {}).update(figures)
        return out

    def apply_subspace(self, subspace: Subspace, round_index: int, born: Mapping[str, Mapping[str, int]]) -> None:
        inherit = self.space.config.search.inherit_weights
        self.supernet.apply_subspace(subspace, round_index, inherit_weights=inherit)
        self._subspace_changed()
        current = reference_weights(self.supernet)
        if self.space.config.search.scoring.angle_reference == "round" or not inherit:
            self.reference = current
            return
        # birth: survivors keep their reference, newcomers start from their fresh weights
        keys = {label.replace(".", "_"): label for label in self.space.labels}

        def born_before(name: str) -> bool:
            if not name.startswith("choices."):
                return True
            _, key, op = name.split(".")[:3]
            return born[keys[key]].get(op, round_index) < round_index

        self.reference = {k: self.reference.get(k, v) if born_before(k) else v for k, v in current.items()}

    def _subspace_changed(self) -> None:
        for extension in self.extensions:
            extension.subspace_changed(self)

    def cost(self, arch: Arch) -> OpCost:
        return self.space.cost(arch)

    def op_cost(self, label: str, op: str) -> OpCost:
        return self.space.op_cost(label, op)

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        groups = {"supernet": self.supernet.state_dict(), "reference": self.reference}
        for extension in self.extensions:
            groups.update(extension.tensors())
        return groups

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for extension in self.extensions:
            out.update(extension.state())
        if self._scaler is not None:  # float16 on a GPU: a resumed run goes on with the loss scale it had reached
            out["loss_scale"] = self._scaler.state_dict()
        return out

    def restore(self, trained: Subspace, tensors: Mapping[str, dict[str, torch.Tensor]], state: dict) -> None:
        supernet = Supernet(self.space, trained, self.space.config.seed)
        try:
            supernet.load_state_dict(tensors["supernet"], strict=True)
        except (RuntimeError, KeyError) as err:
            raise RunError(f"supernet.safetensors does not match the space ({str(err).splitlines()[0]})") from None
        self.supernet = place(supernet, self.device, self.dims)
        self.reference = {k: v.to(self.device) for k, v in tensors["reference"].items()}
        if self._scaler is not None and "loss_scale" in state:
            self._scaler.load_state_dict(state["loss_scale"])
        for extension in self.extensions:
            extension.restore(self, tensors, state)
