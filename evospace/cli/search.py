"""``evospace search``, ``resume``, ``status`` and ``validate``: running a search and watching it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from evospace.bench import load_oracle
from evospace.cli.parser import command, device_args, info, join, space_args
from evospace.errors import EvospaceError
from evospace.evolve.controller import Search, SearchResult
from evospace.run.events import round_name
from evospace.run.run import Run
from evospace.space import load_space

__all__ = ["cmd_search", "cmd_resume", "cmd_status", "cmd_validate", "DEFAULT_SPACE"]

DEFAULT_SPACE = "spaces/mnist1d.yaml"


# -- search ---------------------------------------------------------------------------------------
@command("search", "run a search: train the supernet, evolve and reshape the space, write runs/NAME")
def cmd_search(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.rounds is not None:
        overrides.append(f"search.rounds={args.rounds}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    space = load_space(args.space, overrides)
    out = args.out or f"runs/{space.name}"
    backend = None
    if args.oracle:
        spec = {"table": str(Path(args.oracle).resolve()), "budget": args.budget}
        if args.oracle_dataset is not None:
            spec["dataset"] = args.oracle_dataset
        backend = load_oracle(spec, space)
    elif args.budget is not None:
        raise EvospaceError("--budget counts oracle queries: it needs --oracle TABLE.csv")
    elif args.oracle_dataset is not None:
        raise EvospaceError("--oracle-dataset chooses a table's accuracy columns: it needs --oracle TABLE.csv")
    search = Search(space, out, device=args.device, progress=not args.quiet, log=info, backend=backend,
                    group=join(args), workers=args.workers)
    if search.group.is_main:
        info(f"searching {space.name}: {len(space.labels)} choice points, pool of {len(space.pool)}, "
             f"{space.initial_subspace().size:,} architectures in round 0 → {out}"
             + (f" on {search.group.world} processes" if search.group.distributed else ""))
    return _finish(search.run(), search.group.is_main, space.config.search.objectives[0])


@cmd_search.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", nargs="?", default=DEFAULT_SPACE, help=f"space file (default {DEFAULT_SPACE})")
    p.add_argument("--out", help="run directory (default runs/<space name>)")
    p.add_argument("--rounds", type=int, help="number of rounds (search.rounds)")
    p.add_argument("--seed", type=int, help="seed of the run (seed)")
    p.add_argument("--oracle", metavar="TABLE.csv", help="score with a tabular benchmark instead of a supernet "
                   "(e.g. bench/data/nb201_cifar10.csv with spaces/nb201.yaml)")
    p.add_argument("--budget", type=int, help="with --oracle: stop after this many distinct queried architectures")
    p.add_argument("--oracle-dataset", metavar="D", help="with --oracle: search on the table's D_valid column and "
                   "report its D_test (default: its only pair, or the space's data.name)")
    device_args(p)
    space_args(p)


def _finish(result: SearchResult, main: bool = True, objective: str | None = None) -> int:
    if not main:
        return 0
    best = result.best
    info(f"done after {result.rounds} rounds ({result.stop_reason}); final subspace: {result.subspace.size:,} "
         f"architectures")
    if best:
        m = best["metrics"]
        source = "table" if result.oracle else "supernet"
        angle = f"angle {m['angle']:.3f} rad, " if m.get("angle") else ""
        first = objective or "accuracy"
        by = f" by {first} {m[first]:.3f}" if first != "accuracy" and first in m else ""
        info(f"best{by}: {json.dumps(best['arch'])}  {angle}{source} accuracy {m['accuracy']:.3f}, "
             f"{int(m['params']):,} params, {int(m['flops']):,} FLOPs")
    info(f"run directory: {result.path}  (inspect it with: evospace inspect {result.path})")
    return 0


@command("resume", "continue an interrupted run from its newest valid checkpoint")
def cmd_resume(args: argparse.Namespace) -> int:
    search = Search.resume(args.run, device=args.device, progress=not args.quiet, log=info, group=join(args),
                           load_oracle=load_oracle, workers=args.workers)
    if search.finished:
        search.run()  # returns at once, releasing the run
        search.log(f"{args.run} is already finished; nothing to resume")
        return 0
    return _finish(search.run(), search.group.is_main, search.space.config.search.objectives[0])


@cmd_resume.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory, e.g. runs/mnist1d")
    device_args(p)


@command("status", "print a run's round, step, subspace size, best so far and whether it is finished")
def cmd_status(args: argparse.Namespace) -> int:
    run = Run.open(args.run)
    while True:
        status = run.status()
        if args.json:
            print(json.dumps(status))
        else:
            print(_status_line(status), flush=True)
        if not args.watch or status["finished"] or status["running"] is False:  # nothing more will change
            return 0
        time.sleep(args.interval)


def _status_line(s: dict) -> str:
    if s["finished"]:
        state = "finished"
    else:
        where = "not started" if s["current_round"] is None else round_name(s["current_round"], s["rounds_total"])
        step = f", step {s['step']}" if s["step"] is not None else ""
        how = {True: "running", False: f"interrupted: no process holds it; continue with `evospace resume "
                                       f"{s['path']}`",
               None: "running or interrupted"}[s["running"]]
        state = f"{where}{step} ({how})"
    best = ""
    if s["best"]:
        metrics = s["best"]["metrics"]
        chosen = s["objective"]
        by = f" by {chosen} {metrics[chosen]:.3f}" if chosen != "accuracy" and chosen in metrics else ""
        accuracy = (f", {s['scored_by']} accuracy {metrics['accuracy']:.3f}" if "accuracy" in metrics else "")
        note = " (shared weights, not trained alone)" if s["scored_by"] == "supernet" else ""
        best = f"; best{by}{accuracy}{note if accuracy else ''}, {int(s['best']['params']):,} params"
    size = f"; subspace {s['subspace_size']:,} architectures" if s["subspace_size"] else ""
    return f"{s['path']}: {s['space']}, {s['rounds_done']} rounds done, {state}{size}{best}"


@cmd_status.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--watch", action="store_true", help="refresh until the run finishes or no process runs it")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes with --watch")


@command("validate", "check a space file and print what it describes")
def cmd_validate(args: argparse.Namespace) -> int:
    space = load_space(args.space, args.overrides)
    initial = space.initial_subspace()
    print(f"{args.space}: ok — space {space.name!r}, {len(space.labels)} choice points "
          f"({', '.join(space.labels)}), pool of {len(space.pool)}, {initial.size:,} architectures in round 0, "
          f"{space.full_subspace().size:,} in the whole pool")
    return 0


@cmd_validate.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", help="space file")
    space_args(p)
