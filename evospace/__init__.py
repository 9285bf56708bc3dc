"""evospace: neural architecture search that evolves its own search space.

Public API (everything else may change)::

    space = evospace.load_space("spaces/mnist1d.yaml", ["search.rounds=2"])
    result = evospace.Search(space, "runs/demo").run()
    run = evospace.Run.open("runs/demo")
    model = evospace.build_model(space, result.best["arch"])

Under ``torchrun`` the same script runs on every process: ``Search`` joins the process group from the
launcher's environment (or pass ``group=evospace.join_group(device, timeout)``); only rank 0 writes.
"""

from evospace.distributed import DistributedError, Group
from evospace.distributed import group as join_group
from evospace.errors import DataError, EvospaceError, Interrupted, RunError, SpaceError
from evospace.evolve import Search, SearchResult
from evospace.run import Run
from evospace.space import (
    Arch,
    ChoicePoint,
    SearchSpace,
    Subspace,
    create_op,
    list_ops,
    load_space,
    register_op,
)
from evospace.supernet import Supernet, build_model
from evospace.version import __version__

__all__ = [
    "Arch",
    "ChoicePoint",
    "DataError",
    "DistributedError",
    "EvospaceError",
    "Group",
    "Interrupted",
    "Run",
    "RunError",
    "Search",
    "SearchResult",
    "SearchSpace",
    "SpaceError",
    "Subspace",
    "Supernet",
    "build_model",
    "create_op",
    "join_group",
    "list_ops",
    "load_space",
    "register_op",
    "__version__",
]
