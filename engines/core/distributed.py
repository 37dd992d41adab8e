"""Several processes training one Θ (``torchrun``): who am I, my share of the work, and the collectives.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is the identity: rank 0
of a world of 1, no process group, no communication. Backends: gloo on the CPU, nccl on CUDA.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranks:
    """This process's ``rank`` among ``world_size`` processes (0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, count: int) -> slice:
        """This rank's contiguous share of ``range(count)`` (the first ``count % world_size`` ranks get one more)."""
        base, extra = divmod(count, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))


def current_ranks() -> Ranks:
    """The ranks of the initialised process group, or ``Ranks()`` when there is none."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def init_from_environment(device: torch.device) -> Ranks:
    """Join the process group that ``torchrun`` describes in the environment (a no-op without it).

    gloo on the CPU, nccl on CUDA (each rank then uses GPU ``LOCAL_RANK``). Returns this process's ranks.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return current_ranks()
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build; run without torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    ranks = current_ranks()
    logger.info("rank %d of %d joined the %s process group", ranks.rank, ranks.world_size, backend)
    return ranks


def shutdown() -> None:
    """Leave the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(value: float, weight: float = 1.0) -> float:
    """The ``weight``-weighted mean of ``value`` over all ranks (``value`` itself in a world of 1)."""
    if current_ranks().world_size == 1:
        return value
    totals = torch.tensor([value * weight, weight], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(totals)
    return float(totals[0] / totals[1])


def gather_rows(tensor: Tensor) -> Tensor:
    """All ranks' ``n_r x ...`` tensors concatenated in rank order (every rank gets the whole; rows may differ)."""
    ranks = current_ranks()
    if ranks.world_size == 1:
        return tensor
    device = _collective_device()
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(ranks.world_size)]
    dist.all_gather(sizes, torch.tensor([len(tensor)], device=device))
    longest = int(max(size.item() for size in sizes))
    padded = torch.zeros(longest, *tensor.shape[1:], dtype=tensor.dtype, device=device)
    padded[: len(tensor)] = tensor.to(device)
    pieces = [torch.empty_like(padded) for _ in range(ranks.world_size)]
    dist.all_gather(pieces, padded)
    return torch.cat([piece[: int(size.item())] for piece, size in zip(pieces, sizes)]).to(tensor.device)


def barrier() -> None:
    if current_ranks().world_size > 1:
        dist.barrier()


def _collective_device() -> torch.device:
    """nccl communicates CUDA tensors, gloo CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
