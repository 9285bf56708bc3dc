"""Few-shot sub-supernets: each trains only its own sub-space, keeps only a delta, and leaves the shared
weights as they were; a sub-supernet trained again from the same weights is bit for bit the same."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_cell_dict
from hypothesis import given
from hypothesis import strategies as st

from evospace.data import DataSplits, load_data
from evospace.space import SearchSpace, TrainConfig, space_from_dict
from evospace.supernet import (
    RoundTrainer,
    SubSupernets,
    Supernet,
    choose_split,
    disagreement,
    owner_subspace,
    owners_of,
    sub_space_keys,
    tensor_bytes,
)
from evospace.supernet.sub_supernets import train_sub_supernet

BATCH = 64


@pytest.fixture(scope="module")
def data() -> DataSplits:
    return load_data("mnist1d", val_fraction=0.2, samples=600, split_seed=0)


@pytest.fixture
def trained(tiny_space: SearchSpace, data: DataSplits) -> Supernet:
    net = Supernet(tiny_space, tiny_space.initial_subspace(), seed=0)
    trainer = RoundTrainer(net, data, TrainConfig(), batch_size=BATCH, epochs=1, round_index=0, seed=0)
    trainer.train_epoch()
    return net


def train_all(sub: SubSupernets, data: DataSplits) -> None:
    for owner in sub.pending:
        sub.train(owner, data, TrainConfig(), batch_size=BATCH, epochs=1, lr=0.1, seed=0)


def snapshot(net: Supernet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_owners_cover_the_subspace_once(tiny_space: SearchSpace) -> None:
    subspace = tiny_space.initial_subspace()
    labels = (subspace.labels[0], subspace.labels[2])
    owners = owners_of(subspace, labels)
    assert len(owners) == len(subspace.ops(labels[0])) * len(subspace.ops(labels[1]))
    assert sum(owner_subspace(subspace, labels, owner).size for owner in owners) == subspace.size
    for owner in owners:
        part = owner_subspace(subspace, labels, owner)
        assert all(dict(zip(labels, owner)) == {label: arch[label] for label in labels} for arch in part)


@pytest.mark.parametrize("sampling", ["uniform", "fair"])
def test_a_sub_supernet_changes_only_its_sub_space_and_the_shared_weights_come_back(trained, data,
                                                                                    sampling: str) -> None:
    shared = snapshot(trained)
    label = trained.subspace.labels[1]
    sub = SubSupernets(trained, 0, (label,))
    owner = sub.owners[0]
    sub.train(owner, data, TrainConfig(), batch_size=BATCH, epochs=1, lr=0.1, seed=0, sampling=sampling)
    after = snapshot(trained)
    assert all(torch.equal(shared[k], after[k]) for k in shared), "the shared weights were not restored"
    sub.activate(owner)
    trained_state = snapshot(trained)
    changed = {k for k in shared if not torch.equal(shared[k], trained_state[k])}
    siblings = tuple(f"choices.{label.replace('.', '_')}.{op}." for op in trained.subspace.ops(label) if op != owner[0])
    assert changed, "training changed nothing"
    assert not any(k.startswith(siblings) for k in changed), "a sibling operator at the split point moved"
    assert changed <= set(sub.deltas[owner]), "a tensor outside the delta changed"
    assert set(sub.deltas[owner]) == set(sub_space_keys(trained, sub.subspace_of(owner)))
    assert not any(k.startswith(siblings) for k in sub.deltas[owner]), "the delta holds a sibling"
    sub.activate(None)
    assert all(torch.equal(shared[k], v) for k, v in trained.state_dict().items())


def test_only_deltas_are_kept_and_swapping_is_exact(trained, data) -> None:
    label = trained.subspace.labels[0]
    sub = SubSupernets(trained, 0, (label,))
    train_all(sub, data)
    memory = sub.memory()
    whole = tensor_bytes(trained.state_dict())
    sibling_bytes = {owner: sum(tensor_bytes(trained.op_module(label, op).state_dict())
                                for op in trained.subspace.ops(label) if op != owner[0]) for owner in sub.owners}
    assert memory["shared_bytes"] == whole
    assert memory["delta_bytes"] == sum(whole - sibling_bytes[owner] for owner in sub.owners)
    first = {}
    for owner in sub.owners:
        sub.activate(owner)
        first[owner] = snapshot(trained)
    for owner in reversed(sub.owners):  # any order of swaps gives each owner exactly its weights
        sub.activate(owner)
        assert all(torch.equal(first[owner][k], v) for k, v in trained.state_dict().items())


def test_a_sub_supernet_retrained_from_the_same_weights_and_restored_from_tensors_is_identical(trained, data):
    label = trained.subspace.labels[2]
    a = SubSupernets(trained, 3, (label,), {"reason": "test"})
    train_all(a, data)
    b = SubSupernets(trained, 3, (label,))
    train_all(b, data)
    c = SubSupernets.restore(trained, a.state(), a.tensors())
    assert c.labels == a.labels and c.info == {"reason": "test"} and c.complete
    for owner in a.owners:
        for other in (b, c):
            assert a.deltas[owner].keys() == other.deltas[owner].keys()
            assert all(torch.equal(a.deltas[owner][k], other.deltas[owner][k]) for k in a.deltas[owner])
    assert c.figures == a.figures


def test_a_partial_phase_restores_and_finishes_like_an_uninterrupted_one(trained, data) -> None:
    label = trained.subspace.labels[0]
    full = SubSupernets(trained, 0, (label,))
    train_all(full, data)
    part = SubSupernets(trained, 0, (label,))
    part.train(part.owners[0], data, TrainConfig(), batch_size=BATCH, epochs=1, lr=0.1, seed=0)
    resumed = SubSupernets.restore(trained, part.state(), part.tensors())
    assert resumed.pending == part.owners[1:]
    train_all(resumed, data)
    for owner in full.owners:
        assert all(torch.equal(full.deltas[owner][k], resumed.deltas[owner][k]) for k in full.deltas[owner])


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=6), st.integers(1, 6))
def test_choose_split_takes_the_largest_in_skeleton_order(values, count) -> None:
    count = min(count, len(values))
    scores = {f"s1.b{i}": v for i, v in enumerate(values)}
    chosen = choose_split(scores, count)
    assert len(chosen) == count and list(chosen) == [k for k in scores if k in chosen]
    left = [v for k, v in scores.items() if k not in chosen]
    assert not left or min(scores[k] for k in chosen) >= max(left)


def test_disagreement_is_the_variance_of_operator_scores() -> None:
    spread = disagreement({"a": {"x": 1.0, "y": 3.0}, "b": {"x": 2.0}})
    assert spread == {"a": pytest.approx(np.var([1.0, 3.0])), "b": 0.0}


def test_sub_supernets_train_on_augmented_images_drawn_from_seeded_streams() -> None:
    """On an augmented image data set a sub-supernet's batches get crops and flips like the shared training's,
    the same ones when it is trained again from the same weights."""
    space = space_from_dict(tiny_cell_dict(2), "<tiny_cell_2d>")
    digits = load_data("digits", val_fraction=0.2, split_seed=0)
    images = dataclasses.replace(digits, info=dataclasses.replace(digits.info, name="image_folder"))
    start = Supernet(space, space.initial_subspace(), seed=0).state_dict()

    def train(data: DataSplits) -> dict[str, torch.Tensor]:
        net = Supernet(space, space.initial_subspace(), seed=0)
        net.load_state_dict(start)
        train_sub_supernet(net, net.subspace, data, TrainConfig(), batch_size=BATCH, epochs=1, lr=0.1, seed=0,
                           key=(0, "edge"))
        return snapshot(net)

    augmented, again, plain = train(images), train(images), train(digits)
    assert all(torch.equal(augmented[k], again[k]) for k in augmented)
    assert any(not torch.equal(augmented[k], plain[k]) for k in augmented)
