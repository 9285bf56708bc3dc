"""Train one round of a supernet and score it, in however many processes torchrun starts; rank 0 writes JSON.

    torchrun --standalone --nproc_per_node=N tests/distributed/figures_worker.py SPACE.yaml OUT.json [--seed S]

Written: the angle and supernet accuracy of every architecture of the initial subspace, and the operator
scores the controller would shrink by, so that runs on different numbers of processes can be compared.
"""

from __future__ import annotations

import argparse
import json

import torch

from evospace.data import load_data
from evospace.distributed import group as join_group
from evospace.evolve import SupernetBackend
from evospace.run import numpy_stream
from evospace.space import load_space


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("space")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    group = join_group("cpu", timeout=120)
    space = load_space(args.space, [f"seed={args.seed}"])
    cfg = space.config.data
    data = load_data(cfg.name, val_fraction=cfg.val_fraction, samples=cfg.samples, split_seed=space.config.seed)
    backend = SupernetBackend(space, data, torch.device("cpu"), group)
    trainer = backend.make_trainer(0)
    losses = []
    while not trainer.done:
        losses.append(trainer.train_epoch().loss)
    backend.after_training(trainer)
    scorer = backend.scorer(0)
    subspace = backend.subspace
    archs = [subspace.decode(row) for row in subspace.all_indices()]
    metrics = scorer.evaluate_all(archs)  # accuracy too (the default space computes it for the front only)
    ops = scorer.op_scores(numpy_stream(space.config.seed, "op-scores", 0), ("angle", "accuracy"))
    if group.is_main:
        with open(args.out, "w") as f:
            json.dump({"processes": group.world, "losses": losses,
                       "angle": [m["angle"] for m in metrics], "accuracy": [m["accuracy"] for m in metrics],
                       "ops": ops, "evaluated": scorer.evaluated}, f)
    group.close()


if __name__ == "__main__":
    main()
