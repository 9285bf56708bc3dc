"""The process group: collectives on one process (no launcher) and on two (gloo over loopback)."""

from __future__ import annotations

import pytest
from ranks import run_ranks

from evospace.distributed import DistributedError, Group
from evospace.errors import EvospaceError


def test_group_of_one_is_a_no_op():
    g = Group()
    assert not g.distributed and g.is_main
    assert g.broadcast({"a": 1}) == {"a": 1}
    assert g.all_gather([1, 2]) == [[1, 2]]
    assert g.shard([1, 2, 3]) == [1, 2, 3]
    assert g.unshard([1, 2, 3], 3) == [1, 2, 3]
    assert g.sum([1, 2.5]) == [1.0, 2.5]
    assert g.any(True) and not g.any(False)
    g.check_agree("anything", "x")


def test_shards_cover_every_item_once():
    items = list(range(11))
    shards = [Group(rank=r, world=3).shard(items) for r in range(3)]
    assert sorted(sum(shards, [])) == items
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_averaged_gradients_equal_the_global_batch_gradient(tmp_path):
    results = run_ranks("averaged_gradient", 2, tmp_path)
    assert all(r is not None and r["max_diff"] < 1e-6 for r in results), results


def test_exchanges_are_exact_and_in_rank_order(tmp_path):
    r0, r1 = run_ranks("exchange", 2, tmp_path)
    for r in (r0, r1):
        assert r["broadcast"] == {"x": [0.1, 1 / 3], "rank": 0}  # floats survive exactly
        assert r["bytes"] == b"abc\x00".hex()
        assert r["gathered"] == [[0.1 * i for i in range(5)], [0.1 * i + 1 for i in range(5)]]
        assert r["unshard"] == [i * 10 for i in range(7)]
        assert r["sum"] == [1.0, 3.0]
        assert r["any_none"] is False and r["any_one"] is True


def test_disagreeing_ranks_all_stop(tmp_path):
    results = run_ranks("disagree", 2, tmp_path)
    assert all(r is not None and r["raised"] and "disagree on the test decision" in r["raised"] for r in results)
    assert all(r == {"raised": None} for r in run_ranks("agree", 2, tmp_path))


@pytest.mark.parametrize("scenario", ["rank_dies", "rank_hangs"])
def test_a_lost_rank_stops_the_others_with_a_clear_error(tmp_path, scenario):
    r0, r1 = run_ranks(scenario, 2, tmp_path, timeout=5)
    assert r1 is None
    assert r0["raised"] and "lost contact with the other ranks" in r0["raised"], r0
    assert r0["seconds"] < 30


def test_search_refuses_a_batch_that_does_not_split(tiny_space, tmp_path):
    from evospace.evolve import Search

    with pytest.raises(EvospaceError, match="does not split over 3 processes"):
        Search(tiny_space, tmp_path / "run", device="cpu", progress=False, group=Group(rank=0, world=3))
    assert not (tmp_path / "run").exists()


def test_distributed_error_is_a_run_error():
    assert issubclass(DistributedError, EvospaceError)
