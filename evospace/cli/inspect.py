"""``evospace inspect`` and ``evospace diff``: what happened to a run's space, as text, graph files, plots or HTML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evospace.cli.parser import command, info
from evospace.errors import EvospaceError, closest
from evospace.inspect.graph import GRAPH_FORMATS, cell_dot, export_graph, lineage_graph, round_subgraph
from evospace.inspect.report import run_state, write_html, write_pngs
from evospace.inspect.text import render_diff, render_round, render_run
from evospace.run.run import Run
from evospace.run.store import atomic_write
from evospace.space.cells import cell_topology

__all__ = ["cmd_inspect", "cmd_diff", "FORMATS"]

FORMATS = ("text", "json", "graphml", "gexf", "dot", "png", "html")
_EXTENSIONS = {"json": "json", "graphml": "graphml", "gexf": "gexf", "dot": "dot", "text": "txt"}


@command("inspect", "show how a run's space changed: subspace per round, lineage, graph files, plots, HTML report")
def cmd_inspect(args: argparse.Namespace) -> int:
    fmt = _check_format(args.format)
    run = Run.open(args.run)
    graph = lineage_graph(run)
    sub = round_subgraph(graph, args.round) if args.round is not None else None  # also checks the round exists
    if fmt == "text":
        text = render_run(run, graph) if sub is None else render_round(run, graph, args.round)
        _write_text(text, args.out, run, default=None)
        return 0
    if not graph.graph["finished"]:
        info(f"note: {run.path} is {run_state(run, graph)}")
    if fmt in GRAPH_FORMATS:
        name = "lineage" if sub is None else f"round-{args.round:03d}"
        _write_text(export_graph(graph if sub is None else sub, fmt), args.out, run,
                    default=f"{name}.{_EXTENSIONS[fmt]}")
        skeleton = run.space.config.skeleton
        if fmt == "dot" and skeleton.kind == "cell" and run.best and args.out is None:
            dot = cell_dot(run.best["arch"], cell_topology(skeleton), f"best cell of {run.space.name}")
            _write_text(dot, None, run, default="best-cell.dot")
    elif fmt == "png":
        directory = Path(args.out) if args.out else run.path / "inspect"
        for path in write_pngs(run, graph, directory, args.round):
            info(f"wrote {path}")
    else:
        path = write_html(run, graph, Path(args.out) if args.out else run.path / "inspect" / "report.html", args.round)
        info(f"wrote {path} (self-contained: open it in any browser)")
    return 0


@cmd_inspect.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory, e.g. runs/mnist1d")
    p.add_argument("--round", type=int, metavar="R",
                   help="one round only (0 = the first, as in rounds/000): its subspace, or its graph; for png "
                        "and html, the round of the accuracy-against-size plot")
    p.add_argument("--format", default="text", metavar="FORMAT",
                   help=f"{' | '.join(FORMATS)} (default text). text prints; json, graphml, gexf and dot write "
                        f"the networkx graph; png writes four figures; html one self-contained report")
    p.add_argument("--out", metavar="PATH",
                   help="where to write (default: stdout for text; RUN/inspect/ for the others; '-' for stdout "
                        "with text, json, graphml, gexf and dot); for png a directory")


@command("diff", "print which operators entered and left a run's space between two rounds")
def cmd_diff(args: argparse.Namespace) -> int:
    run = Run.open(args.run)
    print(render_diff(lineage_graph(run), args.first, args.second), end="")
    return 0


@cmd_diff.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("first", type=int, help="earlier round (0 = the first)")
    p.add_argument("second", type=int, help="later round")


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise EvospaceError(f"unknown --format {fmt!r}{closest(fmt, FORMATS)}; expected one of {', '.join(FORMATS)}")
    return fmt


def _write_text(text: str, out: str | None, run, default: str | None) -> None:
    if out == "-" or (out is None and default is None):
        sys.stdout.write(text)
        return
    path = Path(out) if out else run.path / "inspect" / default
    atomic_write(path, text.encode())
    info(f"wrote {path}")
