"""The lineage graph agrees with events.jsonl and the rounds on disk, and survives every export format."""

from __future__ import annotations

import json
import math
import re

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inspect_runs import cut_run, finished_run

from evospace.errors import RunError
from evospace.inspect import (
    export_graph,
    from_storable,
    lineage_graph,
    node_id,
    read_graph,
    round_subgraph,
    space_graph,
    to_storable,
)
from evospace.run import Run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return Run.open(finished_run(tmp_path_factory))


@pytest.fixture(scope="module")
def graph(run):
    return lineage_graph(run)


def _events(run, kind):
    return [e for e in run.events if e["event"] == kind]


def test_every_add_and_remove_event_has_its_node_with_born_and_died(run, graph):
    added, removed = _events(run, "op_added"), _events(run, "op_removed")
    assert removed, "the test run should remove operators (shrink.keep 1)"
    assert graph.number_of_nodes() == len(added)
    for event in added:
        node = graph.nodes[node_id(event["label"], event["op"])]
        assert (node["label"], node["op"], node["born"], node["added"]) == (
            event["label"], event["op"], event["round"], event["reason"])
    gone = {node_id(e["label"], e["op"]): e for e in removed}
    for key, node in graph.nodes(data=True):
        if key in gone:
            assert node["died"] == gone[key]["round"]
            assert node["removed"] == gone[key]["reason"]
            assert node["scores"][node["died"]] == pytest.approx(gone[key]["scores"])
        else:
            assert node["died"] is None and node["removed"] is None


def test_active_rounds_are_the_subspaces_of_round_started_events(run, graph):
    started = _events(run, "round_started")
    assert [e["round"] for e in started] == [0, 1, 2]
    for event in started:
        expected = {node_id(label, op) for label, ops in event["subspace"].items() for op in ops}
        assert {k for k, d in graph.nodes(data=True) if event["round"] in d["rounds"]} == expected
        assert set(space_graph(run, event["round"]).nodes) == expected
    for node in graph.nodes.values():
        last = node["died"] if node["died"] is not None else 2
        assert node["rounds"] == list(range(node["born"], last + 1))


def test_scores_costs_and_run_attributes(run, graph):
    for info in run.rounds:
        for label, ops in info.op_scores.items():
            for op, scores in ops.items():
                assert graph.nodes[node_id(label, op)]["scores"][info.index] == pytest.approx(scores)
    for node in graph.nodes.values():
        cost = run.space.op_cost(node["label"], node["op"])
        assert (node["params"], node["flops"]) == (cost.params, cost.flops)
    g = graph.graph
    assert (g["finished"], g["rounds_started"], g["rounds_finished"]) == (True, 3, 3)
    assert g["stop_reason"] == "rounds reached"
    assert g["sizes"] == {e["round"]: e["size"] for e in _events(run, "round_started")}


def test_edges_join_consecutive_choice_points_that_were_active_together(run, graph):
    labels = run.space.labels
    for u, v, data in graph.edges(data=True):
        a, b = graph.nodes[u], graph.nodes[v]
        assert labels.index(b["label"]) == labels.index(a["label"]) + 1
        assert data["rounds"] == sorted(set(a["rounds"]) & set(b["rounds"])) != []
    for r in (0, 1, 2):
        sub = space_graph(run, r)
        assert sub.graph["round"] == r
        expected = sum(sum(1 for d in sub.nodes.values() if d["label"] == first)
                       * sum(1 for d in sub.nodes.values() if d["label"] == second)
                       for first, second in zip(labels, labels[1:]))
        assert sub.number_of_edges() == expected
        assert math.prod(sum(1 for d in sub.nodes.values() if d["label"] == label) for label in labels) \
            == graph.graph["sizes"][r]


def _same(a: nx.DiGraph, b: nx.DiGraph) -> None:
    assert list(a.nodes) == list(b.nodes)
    assert dict(a.nodes(data=True)) == dict(b.nodes(data=True))
    assert sorted(a.edges(data=True)) == sorted(b.edges(data=True))


@pytest.mark.parametrize("fmt", ["json", "graphml", "gexf"])
def test_export_round_trip(graph, tmp_path, fmt):
    path = tmp_path / f"lineage.{fmt}"
    path.write_text(export_graph(graph, fmt))
    back = read_graph(str(path), fmt)
    _same(graph, back)
    if fmt != "gexf":  # GEXF keeps no graph attributes besides its name
        assert back.graph == graph.graph
    sub = round_subgraph(graph, 1)
    path.write_text(export_graph(sub, fmt))
    _same(sub, read_graph(str(path), fmt))


def test_graphml_holds_only_scalars_and_reads_with_plain_networkx(graph, tmp_path):
    path = tmp_path / "lineage.graphml"
    path.write_text(export_graph(graph, "graphml"))
    plain = nx.read_graphml(path)
    for data in plain.nodes.values():
        assert all(isinstance(v, (str, int, float, bool)) for v in data.values())
        assert isinstance(json.loads(data["scores"]), dict)


def test_dot_has_a_cluster_per_choice_point_and_every_node_and_edge(run, graph):
    text = export_graph(graph, "dot")
    assert text.count("subgraph cluster_") == len(run.space.labels)
    assert len(re.findall(r"^\s+\"[^\"]+\" -> \"[^\"]+\";$", text, re.M)) == graph.number_of_edges()
    for key in graph.nodes:
        assert f'"{key}" [label=' in text
    assert text.count("{") == text.count("}")


def test_interrupted_run_is_read_as_far_as_it_got(run, tmp_path):
    cut = Run.open(cut_run(run.path, tmp_path / "cut", 1))
    graph = lineage_graph(cut)
    assert (graph.graph["finished"], graph.graph["rounds_started"], graph.graph["rounds_finished"]) == (False, 2, 1)
    active = round_subgraph(graph, 1)
    assert active.number_of_nodes() > 0
    for node in active.nodes.values():
        assert 1 not in node["scores"] and node["died"] is None
    with pytest.raises(RunError, match="no round 2; rounds that started: 0, 1"):
        space_graph(cut, 2)


def test_a_run_killed_before_its_first_round_has_only_its_initial_operators(run, tmp_path):
    cut = Run.open(cut_run(run.path, tmp_path / "cut", 0))
    graph = lineage_graph(cut)
    assert graph.number_of_nodes() == len(cut.space.labels) * cut.space.config.initial.size
    assert all(d["rounds"] == [0] and d["scores"] == {} for d in graph.nodes.values())
    assert graph.graph["sizes"] == {}
    with pytest.raises(RunError, match="rounds that started: none yet"):
        space_graph(cut, 0)


def test_a_journal_naming_an_operator_that_never_entered_is_reported(run, tmp_path):
    cut = cut_run(run.path, tmp_path / "cut", 1)
    with open(cut / "events.jsonl", "a") as f:
        f.write(json.dumps({"event": "op_removed", "round": 1, "label": run.space.labels[0], "op": "conv_k99",
                            "reason": "x", "scores": None}) + "\n")
    with pytest.raises(RunError, match="conv_k99.*journal is damaged"):
        lineage_graph(Run.open(cut))


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def _graphs(draw):
    graph = nx.DiGraph(run="r", labels=["a", "b"], sizes={0: 2}, finished=draw(st.booleans()))
    for i in range(draw(st.integers(1, 5))):
        born = draw(st.integers(0, 5))
        died = draw(st.one_of(st.none(), st.integers(born, 6)))
        rounds = list(range(born, (died if died is not None else born) + 1))
        scores = {r: {"angle": draw(st.one_of(st.none(), _finite)), "accuracy": draw(_finite),
                      "combined": draw(_finite)} for r in draw(st.lists(st.sampled_from(rounds), unique=True))}
        graph.add_node(f"a/op{i}", label=draw(st.sampled_from(["a", "b"])), op=f"op{i}", born=born, died=died,
                       rounds=rounds, added="initial", removed=None if died is None else "low combined score",
                       scores=scores, params=draw(st.integers(0, 10**9)), flops=draw(st.integers(0, 10**12)))
    nodes = list(graph.nodes)
    for u, v in draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=6)):
        graph.add_edge(u, v, rounds=draw(st.lists(st.integers(0, 5), min_size=1)))
    return graph


@settings(max_examples=40, deadline=None)
@given(graph=_graphs())
def test_storable_form_round_trips_any_lineage_through_graphml(graph):
    text = "\n".join(nx.generate_graphml(to_storable(graph)))
    back = from_storable(nx.parse_graphml(text))
    _same(graph, back)
    assert back.graph == graph.graph
