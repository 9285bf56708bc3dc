"""evospace: neural architecture search that evolves its own search space.

Public API (everything else may change)::

    space = evospace.load_space("spaces/mnist1d.yaml", ["search.rounds=2"])
    result = evospace.Search(space, "runs/demo").run()
    run = evospace.Run.open("runs/demo")
    model = evospace.build_model(space, result.best["arch"])

Your own problem: ``register_dataset(name, factory)`` (a space's ``data.name``), ``register_objective(name, fn,
direction)`` (``search.objectives`` and ``search.constraints``), ``Search(..., callbacks=[...])``, and
``export_run`` / ``retrain`` for the architectures found. Messages go to ``logging.getLogger("evospace")``,
which the library leaves unconfigured (the command line sends it to stderr).

Under ``torchrun`` the same script runs on every process: ``Search`` joins the process group from the
launcher's environment (or pass ``group=evospace.join_group(device, timeout)``); only rank 0 writes.
"""

import logging

from evospace.data import DataInfo, DataRequest, register_dataset
from evospace.distributed import DistributedError, Group
from evospace.distributed import group as join_group
from evospace.errors import DataError, EvospaceError, Interrupted, RunError, SpaceError
from evospace.evolve import Callback, ObjectiveContext, Search, SearchResult
from evospace.inspect import export_run, resolve_arch, retrain
from evospace.run import Run
from evospace.space import (
    Arch,
    ChoicePoint,
    SearchSpace,
    Subspace,
    create_op,
    list_ops,
    load_space,
    register_objective,
    register_op,
)
from evospace.supernet import Supernet, build_model
from evospace.version import __version__

__all__ = [
    "Arch",
    "Callback",
    "DataInfo",
    "DataRequest",
    "ObjectiveContext",
    "export_run",
    "register_dataset",
    "register_objective",
    "resolve_arch",
    "retrain",
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

logging.getLogger("evospace").addHandler(logging.NullHandler())  # a library configures no output of its own
