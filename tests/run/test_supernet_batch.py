"""``search.train.batch_size``: the supernet's own batch; anchors and BN recalibration keep ``data.batch_size``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_variant

from evospace.data import load_space_data
from evospace.distributed import Group
from evospace.errors import EvospaceError, SpaceError
from evospace.evolve import Search
from evospace.extensions import calibrated_score
from evospace.run import read_jsonl
from evospace.space import space_from_dict


def train_rows(space) -> int:
    return len(load_space_data(space.config.data, split_seed=space.config.seed).y_train)


def epoch_steps(run: Path) -> list[int]:
    return [row["steps"] for row in read_jsonl(run / "metrics.jsonl") if row["kind"] == "epoch"]


def test_without_its_own_batch_the_supernet_trains_on_data_batch_size(tmp_path):
    assert space_from_dict(tiny_variant("own_batch_default"), "<tiny>").config.supernet_batch_size == 32
    space = space_from_dict(tiny_variant("own_batch_none", search={"train": {"batch_size": None}}), "<tiny>")
    assert space.config.search.train.batch_size is None and space.config.supernet_batch_size == 64
    Search(space, tmp_path / "run", device="cpu", progress=False, log=lambda _: None).run()
    assert epoch_steps(tmp_path / "run") == [train_rows(space) // 64]


def test_the_supernet_batch_sets_the_steps_but_not_the_anchors_batch(tmp_path, monkeypatch):
    batches = []
    train = calibrated_score.train_standalone

    def recording(*args, batch_size, **kwargs):
        batches.append(batch_size)
        return train(*args, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(calibrated_score, "train_standalone", recording)
    space = space_from_dict(tiny_variant("own_batch", search={"train": {"batch_size": 16}}), "<tiny>")
    assert space.config.supernet_batch_size == 16 and space.config.data.batch_size == 64
    Search(space, tmp_path / "run", device="cpu", progress=False, log=lambda _: None).run()
    assert epoch_steps(tmp_path / "run") == [train_rows(space) // 16]
    assert batches and set(batches) == {64}  # the anchors' recipe is the ground truth's


@pytest.mark.parametrize("value", [0, -3])
def test_a_batch_below_one_is_refused_at_its_key(value):
    with pytest.raises(SpaceError, match=r"search\.train\.batch_size: must be ≥ 1"):
        space_from_dict(tiny_variant("bad_batch", search={"train": {"batch_size": value}}), "<tiny>")


def test_a_supernet_batch_that_does_not_split_names_its_own_key(tmp_path):
    space = space_from_dict(tiny_variant("split_batch", search={"train": {"batch_size": 16}}), "<tiny>")
    with pytest.raises(EvospaceError, match=r"search\.train\.batch_size 16 does not split over 3 processes"):
        Search(space, tmp_path / "run", device="cpu", progress=False, group=Group(rank=0, world=3))
    assert not (tmp_path / "run").exists()
