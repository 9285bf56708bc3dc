"""Supernet training: it learns, it resumes bit for bit mid-epoch, and fair sampling covers every operator."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from conftest import multi_branch_stages

from evospace.data import DataSplits, load_data
from evospace.space import SearchSpace, Subspace, TrainConfig, space_from_dict
from evospace.supernet import RoundTrainer, Supernet, catch_up_weights, sample_paths
from evospace.supernet.train import undertrained_note

BATCH = 32  # 384 training samples: 12 steps per epoch


class Stop(Exception):
    """Raised from ``on_step`` to interrupt training, as a signal handler would."""


@pytest.fixture(scope="module")
def data() -> DataSplits:
    return load_data("mnist1d", val_fraction=0.2, samples=600, split_seed=0)


def trainer_for(net: Supernet, data: DataSplits, *, epochs: int, sampling: str = "uniform",
                lr: float = 0.1) -> RoundTrainer:
    born = {label: {op: i for i, op in enumerate(net.subspace.ops(label))} for label in net.subspace.labels}
    return RoundTrainer(net, data, TrainConfig(lr=lr), batch_size=BATCH, epochs=epochs, round_index=0, seed=0,
                        sampling=sampling, born=born if sampling == "catch_up" else None)


def mean_loss(net: Supernet, data: DataSplits) -> float:
    """Training loss averaged over every architecture of the subspace (on a copy: BN statistics move)."""
    net = copy.deepcopy(net).train()
    with torch.no_grad():
        losses = [float(F.cross_entropy(net(data.x_train, arch), data.y_train)) for arch in net.subspace]
    return sum(losses) / len(losses)


def stop_at(global_step: int):
    def on_step(trainer: RoundTrainer) -> None:
        if trainer.global_step == global_step:
            raise Stop

    return on_step


def test_training_lowers_the_loss(tiny_space: SearchSpace, data: DataSplits) -> None:
    net = Supernet(tiny_space, tiny_space.initial_subspace(), seed=0)
    before = mean_loss(net, data)
    trainer = trainer_for(net, data, epochs=8, lr=0.2)
    figures = []
    while not trainer.done:
        figures.append(trainer.train_epoch())
    assert [f.epoch for f in figures] == list(range(8))
    assert all(f.steps == 12 for f in figures)
    assert figures[-1].loss < figures[0].loss - 0.1
    assert figures[-1].lr < figures[0].lr  # cosine schedule
    assert mean_loss(net, data) < before - 0.1
    assert trainer.global_step == trainer.total_steps == 8 * 12


@pytest.mark.parametrize(("sampling", "stop"), [("uniform", 17), ("uniform", 5), ("fair", 15),
                                                     ("catch_up", 13)])
def test_resume_mid_epoch_is_bit_identical(tiny_space: SearchSpace, data: DataSplits, sampling: str,
                                           stop: int) -> None:
    subspace = tiny_space.initial_subspace()
    epochs = 2

    straight = Supernet(tiny_space, subspace, seed=0)
    trainer = trainer_for(straight, data, epochs=epochs, sampling=sampling)
    straight_figures = [trainer.train_epoch() for _ in range(epochs)]

    first = Supernet(tiny_space, subspace, seed=0)
    trainer = trainer_for(first, data, epochs=epochs, sampling=sampling)
    with pytest.raises(Stop):
        while not trainer.done:
            trainer.train_epoch(on_step=stop_at(stop))
    meta, momentum = trainer.state_dict()
    meta = json.loads(json.dumps(meta))  # as a checkpoint stores it
    weights = {k: v.clone() for k, v in first.state_dict().items()}
    momentum = {k: v.clone() for k, v in momentum.items()}
    assert meta["epoch"] * trainer.steps_per_epoch + meta["step"] == stop
    assert momentum  # the optimizer's state is part of the checkpoint
    del first, trainer

    resumed = Supernet(tiny_space, subspace, seed=0)
    resumed.load_state_dict(weights)
    trainer = trainer_for(resumed, data, epochs=epochs, sampling=sampling)
    trainer.load_state_dict(meta, momentum)
    resumed_figures = []
    while not trainer.done:
        resumed_figures.append(trainer.train_epoch())

    final = straight.state_dict()
    for key, tensor in resumed.state_dict().items():
        assert torch.equal(tensor, final[key]), key
    interrupted_epoch = stop // trainer.steps_per_epoch
    for mine, theirs in zip(resumed_figures, straight_figures[interrupted_epoch:], strict=True):
        assert (mine.epoch, mine.loss, mine.train_acc, mine.lr) == (theirs.epoch, theirs.loss, theirs.train_acc,
                                                                    theirs.lr)


def test_trainer_state_refuses_another_round(tiny_space: SearchSpace, data: DataSplits) -> None:
    net = Supernet(tiny_space, tiny_space.initial_subspace())
    meta, tensors = trainer_for(net, data, epochs=1).state_dict()
    other = RoundTrainer(net, data, TrainConfig(), batch_size=BATCH, epochs=1, round_index=1, seed=0)
    with pytest.raises(ValueError, match="another round"):
        other.load_state_dict(meta, tensors)


# -- path sampling ---------------------------------------------------------------------------------
def test_uniform_paths_are_seeded_and_inside(tiny_space: SearchSpace) -> None:
    subspace = tiny_space.initial_subspace()
    paths = sample_paths(subspace, 0, 0, 0, 200, "uniform")
    assert len(paths) == 200 and all(len(step) == 1 and step[0] in subspace for step in paths)
    assert paths == sample_paths(subspace, 0, 0, 0, 200, "uniform")
    assert len({tuple(step[0].values()) for step in paths}) == subspace.size  # every path drawn
    for other in [(1, 0, 0), (0, 1, 0), (0, 0, 1)]:
        assert paths != sample_paths(subspace, *other, 200, "uniform")


def test_catch_up_draws_an_operator_one_more_time_per_round_it_is_younger(tiny_space: SearchSpace) -> None:
    subspace = tiny_space.initial_subspace()
    first, *rest = subspace.labels
    ops = subspace.ops(first)
    born = {label: {op: 0 for op in subspace.ops(label)} for label in subspace.labels}
    born[first] = {ops[0]: 0, ops[1]: 2}  # ops[2] is missing: it entered this round, round 3
    weights = catch_up_weights(subspace, born, 3)
    assert weights[first].tolist() == pytest.approx([1 / 8, 3 / 8, 4 / 8])
    for label in rest:  # every operator of the same age: uniform
        assert weights[label].tolist() == pytest.approx([1 / len(subspace.ops(label))] * len(subspace.ops(label)))
    assert all(w.tolist() == pytest.approx([1 / 3] * 3) for w in catch_up_weights(subspace, None, 3).values())

    paths = sample_paths(subspace, 0, 3, 0, 4000, "catch_up", born)
    assert paths == sample_paths(subspace, 0, 3, 0, 4000, "catch_up", born)  # seeded
    assert all(len(step) == 1 and step[0] in subspace for step in paths)
    drawn = Counter(step[0][first] for step in paths)
    for op, share in zip(ops, [1 / 8, 3 / 8, 4 / 8], strict=True):
        assert abs(drawn[op] / 4000 - share) < 0.03  # 4 standard errors


def test_catch_up_weighs_a_branch_set_as_its_youngest_operator(tiny_space_dict: dict) -> None:
    tiny_space_dict["skeleton"]["stages"] = multi_branch_stages()
    subspace = space_from_dict(tiny_space_dict, "<tiny multi-branch>").initial_subspace()
    label = next(label for label in subspace.labels if label in subspace.bounds)
    ops = subspace.ops(label)
    born = {l: {op: 0 for op in subspace.ops(l)} for l in subspace.labels}
    born[label][ops[-1]] = 1
    weights = catch_up_weights(subspace, born, 1)[label]
    young = [ops[-1] in subspace.branches(label, choice) for choice in subspace.choices(label)]
    assert {float(w) for w, y in zip(weights, young, strict=True) if y} == {2 * min(weights)}
    assert {float(w) for w, y in zip(weights, young, strict=True) if not y} == {min(weights)}


@pytest.mark.parametrize("counts", [(3, 3, 3), (3, 2, 4), (1, 4, 2)])
def test_fair_paths_train_every_active_operator_each_step(tiny_space: SearchSpace, counts: tuple[int, ...]) -> None:
    full = tiny_space.full_subspace()
    subspace = Subspace({label: full.ops(label)[:n] for label, n in zip(full.labels, counts, strict=True)})
    steps = sample_paths(subspace, 0, 0, 0, 30, "fair")
    assert len(steps) == 30
    for paths in steps:
        assert len(paths) == max(counts)
        assert all(arch in subspace for arch in paths)
        for label, n in zip(subspace.labels, counts, strict=True):
            uses = Counter(arch[label] for arch in paths)
            assert set(uses) == set(subspace.ops(label))  # every active operator, every step
            assert max(uses.values()) - min(uses.values()) <= 1  # as evenly as the step allows
            if n == max(counts):
                assert set(uses.values()) == {1}  # exactly once
    assert steps == sample_paths(subspace, 0, 0, 0, 30, "fair")
    assert steps != sample_paths(subspace, 0, 0, 1, 30, "fair")


@pytest.mark.parametrize("sampling", ["fair", "uniform"])
def test_one_fair_step_updates_every_active_operator(tiny_space: SearchSpace, data: DataSplits,
                                                     sampling: str) -> None:
    subspace = tiny_space.initial_subspace()
    net = Supernet(tiny_space, subspace, seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trainer = trainer_for(net, data, epochs=1, sampling=sampling)
    with pytest.raises(Stop):
        trainer.train_epoch(on_step=stop_at(1))
    trained = sampled = 0
    first_step = sample_paths(subspace, 0, 0, 0, trainer.steps_per_epoch, sampling)[0]
    for label in subspace.labels:
        for op in subspace.ops(label):
            module = net.op_module(label, op)
            prefix = f"choices.{label.replace('.', '_')}.{op}."
            if not list(module.parameters()):
                continue
            changed = any(not torch.equal(p, before[prefix + name]) for name, p in module.named_parameters())
            on_path = any(arch[label] == op for arch in first_step)
            assert changed == on_path, (label, op)
            trained += changed
            sampled += 1
    if sampling == "fair":
        assert trained == sampled
    else:
        assert trained < sampled


@pytest.mark.parametrize(("train_acc", "classes", "noted"), [
    (0.15, 10, True),  # chance 10 %: the bar is 19 %
    (0.19, 10, False),
    (0.54, 2, True),  # chance 50 %: the bar is 55 %
    (0.60, 2, False),
    (0.0, 1, True),
])
def test_a_round_left_near_chance_is_noted(train_acc: float, classes: int, noted: bool) -> None:
    note = undertrained_note(train_acc, classes)
    assert (note is not None) == noted
    if noted:
        assert f"{train_acc:.0%}" in note and "search.epochs_per_round" in note
