"""The weight-sharing supernet of a chain or cell skeleton, its training, and stand-alone models of one architecture."""

from __future__ import annotations

from evospace.supernet.bn import (
    batch_norms,
    recalibrated,
)
from evospace.supernet.branch_learning import (
    BranchLearner,
    Pruned,
    draw_set,
    expected_cost,
    inclusion,
    set_log_prob,
    size_law,
    two_sample_weights,
)
from evospace.supernet.cell import (
    Cell,
    CellHead,
    EdgeStack,
    Reduction,
    cell_edges,
    path_counts,
)
from evospace.supernet.precision import (
    Precision,
    place,
    precision_for,
)
from evospace.supernet.skeleton import (
    make_head,
    make_stem,
    module_key,
    seeded,
)
from evospace.supernet.standalone import (
    RETRAIN_EPOCHS,
    StandaloneResult,
    evaluate_top1,
    load_optimizer_tensors,
    optimizer_tensors,
    random_shift,
    train_standalone,
    usual_shift,
)
from evospace.supernet.sub_supernets import (
    Owner,
    SubSupernets,
    choose_split,
    disagreement,
    owner_subspace,
    owners_of,
    sub_space_keys,
    tensor_bytes,
    train_sub_supernet,
)
from evospace.supernet.supernet import (
    CellChildNet,
    ChildNet,
    MultiBranch,
    Supernet,
    build_model,
)
from evospace.supernet.train import (
    EpochFigures,
    RoundTrainer,
    catch_up_weights,
    cosine_lr,
    make_optimizer,
    sample_paths,
    train_step,
)

__all__ = [
    "BranchLearner",
    "Cell",
    "CellChildNet",
    "CellHead",
    "ChildNet",
    "EdgeStack",
    "EpochFigures",
    "MultiBranch",
    "Owner",
    "Precision",
    "Pruned",
    "RETRAIN_EPOCHS",
    "Reduction",
    "RoundTrainer",
    "StandaloneResult",
    "SubSupernets",
    "Supernet",
    "batch_norms",
    "build_model",
    "cell_edges",
    "choose_split",
    "cosine_lr",
    "disagreement",
    "draw_set",
    "evaluate_top1",
    "expected_cost",
    "inclusion",
    "load_optimizer_tensors",
    "make_head",
    "make_optimizer",
    "make_stem",
    "module_key",
    "optimizer_tensors",
    "owner_subspace",
    "owners_of",
    "path_counts",
    "place",
    "precision_for",
    "random_shift",
    "recalibrated",
    "sample_paths",
    "catch_up_weights",
    "seeded",
    "set_log_prob",
    "size_law",
    "sub_space_keys",
    "tensor_bytes",
    "train_standalone",
    "train_step",
    "train_sub_supernet",
    "two_sample_weights",
    "usual_shift",
]
