"""Runs across processes under ``torchrun``: one process group, identical decisions, rank 0 the only writer.

Every rank holds the whole supernet and makes every decision itself from the run's seeded streams, so
ranks agree without being told: they sample the same path each step, draw the same population, shrink
and grow the same way. What is split is the work:

- training: each rank takes its slice of the global batch (``data.batch_size`` is unchanged by the
  number of processes) and gradients are averaged across ranks before clipping and the optimizer step;
- scoring: the architectures a generation needs are dealt out round-robin, each rank evaluates its
  share and the metrics are gathered in the original order.

Gradients are averaged by one flattened all-reduce over the parameters the step touched, not by wrapping
the supernet in ``DistributedDataParallel``: a single-path supernet leaves a different set of parameters
unused at every step, which DDP only handles with ``find_unused_parameters`` (an extra graph traversal per
step), and FairNAS steps accumulate several paths before one reduction, which DDP's hooks would reduce
path by path. The arithmetic is the same as DDP's: the mean of the ranks' gradients.

Batch-norm statistics stay per rank while training (each rank normalises its own slice; CPU has no
``SyncBatchNorm``, and the cost on GPUs is a collective per BN layer per step). Scores do not depend on it:
an architecture's BN statistics are always recalibrated on the same full-size batches before it is
evaluated, whichever rank evaluates it.

Every collective has a timeout (``--dist-timeout``, default 600 s); a rank that dies or hangs makes the
others stop with :class:`DistributedError` instead of waiting for ever. Without a launcher, :func:`group`
returns a group of one whose collectives are no-ops, and the same code runs unchanged.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from evospace.device import resolve_device
from evospace.errors import EvospaceError, RunError

__all__ = ["Group", "group", "leave", "on_main", "digest", "check_batch_split", "DistributedError", "MirroredError",
           "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 600.0
T = TypeVar("T")


class DistributedError(RunError):
    """A collective failed: another rank died, hung past the timeout, or disagrees on a decision."""


class MirroredError(EvospaceError):
    """Rank 0's error, raised again on the other ranks so that every rank stops (rank 0 reports it)."""


@dataclass
class Group:
    """The processes of one run; a group of one when there is no launcher.

    Attributes:
        rank: this process's rank (0 writes the run directory).
        world: number of processes.
        local_rank: rank on this machine (picks the GPU).
        timeout: seconds any collective may wait.
        hint: appended to every :class:`DistributedError` (e.g. how to resume the run).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    timeout: float = DEFAULT_TIMEOUT
    backend: str | None = None
    hint: str = ""

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, name: str) -> torch.device:
        """The device this rank computes on: ``auto`` and ``cuda`` become ``cuda:LOCAL_RANK`` under a launcher."""
        device = resolve_device(name)
        if device.type == "cuda" and self.distributed and device.index is None:
            device = torch.device("cuda", self.local_rank)
        return device

    # -- collectives -------------------------------------------------------------------------------
    def _fail(self, what: str, err: BaseException) -> DistributedError:
        text = re.sub(r"\[[^\]]*\.(?:cc|cpp|h):\d+\]\s*", "", str(err)).strip()  # gloo's source locations
        first = text.splitlines()[0].split(". ")[0] if text else err.__class__.__name__
        return DistributedError(
            f"rank {self.rank} of {self.world}: lost contact with the other ranks during {what} ({first}); "
            f"a rank died, or hung for more than {self.timeout:g} s (--dist-timeout). Stopping; the run "
            f"directory holds the last complete snapshot{self.hint}")

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (RuntimeError, dist.DistBackendError, ConnectionError) as err:
            raise self._fail(what, err) from None

    def all_reduce_grads(self, params: Sequence[torch.Tensor]) -> None:
        """Replace every present gradient by its mean over the ranks (one flattened all-reduce)."""
        if not self.distributed:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        self._call("gradient averaging", dist.all_reduce, flat)
        flat.div_(self.world)
        for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
            grad.copy_(synced)

    def sum(self, values: Sequence[float], what: str = "a reduction") -> list[float]:
        """Element-wise sum over the ranks (in float64 on the CPU: exact for counts)."""
        if not self.distributed:
            return [float(v) for v in values]
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._comm_device())
        self._call(what, dist.all_reduce, tensor)
        return tensor.tolist()

    def any(self, flag: bool, what: str = "a stop check") -> bool:
        """Whether any rank passed ``True``: every rank gets the same answer, so all stop at the same step."""
        return self.sum([1.0 if flag else 0.0], what)[0] > 0 if self.distributed else flag

    def broadcast(self, value: T, what: str = "a broadcast") -> T:
        """Rank 0's ``value`` on every rank; plain JSON data (floats survive exactly: ``repr`` round-trips)."""
        if not self.distributed:
            return value
        data = json.dumps(value).encode() if self.is_main else b""
        return json.loads(self.broadcast_bytes(data, what))

    def broadcast_bytes(self, data: bytes, what: str = "a broadcast") -> bytes:
        """Rank 0's bytes on every rank (objects travel as JSON or safetensors bytes, never as pickles)."""
        if not self.distributed:
            return data
        device = self._comm_device()
        size = torch.tensor([len(data) if self.is_main else 0], dtype=torch.int64, device=device)
        self._call(what, dist.broadcast, size, src=0)
        if self.is_main:
            buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device) if data else \
                torch.empty(0, dtype=torch.uint8, device=device)
        else:
            buffer = torch.empty(int(size), dtype=torch.uint8, device=device)
        if int(size):
            self._call(what, dist.broadcast, buffer, src=0)
        return data if self.is_main else bytes(buffer.cpu().numpy())

    def all_gather(self, value: T, what: str = "a gather") -> list[T]:
        """Every rank's ``value`` (plain JSON data), in rank order, on every rank."""
        if not self.distributed:
            return [value]
        device = self._comm_device()
        data = json.dumps(value).encode()
        sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(self.world)]
        self._call(what, dist.all_gather, sizes, torch.tensor([len(data)], dtype=torch.int64, device=device))
        longest = max(int(s) for s in sizes)
        mine = torch.zeros(longest, dtype=torch.uint8, device=device)
        if data:
            mine[:len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
        parts = [torch.empty(longest, dtype=torch.uint8, device=device) for _ in range(self.world)]
        self._call(what, dist.all_gather, parts, mine)
        return [json.loads(bytes(p[:int(s)].cpu().numpy())) for p, s in zip(parts, sizes)]

    def broadcast_tensors(self, tensors: Sequence[torch.Tensor], what: str = "a broadcast") -> None:
        """Overwrite ``tensors`` with rank 0's (e.g. BN running statistics, which drift apart per rank)."""
        if not self.distributed or not tensors:
            return
        floats = [t for t in tensors if t.is_floating_point()]
        others = [t for t in tensors if not t.is_floating_point()]
        for group in (floats, others):
            if group:
                flat = _flatten_dense_tensors(group)
                self._call(what, dist.broadcast, flat, src=0)
                for t, synced in zip(group, _unflatten_dense_tensors(flat, group)):
                    t.copy_(synced)

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: every ``world``-th one starting at ``rank`` (balanced within one)."""
        return list(items[self.rank::self.world])

    def unshard(self, mine: list[T], total: int, what: str = "gathering results") -> list[T]:
        """Put every rank's :meth:`shard` results back in the original order of ``total`` items."""
        if not self.distributed:
            return mine
        parts = self.all_gather(mine, what)
        out: list[Any] = [None] * total
        for rank, part in enumerate(parts):
            out[rank::self.world] = part
        return out

    def check_agree(self, what: str, payload: bytes | str) -> None:
        """Fail on every rank at once if this rank's ``payload`` differs from rank 0's.

        Rank 0's checksum is broadcast and compared everywhere; the verdict is reduced so that every rank
        raises together (a rank that carried on alone would hang in its next collective).
        """
        if not self.distributed:
            return
        data = payload.encode() if isinstance(payload, str) else payload
        mine = hashlib.sha256(data).hexdigest()
        reference = self.broadcast(mine, f"checking {what}")
        if self.any(mine != reference, f"checking {what}"):
            digests = self.all_gather(mine, f"checking {what}")
            differ = [r for r, d in enumerate(digests) if d != reference]
            raise DistributedError(
                f"rank {self.rank} of {self.world}: ranks disagree on {what} (checksum {reference[:12]} on rank 0, "
                f"different on rank(s) {', '.join(map(str, differ))}). Stopping before anything of it is written; "
                f"this is a bug (or ranks run different versions of evospace/torch): please report it{self.hint}")

    def barrier(self, what: str = "a barrier") -> None:
        if self.distributed:
            self._call(what, dist.barrier)

    def close(self, wait: bool = True) -> None:
        """Leave the process group once the run is over.

        With ``wait`` every rank first waits for the others (a short-timeout barrier): a rank that tears its
        connections down while a peer is still finishing its last collective can make gloo abort the peer.
        """
        if self.distributed:
            global _GROUP
            if dist.is_initialized():
                if wait:
                    try:
                        if self.backend == "gloo":
                            dist.monitored_barrier(timeout=datetime.timedelta(seconds=min(self.timeout, 60)))
                        else:
                            dist.barrier()
                    except (RuntimeError, dist.DistBackendError):
                        pass
                dist.destroy_process_group()
            _GROUP = None

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")


def group(device: str = "auto", timeout: float | None = None) -> Group:
    """The process group of this run: joined from torchrun's environment, or a group of one.

    ``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; NCCL is
    used when the run computes on CUDA, gloo otherwise. Calling it again returns the group already joined.

    Raises:
        EvospaceError: the launcher's environment is incomplete, or the rendezvous fails.
    """
    global _GROUP
    if _GROUP is not None:
        return _GROUP
    world = int(os.environ.get("WORLD_SIZE", "1"))
    seconds = float(timeout if timeout is not None else os.environ.get("EVOSPACE_DIST_TIMEOUT", DEFAULT_TIMEOUT))
    if world <= 1:
        return Group(timeout=seconds)
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise EvospaceError(f"WORLD_SIZE={world} but {', '.join(missing)} unset: launch multi-process runs with "
                            f"torchrun, e.g. `torchrun --nproc_per_node={world} -m evospace search SPACE`")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    probe = Group(rank, world, local_rank, seconds)
    use_cuda = probe.device(device).type == "cuda"
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
    except (RuntimeError, ValueError, dist.DistBackendError) as err:
        raise EvospaceError(f"rank {rank}: could not join the process group ({str(err).splitlines()[0]}); check "
                            f"torchrun's --rdzv-endpoint / MASTER_ADDR:MASTER_PORT and that every node can reach "
                            f"it") from None
    _GROUP = Group(rank, world, local_rank, seconds, backend)
    return _GROUP


def on_main(group: Group, fn: Callable[[], T], what: str, share: bool = True) -> T | None:
    """Run ``fn`` on rank 0 only; the other ranks get its result (plain JSON data) or raise its error.

    For what only one process may do (reading or changing the run directory). With ``share=False`` the
    others get ``None``: only the outcome is shared.
    """
    if not group.distributed:
        return fn()
    if group.is_main:
        try:
            value = fn()
        except Exception as err:
            message = str(err) if isinstance(err, EvospaceError) else f"rank 0 failed while {what}: {err!r}"
            group.broadcast({"error": message}, what)
            raise
        group.broadcast({"value": value if share else None}, what)
        return value
    reply = group.broadcast(None, what)
    if "error" in reply:
        raise MirroredError(reply["error"])
    return reply["value"]


def digest(tensors: Iterable[torch.Tensor]) -> bytes:
    """SHA-256 of the tensors' bytes, in order (for the ranks' agreement checks)."""
    out = hashlib.sha256()
    for tensor in tensors:
        out.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return out.digest()


def check_batch_split(batch_size: int, world: int, source: str | None = None, key: str = "data.batch_size") -> None:
    """Refuse a global batch that does not split evenly over the processes.

    Args:
        key: the setting that holds ``batch_size`` (``search.train.batch_size`` when the supernet has its own).

    Raises:
        EvospaceError: naming ``source`` (the space file, if given), ``key`` and the fix.
    """
    if batch_size % world:
        where = f"{source}: " if source else ""
        raise EvospaceError(f"{where}{key} {batch_size} does not split over {world} processes (the "
                            f"global batch stays {batch_size} whatever their number); choose a multiple of {world} "
                            f"with --set {key}=N")


def leave(wait: bool = True) -> None:
    """Leave the process group joined by :func:`group`, if any (at the end of a command; see :meth:`Group.close`)."""
    if _GROUP is not None:
        _GROUP.close(wait)


_GROUP: Group | None = None
