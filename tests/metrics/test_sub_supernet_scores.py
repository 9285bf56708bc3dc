"""FewShotScorer: every architecture is scored by the sub-supernet that owns it, by angle and accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from evospace.data import DataSplits, load_data
from evospace.metrics import AccuracyEvaluator, AngleScorer, FewShotScorer, op_means, reference_weights
from evospace.run import numpy_stream
from evospace.space import ScoreConfig, SearchSpace, TrainConfig
from evospace.supernet import RoundTrainer, SubSupernets, Supernet

BATCH = 64
RECAL = 2


@pytest.fixture(scope="module")
def data() -> DataSplits:
    return load_data("mnist1d", val_fraction=0.2, samples=600, split_seed=0)


@pytest.fixture(scope="module")
def split(data: DataSplits):
    from conftest import TINY_SPACE

    from evospace.space import space_from_dict

    space: SearchSpace = space_from_dict(TINY_SPACE, "<tiny>")
    net = Supernet(space, space.initial_subspace(), seed=0)
    reference = reference_weights(net)
    RoundTrainer(net, data, TrainConfig(), batch_size=BATCH, epochs=1, round_index=0, seed=0).train_epoch()
    sub = SubSupernets(net, 0, (space.labels[0], space.labels[2]))
    for owner in sub.owners:
        sub.train(owner, data, TrainConfig(), batch_size=BATCH, epochs=1, lr=0.1, seed=0)
    scorer = FewShotScorer(space, sub, reference, data, ScoreConfig(angle_definition="sum"), batch_size=BATCH,
                           recalibration_batches=RECAL, seed=0)
    return space, net, reference, sub, scorer


def test_every_architecture_is_scored_by_its_owner(split, data) -> None:
    space, net, reference, sub, scorer = split
    evaluator = AccuracyEvaluator(data, batch_size=BATCH, batches=RECAL, seed=0)
    archs = list(net.subspace)
    for arch in archs[::5]:
        owner = sub.owner_of(arch)
        metrics = scorer.evaluate(arch)
        sub.activate(owner)
        assert metrics["angle"] == AngleScorer(net, reference, "sum").score(arch)
        assert metrics["accuracy"] == evaluator.accuracy(net, arch)
        other = next(o for o in sub.owners if o != owner)
        sub.activate(other)
        assert metrics["angle"] != AngleScorer(net, reference, "sum").score(arch), "owners are indistinguishable"
    assert scorer.evaluated == len(archs[::5]) and len(scorer.cached()) == scorer.evaluated
    rows = net.subspace.all_indices()
    expected = []
    for row in rows:
        sub.activate(sub.owner_of(net.subspace.decode(row)))
        expected.append(AngleScorer(net, reference, "sum").score_indices(row[None, :])[0])
    assert np.array_equal(scorer.angle_indices(rows), np.array(expected))
    sub.activate(None)


def test_evaluate_many_equals_one_by_one(split) -> None:
    space, net, reference, sub, scorer = split
    archs = list(net.subspace)[1::7]
    assert scorer.evaluate_many(archs + archs[:2]) == [scorer.evaluate(arch) for arch in archs + archs[:2]]


def test_operator_scores_are_means_over_owned_architectures(split) -> None:
    space, net, reference, sub, scorer = split
    scores = scorer.op_scores(numpy_stream(0, "test"), ("angle", "accuracy"))
    rows = net.subspace.all_indices()
    angles = op_means(net.subspace, rows, scorer.angle_indices(rows))
    for label in net.subspace.labels:
        for op in net.subspace.ops(label):
            assert scores[label][op]["angle"] == angles[label][op]
            assert 0.0 <= scores[label][op]["accuracy"] <= 1.0


def test_an_unfinished_split_cannot_be_scored(split, data) -> None:
    space, net, reference, _, _ = split
    fresh = SubSupernets(net, 1, (space.labels[1],))
    with pytest.raises(ValueError, match="not trained yet"):
        FewShotScorer(space, fresh, reference, data, ScoreConfig(), batch_size=BATCH, recalibration_batches=RECAL,
                      seed=0)
