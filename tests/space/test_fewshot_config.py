"""search.few_shot: off by default, typed, and validated with errors naming the key."""

from __future__ import annotations

import copy

import pytest

from evospace.errors import SpaceError
from evospace.space import FewShotConfig, space_from_dict


def with_few_shot(tiny_space_dict: dict, value) -> dict:
    data = copy.deepcopy(tiny_space_dict)
    data["search"]["few_shot"] = value
    return data


def test_off_by_default_and_parsed_when_given(tiny_space_dict: dict) -> None:
    assert space_from_dict(tiny_space_dict, "<t>").config.search.few_shot is None
    space = space_from_dict(with_few_shot(tiny_space_dict, {"split": ["s2.b2", "s1.b1"], "epochs": 3}), "<t>")
    assert space.config.search.few_shot == FewShotConfig(split=("s2.b2", "s1.b1"), count=None, epochs=3, lr=None)
    again = space_from_dict(space.to_config(), "<t>")
    assert again.config == space.config and again.fingerprint() == space.fingerprint()


@pytest.mark.parametrize(("value", "key", "message"), [
    ({"split": ["s2.b3"]}, "search.few_shot.split[0]", "did you mean 's2.b2'"),
    ({"split": ["s1.b1", "s1.b1"]}, "search.few_shot.split[1]", "listed twice"),
    ({"split": []}, "search.few_shot.split", "at least one choice point"),
    ({"count": 0}, "search.few_shot.count", "between 1 and the number of choice points (3)"),
    ({"count": 4}, "search.few_shot.count", "got 4"),
    ({"split": ["s1.b1"], "count": 2}, "search.few_shot.count", "not both"),
    ({"epochs": 0}, "search.few_shot.epochs", "must be ≥ 1"),
    ({"lr": -0.1}, "search.few_shot.lr", "must be > 0"),
    ({"epoch": 2}, "search.few_shot.epoch", "did you mean 'epochs'"),
    ({"epochs": "two"}, "search.few_shot.epochs", "expected an integer"),
])
def test_bad_values_name_the_key(tiny_space_dict: dict, value: dict, key: str, message: str) -> None:
    with pytest.raises(SpaceError) as err:
        space_from_dict(with_few_shot(tiny_space_dict, value), "<t>")
    assert err.value.key == key and message in err.value.message
