"""What the controller asks of the thing that scores architectures: a supernet, or a tabular oracle.

The controller is the same in both modes; it only talks to a :class:`Backend`. Call order per round::

    trainer = backend.make_trainer(round)     # None: nothing to train (oracle)
    ... trainer.train_epoch() until trainer.done (checkpointed by the controller) ...
    backend.finish_training(round)            # ranks of a process group line up their state
    scorer  = backend.scorer(round)           # evaluate(arch) -> metrics, op_scores(rng, metrics)
    backend.apply_subspace(next, round + 1)   # survivors keep their weights

Snapshots hold ``backend.tensors()`` (safetensors files) and ``backend.state()`` (JSON).
``backend.after_training(round, hooks)`` runs between training and scoring: few-shot sub-supernets, with a
snapshot through ``hooks`` after each. ``backend.after_epoch(round)`` runs after each training epoch and may
shrink the subspace within the round (branch learning's pruning); ``backend.sampler(round)`` says how the
population's first generation is drawn (``None``: uniformly).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.distributed import Group
from evospace.errors import RunError
from evospace.evolve.fewshot import PhaseHooks, split_supernet, train_sub_supernets
from evospace.metrics.angle import reference_weights
from evospace.metrics.fewshot import FewShotScorer
from evospace.metrics.scores import RoundScorer, op_means
from evospace.space.ops import OpCost
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace
from evospace.supernet.branch_learning import BranchLearner, Pruned
from evospace.supernet.fewshot import SubSupernets
from evospace.supernet.supernet import Supernet
from evospace.supernet.train import RoundTrainer

__all__ = ["Backend", "Scorer", "SupernetBackend", "OracleBackend", "Oracle"]


class Scorer(Protocol):
    """Scores of one round: per architecture (cached) and per operator."""

    evaluated: int

    def evaluate(self, arch: Arch) -> dict[str, float]: ...

    def evaluate_many(self, archs: list[Arch]) -> list[dict[str, float]]: ...

    def op_scores(self, rng: np.random.Generator, metrics: tuple[str, ...]) -> dict: ...

    def cached(self) -> dict[tuple[str, ...], dict[str, float]]: ...


class Backend(ABC):
    """The controller's view of a supernet or an oracle (see the module docstring for the call order)."""

    subspace: Subspace

    @abstractmethod
    def make_trainer(self, round_index: int) -> RoundTrainer | None:
        """The round's trainer, or ``None`` when there is nothing to train."""

    def finish_training(self, round_index: int) -> None:  # noqa: B027 (optional hook, nothing to do by default)
        """Called once the round's training is over, before scoring."""

    @abstractmethod
    def scorer(self, round_index: int) -> Scorer:
        """Scores of the (trained) subspace of this round."""

    @abstractmethod
    def apply_subspace(self, subspace: Subspace, round_index: int, born: Mapping[str, Mapping[str, int]]) -> None:
        """Hold ``subspace`` from round ``round_index`` on (``born``: each active operator's first round)."""

    def after_training(self, round_index: int, hooks: PhaseHooks) -> None:  # noqa: B027 (optional hook)
        """Work between the round's training and its scoring, e.g. few-shot sub-supernets (none by default)."""

    def after_epoch(self, round_index: int) -> list[Pruned]:
        """Operators that leave the subspace after a training epoch (none by default)."""
        return []

    def sampler(self, round_index: int):
        """How the population's first generation is drawn: ``rng -> arch``, or ``None`` for uniformly."""
        return None

    def op_extras(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per-operator figures recorded beside the scores (branch probabilities), ``{label: {op: {...}}}``."""
        return {}

    def epoch_figures(self) -> dict | None:
        """Figures recorded after each training epoch besides the trainer's (``None``: nothing to add)."""
        return None

    def cost(self, arch: Arch) -> OpCost:
        raise NotImplementedError

    def op_cost(self, label: str, op: str) -> OpCost:
        raise NotImplementedError

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """Named groups of tensors to snapshot (one safetensors file each)."""
        return {}

    def state(self) -> dict:
        """JSON-ready state to snapshot besides the tensors."""
        return {}

    @abstractmethod
    def restore(self, trained: Subspace, tensors: Mapping[str, dict[str, torch.Tensor]], state: dict) -> None:
        """Rebuild from a snapshot: the subspace trained when it was taken, its tensors and state."""


class SupernetBackend(Backend):
    """A weight-sharing supernet with its angle reference, trained and scored on a data set."""

    def __init__(self, space: SearchSpace, data: DataSplits, device: torch.device, group: Group | None = None) -> None:
        self.space = space
        self.data = data
        self.device = device
        self.group = group or Group()
        self.config = space.config.search
        self.seed = space.config.seed
        self.supernet = Supernet(space, space.initial_subspace(), self.seed).to(device)
        self.reference = reference_weights(self.supernet)
        self.few_shot: SubSupernets | None = None  # this round's sub-supernets (search.few_shot)
        self.branches = self._make_learner(self.supernet.subspace)  # search.branch_learning, or None

    def _make_learner(self, subspace: Subspace) -> BranchLearner | None:
        if self.config.branch_learning is None:
            return None
        return BranchLearner(self.config.branch_learning, subspace, self.space.op_cost,
                             getattr(self.space.base_cost, self.config.branch_learning.cost), self.seed, self.group)

    @property
    def subspace(self) -> Subspace:
        return self.supernet.subspace

    def make_trainer(self, round_index: int) -> RoundTrainer:
        return RoundTrainer(self.supernet, self.data, self.config.train,
                            batch_size=self.space.config.data.batch_size, epochs=self.config.epochs_per_round,
                            round_index=round_index, seed=self.seed, sampling=self.config.sampling, group=self.group,
                            after_step=self._architecture_step if self.branches is not None else None)

    def _architecture_step(self, trainer: RoundTrainer) -> None:
        self.branches.maybe_step(self.supernet, self.data.x_val, self.data.y_val, round_index=trainer.round,
                                 epoch=trainer.epoch, step=trainer.step, batch_size=trainer.batch_size)

    def after_epoch(self, round_index: int) -> list[Pruned]:
        """Branch learning: operators whose probability fell below the threshold leave now."""
        if self.branches is None:
            return []
        pruned = self.branches.prune()
        if pruned:
            subspace = self.supernet.subspace
            for item in pruned:
                subspace = subspace.remove(item.label, [item.op])
            self.supernet.apply_subspace(subspace, round_index, inherit_weights=True)
            self.branches.sync(subspace)
            kept = {name for name, p in self.supernet.named_parameters() if p.ndim > 1}  # the angle's kernels
            self.reference = {k: v for k, v in self.reference.items() if k in kept}
        return pruned

    def sampler(self, round_index: int):
        return self.branches.sample if self.branches is not None else None

    def op_extras(self) -> dict[str, dict[str, dict[str, float]]]:
        if self.branches is None:
            return {}
        return {label: {op: {"probability": p} for op, p in ops.items()}
                for label, ops in self.branches.probabilities().items()}

    def epoch_figures(self) -> dict | None:
        if self.branches is None:
            return None
        return {"expected_cost": self.branches.expected_cost(), "cost": self.config.branch_learning.cost,
                "target": self.config.branch_learning.target, "architecture_steps": self.branches.steps,
                "probabilities": self.branches.probabilities()}

    def finish_training(self, round_index: int) -> None:
        """Give every rank rank 0's BN running statistics (they drift apart per rank), then check the weights.

        The weights themselves never differ (every rank applies the same averaged gradients); the check
        makes sure of it before anything is scored.
        """
        if not self.group.distributed:
            return
        self.group.broadcast_tensors(list(self.supernet.buffers()), "sharing BN statistics")
        tensors = list(self.supernet.state_dict().values())
        if self.branches is not None:  # the logits follow the averaged gradients too
            tensors += list(self.branches.tensors().values())
        self.group.check_agree(f"the supernet weights after round {round_index}'s training", _digest(tensors))

    def after_training(self, round_index: int, hooks: PhaseHooks) -> None:
        if self.config.few_shot is None:
            return
        if self.few_shot is None or self.few_shot.round != round_index:  # else: resumed mid-phase
            self.few_shot = split_supernet(self.supernet, self.reference, self.config, round_index=round_index,
                                           seed=self.seed)
        train_sub_supernets(self.few_shot, self.data, self.config, seed=self.seed,
                            batch_size=self.space.config.data.batch_size, hooks=hooks)
        if self.group.distributed:  # every rank trains every sub-supernet on the whole batch: same deltas
            self.group.check_agree(f"the few-shot sub-supernets of round {round_index}",
                                   _digest(t for _, t in sorted(self.few_shot.tensors().items())))

    def scorer(self, round_index: int) -> RoundScorer | FewShotScorer:
        if self.few_shot is not None and self.few_shot.round == round_index and self.few_shot.complete:
            return FewShotScorer(self.space, self.few_shot, self.reference, self.data, self.config.scoring,
                                 batch_size=self.space.config.data.batch_size,
                                 recalibration_batches=self.config.train.recalibration_batches, seed=self.seed,
                                 group=self.group)
        return RoundScorer(self.space, self.supernet, self.reference, self.data, self.config.scoring,
                           batch_size=self.space.config.data.batch_size,
                           recalibration_batches=self.config.train.recalibration_batches, seed=self.seed,
                           group=self.group)

    def apply_subspace(self, subspace: Subspace, round_index: int, born: Mapping[str, Mapping[str, int]]) -> None:
        if self.few_shot is not None:  # split anew next round, from the shared weights
            self.few_shot.activate(None)
            self.few_shot = None
        inherit = self.config.inherit_weights
        self.supernet.apply_subspace(subspace, round_index, inherit_weights=inherit)
        if self.branches is not None:
            self.branches.sync(self.supernet.subspace)
        current = reference_weights(self.supernet)
        if self.config.scoring.angle_reference == "round" or not inherit:
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

    def cost(self, arch: Arch) -> OpCost:
        return self.space.cost(arch)

    def op_cost(self, label: str, op: str) -> OpCost:
        return self.space.op_cost(label, op)

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        groups = {"branch_logits": self.branches.tensors()} if self.branches is not None else {}
        if self.few_shot is not None:  # the shared weights, whichever sub-supernet is active
            return {"supernet": self.few_shot.shared, "reference": self.reference, "few_shot": self.few_shot.tensors(),
                    **groups}
        return {"supernet": self.supernet.state_dict(), "reference": self.reference, **groups}

    def state(self) -> dict:
        out = {"few_shot": self.few_shot.state()} if self.few_shot is not None else {}
        if self.branches is not None:
            out["branch_learning"] = {"steps": self.branches.steps}
        return out

    def restore(self, trained: Subspace, tensors: Mapping[str, dict[str, torch.Tensor]], state: dict) -> None:
        supernet = Supernet(self.space, trained, self.seed)
        try:
            supernet.load_state_dict(tensors["supernet"], strict=True)
        except (RuntimeError, KeyError) as err:
            raise RunError(f"supernet.safetensors does not match the space ({str(err).splitlines()[0]})") from None
        self.supernet = supernet.to(self.device)
        self.reference = {k: v.to(self.device) for k, v in tensors["reference"].items()}
        few_shot = state.get("few_shot")
        self.few_shot = SubSupernets.restore(self.supernet, few_shot, tensors["few_shot"]) if few_shot else None
        self.branches = self._make_learner(self.supernet.subspace)
        if self.branches is not None:
            self.branches.load(tensors["branch_logits"], state["branch_learning"]["steps"])


def _digest(tensors) -> bytes:
    """SHA-256 of the tensors' bytes, in order (for the ranks' agreement checks)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


class Oracle(Protocol):
    """A table of known results (see :mod:`evospace.bench.tabular`): queries are the budget."""

    queries: int

    def evaluate(self, arch: Arch) -> dict[str, float]: ...

    def cost(self, arch: Arch) -> OpCost: ...

    def op_cost(self, label: str, op: str) -> OpCost: ...


class _OracleScorer:
    """Scores from an oracle; operator scores come from the architectures already queried (no new queries)."""

    def __init__(self, oracle: Oracle, subspace: Subspace, log: list[list[str]], labels: tuple[str, ...]) -> None:
        self.oracle = oracle
        self.subspace = subspace
        self.log = log
        self.labels = labels
        self._cache: dict[tuple[str, ...], dict[str, float]] = {}

    @property
    def evaluated(self) -> int:
        return len(self._cache)

    def evaluate(self, arch: Arch) -> dict[str, float]:
        key = tuple(arch[label] for label in self.labels)
        if key not in self._cache:
            metrics = self.oracle.evaluate(arch)
            if list(key) not in self.log:
                self.log.append(list(key))
            self._cache[key] = metrics
        return self._cache[key]

    def evaluate_many(self, archs: list[Arch]) -> list[dict[str, float]]:
        """One by one: a table lookup costs nothing to share out, and queries must count in order."""
        return [self.evaluate(arch) for arch in archs]

    def cached(self) -> dict[tuple[str, ...], dict[str, float]]:
        return self._cache

    def op_scores(self, rng: np.random.Generator, metrics: tuple[str, ...]) -> dict:
        rows, values = [], {m: [] for m in metrics}
        for key in self.log:
            arch = dict(zip(self.labels, key))
            if arch in self.subspace:
                rows.append(self.subspace.encode(arch))
                result = self.oracle.evaluate(arch)  # a repeat: free
                for m in metrics:
                    values[m].append(result[m])
        idx = np.array(rows, dtype=np.int64).reshape(-1, len(self.labels))
        tables = {m: op_means(self.subspace, idx, np.array(v, dtype=float)) for m, v in values.items()}
        out: dict = {}
        for label in self.subspace.labels:
            out[label] = {op: {} for op in self.subspace.ops(label)}
            for m, table in tables.items():
                seen = [v for v in table[label].values() if v == v]
                floor = min(seen) if seen else 0.0  # never queried: no evidence, so it ties with the worst
                for op in self.subspace.ops(label):
                    value = table[label][op]
                    out[label][op][m] = value if value == value else floor
        return out


class OracleBackend(Backend):
    """A tabular oracle in place of the supernet: nothing to train, the table answers every query."""

    def __init__(self, space: SearchSpace, oracle: Oracle) -> None:
        self.space = space
        self.oracle = oracle
        self.subspace = space.initial_subspace()
        self.log: list[list[str]] = []  # queried architectures, in order (replayed on resume)

    def make_trainer(self, round_index: int) -> None:
        return None

    def scorer(self, round_index: int) -> _OracleScorer:
        return _OracleScorer(self.oracle, self.subspace, self.log, self.space.labels)

    def apply_subspace(self, subspace: Subspace, round_index: int, born: Mapping[str, Mapping[str, int]]) -> None:
        self.subspace = subspace

    def cost(self, arch: Arch) -> OpCost:
        return self.oracle.cost(arch)

    def op_cost(self, label: str, op: str) -> OpCost:
        return self.oracle.op_cost(label, op)

    def state(self) -> dict[str, Any]:
        return {"queried": self.log}

    def restore(self, trained: Subspace, tensors: Mapping[str, dict[str, torch.Tensor]], state: dict) -> None:
        self.subspace = trained
        self.log = [list(k) for k in state.get("queried", [])]
        for key in self.log:
            self.oracle.evaluate(dict(zip(self.space.labels, key)))
