"""Reading CMU mocap clips (the ``cmu_mocap`` text format) into body poses.

A clip is a ``.txt`` file, one frame per line of 117 comma-separated floats: root
translation (3) then 38 slots × 3 exponential-map values (see ``skeleton.py``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engines.models.pose.rotations import canonical_axis_angle
from engines.models.pose.skeleton import BODY_JOINTS, POSE_DIM, Skeleton

logger = logging.getLogger(__name__)

FRAME_WIDTH = 117  # 3 root translation + 38 slots x 3
NUM_SLOTS = 38


def read_clip(path: Path) -> np.ndarray:
    """All frames of a clip, ``frames x 117`` float32; ``ValueError`` naming the bad line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"clip {path} not found")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} holds no frames")
    for number, line in enumerate(lines, start=1):
        if line.count(",") != FRAME_WIDTH - 1:
            raise ValueError(
                f"{path} line {number}: expected {FRAME_WIDTH} comma-separated values, found {line.count(',') + 1}"
            )
    try:
        frames = np.loadtxt(lines, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError:
        bad = next(n for n, line in enumerate(lines, 1) if not _all_floats(line.split(",")))
        raise ValueError(f"{path} line {bad}: values must be numbers") from None
    if not np.isfinite(frames).all():
        bad = int(np.flatnonzero(~np.isfinite(frames).all(1))[0]) + 1
        raise ValueError(f"{path} line {bad}: values must be finite")
    return frames


def _all_floats(row: list[str]) -> bool:
    try:
        [float(value) for value in row]
    except ValueError:
        return False
    return True


def frames_to_pose(frames: np.ndarray | Tensor, skeleton_names: tuple[str, ...]) -> Tensor:
    """Body poses ``N x 66`` (canonical axis-angle, angles in [0, π]) from ``N x 117`` frames."""
    frames = torch.as_tensor(np.asarray(frames), dtype=torch.float32)
    slots = frames[:, 3:].reshape(-1, NUM_SLOTS, 3)
    index = torch.tensor([skeleton_names.index(name) for name in BODY_JOINTS])
    return canonical_axis_angle(slots[:, index]).reshape(-1, POSE_DIM)


def list_clips(folder: Path) -> list[Path]:
    """All ``.txt`` clips under ``folder``, in sorted path order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"clip folder {folder} not found")
    clips = sorted(
        Path(root) / name
        for root, _, names in os.walk(folder, followlinks=True)
        for name in names
        if name.endswith(".txt")
    )
    if not clips:
        raise ValueError(f"no .txt clips under {folder}")
    return clips


def load_poses(folder: Path, skeleton: Skeleton, *, every: int = 1) -> Tensor:
    """Body poses of every ``every``-th frame of every clip under ``folder``: ``N x 66``."""
    chunks = [frames_to_pose(read_clip(clip)[::every], skeleton.names) for clip in list_clips(folder)]
    return torch.cat(chunks)


def evenly_spaced_poses(folder: Path, skeleton: Skeleton, count: int) -> Tensor:
    """``count`` poses evenly spaced over all frames of all clips (sorted path order)."""
    frames = np.concatenate([read_clip(clip) for clip in list_clips(folder)])
    if count < 1:
        raise ValueError("count must be >= 1")
    index = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return frames_to_pose(frames[index], skeleton.names)
