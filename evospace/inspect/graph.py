"""The lineage of a run as a networkx graph, and the storable form its file exports use.

One node per (choice point, operator) that was ever active, keyed ``"label/op"``, with attributes

    label, op      where the operator sits and what it is
    born           first round in which it was active
    died           round at whose end it was removed (None while it is still active)
    rounds         every round in which it was active (a run that stops mid-way may list a round that has
                   not started yet: the operator was added for it)
    added, removed why it entered ("initial", "grown from queue") and why it left (None if it did not)
    scores         {round: {angle, accuracy, combined}} from each finished round (and from the removal event)
    params, flops  cost of the operator at this choice point

Edges follow the skeleton: in a chain, from every operator of a choice point to every operator of the next
one that was active in a common round (edge attribute ``rounds``); in a cell, along the DAG, from every
operator of edge i → j to every operator of each edge j → k. :func:`cell_graph` draws one cell architecture
as its DAG (nodes of the cell, one edge per operator that is not ``zero``). The graph is built from ``events.jsonl``
(who entered and left when) and each finished round's ``state.json`` (scores), so it can be read while a
search is still writing the run.

GraphML and GEXF store only scalars: :func:`to_storable` JSON-encodes the list and dict attributes and drops
``None`` values; :func:`from_storable` undoes it, so a graph read back from any export equals the original.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from evospace.errors import RunError
from evospace.run.events import History, RoundStarted
from evospace.run.run import Run
from evospace.space.branches import BranchBounds
from evospace.space.cells import CellTopology
from evospace.space.subspace import Subspace

if TYPE_CHECKING:  # networkx is imported when a graph is built (the command line starts faster)
    import networkx as nx

__all__ = ["cell_graph", "cell_dot", "cell_text", "lineage_graph", "space_graph", "round_subgraph", "node_id",
           "started_rounds", "entered", "removed",
           "ordered_nodes", "final_size", "few_shot_splits", "score_fits", "to_storable",
           "from_storable", "export_graph", "read_graph", "GRAPH_FORMATS", "NODE_FIELDS", "EDGE_FIELDS",
           "GRAPH_FIELDS"]

GRAPH_FORMATS = ("json", "graphml", "gexf", "dot")

NODE_FIELDS = ("label", "op", "born", "died", "rounds", "added", "removed", "scores", "params", "flops")
EDGE_FIELDS = ("rounds",)
GRAPH_FIELDS = ("run", "space", "skeleton", "labels", "rounds_total", "rounds_started", "rounds_finished",
                "finished", "stop_reason", "sizes", "few_shot", "branches", "score_fits", "round")
# list/dict attributes, JSON strings in storable form
_ENCODED = {"rounds", "scores", "labels", "sizes", "few_shot", "branches", "score_fits"}


def node_id(label: str, op: str) -> str:
    """The node key of operator ``op`` at choice point ``label``, e.g. ``"s1.b2/conv_k3"``."""
    return f"{label}/{op}"


def started_rounds(run: Run) -> dict[int, RoundStarted]:
    """``{round: round_started event}`` for every round that started, running ones included."""
    return run.history.started


def lineage_graph(run: Run) -> nx.DiGraph:
    """Every operator that was ever active in ``run``, with its life and scores (see the module docstring).

    Example:
        >>> g = lineage_graph(Run.open("runs/demo"))  # doctest: +SKIP
        >>> g.nodes["s1.b1/conv_k3"]["born"], g.nodes["s1.b1/conv_k3"]["died"]  # doctest: +SKIP
        (0, 1)
    """
    import networkx as nx

    history = run.history
    started = history.started
    finished_rounds = run.rounds
    graph = nx.DiGraph()
    for key, life in history.operators.items():
        cost = run.space.op_cost(life.label, life.op)
        graph.add_node(key, label=life.label, op=life.op, born=life.born, died=life.died, rounds=[],
                       added=life.added, removed=life.removed,
                       scores={r: _clean_scores(scores) for r, scores in life.scores.items()},
                       params=int(cost.params), flops=int(cost.flops))
    for index, event in sorted(started.items()):
        for label, ops in event.subspace.items():
            for op in ops:
                node = _node_of(graph, label, op, index, "round_started")
                node["rounds"].append(index)
    for node in graph.nodes.values():
        if node["born"] not in started:  # added for a round that has not started yet
            node["rounds"].append(node["born"])
    for info in finished_rounds:
        for label, ops in info.op_scores.items():
            for op, scores in ops.items():
                _node_of(graph, label, op, info.index, "state.json")["scores"][info.index] = _clean_scores(scores)
    for node in graph.nodes.values():
        node["scores"] = dict(sorted(node["scores"].items()))
    _add_skeleton_edges(graph, run.space.labels, _successors(run.space))
    graph.graph.update(_run_attributes(run, history, finished_rounds))
    return graph


def space_graph(run: Run, round_index: int) -> nx.DiGraph:
    """The subspace of one started round: its active operators and the edges between them.

    Raises:
        RunError: if round ``round_index`` never started.
    """
    return round_subgraph(lineage_graph(run), round_index)


def round_subgraph(lineage: nx.DiGraph, round_index: int) -> nx.DiGraph:
    """The part of a lineage graph active in ``round_index`` (a copy; graph attribute ``round`` set)."""
    sizes = lineage.graph.get("sizes", {})
    if round_index not in sizes:
        have = ", ".join(map(str, sizes)) or "none yet"
        raise RunError(f"{lineage.graph.get('run')}: no round {round_index}; rounds that started: {have} "
                       f"(0 = the first round, as in rounds/000)")
    nodes = [n for n, data in lineage.nodes(data=True) if round_index in data["rounds"]]
    sub = lineage.subgraph(nodes).copy()
    sub.remove_edges_from([(u, v) for u, v, data in sub.edges(data=True) if round_index not in data["rounds"]])
    sub.graph["round"] = round_index
    return sub


def ordered_nodes(graph: nx.DiGraph) -> list[str]:
    """Nodes grouped by choice point in skeleton order, each group in the order its operators became active."""
    position = {label: i for i, label in enumerate(graph.graph["labels"])}
    insertion = {key: i for i, key in enumerate(graph.nodes)}
    return sorted(graph.nodes, key=lambda n: (position[graph.nodes[n]["label"]], graph.nodes[n]["born"], insertion[n]))


def entered(graph: nx.DiGraph, round_index: int) -> list[str]:
    """Nodes first active in ``round_index`` (skeleton order)."""
    return [n for n in ordered_nodes(graph) if graph.nodes[n]["born"] == round_index]


def removed(graph: nx.DiGraph, round_index: int) -> list[str]:
    """Nodes removed at the end of ``round_index`` (skeleton order)."""
    return [n for n in ordered_nodes(graph) if graph.nodes[n]["died"] == round_index]


def final_size(graph: nx.DiGraph) -> int:
    """Architectures spanned by the operators still active (the final subspace of a finished run).

    A multi-branch point counts its allowed branch sets.
    """
    active: dict[str, list[str]] = {label: [] for label in graph.graph["labels"]}
    for data in graph.nodes.values():
        if data["died"] is None:
            active[data["label"]].append(data["op"])
    bounds = {label: BranchBounds(*b) for label, b in (graph.graph.get("branches") or {}).items()}
    return Subspace(active, bounds).size


def _node_of(graph: nx.DiGraph, label: str, op: str, round_index: int, where: str) -> dict:
    key = node_id(label, op)
    if key not in graph:
        raise RunError(f"events.jsonl: {where} of round {round_index} names {key}, which no op_added "
                       f"event introduced; the journal is damaged")
    return graph.nodes[key]


def _clean_scores(scores: dict) -> dict:
    """Scores as plain floats; a metric that could not be measured (NaN) becomes None (JSON has no NaN)."""
    return {k: (float(v) if v is not None and math.isfinite(v) else None) for k, v in scores.items()}


def _successors(space) -> list[tuple[str, str]]:
    """Pairs of choice points whose operators follow each other: chain neighbours, or cell edges i → j, j → k."""
    labels = space.labels
    if space.config.skeleton.kind != "cell":
        return list(zip(labels, labels[1:]))
    ends = {label: _cell_edge(label) for label in labels}
    return [(a, b) for a in labels for b in labels if ends[a][1] == ends[b][0]]


def _cell_edge(label: str) -> tuple[int, int]:
    """``cell.e{j}_{i}`` → ``(i, j)``."""
    j, i = label.removeprefix("cell.e").split("_")
    return int(i), int(j)


def _add_skeleton_edges(graph: nx.DiGraph, labels: tuple[str, ...], pairs: list[tuple[str, str]]) -> None:
    """Each operator to each operator of a following choice point (``pairs``) it shared a round with."""
    by_label: dict[str, list[str]] = {label: [] for label in labels}
    for key, data in graph.nodes(data=True):
        by_label[data["label"]].append(key)
    for first, second in pairs:
        for u in by_label[first]:
            for v in by_label[second]:
                shared = sorted(set(graph.nodes[u]["rounds"]) & set(graph.nodes[v]["rounds"]))
                if shared:
                    graph.add_edge(u, v, rounds=shared)


def cell_graph(arch: dict[str, str], topology: CellTopology) -> nx.DiGraph:
    """One cell architecture as its DAG: the cell's nodes (attribute ``role``: input, sum or output) and an edge
    ``i → j`` with attributes ``op`` and ``label`` for every operator that is not ``zero``. A cell that concatenates
    several nodes gets a node ``"out"`` with a ``concat`` edge from each of them.

    Example:
        >>> from evospace.space.cells import CellTopology
        >>> g = cell_graph({"cell.e1_0": "conv_k3", "cell.e2_0": "zero", "cell.e2_1": "skip"},
        ...                CellTopology(1, 3, ((0, 1), (0, 2), (1, 2)), (2,)))
        >>> sorted(g.edges(data="op"))
        [(0, 1, 'conv_k3'), (1, 2, 'skip')]
    """
    import networkx as nx

    graph = nx.DiGraph()
    for node in range(topology.nodes):
        role = "input" if node < topology.inputs else "output" if node in topology.outputs else "sum"
        graph.add_node(node, role=role)
    for label, op in arch.items():
        if op != "zero":
            i, j = _cell_edge(label)
            graph.add_edge(i, j, op=op, label=label)
    if topology.concat:
        graph.add_node("out", role="concat")
        for node in topology.outputs:
            graph.add_edge(node, "out", op="concat", label=None)
    return graph


def cell_text(arch: dict[str, str], topology: CellTopology) -> list[str]:
    """A cell as lines ``nj = op(ni) + ...`` (``0`` for a node that receives nothing), inputs named ``in0``, ..."""
    graph = cell_graph(arch, topology)
    name = {i: f"in{i}" if topology.inputs > 1 else f"n{i}" for i in range(topology.inputs)}
    lines = []
    for j in range(topology.inputs, topology.nodes):
        terms = [f"{graph.edges[i, j]['op']}({name.get(i, f'n{i}')})" for i in sorted(graph.predecessors(j))]
        suffix = " (output)" if j in topology.outputs and not topology.concat else ""
        lines.append(f"n{j}{suffix} = {' + '.join(terms) or '0'}")
    if topology.concat:
        lines.append(f"out = concat({', '.join(f'n{j}' for j in topology.outputs)})")
    return lines


def cell_dot(arch: dict[str, str], topology: CellTopology, name: str = "cell") -> str:
    """Graphviz text of one cell architecture (:func:`cell_graph`), inputs on the left."""
    graph = cell_graph(arch, topology)
    lines = [f"digraph {_quote(name)} {{", "  rankdir=LR;", '  node [shape=circle, fontname="Helvetica"];']
    for node, role in graph.nodes(data="role"):
        text = {"input": f"in{node}" if topology.inputs > 1 else "in", "output": "out" if not topology.concat
                else str(node), "concat": "out"}.get(role, str(node))
        lines.append(f"  {_quote(node)} [label={_quote(text)}];")
    for i, j, op in graph.edges(data="op"):
        lines.append(f"  {_quote(i)} -> {_quote(j)} [label={_quote(op)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _run_attributes(run: Run, history: History, finished_rounds: list) -> dict:
    finished = run.finished
    reason = history.finished.reason if finished and history.finished is not None else ""
    return {
        "run": str(run.path),
        "space": run.space.name,
        "skeleton": run.space.config.skeleton.kind,
        "labels": list(run.space.labels),
        "rounds_total": run.space.config.search.rounds,
        "rounds_started": len(history.started),
        "rounds_finished": len(finished_rounds),
        "finished": finished,
        "stop_reason": reason,
        "sizes": {index: _size(run, event) for index, event in sorted(history.started.items())},
        "few_shot": few_shot_splits(history),
        "score_fits": score_fits(history),
        "branches": {label: [b.min, b.max] for label, b in run.space.branch_bounds.items()},  # multi-branch points
    }


def _size(run: Run, event: RoundStarted) -> int:
    """Architectures of a started round (the earliest runs did not record it: counted from its subspace)."""
    return event.size if event.size is not None else run.space.subspace_from_config(event.subspace).size


def few_shot_splits(history: History) -> dict[int, dict]:
    """``{round: split}`` of every round scored by few-shot sub-supernets (``few_shot_split`` events).

    Each split holds ``labels`` (the choice points split on), ``owners`` (one operator combination per
    sub-supernet), ``epochs`` per sub-supernet and the ``reason`` it was chosen.
    """
    return {r: {"labels": e.labels, "owners": e.owners, "epochs": e.epochs, "reason": e.reason}
            for r, e in history.few_shot.items()}


def score_fits(history: History) -> dict[int, dict]:
    """``{round: fit}`` of every round ranked by the calibrated score (``score_fitted`` events).

    Each fit holds the ``weights`` of the signals, the ``anchors`` it used of the ``of`` trained, and its ``prior``.
    """
    return {r: {"weights": e.weights, "anchors": e.anchors, "of": e.of, "prior": e.prior}
            for r, e in history.scores.items()}


# -- storable form -----------------------------------------------------------------------------------
def to_storable(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy whose attributes are all str/int/float/bool, as GraphML and GEXF require."""
    out = graph.copy()
    for attrs in (out.graph, *out.nodes.values(), *(data for _, _, data in out.edges(data=True))):
        for key in list(attrs):
            value = attrs[key]
            if value is None:
                del attrs[key]
            elif key in _ENCODED:
                attrs[key] = json.dumps(value)
    return out


def from_storable(graph: nx.DiGraph) -> nx.DiGraph:
    """Undo :func:`to_storable` (or read a JSON export): decode attributes, restore ``None`` and int keys.

    Attributes the file formats add on their own (GEXF's edge ``id``, GraphML's ``node_default``) are dropped.
    """
    import networkx as nx

    out = nx.DiGraph()
    out.graph.update(_decoded(graph.graph, GRAPH_FIELDS, fill=False))
    for key, data in graph.nodes(data=True):
        out.add_node(key, **_decoded(data, NODE_FIELDS, fill=True))
    for u, v, data in graph.edges(data=True):
        out.add_edge(u, v, **_decoded(data, EDGE_FIELDS, fill=True))
    return out


def _decoded(attrs: dict, fields: tuple[str, ...], fill: bool) -> dict:
    out: dict[str, Any] = {}
    for key in fields:
        if key not in attrs:
            if fill:
                out[key] = None
            continue
        value = attrs[key]
        if key in _ENCODED and isinstance(value, str):
            value = json.loads(value)
        if key in ("scores", "sizes", "few_shot", "score_fits") and isinstance(value, dict):  # JSON keys are strings
            value = {int(k): v for k, v in value.items()}
        out[key] = value
    return out


# -- file formats ------------------------------------------------------------------------------------
def export_graph(graph: nx.DiGraph, fmt: str) -> str:
    """The text of ``graph`` in ``fmt`` (one of :data:`GRAPH_FORMATS`).

    ``json`` is networkx's node-link data of the rich graph; ``graphml`` and ``gexf`` hold the storable
    form; ``dot`` is written here (no pydot needed) with one cluster per choice point, for Graphviz.
    """
    import networkx as nx

    if fmt == "json":
        return json.dumps(nx.node_link_data(graph, edges="edges"), indent=1) + "\n"
    if fmt == "graphml":
        return "\n".join(nx.generate_graphml(to_storable(graph))) + "\n"
    if fmt == "gexf":
        return "\n".join(nx.generate_gexf(to_storable(graph))) + "\n"
    if fmt == "dot":
        return _dot(graph)
    raise ValueError(f"unknown graph format {fmt!r}; expected one of {', '.join(GRAPH_FORMATS)}")


def read_graph(path: str, fmt: str) -> nx.DiGraph:
    """Read a ``json``, ``graphml`` or ``gexf`` export back into the rich graph :func:`lineage_graph` made."""
    import networkx as nx

    if fmt == "json":
        with open(path) as f:
            return from_storable(nx.node_link_graph(json.load(f), directed=True, edges="edges"))
    if fmt == "graphml":
        return from_storable(nx.read_graphml(path))
    if fmt == "gexf":
        return from_storable(nx.read_gexf(path))
    raise ValueError(f"cannot read {fmt!r} back; expected json, graphml or gexf")


def _dot(graph: nx.DiGraph) -> str:
    """Graphviz text: choice points left to right, removed operators dashed, lifetime and size in the node labels."""
    lines = [f"digraph {_quote(graph.graph.get('space', 'lineage'))} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];']
    labels = graph.graph.get("labels") or sorted({data["label"] for _, data in graph.nodes(data=True)})
    for i, label in enumerate(labels):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_quote('choice point ' + label)};")
        for key, data in graph.nodes(data=True):
            if data["label"] != label:
                continue
            if data["died"] is None:
                life = f"from round {data['born']}"
            elif data["died"] == data["born"]:
                life = f"round {data['born']} only"
            else:
                life = f"rounds {data['born']}–{data['died']}"
            style = ', style="rounded,dashed", color="gray50"' if data["died"] is not None else ""
            text = f"{data['op']}\\n{life}\\n{data['params']:,} params"
            lines.append(f"    {_quote(key)} [label=\"{text}\"{style}];")
        lines.append("  }")
    for u, v in graph.edges():
        lines.append(f"  {_quote(u)} -> {_quote(v)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
