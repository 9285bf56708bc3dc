"""A run's space as text: the subspace of every round, one round, and the difference between two rounds.

Rounds are numbered from 0, as in ``rounds/000`` and ``events.jsonl``. A run that is still running (or was
interrupted) can be rendered at any time; the header says so. ``evospace inspect`` and ``evospace diff`` print these.
"""

from __future__ import annotations

from evospace.errors import EvospaceError
from evospace.inspect.graph import cell_text, entered, final_size, ordered_nodes, removed, round_subgraph
from evospace.inspect.report import run_state
from evospace.space.cells import cell_topology

__all__ = ["render_run", "render_round", "render_diff"]


# -- text ----------------------------------------------------------------------------------------------
def render_run(run, graph) -> str:
    """The whole run: state, best architecture, the subspace of every round as one table, and the lineage."""
    g = graph.graph
    lines = _header(run, graph)
    rounds = sorted(g["sizes"])
    if not rounds:
        return "\n".join(lines + ["", "No round has started yet."]) + "\n"
    score = run.space.config.search.shrink.score
    lines += ["", "Subspace per round",
              f"  cell: the operator's combined score in that round, {score}, higher is better;",
              "  ✗ = removed at the end of that round; 'active' = not scored yet (round unfinished);",
              "  blank = not active", ""]
    header = ["choice point", "operator", "params", "FLOPs"] + [f"round {r}" for r in rounds]
    rows = [header]
    previous = None
    for key in _ordered(graph):
        data = graph.nodes[key]
        cells = [_cell(data, r) for r in rounds]
        rows.append([data["label"] if data["label"] != previous else "", data["op"], f"{data['params']:,}",
                     f"{data['flops']:,}"] + cells)
        previous = data["label"]
    rows.append(["architectures", "", "", ""] + [f"{g['sizes'][r]:,}" for r in rounds])
    lines += _table(rows, right_from=2)
    if g["finished"]:
        lines.append(f"  final subspace after round {rounds[-1]}: {final_size(graph):,} architectures")
    if g.get("few_shot"):
        lines += ["", "Few-shot splits (scores from one sub-supernet per operator combination)"]
        lines += [f"  round {r}: {_split(split)}" for r, split in sorted(g["few_shot"].items())]
    if g.get("score_fits"):
        lines += ["", "Calibrated score per round: the weight of each signal's standardised rank, and the anchors "
                      "(architectures trained stand-alone) it was fitted on"]
        lines += [f"  round {r}: {_fit(fit)}" for r, fit in sorted(g["score_fits"].items())]
    lines += ["", "Lineage: who entered and left when"]
    for r in sorted(set(rounds) | {d["born"] for d in graph.nodes.values()}):
        new = entered(graph, r)
        if r == 0:
            lines.append(f"  start of round 0: {len(new)} initial operators")
        elif new:
            reasons = sorted({graph.nodes[n]["added"] for n in new})
            pending = "" if r in g["sizes"] else " (that round has not started)"
            lines.append(f"  start of round {r}: {len(new)} entered ({', '.join(reasons)}){pending}")
            lines += _grouped(graph, new)
        gone = removed(graph, r)
        if gone:
            lines.append(f"  end of round {r}: {len(gone)} removed")
            lines += _table([[graph.nodes[n]["label"], graph.nodes[n]["op"], *_scores(graph.nodes[n], r),
                              f"({graph.nodes[n]['removed']})"] for n in gone], indent=4)
    return "\n".join(lines) + "\n"


def render_round(run, graph, round_index: int) -> str:
    """One round: its active operators with params, FLOPs and scores, and what entered and left."""
    sub = round_subgraph(graph, round_index)
    lines = _header(run, graph)
    lines += ["", f"Round {round_index}: {graph.graph['sizes'][round_index]:,} architectures", ""]
    metrics = ("score", "angle", "accuracy", "combined") if graph.graph.get("score_fits") else (
        "angle", "accuracy", "combined")
    rows = [["choice point", "operator", "params", "FLOPs", *metrics, "", "since"]]
    previous = None
    for key in _ordered(sub):
        data = sub.nodes[key]
        s = data["scores"].get(round_index) or {}
        rows.append([data["label"] if data["label"] != previous else "", data["op"], f"{data['params']:,}",
                     f"{data['flops']:,}"] + [_num(s.get(m)) if s else "not scored yet" if m == metrics[0] else ""
                                               for m in metrics]
                    + ["✗ removed" if data["died"] == round_index else "", f"round {data['born']}"])
        previous = data["label"]
    lines += _table(rows, right_from=2)
    split = graph.graph.get("few_shot", {}).get(round_index)
    if split:
        lines += ["", f"Few-shot: {_split(split)}"]
    fit = graph.graph.get("score_fits", {}).get(round_index)
    if fit:
        lines += ["", f"Calibrated score: {_fit(fit)}"]
    new, gone = entered(graph, round_index), removed(graph, round_index)
    lines += ["", f"Entered at the start of round {round_index}: " + (f"{len(new)}" if new else "none")]
    lines += _grouped(graph, new) if round_index else []
    lines += [f"Removed at the end of round {round_index}: " + (f"{len(gone)}" if gone else "none")]
    lines += _grouped(graph, gone)
    return "\n".join(lines) + "\n"


def render_diff(graph, first: int, second: int | str) -> str:
    """What entered and left between the subspaces of two started rounds, and what came and went in between.

    ``second`` may be ``"final"``: the subspace the run ended with (unfinished: what its last finished round chose).
    """
    final = second == "final"
    last = max(graph.graph["sizes"], default=-1) + 1 if final else second
    if first > last:
        raise EvospaceError(f"give the earlier round first (got {first} then {second})")
    before = round_subgraph(graph, first)
    after = graph.subgraph([n for n, data in graph.nodes(data=True) if data["died"] is None]) if final else \
        round_subgraph(graph, second)
    left = [n for n in _ordered(graph) if n in before and n not in after]
    came = [n for n in _ordered(graph) if n in after and n not in before]
    between = [n for n in _ordered(graph) if n not in before and n not in after
               and any(first < r < last for r in graph.nodes[n]["rounds"])]
    sizes = graph.graph["sizes"]
    name = ("the final subspace" if graph.graph["finished"] else "the latest subspace (the run is not finished)") \
        if final else f"round {second}"
    size = final_size(graph) if final else sizes[second]
    lines = [f"{graph.graph['run']}: round {first} → {name}: {sizes[first]:,} → {size:,} architectures"]
    if not (left or came or between):
        return "\n".join(lines + ["no change: the same operators are active"]) + "\n"
    if left:
        lines.append(f"left ({len(left)}):")
        lines += _table([["−", graph.nodes[n]["label"], graph.nodes[n]["op"],
                          f"removed at the end of round {graph.nodes[n]['died']}",
                          *_scores(graph.nodes[n], graph.nodes[n]["died"])] for n in left], indent=2)
    if came:
        lines.append(f"entered ({len(came)}):")
        lines += _table([["+", graph.nodes[n]["label"], graph.nodes[n]["op"],
                          f"active from round {graph.nodes[n]['born']}", f"({graph.nodes[n]['added']})"]
                         for n in came], indent=2)
    if between:
        lines.append(f"came and went in between ({len(between)}):")
        lines += _table([["±", graph.nodes[n]["label"], graph.nodes[n]["op"],
                          _life(graph.nodes[n])] for n in between], indent=2)
    return "\n".join(lines) + "\n"


def _header(run, graph) -> list[str]:
    g = graph.graph
    lines = [f"{run.path}: space {g['space']} ({g['skeleton']}, {len(g['labels'])} choice points, pool of "
             f"{len(run.space.pool)})", f"state: {run_state(run, graph)}"]
    best = run.best
    if best:
        m = best["metrics"]
        source = "table" if run.record.get("oracle") else "supernet"
        angle = f"angle {m['angle']:.3f} rad, " if m.get("angle") else ""
        lines.append(f"best so far (round {best.get('round')}): {angle}{source} accuracy {m['accuracy']:.3f}, "
                     f"{int(m['params']):,} params, {int(m['flops']):,} FLOPs")
        lines.append("  " + "  ".join(f"{label}={op}" for label, op in best["arch"].items()))
        skeleton = run.space.config.skeleton
        if skeleton.kind == "cell":
            lines.append("  its cell, repeated in every stage:")
            lines += [f"    {line}" for line in cell_text(best["arch"], cell_topology(skeleton))]
    return lines


def _split(split: dict) -> str:
    """One line: where a round was split, into how many sub-supernets, and why."""
    return (f"split on {', '.join(split['labels'])} into {len(split['owners'])} sub-supernets × {split['epochs']} "
            f"epoch(s) ({split['reason']})")


def _fit(fit: dict) -> str:
    weights = sorted(fit["weights"].items(), key=lambda item: -abs(item[1]))
    if not fit["anchors"] and fit["prior"] != "signals":
        how = f"no new anchor: {fit['prior']}'s weights"
    else:
        how = f"{fit['anchors']} of {fit['of']} anchors, shrunk toward {fit['prior']}"
    return ", ".join(f"{name} {weight:+.2f}" for name, weight in weights) + f"; {how}"


def _life(data: dict) -> str:
    if data["died"] == data["born"]:
        return f"active in round {data['born']} only"
    return f"active in rounds {data['born']}–{data['died']}"


def _ordered(graph) -> list[str]:
    return ordered_nodes(graph)


def _cell(data: dict, r: int) -> str:
    if r not in data["rounds"]:
        return ""
    s = data["scores"].get(r)
    text = _num(s.get("combined")) if s else "active"
    return text + (" ✗" if data["died"] == r else "  ")


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"  # calibrated scores pass 1: keep 3 decimals


def _scores(data: dict, r: int | None) -> list[str]:
    """One cell per metric (``angle 0.051``), so that a table lines them up."""
    s = data["scores"].get(r) or {}
    return [f"{k} {_num(v)}" for k, v in s.items()] or ["not scored"]


def _grouped(graph, nodes: list[str]) -> list[str]:
    """Operators listed per choice point, one line each."""
    by_label: dict[str, list[str]] = {}
    for n in nodes:
        by_label.setdefault(graph.nodes[n]["label"], []).append(graph.nodes[n]["op"])
    return [f"    {label:<8} {', '.join(ops)}" for label, ops in by_label.items()]


def _table(rows: list[list[str]], right_from: int | None = None, indent: int = 2) -> list[str]:
    """Rows padded into columns; columns from ``right_from`` on are right-aligned (numbers)."""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    out = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if right_from is not None and i >= right_from else cell.ljust(widths[i])
                 for i, cell in enumerate(row)]
        out.append(" " * indent + "  ".join(cells).rstrip())
    return out
