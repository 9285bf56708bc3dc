"""``evospace export`` and ``evospace train``: from a finished search to stand-alone, trained models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evospace.cli.parser import command, info, workers_arg
from evospace.errors import Interrupted
from evospace.inspect.export import export_run, resolve_arch, retrain
from evospace.inspect.formats import FORMATS
from evospace.paths import output_dir
from evospace.run.run import Run
from evospace.space import load_space
from evospace.supernet.standalone import RETRAIN_EPOCHS, usual_shift

__all__ = ["cmd_export", "cmd_train"]


@command("export", "write arch.json and a self-contained model.py for the best architectures of a run")
def cmd_export(args: argparse.Namespace) -> int:
    run = Run.open(args.run)
    out = output_dir(args.out) if args.out else run.path / "export"
    directories = export_run(run, args.top, out, formats=_formats(args))
    first = run.space.config.search.objectives[0]
    if not run.finished:
        info(f"note: {run.path} is not finished; these come from its last finished round")
    for directory in directories:
        record = json.loads((directory / "arch.json").read_text())
        metrics = record["metrics"]  # the population's lack what no objective needed (accuracy, by default)
        score = (f"supernet accuracy {metrics['accuracy']:.3f}" if "accuracy" in metrics
                 else f"{first} {metrics[first]:.3f}")
        print(f"{directory}: {json.dumps(record['arch'])}  {record['params']:,} params, {record['flops']:,} FLOPs, "
              f"{score} (from the {record['source']})")
    if len(directories) < args.top:
        info(f"the last round offers only {len(directories)} distinct architectures within the constraints")
    info(f"train one with: evospace train {directories[0] / 'arch.json'}")
    return 0


@cmd_export.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory, e.g. runs/mnist1d")
    p.add_argument("--top", type=int, default=3, help="how many architectures (default 3): the final front, "
                   "filled up from the final population by its first objective")
    p.add_argument("--out", help="output directory (default RUN/export); one subdirectory topN per architecture")
    format_args(p, "with its initial weights (to try the target device's runtime; `evospace train` writes trained "
                   "ones)")


def format_args(p: argparse.ArgumentParser, weights: str) -> None:
    p.add_argument("--onnx", action="store_true", help=f"also write model.onnx, {weights} (needs evospace[onnx])")
    p.add_argument("--torchscript", action="store_true", help=f"also write model.torchscript.pt, {weights}")


def _formats(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(name for name in FORMATS if getattr(args, name))


@command("train", "train an architecture from scratch (arch.json, or a run's best) and report test accuracy")
def cmd_train(args: argparse.Namespace) -> int:
    space = load_space(args.space) if args.space else None
    spec = resolve_arch(args.arch, space, args.overrides)
    source = Path(args.arch)
    out = output_dir(args.out if args.out else (source if source.is_dir() else source.parent) / "train" /
                     f"seed{args.seed}")
    epochs = args.epochs if args.epochs is not None else RETRAIN_EPOCHS
    shift = args.shift if args.shift is not None else usual_shift(spec.space.config.data.name)
    record = spec.record

    def announce(start_epoch: int) -> None:
        info(f"training {json.dumps(spec.arch)} ({record['params']:,} params, {record['flops']:,} FLOPs) of space "
              f"{spec.space.name!r}: {epochs} epochs, seed {args.seed}, random shifts ±{shift} → {out}"
              + (f"; continuing from epoch {start_epoch}" if start_epoch else ""))

    try:
        done = retrain(spec, out, epochs=epochs, seed=args.seed, max_shift=shift, device=args.device,
                       progress=not args.quiet, on_start=announce, formats=_formats(args), workers=args.workers)
    except KeyboardInterrupt:
        raise Interrupted(f"stopped; {out} holds the last finished epoch: run the same command again to "
                          f"continue from it") from None
    if done.already_done:
        info(f"{out} already holds this training, finished: nothing to do (choose another --out to train again)")
    r = done.result
    print(f"val accuracy {r['val_acc']:.4f}  test accuracy {r['test_acc']:.4f}  {r['params']:,} params  "
          f"{r['flops']:,} FLOPs  {r['seconds']:.0f} s training  → {out}")
    return 0


@cmd_train.arguments
def _(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", metavar="ARCH.json|RUN", help="an arch.json (from `evospace export`, or a run's "
                   "best/arch.json with --space), or a run directory (trains its best architecture)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the recipe's, see supernet/standalone.py)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights, data order and augmentation")
    p.add_argument("--shift", type=int, help="random-shift augmentation range (default: the data set's usual one)")
    p.add_argument("--out", help="output directory (default: next to ARCH.json, or in RUN: train/seedS); an "
                   "unfinished training there is continued")
    p.add_argument("--space", help="space file, for an arch.json that records only its space's name")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change the space for training, e.g. --set data.samples=20000 (repeatable)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto: CUDA when present)")
    workers_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    format_args(p, "with the trained weights")
