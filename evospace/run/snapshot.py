"""What a snapshot holds (``rounds/NNN/``, ``checkpoint/NNNNNNNNN/``), written and read in one place.

A snapshot is the search's whole state at one moment, so that a run resumed from it continues bit for bit::

    state.json                  {"controller": SearchState, "trained_subspace", "journals": byte offsets of
                                 events.jsonl and metrics.jsonl, "rng": the global generators, "tensors": the
                                 tensor groups' names, "backend": the backend's and extensions' JSON state,
                                 "processes", then for a round "op_scores", "logbook", "population", for a
                                 checkpoint "trainer" (epoch, step, running sums)}
    NAME.safetensors            one file per tensor group: supernet, reference, and the extensions' (few_shot,
                                branch_logits)
    optimizer.safetensors       checkpoints only: the momentum buffers, keyed by parameter name
    space.yaml                  rounds only: the subspace trained, for people
    COMPLETE                    written last by the store: SHA-256 of every file above
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import yaml
from safetensors.torch import load as st_load

from evospace.run.rng import global_rng_state
from evospace.run.store import Snapshot, json_bytes, tensors_bytes
from evospace.space.space import SearchSpace
from evospace.space.subspace import Subspace

__all__ = ["SearchState", "SnapshotContents", "snapshot_files", "read_snapshot"]


@dataclass
class SearchState:
    """The controller's plain-data state at the start of (or during) round ``round`` (``state.json``: controller)."""

    round: int
    subspace: Subspace
    seen: dict[str, list[str]]  # every operator ever active, per choice point
    born: dict[str, dict[str, int]]  # round each active operator entered in
    front: list[dict] = field(default_factory=list)  # the previous round's front
    finished: bool = False
    stop_reason: str = ""

    @classmethod
    def initial(cls, space: SearchSpace) -> SearchState:
        """Round 0 of a new run: the initial subspace, every operator born in round 0."""
        subspace = space.initial_subspace()
        return cls(0, subspace, {l: list(subspace.ops(l)) for l in subspace.labels},
                   {l: {op: 0 for op in subspace.ops(l)} for l in subspace.labels})

    def to_json(self) -> dict:
        return {"round": self.round, "subspace": self.subspace.to_config(), "seen": self.seen, "born": self.born,
                "front": self.front, "finished": self.finished,
                "stop_reason": self.stop_reason}

    @classmethod
    def from_json(cls, data: dict, space: SearchSpace) -> SearchState:
        return cls(data["round"], space.subspace_from_config(data["subspace"]), data["seen"], data["born"],
                   data["front"], data["finished"], data["stop_reason"])


def snapshot_files(*, state: SearchState, trained: Subspace, journals: Mapping[str, int],
                   groups: Mapping[str, Mapping[str, torch.Tensor]], backend: Mapping[str, Any], processes: int,
                   extra: Mapping[str, Any] | None = None, trainer: tuple[dict, dict] | None = None,
                   space_yaml: bool = False) -> dict[str, bytes]:
    """The files of one snapshot, in the order they are written (the store adds ``COMPLETE``).

    Args:
        state: the controller's state to continue from.
        trained: the subspace the supernet holds (trained this round).
        journals: the journals' byte lengths at this moment (resume cuts them back to these).
        groups: named tensor groups, one safetensors file each.
        backend: the backend's and extensions' JSON state.
        processes: how many processes wrote it.
        extra: more entries of ``state.json`` (a round's scores, logbook and population).
        trainer: a checkpoint's ``(counters, momentum buffers)``.
        space_yaml: write ``space.yaml`` (rounds).
    """
    meta = {"controller": state.to_json(), "trained_subspace": trained.to_config(), "journals": dict(journals),
            "rng": global_rng_state(), "tensors": sorted(groups), "backend": dict(backend), "processes": processes,
            **(extra or {})}
    files = {}
    if trainer is not None:
        trainer_meta, momentum = trainer
        meta["trainer"] = trainer_meta
        files["optimizer.safetensors"] = tensors_bytes(momentum)
    for name, tensors in groups.items():
        files[f"{name}.safetensors"] = tensors_bytes(tensors)
    files["state.json"] = json_bytes(meta)
    if space_yaml:
        files["space.yaml"] = yaml.safe_dump({"round": state.round - 1, "subspace": trained.to_config(),
                                              "size": trained.size}, sort_keys=False).encode()
    return files


@dataclass(frozen=True)
class SnapshotContents:
    """A snapshot read back (see :func:`read_snapshot`)."""

    state: SearchState
    trained: Subspace
    tensors: dict[str, dict[str, torch.Tensor]]
    momentum: dict[str, torch.Tensor]  # empty in a round snapshot
    journals: dict[str, int]
    backend: dict[str, Any]
    rng: dict
    trainer: dict | None  # a checkpoint's trainer counters
    processes: int


def read_snapshot(snap: Snapshot, meta: Mapping[str, Any], space: SearchSpace) -> SnapshotContents:
    """The contents of a verified snapshot whose ``state.json`` is ``meta``.

    Raises:
        KeyError, TypeError, ValueError, SafetensorError, RunError: something is missing or malformed (the caller
            names the snapshot; see :func:`evospace.run.resume.restore_snapshot`).
    """
    state = SearchState.from_json(meta["controller"], space)
    trained = space.subspace_from_config(meta["trained_subspace"])
    tensors = {name: st_load(snap.read_bytes(f"{name}.safetensors")) for name in meta["tensors"]}
    momentum = st_load(snap.read_bytes("optimizer.safetensors")) if snap.has("optimizer.safetensors") else {}
    journals = {name: int(meta["journals"][name]) for name in ("events", "metrics")}
    return SnapshotContents(state, trained, tensors, momentum, journals, meta.get("backend", {}), meta["rng"],
                            meta.get("trainer"), int(meta.get("processes", 1)))
