"""Search spaces: YAML schema, operator registry, subspaces."""

from evospace.space.branches import EMPTY, BranchBounds, branch_key, split_branches
from evospace.space.ops import OpCost, create_op, list_ops, op_cost, parse_op, register_op
from evospace.space.schema import SpaceConfig
from evospace.space.space import ChoicePoint, SearchSpace, load_space, space_from_dict
from evospace.space.subspace import Arch, InactiveOpError, Subspace, SubspaceDiff

__all__ = [
    "EMPTY",
    "Arch",
    "BranchBounds",
    "ChoicePoint",
    "InactiveOpError",
    "OpCost",
    "SearchSpace",
    "SpaceConfig",
    "Subspace",
    "SubspaceDiff",
    "branch_key",
    "create_op",
    "list_ops",
    "load_space",
    "op_cost",
    "parse_op",
    "register_op",
    "space_from_dict",
    "split_branches",
]
