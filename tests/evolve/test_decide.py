"""decide_round is a pure function: no supernet, no directory, no clock."""

from __future__ import annotations

import copy
import json

import pytest

from evospace.evolve import decide_round, grow, shrink
from evospace.run import Front, OpAdded, OpRemoved, SearchState
from evospace.space import SearchSpace, space_from_dict


def _per_op(state: SearchState) -> dict:
    """Angle scores that prefer each choice point's operators in reverse order of activation."""
    sub = state.subspace
    return {label: {op: {"angle": float(i)} for i, op in enumerate(sub.ops(label))} for label in sub.labels}


def _front(state: SearchState) -> list[dict]:
    arch = {label: state.subspace.ops(label)[-1] for label in state.subspace.labels}  # the best operators
    return [{"arch": arch, "metrics": {"angle": 1.0, "accuracy": 0.5, "params": 1.0, "flops": 1.0}}]


def _space(tiny_space_dict: dict, **search) -> SearchSpace:
    """The tiny space ranking operators by the angle alone (the scores below are angles)."""
    data = copy.deepcopy(tiny_space_dict)
    data["search"].update({"shrink": {"keep": 2, "score": "angle"}, **search})
    return space_from_dict(data, "<tiny>")


def test_a_round_shrinks_grows_and_says_why(tiny_space_dict: dict) -> None:
    space = _space(tiny_space_dict, rounds=3)
    state = SearchState.initial(space)
    decision = decide_round(space, state, _front(state), _per_op(state))
    config = space.config.search
    shrunk, decisions = shrink(state.subspace, {l: {op: s["angle"] for op, s in ops.items()}
                                                for l, ops in _per_op(state).items()},
                               [_front(state)[0]["arch"]], config.shrink.keep, config.shrink.keep_front)
    assert [(d.label, d.op, d.kept, d.reason) for d in decision.shrink] == [
        (d.label, d.op, d.kept, d.reason) for d in decisions]
    grown, _ = grow(shrunk, {l: [op for op in space.pool_order(l) if op not in state.seen[l]] for l in space.labels},
                    config.grow.per_round)
    assert decision.next_state.subspace == grown and decision.stop_reason == ""
    assert decision.next_state.round == 1 and decision.next_state.front == _front(state)
    events = decision.events()
    removed = [e for e in events if isinstance(e, OpRemoved)]
    assert removed and all(e.reason == "not in the front and ranked below the best 2 by angle at its choice point"
                           for e in removed)
    assert all(e.rank_in_point == 3 and e.of == 3 for e in removed)  # the worst goes
    assert [e.reason for e in events if isinstance(e, OpAdded)] == ["grown from queue"] * len(decision.grow)
    assert isinstance(events[-1], Front)
    # everything the ranks compare is plain data
    json.dumps(decision.next_state.to_json())


@pytest.mark.parametrize(("search", "budget_spent", "budgeted", "reason"), [
    ({"rounds": 1}, False, False, "rounds reached"),
    ({"rounds": 5}, True, True, "query budget spent"),
    ({"rounds": 5, "initial": None}, False, False, "pools exhausted and the subspace did not change"),
    ({"rounds": 5, "initial": None}, False, True, ""),  # with a budget, the budget alone stops a search
])
def test_the_stop_rule(tiny_space_dict: dict, search: dict, budget_spent: bool, budgeted: bool, reason: str) -> None:
    data = copy.deepcopy(tiny_space_dict)
    data["search"]["shrink"] = {"keep": 2, "score": "angle"}  # the scores below are angles
    if search.pop("initial", 1) is None:  # every pool operator active, nothing to drop: the space is settled
        data["initial"] = {"ops": data["pool"]}
        data["search"]["shrink"] = {"keep": len(data["pool"]), "score": "angle"}
    data["search"].update(search)
    space = space_from_dict(data, "<tiny>")
    state = SearchState.initial(space)
    decision = decide_round(space, state, _front(state), _per_op(state), budget_spent=budget_spent,
                            budgeted=budgeted)
    assert decision.stop_reason == reason and decision.next_state.finished == bool(reason)
    if reason:
        assert not decision.grow  # nothing is grown after the last round


def test_a_multi_branch_point_keeps_what_its_sets_need_and_the_reason_says_so(tiny_space_dict: dict) -> None:
    data = copy.deepcopy(tiny_space_dict)
    data["initial"] = {"size": 4, "order": "shuffled"}
    data["skeleton"]["stages"][0].update(multi_branch=True, min_branches=3)
    data["search"].update(rounds=2, shrink={"keep": 1, "score": "angle"})
    space = space_from_dict(data, "<tiny>")
    state = SearchState.initial(space)
    front = [{"arch": {**_front(state)[0]["arch"], "s1.b1": "+".join(sorted(state.subspace.ops("s1.b1")[1:]))},
              "metrics": _front(state)[0]["metrics"]}]
    decision = decide_round(space, state, front, _per_op(state))
    kept = [d.op for d in decision.shrink if d.label == "s1.b1" and d.kept]
    assert kept == list(state.subspace.ops("s1.b1")[1:])
    dropped = [d for d in decision.shrink if d.label == "s2.b1" and not d.kept]
    assert dropped and dropped[0].why == "not in the front and ranked below the best 1 by angle at its choice point"
    gone = [d for d in decision.removed if d.label == "s1.b1"]
    assert [d.op for d in gone] == [state.subspace.ops("s1.b1")[0]]
    # the policy kept max(keep, min_branches) = 3 by score there, not search.shrink.keep = 1
    assert gone[0].why == "not in the front and ranked below the best 3 by angle at its choice point"
    assert [e.reason for e in decision.events() if isinstance(e, OpRemoved) and e.label == "s1.b1"] == [gone[0].why]


def test_a_budgeted_search_whose_queues_ran_dry_re_admits_the_operators_that_left(tiny_space_dict: dict) -> None:
    space = _space(tiny_space_dict, rounds=50, grow={"per_round": 1})
    state = SearchState.initial(space)
    for _ in range(len(space.pool)):  # long enough for every operator to be tried and most to leave
        decision = decide_round(space, state, _front(state), _per_op(state), budgeted=True)
        state = decision.next_state
    assert all(set(state.seen[label]) == set(space.pool) for label in space.labels)
    assert not decision.stop_reason
    readmitted = [d for d in decision.grow if d.why.startswith("re-admitted")]
    kept = {(d.label, d.op) for d in decision.shrink if d.kept}
    assert readmitted and all((d.label, d.op) not in kept and d.op in state.subspace.ops(d.label) for d in readmitted)
    # the same rounds without a budget settle and stop instead
    state = SearchState.initial(space)
    while not state.finished:
        decision = decide_round(space, state, _front(state), _per_op(state))
        state = decision.next_state
        assert not [d for d in decision.grow if d.why.startswith("re-admitted")]
    assert state.stop_reason == "pools exhausted and the subspace did not change"


def test_re_admission_takes_the_inactive_operators_in_turn() -> None:
    from evospace.evolve.policy import readmission_queue

    pool = ("a", "b", "c", "d", "e")
    firsts = [readmission_queue(pool, ("a", "c"), r)[0] for r in range(6)]
    assert firsts == ["b", "d", "e", "b", "d", "e"]
    assert readmission_queue(pool, pool, 3) == []
