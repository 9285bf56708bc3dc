"""evospace: neural architecture search that evolves its own search space.

Public API (everything else may change)::

    space = evospace.load_space("spaces/mnist1d.yaml", ["search.rounds=2"])
    result = evospace.Search(space, "runs/demo").run()
    run = evospace.Run.open("runs/demo")
    model = evospace.build_model(space, result.best["arch"])

Under ``torchrun`` the same script runs on every process: ``Search`` joins the process group from the
launcher's environment (or pass ``group=evospace.join_group(device, timeout)``); only rank 0 writes.
"""

__version__ = "0.1.0"

from evospace.distributed import DistributedError, Group  # noqa: E402
from evospace.distributed import group as join_group  # noqa: E402
from evospace.errors import DataError, EvospaceError, RunError, SpaceError  # noqa: E402
from evospace.evolve.controller import Interrupted, Search, SearchResult  # noqa: E402
from evospace.run.run import Run  # noqa: E402
from evospace.space import (  # noqa: E402
    Arch,
    ChoicePoint,
    SearchSpace,
    Subspace,
    create_op,
    list_ops,
    load_space,
    register_op,
)
from evospace.supernet.supernet import Supernet, build_model  # noqa: E402

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
