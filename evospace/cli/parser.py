"""The ``evospace`` command's frame: the command registry, shared options, and :func:`main`.

Each subcommand is a function ``cmd_NAME(args) -> int`` registered with :func:`command` in the module of its
group (``cli/search.py``, ``cli/inspect.py``, ``cli/export.py``, ``cli/groundtruth.py``); the parser is built
from the registry, so a new subcommand is one decorated function. Every user error is one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from evospace.distributed import Group, MirroredError, leave
from evospace.distributed import group as join_group
from evospace.errors import EvospaceError, Interrupted

__all__ = ["main", "build_parser", "command", "info", "space_args", "device_args", "join"]

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


def info(message: str) -> None:
    """A status line for people: on stderr, so that stdout stays the command's output."""
    print(message, file=sys.stderr, flush=True)


def space_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any space key, e.g. --set search.epochs_per_round=1 (repeatable)")


def device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto: CUDA when present; "
                   "under torchrun each process takes cuda:LOCAL_RANK)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--dist-timeout", type=float, metavar="SECONDS", help="under torchrun: how long a process waits "
                   "for the others before it gives up (default 600, or $EVOSPACE_DIST_TIMEOUT)")


def join(args: argparse.Namespace) -> Group:
    """The process group (torchrun) or a group of one; left again when the command ends."""
    if args.dist_timeout is not None and args.dist_timeout <= 0:
        raise EvospaceError("--dist-timeout: expected a positive number of seconds")
    return join_group(args.device, args.dist_timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evospace", description="Neural architecture search that evolves "
                                     "its own search space.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (setup, run, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        setup(p)
        p.set_defaults(command_handler=run)  # not `run`: subcommands take a positional RUN
    return parser


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
        leave(wait=not failed)  # after a failure the peers may be gone: do not wait for them
