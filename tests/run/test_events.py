"""The event schema: every kind round-trips through JSON, real journals parse line by line, old runs still open."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evospace.cli import main
from evospace.errors import RunError
from evospace.inspect import lineage_graph
from evospace.run import (
    EVENT_KINDS,
    AnchorTrained,
    Event,
    FewShotSplit,
    Finished,
    Front,
    OpAdded,
    OpRemoved,
    Resumed,
    RoundEnded,
    RoundStarted,
    Run,
    RunStarted,
    ScoreFitted,
    UnknownEvent,
    parse_events,
    read_jsonl,
    replay,
)

names = st.text("abcdefgh._+", min_size=1, max_size=8)
floats = st.floats(allow_nan=False, allow_infinity=False)
plain = st.recursive(st.none() | st.booleans() | st.integers() | floats | names,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                     max_leaves=8)
maybe_int = st.none() | st.integers(0, 10**6)

EVENTS = {
    RunStarted: st.builds(RunStarted, space=names, seed=st.integers(), processes=maybe_int, time=floats),
    OpAdded: st.builds(OpAdded, round=st.integers(0, 99), label=names, op=names, reason=names,
                       scores=st.none() | st.dictionaries(names, floats)),
    OpRemoved: st.builds(OpRemoved, round=st.integers(0, 99), label=names, op=names, epoch=maybe_int, reason=names,
                         rank_in_point=maybe_int, of=maybe_int, scores=st.none() | st.dictionaries(names, floats)),
    Front: st.builds(Front, round=st.integers(0, 99), front=st.lists(st.dictionaries(names, plain), max_size=3)),
    RoundStarted: st.builds(RoundStarted, round=st.integers(0, 99), size=maybe_int,
                            subspace=st.dictionaries(names, st.lists(names)), time=floats),
    RoundEnded: st.builds(RoundEnded, round=st.integers(0, 99), size_before=st.integers(), size_after=st.integers(),
                          removed=st.integers(), added=st.integers(), evaluated=st.integers(),
                          best=st.dictionaries(names, plain), seconds=floats, time=floats),
    Finished: st.builds(Finished, rounds=st.integers(0, 99), reason=names,
                        subspace=st.dictionaries(names, st.lists(names)), best=st.dictionaries(names, plain),
                        time=floats),
    Resumed: st.builds(Resumed, source=st.sampled_from(["round", "checkpoint"]), snapshot=names,
                       round=st.integers(0, 99), processes=maybe_int, time=floats),
    FewShotSplit: st.builds(FewShotSplit, round=st.integers(0, 99), labels=st.lists(names),
                            owners=st.lists(st.lists(names)), epochs=st.integers(1, 9), lr=floats,
                            steps=st.integers(0), reason=names, disagreement=st.dictionaries(names, floats),
                            supernet_bytes=st.integers(0), shared_bytes=st.integers(0), delta_bytes=st.integers(0)),
    AnchorTrained: st.builds(AnchorTrained, round=st.integers(0, 99), index=st.integers(0, 99),
                             arch=st.dictionaries(names, names), val_acc=st.floats(0, 1), epochs=st.integers(1, 9),
                             seconds=floats),
    ScoreFitted: st.builds(ScoreFitted, round=st.integers(0, 99), weights=st.dictionaries(names, floats),
                           anchors=st.integers(0, 99), of=st.integers(0, 99), prior=names, reference=st.integers(0)),
}


def test_every_kind_has_a_strategy() -> None:
    assert set(EVENTS) == set(EVENT_KINDS.values())


@given(st.one_of(*EVENTS.values()))
def test_every_event_round_trips_through_a_journal_line(event: Event) -> None:
    row = json.loads(json.dumps(event.to_json(), separators=(",", ":")))
    assert row["event"] == event.kind and list(row)[0] == "event"
    assert Event.from_json(row) == event
    assert Event.from_json(row).to_json() == row


def test_optional_fields_are_left_out_when_absent_and_scores_stay() -> None:
    assert "epoch" not in OpRemoved(round=1, label="a", op="b", reason="r").to_json()
    assert OpAdded(round=0, label="a", op="b", reason="initial").to_json()["scores"] is None
    assert list(Resumed(source="round", snapshot="002", round=3, time=1.0).to_json()) == [
        "event", "from", "snapshot", "round", "time"]


def test_a_real_journal_parses_and_writes_back_byte_for_byte(tiny_run: Path) -> None:
    lines = (tiny_run / "events.jsonl").read_text().splitlines()
    events = parse_events(json.loads(line) for line in lines)
    assert {e.kind for e in events} >= {"run_started", "op_added", "round_started", "front", "round_ended",
                                         "finished"}
    assert [json.dumps(e.to_json(), separators=(",", ":")) for e in events] == lines


def test_unknown_kinds_are_kept_and_skipped_and_damaged_lines_are_named() -> None:
    events = parse_events([{"event": "from_the_future", "x": 1}, {"event": "round_started", "round": 0,
                                                                  "subspace": {}, "time": 0.0}])
    assert isinstance(events[0], UnknownEvent) and events[0].to_json() == {"event": "from_the_future", "x": 1}
    assert replay(events).last_started.round == 0
    with pytest.raises(RunError, match="event 2: op_added has no field 'colour'"):
        parse_events([events[1].to_json(), {**OpAdded(round=0, label="a", op="b", reason="r").to_json(), "colour": 1}])
    with pytest.raises(RunError, match="event 1: front"):
        parse_events([{"event": "front", "round": 0}])
    with pytest.raises(RunError, match="names a/b, which no op_added event introduced"):
        replay([OpRemoved(round=0, label="a", op="b", reason="r")])


def test_replay_follows_every_operator(tiny_run: Path) -> None:
    history = Run.open(tiny_run).history
    removed = [e for e in history.events if isinstance(e, OpRemoved)]
    assert removed and all(history.operators[f"{e.label}/{e.op}"].died == e.round for e in removed)
    assert history.finished is not None and history.last_started.round == max(history.started)


def test_a_re_admitted_operator_is_alive_again_and_keeps_its_first_round() -> None:
    life = replay([OpAdded(round=0, label="a", op="b", reason="initial"),
                   OpRemoved(round=1, label="a", op="b", reason="dropped"),
                   OpAdded(round=3, label="a", op="b", reason="re-admitted")]).operators["a/b"]
    assert (life.born, life.died, life.removed, life.added) == (0, None, None, "initial")


def _as_written_before(row: dict) -> dict:
    """A line as evospace wrote it before processes, sizes and operator ranks were recorded."""
    row = dict(row)
    if row["event"] in ("run_started", "resumed"):
        row.pop("processes", None)
    if row["event"] == "round_started":
        row.pop("size", None)
    if row["event"] == "op_removed":
        row.pop("of", None)
        row.update(reason="low combined score", rank_in_point=None)
    return row


def test_a_run_written_by_an_older_evospace_still_opens(tiny_run: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    rows = [_as_written_before(row) for row in read_jsonl(old / "events.jsonl")]
    (old / "events.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    run = Run.open(old)
    status = run.status()
    assert status["finished"] and status["subspace_size"] == Run.open(tiny_run).status()["subspace_size"]
    graph = lineage_graph(run)
    removed = [n for n, d in graph.nodes(data=True) if d["died"] is not None]
    assert removed and all(graph.nodes[n]["removed"] == "low combined score" for n in removed)
    assert graph.graph["sizes"] == lineage_graph(Run.open(tiny_run)).graph["sizes"]  # counted from the subspaces
    capsys.readouterr()
    for argv in (["status", str(old)], ["inspect", str(old)], ["inspect", str(old), "--format", "json", "--out", "-"],
                 ["diff", str(old), "0", "0"]):
        assert main(argv) == 0, argv
    assert dataclasses.is_dataclass(run.history.operators[removed[0]])
