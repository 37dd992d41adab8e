"""Landscape learning: training the mapping network Θ (Algorithm 1 of Liu et al., 2023).

Each round, with Θ fixed, ``trajectories`` optimisation runs of ``steps`` steps start
from z0 = 0 (or, with ``random_starts``, from random z0, so that distinct starts stay distinct
hypotheses) on random training targets and every visited z_t goes into an
experience-replay buffer; then Θ takes ``updates_per_round`` AdamW steps on random
buffer samples, minimising L(F(Θ(z)), y). ``online=True`` is the ablation that
updates Θ after every z step instead. Rounds are checkpointed and resumable.

Everything runs on ``forward``'s device (Θ and the targets are moved there once; the replay buffer
stays on the CPU). Under ``torchrun`` (an initialised process group, see
:mod:`engines.core.distributed`) each rank collects its share of the trajectories into its own
buffer, Θ is wrapped in DistributedDataParallel so its gradients are averaged over ranks, and rank 0
writes the checkpoint, which holds every rank's buffer so that a run can resume with any world size.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from engines.core import distributed
from engines.core.device import module_device
from engines.core.losses import LossFn, get_loss
from engines.core.optim import invert, make_optimizer
from engines.io.checkpoint import flatten_optimizer_state, load_tensors, save_tensors, unflatten_optimizer_state

logger = logging.getLogger(__name__)

WeightSampler = Callable[[Tensor, torch.Generator], "Tensor | None"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Algorithm 1 settings (paper, faces: N=256, T=20, z Adam lr 0.1, Θ AdamW lr 1e-4, wd 0.1)."""

    rounds: int = 20
    trajectories: int = 256
    steps: int = 20
    z_lr: float = 0.1
    z_optimizer: str = "adam"
    mapping_lr: float = 1e-4
    weight_decay: float = 0.1
    updates_per_round: int = 100
    batch_size: int = 256
    buffer_rounds: int = 10
    online: bool = False
    loss: str = "mse"
    seed: int = 0
    random_starts: bool = False  # trajectories start from start_scale * N(0, I) instead of z0 = 0
    start_scale: float = 1.0
    zero_start_fraction: float = 0.0  # with random_starts: this share of the trajectories still starts at z0 = 0

    def __post_init__(self) -> None:
        if not self.start_scale > 0:
            raise ValueError("TrainConfig.start_scale must be positive")
        if not 0.0 <= self.zero_start_fraction <= 1.0:
            raise ValueError("TrainConfig.zero_start_fraction must be in [0, 1]")
        for name in ("rounds", "trajectories", "steps", "updates_per_round", "batch_size", "buffer_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1")
        if not (self.z_lr > 0 and self.mapping_lr > 0 and self.weight_decay >= 0):
            raise ValueError("learning rates must be positive and weight decay non-negative")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return cls(**data)


class ReplayBuffer:
    """Ring buffer of visited latents ``z`` with the index of their target (and optional weight)."""

    def __init__(self, capacity: int, z_dim: int, weight_shape: tuple[int, ...] | None = None):
        self.capacity = capacity
        self.z = torch.zeros(capacity, z_dim)
        self.target_index = torch.zeros(capacity, dtype=torch.long)
        self.weight = torch.zeros(capacity, *weight_shape) if weight_shape is not None else None
        self.size = 0
        self.cursor = 0

    def __len__(self) -> int:
        return self.size

    def add(self, z: Tensor, target_index: Tensor, weight: Tensor | None = None) -> None:
        """Append ``n x z_dim`` latents with their ``n`` target indices (oldest overwritten)."""
        positions = (self.cursor + torch.arange(len(z))) % self.capacity
        self.z[positions] = z.detach().cpu()
        self.target_index[positions] = target_index.cpu()
        if self.weight is not None and weight is not None:
            self.weight[positions] = weight.detach().cpu()
        self.cursor = int((self.cursor + len(z)) % self.capacity)
        self.size = min(self.size + len(z), self.capacity)

    def sample(self, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor | None]:
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        picks = torch.randint(self.size, (count,), generator=generator)
        weight = self.weight[picks] if self.weight is not None else None
        return self.z[picks], self.target_index[picks], weight

    def state(self) -> dict[str, Tensor]:
        tensors = {"buffer.z": self.z[: self.size], "buffer.target_index": self.target_index[: self.size]}
        if self.weight is not None:
            tensors["buffer.weight"] = self.weight[: self.size]
        tensors["buffer.cursor"] = torch.tensor([self.cursor])
        return tensors

    def load(self, tensors: dict[str, Tensor]) -> None:
        size = len(tensors["buffer.z"])
        self.z[:size] = tensors["buffer.z"]
        self.target_index[:size] = tensors["buffer.target_index"]
        if self.weight is not None and "buffer.weight" in tensors:
            self.weight[:size] = tensors["buffer.weight"]
        self.size, self.cursor = size, int(tensors["buffer.cursor"][0])


@dataclass(frozen=True)
class RoundStats:
    """What one round did: trajectory losses at the start and end, Θ's update loss, timing."""

    round: int
    trajectory_loss_start: float
    trajectory_loss_end: float
    update_loss: float
    buffer_size: int
    seconds: float


class MappingTrainer:
    """State of a Θ training run: Θ, its AdamW, the replay buffer and the sampling RNG."""

    def __init__(
        self,
        forward: nn.Module,
        targets: Tensor,
        mapping: nn.Module,
        config: TrainConfig,
        *,
        weight_sampler: WeightSampler | None = None,
        loss_fn: LossFn | None = None,
    ):
        if targets.shape[1:] != tuple(forward.output_shape):
            raise ValueError(f"targets have shape {tuple(targets.shape)}, expected N x {tuple(forward.output_shape)}")
        self.device = module_device(forward)
        self.ranks = distributed.current_ranks()
        self.forward, self.targets, self.config = forward, targets.to(self.device), config
        self.mapping = mapping.to(self.device)
        self.weight_sampler = weight_sampler
        self.loss_fn = loss_fn if loss_fn is not None else get_loss(config.loss)
        self.optimizer = torch.optim.AdamW(mapping.parameters(), lr=config.mapping_lr, weight_decay=config.weight_decay)
        self.generator = torch.Generator().manual_seed(config.seed)
        probe = weight_sampler(targets[:1].cpu(), torch.Generator().manual_seed(0)) if weight_sampler else None
        weight_shape = tuple(probe.shape[1:]) if probe is not None else None
        local_trajectories = len(range(config.trajectories)[self.ranks.shard(config.trajectories)])
        capacity = local_trajectories * config.steps * config.buffer_rounds
        self.buffer = ReplayBuffer(capacity, mapping.z_dim, weight_shape)
        self.round = 0
        forward.requires_grad_(False)
        self.trained = self._parallel(mapping) if self.ranks.world_size > 1 else mapping

    def _parallel(self, mapping: nn.Module) -> nn.Module:
        """Θ wrapped so that backward averages its gradients over ranks (rank 0's Θ is broadcast first)."""
        device_ids = [self.device] if self.device.type == "cuda" else None
        return DistributedDataParallel(mapping, device_ids=device_ids)

    @property
    def batch_size(self) -> int:
        """Replay samples per Θ update on this rank (the global batch is shared out over ranks)."""
        return max(1, -(-self.config.batch_size // self.ranks.world_size))

    def _sample_targets(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """This rank's share of the round's ``trajectories`` random targets (every rank draws them all)."""
        index = torch.randint(len(self.targets), (self.config.trajectories,), generator=self.generator)
        targets = self.targets[index.to(self.device)]
        weight = self.weight_sampler(targets.cpu(), self.generator).to(self.device) if self.weight_sampler else None
        mine = self.ranks.shard(self.config.trajectories)
        return index[mine], targets[mine], weight[mine] if weight is not None else None

    def _starts(self) -> Tensor | str:
        """This rank's z0: ``"zeros"``, or ``start_scale * N(0, I)`` drawn for all trajectories (every rank),
        the first ``zero_start_fraction`` of them set back to z0 = 0."""
        if not self.config.random_starts:
            return "zeros"
        shape = (self.config.trajectories, self.mapping.z_dim)
        starts = self.config.start_scale * torch.randn(shape, generator=self.generator)
        starts[: round(self.config.zero_start_fraction * self.config.trajectories)] = 0.0
        return starts[self.ranks.shard(self.config.trajectories)].to(self.device)

    def collect(self) -> tuple[float, float]:
        """Run N trajectories of T steps with Θ fixed; store z_1..z_T. Returns start/end mean loss."""
        index, targets, weight = self._sample_targets()
        starts = self._starts()
        self.mapping.requires_grad_(False)
        try:
            steps = invert(
                self.forward,
                targets,
                mapping=self.mapping,
                weight=weight,
                loss=self.loss_fn,
                optimizer=self.config.z_optimizer,
                lr=self.config.z_lr,
                steps=self.config.steps,
                z_init=starts,
                keep_output=False,
            )
            losses = []
            for step in steps:
                losses.append(float(step.losses.mean()))
                if step.index > 0:
                    self.buffer.add(step.z, index, weight)
        finally:
            self.mapping.requires_grad_(True)
        return distributed.mean_over_ranks(losses[0], len(index)), distributed.mean_over_ranks(losses[-1], len(index))

    def update(self) -> float:
        """``updates_per_round`` AdamW steps of Θ on random replay samples; returns the mean loss."""
        total = 0.0
        for _ in range(self.config.updates_per_round):
            z, index, weight = self.buffer.sample(self.batch_size, self.generator)
            z, index = z.to(self.device), index.to(self.device)
            weight = weight.to(self.device) if weight is not None else None
            loss = self.loss_fn(self.forward(self.trained(z)), self.targets[index], weight).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return distributed.mean_over_ranks(total / self.config.updates_per_round)

    def online_round(self) -> tuple[float, float, float]:
        """Ablation: one set of trajectories where Θ is updated after every z step."""
        index, targets, weight = self._sample_targets()
        starts = self._starts()
        z = torch.zeros(len(targets), self.mapping.z_dim, device=self.device) if isinstance(starts, str) else starts
        z.requires_grad_(True)
        z_optimizer = make_optimizer(self.config.z_optimizer, [z], self.config.z_lr)
        losses = []
        for _ in range(self.config.steps):
            per_item = self.loss_fn(self.forward(self.trained(z)), targets, weight)
            z_optimizer.zero_grad(set_to_none=True)
            self.optimizer.zero_grad(set_to_none=True)
            per_item.sum().backward()
            z_optimizer.step()
            self.optimizer.step()
            losses.append(float(per_item.detach().mean()))
            self.buffer.add(z.detach(), index, weight)
        mean = sum(losses) / len(losses)
        return tuple(distributed.mean_over_ranks(value, len(index)) for value in (losses[0], losses[-1], mean))

    def run_round(self) -> RoundStats:
        started = time.time()
        if self.config.online:
            start, end, update_loss = self.online_round()
        else:
            start, end = self.collect()
            update_loss = self.update()
        self.round += 1
        return RoundStats(self.round, start, end, update_loss, len(self.buffer), time.time() - started)

    def save(self, path: Path) -> None:
        """Everything needed to resume bit-exactly: Θ, AdamW state, buffer, RNG, round.

        Under torchrun every rank must call it (the buffers are gathered); rank 0 writes the file.
        """
        buffer = self.buffer.state()
        if self.ranks.world_size > 1:
            buffer = {name: distributed.gather_rows(value) for name, value in buffer.items() if name != "buffer.cursor"}
            buffer["buffer.cursor"] = torch.tensor([len(buffer["buffer.z"])])
        if not self.ranks.is_main:
            distributed.barrier()
            return
        optimizer_tensors, optimizer_meta = flatten_optimizer_state(self.optimizer)
        tensors = {f"mapping.{k}": v for k, v in self.mapping.state_dict().items()}
        tensors.update(optimizer_tensors)
        tensors.update(buffer)
        tensors["rng"] = self.generator.get_state()
        meta = {"round": self.round, "train": self.config.to_dict(), "optimizer": optimizer_meta}
        if hasattr(self.mapping, "config"):
            meta["mapping"] = self.mapping.config.to_dict()
        save_tensors(path, tensors, json.loads(json.dumps(meta)))
        distributed.barrier()

    def load(self, path: Path) -> None:
        tensors, meta = load_tensors(path)
        saved = TrainConfig.from_dict(meta["train"]).to_dict()  # settings added since are at their defaults
        if _without_rounds(saved) != _without_rounds(self.config.to_dict()):
            raise ValueError(f"{path} was written with different training settings: {meta['train']}")
        self.mapping.load_state_dict(
            {k.removeprefix("mapping."): v for k, v in tensors.items() if k.startswith("mapping.")}
        )
        unflatten_optimizer_state(self.optimizer, tensors, meta["optimizer"])
        self.buffer.load(self._my_buffer_rows(tensors))
        self.generator.set_state(tensors["rng"])
        self.round = meta["round"]

    def _my_buffer_rows(self, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
        """The saved buffer as is in a world of 1; else this rank's share of its rows (any world size)."""
        if self.ranks.world_size == 1:
            return tensors
        mine = self.ranks.shard(len(tensors["buffer.z"]))
        rows = {name: tensors[name][mine][-self.buffer.capacity :] for name in ("buffer.z", "buffer.target_index")}
        if "buffer.weight" in tensors:
            rows["buffer.weight"] = tensors["buffer.weight"][mine][-self.buffer.capacity :]
        rows["buffer.cursor"] = torch.tensor([len(rows["buffer.z"]) % self.buffer.capacity])
        return rows


def _without_rounds(settings: dict) -> dict:
    """Training settings a resumed run must share (it may be given more ``rounds``)."""
    return {name: value for name, value in settings.items() if name != "rounds"}


def train_mapping(
    forward: nn.Module,
    targets: Tensor,
    mapping: nn.Module,
    config: TrainConfig,
    *,
    weight_sampler: WeightSampler | None = None,
    loss_fn: LossFn | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
) -> Iterator[RoundStats]:
    """Train ``mapping`` in place for ``config.rounds`` rounds; yields one :class:`RoundStats` per round.

    targets: ``N x output_shape`` training targets. weight_sampler(targets, generator) may return
    per-target masks (e.g. random observed joints). ``loss_fn`` replaces ``config.loss`` by a
    callable ``(output, target, weight) -> per-item losses`` (e.g. the defense objective). With ``checkpoint_dir`` the state is saved
    after every round to ``checkpoint_dir/state.safetensors``; ``resume=True`` continues from it.
    """
    trainer = MappingTrainer(forward, targets, mapping, config, weight_sampler=weight_sampler, loss_fn=loss_fn)
    state_path = Path(checkpoint_dir) / "state.safetensors" if checkpoint_dir else None
    if resume and state_path is not None and state_path.is_file():
        trainer.load(state_path)
        logger.info("resumed from %s at round %d", state_path, trainer.round)
    while trainer.round < config.rounds:
        stats = trainer.run_round()
        if state_path is not None:
            trainer.save(state_path)
        yield stats
