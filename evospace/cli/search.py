"""The ``evospace`` command. Every user error is one line on stderr and exit status 2, never a traceback.

Each subcommand is a function ``cmd_NAME(args) -> int`` registered with :func:`command`; the parser is
built from the registry, so a new subcommand is one decorated function.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from evospace.errors import EvospaceError

__all__ = ["main", "command"]

DEFAULT_SPACE = "spaces/mnist1d.yaml"

_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {}


def command(name: str, help: str) -> Callable:
    """Register ``cmd_NAME``: the decorated function receives parsed args; ``.arguments`` adds options."""

    def decorator(run: Callable[[argparse.Namespace], int]):
        def arguments(setup: Callable[[argparse.ArgumentParser], None]):
            _COMMANDS[name] = (setup, run, help)
            return setup

        run.arguments = arguments
        _COMMANDS[name] = (lambda p: None, run, help)
        return run

    return decorator


def _space_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any space key, e.g. --set search.epochs_per_round=1 (repeatable)")


def _load_space(path: str, overrides: list[str]):
    from evospace.space import load_space

    return load_space(path, overrides)


# -- search ---------------------------------------------------------------------------------------
@command("search", "run a search: train the supernet, evolve and reshape the space, write runs/NAME")
def cmd_search(args: argparse.Namespace) -> int:
    from evospace.evolve.controller import Search

    overrides = list(args.overrides)
    if args.rounds is not None:
        overrides.append(f"search.rounds={args.rounds}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    space = _load_space(args.space, overrides)
    out = args.out or f"runs/{space.name}"
    oracle = spec = None
    if args.oracle:
        from evospace.evolve.controller import load_oracle

        spec = {"table": str(Path(args.oracle).resolve()), "budget": args.budget}
        oracle = load_oracle(spec, space)
    elif args.budget is not None:
        raise EvospaceError("--budget counts oracle queries: it needs --oracle TABLE.csv")
    search = Search(space, out, device=args.device, progress=not args.quiet, log=_info, oracle=oracle,
                    oracle_spec=spec, group=_join(args))
    if search.group.is_main:
        _info(f"searching {space.name}: {len(space.labels)} choice points, pool of {len(space.pool)}, "
          f"{space.initial_subspace().size:,} architectures in round 0 → {out}"
              + (f" on {search.group.world} processes" if search.group.distributed else ""))
    return _finish(search.run(), search.group.is_main)


@cmd_search.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", nargs="?", default=DEFAULT_SPACE, help=f"space file (default {DEFAULT_SPACE})")
    p.add_argument("--out", help="run directory (default runs/<space name>)")
    p.add_argument("--rounds", type=int, help="number of rounds (search.rounds)")
    p.add_argument("--seed", type=int, help="seed of the run (seed)")
    p.add_argument("--oracle", metavar="TABLE.csv", help="score with a tabular benchmark instead of a supernet "
                   "(e.g. bench/data/nb201_cifar10.csv with spaces/nb201.yaml)")
    p.add_argument("--budget", type=int, help="with --oracle: stop after this many distinct queried architectures")
    _device_args(p)
    _space_args(p)


def _device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto: CUDA when present; "
                   "under torchrun each process takes cuda:LOCAL_RANK)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--dist-timeout", type=float, metavar="SECONDS", help="under torchrun: how long a process waits "
                   "for the others before it gives up (default 600, or $EVOSPACE_DIST_TIMEOUT)")


def _join(args: argparse.Namespace):
    """The process group (torchrun) or a group of one; left again when the command ends."""
    from evospace.distributed import group

    if args.dist_timeout is not None and args.dist_timeout <= 0:
        raise EvospaceError("--dist-timeout: expected a positive number of seconds")
    return group(args.device, args.dist_timeout)


def _finish(result, main: bool = True) -> int:
    if not main:
        return 0
    best = result.best
    _info(f"done after {result.rounds} rounds ({result.stop_reason}); final subspace: {result.subspace.size:,} "
          f"architectures")
    if best:
        m = best["metrics"]
        source = "table" if result.oracle else "supernet"
        angle = f"angle {m['angle']:.3f} rad, " if m.get("angle") else ""
        _info(f"best: {json.dumps(best['arch'])}  {angle}{source} accuracy {m['accuracy']:.3f}, "
              f"{int(m['params']):,} params, {int(m['flops']):,} FLOPs")
    _info(f"run directory: {result.path}  (inspect it with: evospace inspect {result.path})")
    return 0


@command("resume", "continue an interrupted run from its newest valid checkpoint")
def cmd_resume(args: argparse.Namespace) -> int:
    from evospace.evolve.controller import Search

    search = Search.resume(args.run, device=args.device, progress=not args.quiet, log=_info, group=_join(args))
    if search.finished:
        search.run()  # returns at once, releasing the run
        search.log(f"{args.run} is already finished; nothing to resume")
        return 0
    return _finish(search.run(), search.group.is_main)


@cmd_resume.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory, e.g. runs/mnist1d")
    _device_args(p)


@command("status", "print a run's round, step, subspace size, best so far and whether it is finished")
def cmd_status(args: argparse.Namespace) -> int:
    import time

    from evospace.run.run import Run

    run = Run.open(args.run)
    while True:
        status = run.status()
        if args.json:
            print(json.dumps(status))
        else:
            print(_status_line(status), flush=True)
        if not args.watch or status["finished"]:
            return 0
        time.sleep(args.interval)


def _status_line(s: dict) -> str:
    if s["finished"]:
        state = "finished"
    elif s["current_round"] is None:
        state = "not started"
    else:
        step = f", step {s['step']}" if s["step"] is not None else ""
        state = f"round {s['current_round'] + 1}/{s['rounds_total']}{step} (running or interrupted)"
    best = ""
    if s["best"]:
        best = (f"; best accuracy {s['best']['metrics']['accuracy']:.3f} "
                f"({int(s['best']['params']):,} params)")
    size = f"; subspace {s['subspace_size']:,} architectures" if s["subspace_size"] else ""
    return f"{s['path']}: {s['space']}, {s['rounds_done']} rounds done, {state}{size}{best}"


@cmd_status.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--watch", action="store_true", help="refresh until the run finishes")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes with --watch")


@command("validate", "check a space file and print what it describes")
def cmd_validate(args: argparse.Namespace) -> int:
    space = _load_space(args.space, args.overrides)
    initial = space.initial_subspace()
    print(f"{args.space}: ok — space {space.name!r}, {len(space.labels)} choice points "
          f"({', '.join(space.labels)}), pool of {len(space.pool)}, {initial.size:,} architectures in round 0, "
          f"{space.full_subspace().size:,} in the whole pool")
    return 0


@cmd_validate.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", help="space file")
    _space_args(p)


# -- entry point ----------------------------------------------------------------------------------
def _info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    _import_commands()
    parser = argparse.ArgumentParser(prog="evospace", description="Neural architecture search that evolves "
                                     "its own search space.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (setup, run, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        setup(p)
        p.set_defaults(command_handler=run)  # not `run`: subcommands take a positional RUN
    return parser


def _import_commands() -> None:
    """Subcommands that live in their own modules register themselves on import."""
    import importlib

    for module in ("evospace.metrics.groundtruth_cli", "evospace.inspect.cli", "evospace.inspect.export_cli"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    failed = True
    try:
        status = int(args.command_handler(args) or 0)
        failed = False
        return status
    except EvospaceError as err:
        from evospace.distributed import MirroredError
        from evospace.evolve.controller import Interrupted

        failed = not isinstance(err, (Interrupted, MirroredError))  # those stop every rank at the same point
        rank = int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
        if not isinstance(err, MirroredError):  # rank 0 has already said it
            print(f"evospace {args.command}{f' (rank {rank})' if rank else ''}: {err}", file=sys.stderr)
        return 130 if isinstance(err, Interrupted) else 2
    except KeyboardInterrupt:
        print(f"evospace {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        if "evospace.distributed" in sys.modules:
            from evospace.distributed import leave

            leave(wait=not failed)  # after a failure the peers may be gone: do not wait for them


if __name__ == "__main__":
    sys.exit(main())
