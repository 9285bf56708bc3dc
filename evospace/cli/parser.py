"""The ``evospace`` command's frame: the command registry, shared options, and :func:`main`.

Each subcommand is a function ``cmd_NAME(args) -> int`` registered with :func:`command` in the module of its
group (``cli/search.py``, ``cli/inspect.py``, ``cli/export.py``, ``cli/groundtruth.py``); the parser is built
from the registry, so a new subcommand is one decorated function. Every user error is one line on stderr and
exit status 2, never a traceback.

Messages go through ``logging.getLogger("evospace")``: :func:`main` sends that logger to stderr (a library user
configures it as they like). ``--import MODULE_OR_FILE`` runs the user's code that registers data sets and
objectives before the command, so a run searched on them can be resumed, inspected and exported from here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from evospace.distributed import Group, MirroredError, leave
from evospace.distributed import group as join_group
from evospace.errors import EvospaceError, Interrupted
from evospace.user_code import import_user_code
from evospace.version import __version__

__all__ = ["main", "build_parser", "command", "info", "space_args", "device_args", "workers_arg", "join"]

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


logger = logging.getLogger("evospace")


def info(message: str) -> None:
    """A status line for people, through the ``evospace`` logger (on stderr, so that stdout stays the output)."""
    logger.info(message)


def space_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any space key, e.g. --set search.epochs_per_round=1 (repeatable)")


def device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto: CUDA when present; "
                   "under torchrun each process takes cuda:LOCAL_RANK)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    workers_arg(p)
    p.add_argument("--dist-timeout", type=float, metavar="SECONDS", help="under torchrun: how long a process waits "
                   "for the others before it gives up (default 600, or $EVOSPACE_DIST_TIMEOUT)")


def workers_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, metavar="N", help="DataLoader worker processes gathering training batches "
                   "(default: none on the CPU or for small data; up to 4 on a GPU for a training split above 256 MiB;"
                   " 0 keeps the training split on the device); results do not depend on it")


def join(args: argparse.Namespace) -> Group:
    """The process group (torchrun) or a group of one; left again when the command ends."""
    if args.dist_timeout is not None and args.dist_timeout <= 0:
        raise EvospaceError("--dist-timeout: expected a positive number of seconds")
    return join_group(args.device, args.dist_timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evospace", description="Neural architecture search that evolves "
                                     "its own search space.")
    parser.add_argument("--version", action="version", version=f"evospace {__version__}")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE|FILE.py",
                        help="import Python code first, e.g. one that calls evospace.register_dataset or "
                             "register_objective (repeatable; a module name is looked up from the current directory)")
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
    handler = _log_to_stderr()
    try:
        for name in args.imports:
            import_user_code(name)
        status = int(args.command_handler(args) or 0)
        failed = False
        return status
    except EvospaceError as err:
        failed = not isinstance(err, (Interrupted, MirroredError))  # those stop every rank at the same point
        rank = int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
        if not isinstance(err, MirroredError):  # rank 0 has already said it
            _say(f"evospace {args.command}{f' (rank {rank})' if rank else ''}: {err}")
        if isinstance(err, Interrupted):
            return 128 + err.signum if err.signum else 130  # the shell's convention: 143 for SIGTERM
        return 2
    except KeyboardInterrupt:
        _say(f"evospace {args.command}: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:
        if err.filename is None:  # not about a path the user can look at: a bug, keep its traceback
            raise
        _say(f"evospace {args.command}: {err.filename}: {err.strerror or err}")
        return 2
    finally:
        logger.removeHandler(handler)
        leave(wait=not failed)  # after a failure the peers may be gone: do not wait for them


def _say(line: str) -> None:
    """An error as one line on stderr: on a terminal, from the start of a cleared line, so that it never lands on
    a progress bar or an echoed ^C."""
    line = " ".join(line.splitlines())  # a value quoted from user input may hold a newline: still one line
    start = "\r\x1b[K" if sys.stderr.isatty() else ""
    print(f"{start}{line}", file=sys.stderr)


def _log_to_stderr() -> logging.Handler:
    """The command line's log: INFO and above from the ``evospace`` logger, as bare lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return handler
