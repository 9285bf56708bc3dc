"""``evospace inspect`` and ``evospace diff``: what happened to a run's space, as text, graph files, plots or HTML."""

from __future__ import annotations

import argparse
import sys

from evospace.cli.parser import command, info
from evospace.errors import EvospaceError, closest
from evospace.inspect.graph import GRAPH_FORMATS, cell_dot, export_graph, lineage_graph, round_subgraph
from evospace.inspect.report import run_state, write_html, write_pngs
from evospace.inspect.text import render_diff, render_round, render_run
from evospace.paths import output_dir, output_file
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
    name = run.path.resolve().name
    if fmt in GRAPH_FORMATS:
        part = "lineage" if sub is None else f"round-{args.round:03d}"
        _write_text(export_graph(graph if sub is None else sub, fmt), args.out, run,
                    default=f"{name}-{part}.{_EXTENSIONS[fmt]}")
        skeleton = run.space.config.skeleton
        if fmt == "dot" and skeleton.kind == "cell" and run.best and args.out is None:
            dot = cell_dot(run.best["arch"], cell_topology(skeleton), f"best cell of {run.space.name}")
            _write_text(dot, None, run, default=f"{name}-best-cell.dot")
    elif fmt == "png":
        if args.out == "-":
            raise EvospaceError("--format png writes four files: give a directory with --out, not '-'")
        directory = output_dir(args.out if args.out else f"{name}-figures")
        for path in write_pngs(run, graph, directory, args.round):
            info(f"wrote {path}")
    else:
        if args.out == "-":
            raise EvospaceError("--format html writes a file: give its name with --out, not '-'")
        path = write_html(run, graph, output_file(args.out if args.out else f"{name}-report.html",
                                                  example="report.html"), args.round)
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
                   help="where to write (default: stdout for text; for the others a file or a directory named after "
                        "the run in the current directory, e.g. demo-report.html, demo-figures/; '-' for stdout "
                        "with text, json, graphml, gexf and dot); for png a directory. Nothing is written into the "
                        "run directory")


@command("diff", "print which operators entered and left a run's space between two rounds")
def cmd_diff(args: argparse.Namespace) -> int:
    run = Run.open(args.run)
    second = _round_or_final(args.second)
    print(render_diff(lineage_graph(run), _round_or_final(args.first, final=False), second), end="")
    return 0


@cmd_diff.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("first", help="earlier round (0 = the first, as in rounds/000)")
    p.add_argument("second", help="later round, or 'final': the subspace the run ended with (or, unfinished, "
                                  "the one its last finished round chose)")


def _round_or_final(text: str, final: bool = True) -> int | str:
    if final and text == "final":
        return "final"
    try:
        return int(text)
    except ValueError:
        expected = "a round number or 'final'" if final else "a round number"
        raise EvospaceError(f"expected {expected}, got {text!r}") from None


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise EvospaceError(f"unknown --format {fmt!r}{closest(fmt, FORMATS)}; expected one of {', '.join(FORMATS)}")
    return fmt


def _write_text(text: str, out: str | None, run, default: str | None) -> None:
    if out == "-" or (out is None and default is None):
        sys.stdout.write(text)
        return
    path = output_file(out if out else default, example=default or "out.txt")
    atomic_write(path, text.encode())
    info(f"wrote {path}")
