"""Plots of a run and one self-contained HTML report, for people who were not watching the search.

Four figures, each readable on its own (title, axis labels, legend; operators by the names every other output
uses, spelled out in the report's glossary):

    space     heat map: choice point × operator over rounds, coloured by the operator's score within its
              choice point, blank when it was not active, outlined when it was removed after the round
    scores    operator-score trajectories: each operator's score per round (the shrink score's first metric), one
              panel per choice point
    fitness   the population's fitness per generation, all rounds side by side
    front     the first objective against parameters and FLOPs for a round's population, its trade-off line and
              the architectures the search kept as its best marked

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas: no display, no pyplot global
state. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evospace.inspect.graph import entered, final_size, ordered_nodes, removed
from evospace.run.run import Run
from evospace.run.store import atomic_write
from evospace.space.ops import UnknownOpError, parse_op
from evospace.space.schema import parse_score

if TYPE_CHECKING:  # matplotlib and networkx are imported when a figure is drawn (they are slow to import)
    import networkx as nx
    from matplotlib.figure import Figure

__all__ = ["FIGURES", "OP_GLOSSARY", "readable_op", "run_state", "relative_scores", "plot_space", "plot_op_scores",
           "plot_fitness", "plot_front", "draw_figures", "write_pngs", "write_html"]

FIGURES = ("space", "scores", "fitness", "front")

_FAMILY_WORDS = {"conv": "conv", "dil": "dilated conv", "sep": "separable conv", "mb": "MBConv",
                 "avg": "avg pool", "max": "max pool", "skip": "skip", "zero": "zero"}
OP_GLOSSARY = ("conv = convolution, separable conv = depthwise + pointwise convolution, MBConv = MobileNetV2 "
               "inverted residual, skip = identity (a projection when the shape changes); k = kernel size, "
               "d = dilation, e = expansion ratio")


def readable_op(name: str) -> str:
    """An operator name spelled out for plots: ``mb_e6_k5`` → ``MBConv k5 e6``; unknown names unchanged."""
    try:
        family, fields = parse_op(name)
    except UnknownOpError:
        return name
    word = _FAMILY_WORDS.get(family.name)
    if word is None:
        return name
    order = [key for key in ("k", "d", "e") if key in fields] + [key for key in fields if key not in "kde"]
    return " ".join([word] + [f"{key}{fields[key]}" for key in order])


def run_state(run: Run, graph: nx.DiGraph) -> str:
    """One sentence on where the run stands: finished, running, interrupted, or one of the two.

    A search holds an advisory lock on ``RUN/.lock`` while it runs (the kernel drops it when the process dies,
    even on SIGKILL), so a lock file that nobody holds means the search was interrupted. Without a lock file
    (a run written before locking existed) the sentence says "running or interrupted" and gives the age of
    the last write.
    """
    g = graph.graph
    if g["finished"]:
        return f"finished after {g['rounds_started']} of {g['rounds_total']} rounds ({g['stop_reason']})"
    held = run.store.is_locked()
    facts = f"last write {_age(time.time() - _last_write(run))} ago; {g['rounds_finished']} round(s) finished"
    resume = f"continue it with: evospace resume {run.path}"
    where = "before its first round" if g["rounds_started"] == 0 else (
        f"in round {max(g['sizes'])} ({max(g['sizes']) + 1} of {g['rounds_total']})")
    if held is True:
        return f"NOT finished: running {where} ({facts})"
    if held is False:
        return f"NOT finished: interrupted {where}, no process holds the run ({facts}); {resume}"
    return f"NOT finished: still running {where}, or interrupted there ({facts}); if it was interrupted, {resume}"


def _last_write(run: Run) -> float:
    paths = [run.path / "events.jsonl", run.path / "metrics.jsonl", run.path / "checkpoint"]
    return max((p.stat().st_mtime for p in paths if p.exists()), default=run.store.run_yaml.stat().st_mtime)


def _age(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _combined_by_point(graph: nx.DiGraph) -> dict[tuple[str, int], dict[str, float]]:
    """``{(label, round): {node: combined score}}`` for every scored operator."""
    groups: dict[tuple[str, int], dict[str, float]] = {}
    for key, data in graph.nodes(data=True):
        for r, scores in data["scores"].items():
            if scores.get("combined") is not None:
                groups.setdefault((data["label"], r), {})[key] = scores["combined"]
    return groups


def relative_scores(graph: nx.DiGraph) -> dict[tuple[str, int], float]:
    """``{(node, round): score in [0, 1]}``: the combined score rescaled within its choice point and round.

    Combined scores are ranks within a choice point (or a raw metric), so only their order at one choice
    point means something; 1 is the best active operator, 0 the worst. A lone operator gets 1.
    """
    out = {}
    for (_, r), values in _combined_by_point(graph).items():
        low, high = min(values.values()), max(values.values())
        for key, value in values.items():
            out[(key, r)] = (value - low) / (high - low) if high > low else 1.0
    return out


def _ranks(graph: nx.DiGraph) -> dict[tuple[str, int], int]:
    """``{(node, round): rank by combined score at its choice point}``: 1 = best, ties share a rank."""
    return {(key, r): 1 + sum(other > value for other in values.values())
            for (_, r), values in _combined_by_point(graph).items() for key, value in values.items()}


# -- figures -------------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _placeholder(title: str, message: str) -> Figure:
    fig = _figure(7, 2.5)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=12)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="0.35", wrap=True)
    return fig


def plot_space(graph: nx.DiGraph) -> Figure:
    """Heat map of the subspace over rounds (see the module docstring)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    rounds = sorted(graph.graph["sizes"])
    rows = [(graph.nodes[key]["label"], key) for key in ordered_nodes(graph)]
    if not rows or not rounds:
        return _placeholder("How the search space changed", "no round has started yet")
    relative, ranks = relative_scores(graph), _ranks(graph)
    values = np.full((len(rows), len(rounds)), np.nan)
    for i, (_, key) in enumerate(rows):
        for j, r in enumerate(rounds):
            values[i, j] = relative.get((key, r), np.nan)

    fig = _figure(max(7.0, 3.6 + 1.3 * len(rounds)), 1.6 + 0.3 * len(rows))
    ax = fig.add_subplot()
    cmap = ListedColormap(_red_yellow_green(256)).with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    unscored = pruned = False
    for i, (_, key) in enumerate(rows):
        data = graph.nodes[key]
        for j, r in enumerate(rounds):
            if r not in data["rounds"]:
                continue
            within = data["scores"].get(r, {})
            if np.isnan(values[i, j]) and data["died"] == r and within.get("probability") is not None:
                # left within the round (branch learning): its probability, not a score
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.7", edgecolor="none"))
                pruned = True
                ax.text(j, i, f"p={within['probability']:.2f}", ha="center", va="center", fontsize=7)
            elif np.isnan(values[i, j]):  # active, not scored yet: the round has not finished
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.85", edgecolor="none"))
                unscored = True
                ax.text(j, i, "active", ha="center", va="center", fontsize=7, color="0.3")
            else:
                ax.text(j, i, f"#{ranks[(key, r)]}", ha="center", va="center", fontsize=8)
            if data["died"] == r:
                ax.add_patch(Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, edgecolor="black", lw=1.8,
                                       linestyle="--"))
    ax.set_xticks(range(len(rounds)), [f"round {r}\n{_compact(graph.graph['sizes'][r])} archs" for r in rounds])
    ax.xaxis.tick_top()
    names = [graph.nodes[key]["op"] for _, key in rows]  # the names every other output uses (glossary in the report)
    ax.set_yticks(range(len(rows)), names, fontsize=9)
    ax.tick_params(length=0)
    offset = -(14 + 5.2 * max(map(len, names)))  # points: clear of the longest operator name at 9 pt
    start = 0
    for label in graph.graph["labels"]:
        count = sum(1 for row_label, _ in rows if row_label == label)
        if count == 0:
            continue
        if start:
            ax.axhline(start - 0.5, color="0.2", lw=1.2)
        ax.annotate(label, xy=(0, start + (count - 1) / 2), xycoords=("axes fraction", "data"),
                    xytext=(offset, 0), textcoords="offset points", ha="right", va="center", fontsize=10,
                    fontweight="bold")
        start += count
    ax.annotate("choice point", xy=(0, 1), xycoords="axes fraction", xytext=(offset, 8), textcoords="offset points",
                ha="right", va="bottom", fontsize=9, color="0.3")
    colorbar = fig.colorbar(image, ax=ax, shrink=min(1.0, 6 / max(len(rows), 1) + 0.3), pad=0.02)
    colorbar.set_label("combined score at its choice point\n(1 = best active operator, 0 = worst)")
    if graph.graph["finished"]:
        final = f", final subspace {final_size(graph):,} architectures"
    else:
        final = f"; NOT finished: round {max(rounds)} is running or was interrupted"
    fig.suptitle(f"How the search space changed (space {graph.graph['space']}{final})\n#n = the operator's rank "
                 f"at its choice point in that round (#1 = best)", fontsize=10)
    handles = [Line2D([], [], color="black", lw=1.8, linestyle="--", label="removed at the end of the round"),
               Patch(facecolor="white", edgecolor="0.6", label="not active in that round")]
    if unscored:
        handles.append(Patch(facecolor="0.85", label="active, not scored yet"))
    if pruned:
        handles.append(Patch(facecolor="0.7", label="left within the round (branch probability p)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=len(handles), fontsize=8,
              frameon=False)
    return fig


def _compact(count: int) -> str:
    """``1,234`` up to a million, then ``28.4M`` / ``3.1G`` (column headers stay narrow)."""
    for size, suffix in ((10**9, "G"), (10**6, "M")):
        if count >= size:
            return f"{count / size:.1f}{suffix}"
    return f"{count:,}"


def _red_yellow_green(n: int):
    """RdYlGn without its darkest ends, so that black cell text stays readable."""
    from matplotlib import colormaps

    return colormaps["RdYlGn"](np.linspace(0.1, 0.9, n))


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#a6761d", "#e6ab02")  # tab10, then ochre and gold: 12 colours, markers tell twins apart
_MARKERS = ("o", "s", "^", "D", "v", "<", ">", "p", "h", "*")


def _op_styles(graph: nx.DiGraph) -> dict[str, tuple[str, str]]:
    """A (colour, marker) pair per operator, the same in every panel."""
    ops = sorted({data["op"] for data in graph.nodes.values()})
    return {op: (_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]) for i, op in enumerate(ops)}


def plot_op_scores(graph: nx.DiGraph, metric: str = "accuracy") -> Figure:
    """Each operator's ``metric`` score per round, one panel per choice point, removals marked ✕."""
    from matplotlib.lines import Line2D

    labels = graph.graph["labels"]
    if not any(data["scores"] for data in graph.nodes.values()):
        return _placeholder("Operator scores per round", "no round has finished yet, so no operator was scored")
    styles = _op_styles(graph)
    columns = min(3, len(labels))
    lines = math.ceil(len(labels) / columns)
    fig = _figure(4.2 * columns, 2.9 * lines + 1.4)
    axes = fig.subplots(lines, columns, squeeze=False, sharey=True)
    rounds = sorted(graph.graph["sizes"])
    for ax, label in zip(axes.flat, labels):
        for key in ordered_nodes(graph):
            data = graph.nodes[key]
            if data["label"] != label:
                continue
            points = [(r, s[metric]) for r, s in data["scores"].items() if s.get(metric) is not None]
            if not points:
                continue
            xs, ys = zip(*points)
            colour, marker = styles[data["op"]]
            ax.plot(xs, ys, color=colour, marker=marker, ms=6, lw=1.6)
            y = data["scores"].get(data["died"], {}).get(metric) if data["died"] is not None else None
            if y is not None:  # an operator pruned within a round (branch learning) has no score there
                ax.plot([data["died"]], [y], marker=marker, color=colour, ms=13, markeredgecolor="black")
                ax.plot([data["died"]], [y], "x", color="black", ms=7, mew=1.8)
        ax.set_title(f"choice point {label}", fontsize=10)
        ax.set_xticks(rounds)
        ax.set_xlim(min(rounds) - 0.3, max(rounds) + 0.3)
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{metric} score")
    for ax in list(axes.flat)[len(labels):]:
        ax.set_axis_off()
    used = sorted({data["op"] for data in graph.nodes.values() if data["scores"]})
    handles = [Line2D([], [], color=styles[op][0], marker=styles[op][1], lw=1.6, label=op) for op in used]
    handles.append(Line2D([], [], color="black", marker="x", lw=0, ms=8, mew=1.8, label="removed after this round"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(5, len(handles)), fontsize=9, frameon=False)
    fig.suptitle(f"Operator scores per round: mean {metric} of the supernet's architectures that use the "
                 f"operator\n(each round scores with that round's supernet: compare operators within a round, "
                 f"not values across rounds)", fontsize=11)
    return fig


def plot_fitness(run: Run) -> Figure:
    """The population's first objective per generation (best, mean, min–max), rounds side by side."""
    objective = run.space.config.search.objectives[0]
    rows = [m for m in run.metrics if m.get("kind") == "generation" and isinstance(m.get(objective), dict)]
    title = f"Population {objective} per generation"
    if not rows:
        return _placeholder(title, "no generation has been evaluated yet")
    fig = _figure(9, 4.2)
    ax = fig.add_subplot()
    x = list(range(len(rows)))
    stats = {key: [row[objective][key] for row in rows] for key in ("max", "mean", "min")}
    top = max(stats["max"])
    starts = [i for i, row in enumerate(rows) if i == 0 or row["round"] != rows[i - 1]["round"]]
    for n, (begin, end) in enumerate(zip(starts, starts[1:] + [len(rows)])):
        part = slice(begin, end)
        first = n == 0
        ax.fill_between(x[part], stats["min"][part], stats["max"][part], color="tab:blue", alpha=0.15,
                        label="population min–max" if first else None)
        ax.plot(x[part], stats["mean"][part], color="tab:blue", lw=1.5, label="population mean" if first else None)
        ax.plot(x[part], stats["max"][part], color="tab:green", lw=2, marker="o", ms=3,
                label="best individual" if first else None)
        if begin:
            ax.axvline(begin - 0.5, color="0.4", lw=1, linestyle="--")
        ax.text(begin, top, f" round {rows[begin]['round']}", va="bottom", ha="left", fontsize=9, color="0.25")
    ax.set_xticks(x, [str(row["gen"]) for row in rows], fontsize=8)
    ax.set_xlabel("generation within the round")
    ax.set_ylabel(f"supernet {objective}" + (" (validation)" if objective == "accuracy" else ""))
    ax.set_ylim(top=top + 0.08 * (top - min(stats["min"]) or 1.0))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(f"{title} across rounds\n(between rounds the space changes and the supernet trains further, "
                 f"so values jump at the dashed lines)",
                 fontsize=11)
    return fig


def plot_front(run: Run, round_index: int | None = None) -> Figure:
    """The first objective against params and FLOPs for one finished round (default: the last one): the population,
    its trade-off line against each cost, and the architectures the search kept as its best."""
    finished = run.store.round_indices()
    if not finished:
        return _placeholder("The best against size", "no round has finished yet, so there is no population to show")
    if round_index is not None and round_index not in finished:
        return _placeholder(f"The best against size, round {round_index}",
                            f"round {round_index} has not finished: its population is known when it ends")
    index = finished[-1] if round_index is None else round_index
    info = run.round(index)
    objective = run.space.config.search.objectives[0]
    population = [row["metrics"] for row in info.population]
    front = [row["metrics"] for row in info.front]
    limits = run.space.config.search.constraints
    fig = _figure(11, 4.6)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, cost, limit in zip(axes, ("params", "flops"), (limits.max_params, limits.max_flops)):
        everyone = population + front
        pareto = _pareto(everyone, objective, cost)
        ax.scatter([m[cost] for m in population], [m[objective] for m in population], s=22, color="0.6",
                   label=f"population after round {index}")
        ax.step([m[cost] for m in pareto], [m[objective] for m in pareto], where="post", color="tab:orange", lw=1.8,
                marker="o", ms=5, label=f"trade-off line: no other is both smaller and higher in {objective}")
        ax.scatter([m[cost] for m in front], [m[objective] for m in front], s=150, marker="*", color="tab:red",
                   edgecolor="black", zorder=3, label="kept by the search as its best (seeds the next round)")
        best = max(front or population, key=lambda m: m[objective])
        ax.annotate(f"best: {objective} {best[objective]:.3f},\n{int(best[cost]):,} {_COST_WORDS[cost]}",
                    (best[cost], best[objective]), xytext=(-14, -22), textcoords="offset points", ha="right",
                    va="top", fontsize=8, bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"},
                    arrowprops={"arrowstyle": "-", "color": "0.5"})
        if limit is not None:
            ax.axvline(limit, color="tab:red", linestyle=":", lw=1.2, label=f"limit: {limit:,} {_COST_WORDS[cost]}")
        ax.xaxis.set_major_formatter(_thousands())
        ax.set_xlabel(_COST_WORDS[cost] + (" per sample" if cost == "flops" else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"supernet {objective}")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Round {index}: {objective} against size ({len(population)} architectures of the final "
                 f"population, {len(front)} kept as the best)", fontsize=11)
    return fig


_COST_WORDS = {"params": "parameters", "flops": "FLOPs"}


def _pareto(metrics: list[dict], objective: str, cost: str) -> list[dict]:
    """Rows no other row beats on both ``objective`` (higher) and ``cost`` (lower), by increasing cost."""
    best = -math.inf
    out = []
    for row in sorted(metrics, key=lambda m: (m[cost], -m[objective])):
        if row[objective] > best:
            out.append(row)
            best = row[objective]
    return out


def _thousands():
    from matplotlib.ticker import FuncFormatter

    def fmt(value: float, _position) -> str:
        if abs(value) >= 1e6:
            return f"{value / 1e6:g}M"
        return f"{value / 1e3:g}k" if abs(value) >= 1e3 else f"{value:g}"

    return FuncFormatter(fmt)


def draw_figures(run: Run, graph: nx.DiGraph, round_index: int | None = None) -> dict[str, bytes]:
    """PNG bytes of every figure in :data:`FIGURES`; ``round_index`` picks the round of the ``front`` figure."""
    metric = parse_score(run.space.config.search.shrink.score)[0]  # the metric the run ranked operators by
    figures = {"space": plot_space(graph), "scores": plot_op_scores(graph, metric), "fitness": plot_fitness(run),
               "front": plot_front(run, round_index)}
    out = {}
    for name, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        out[name] = buffer.getvalue()
    return out


def write_pngs(run: Run, graph: nx.DiGraph, directory: Path, round_index: int | None = None) -> list[Path]:
    """Write ``space.png``, ``scores.png``, ``fitness.png`` and ``front.png`` into ``directory``."""
    paths = []
    for name, data in draw_figures(run, graph, round_index).items():
        path = Path(directory) / f"{name}.png"
        atomic_write(path, data)
        paths.append(path)
    return paths


# -- HTML ----------------------------------------------------------------------------------------------
_CAPTIONS = {
    "space": "Which operators were active at each choice point in each round. The colour and the rank compare "
             "an operator with the others at the same choice point in the same round (combined score: "
             "{score}); a dashed outline means the operator was removed when that round ended.",
    "scores": "Each operator's {metric} score per round: the mean {metric} of the supernet's architectures that "
              "contain it.",
    "fitness": "The evolving population inside each round's subspace: its best individual, mean and range of "
               "{objective}.",
    "front": "{objective} against size for the last population of the round: the line links the architectures that "
             "no other beats on both {objective} and size; the stars are those the search kept as its best.",
}
_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.gone { outline: 2px dashed #222; outline-offset: -3px; }
tr.group td { border-top: 2px solid #555; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; max-width: 900px; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
.state { padding: 0.5em 1em; background: #eef6ee; border-left: 4px solid #3a3; }
.state.open { background: #fff4e0; border-left-color: #e90; }
"""


def write_html(run: Run, graph: nx.DiGraph, path: Path, round_index: int | None = None) -> Path:
    """One self-contained HTML file: run facts, the four figures (embedded PNG), tables and the config.

    It holds no external reference (images are ``data:`` URIs, the style is inline), so it opens offline.
    """
    images = draw_figures(run, graph, round_index)
    g = graph.graph
    score = run.space.config.search.shrink.score
    parts = [f"<h1>evospace run: {_e(g['space'])}</h1>",
             f"<p class=\"state{'' if g['finished'] else ' open'}\"><b>{_e(run_state(run, graph))}</b></p>",
             _facts(run, graph), _best(run)]
    metric = parse_score(score)[0]
    objective = run.space.config.search.objectives[0]
    titles = {"space": "How the space changed", "scores": f"Operator scores ({metric})",
              "fitness": f"Population fitness ({objective})", "front": f"The best against size ({objective})"}
    for name in FIGURES:
        data = base64.b64encode(images[name]).decode()
        caption = _CAPTIONS[name].format(score=score, metric=metric, objective=objective)
        parts.append(f"<h2>{titles[name]}</h2><figure><img alt=\"{titles[name]}\" src=\"data:image/png;base64,"
                     f"{data}\"><figcaption>{_e(caption)}</figcaption></figure>")
    parts += [_space_table(graph, score), _lineage_table(graph),
              f"<h2>Operator names</h2><p>{_e(OP_GLOSSARY)}.</p>",
              f"<h2>Configuration (run.yaml)</h2><pre>{_e(run.store.run_yaml.read_text())}</pre>"]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>evospace run {_e(g['space'])}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    atomic_write(path, page.encode())
    return Path(path)


def _e(text: object) -> str:
    return html.escape(str(text))


def _facts(run: Run, graph: nx.DiGraph) -> str:
    g, record = graph.graph, run.record
    started = record.get("versions") or {}
    versions = ", ".join(f"{k} {v}" for k, v in started.items())
    later = sorted({e["version"] for e in run.events if e.get("event") == "resumed" and e.get("version")}
                   - {started.get("evospace")})
    if later:  # the rest of the run was another version's search
        versions += f"; resumed under evospace {', '.join(later)}"
    rows = [("run directory", run.path), ("created", record.get("created", "")), ("seed", record.get("seed", "")),
            ("versions", versions), ("choice points", f"{len(g['labels'])} ({', '.join(g['labels'])})"),
            ("pool", ", ".join(run.space.pool)),
            ("rounds", f"{g['rounds_started']} started, {g['rounds_finished']} finished, {g['rounds_total']} planned")]
    if g["finished"]:
        rows.append(("final subspace", f"{final_size(graph):,} architectures"))
    if g.get("few_shot"):
        rows.append(("few-shot splits", "; ".join(
            f"round {r}: {', '.join(split['labels'])} into {len(split['owners'])} sub-supernets × {split['epochs']} "
            f"epoch(s)" for r, split in sorted(g["few_shot"].items()))))
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _best(run: Run) -> str:
    best = run.best
    if not best:
        return "<h2>Best architecture</h2><p>None yet: no round has finished.</p>"
    m = best["metrics"]
    rows = "".join(f"<tr><td>{_e(label)}</td><td><code>{_e(op)}</code></td><td>{_e(readable_op(op))}</td>"
                   f"<td class=num>{run.space.op_cost(label, op).params:,}</td></tr>"
                   for label, op in best["arch"].items())
    return (f"<h2>Best architecture (round {best.get('round', '?')})</h2><p>supernet accuracy "
            f"<b>{m['accuracy']:.3f}</b>, {int(m['params']):,} parameters, {int(m['flops']):,} FLOPs per sample "
            f"(stem and head included).</p><table><tr><th>choice point</th><th>operator</th><th>what it is</th>"
            f"<th>parameters</th></tr>{rows}</table>")


def _space_table(graph: nx.DiGraph, score: str) -> str:
    from matplotlib import colors

    cmap = colors.ListedColormap(_red_yellow_green(256))
    relative = relative_scores(graph)
    rounds = sorted(graph.graph["sizes"])
    head = "".join(f"<th>round {r}<br>{graph.graph['sizes'][r]:,} archs</th>" for r in rounds)
    body, previous = [], None
    for key in ordered_nodes(graph):
        data = graph.nodes[key]
        cells = []
        for r in rounds:
            if r not in data["rounds"]:
                cells.append("<td></td>")
                continue
            s = data["scores"].get(r)
            if not s:
                cells.append("<td class=num style=\"background:#ddd\">active</td>")
                continue
            hover = ", ".join(f"{k} {v:.4g}" for k, v in s.items() if v is not None)
            colour = colors.to_hex(cmap(relative.get((key, r), 1.0)))
            gone = " gone" if data["died"] == r else ""
            cells.append(f"<td class=\"num{gone}\" style=\"background:{colour}\" title=\"{_e(hover)}\">"
                         f"{s.get('combined', float('nan')):.3g}</td>")
        group = " class=group" if data["label"] != previous else ""
        label = _e(data["label"]) if data["label"] != previous else ""
        previous = data["label"]
        body.append(f"<tr{group}><td><b>{label}</b></td><td><code>{_e(data['op'])}</code></td>"
                    f"<td class=num>{data['params']:,}</td><td class=num>{data['flops']:,}</td>{''.join(cells)}</tr>")
    return (f"<h2>Subspace per round</h2><p>Cells: the operator's combined score in that round ({_e(score)}; "
            f"higher is better; hover for angle and accuracy). Dashed outline: removed at the end of the round. "
            f"Blank: not active.</p><table><tr><th>choice point</th><th>operator</th><th>parameters</th>"
            f"<th>FLOPs</th>{head}</tr>{''.join(body)}</table>")


def _lineage_table(graph: nx.DiGraph) -> str:
    rows = []
    for r in sorted(set(graph.graph["sizes"]) | {d["born"] for d in graph.nodes.values()}):
        for key in entered(graph, r):
            d = graph.nodes[key]
            rows.append(f"<tr><td>start of round {r}</td><td>entered</td><td>{_e(d['label'])}</td>"
                        f"<td><code>{_e(d['op'])}</code></td><td>{_e(d['added'] or '')}</td></tr>")
        for key in removed(graph, r):
            d = graph.nodes[key]
            s = d["scores"].get(r, {})
            why = ", ".join(f"{k} {v:.3g}" for k, v in s.items() if v is not None)
            rows.append(f"<tr><td>end of round {r}</td><td>removed</td><td>{_e(d['label'])}</td>"
                        f"<td><code>{_e(d['op'])}</code></td><td>{_e(d['removed'] or '')}: {_e(why)}</td></tr>")
    return ("<h2>Lineage</h2><p>Who entered and left the space, when, and the scores behind each removal.</p>"
            "<table><tr><th>when</th><th>what</th><th>choice point</th><th>operator</th><th>why</th></tr>"
            + "".join(rows) + "</table>")
