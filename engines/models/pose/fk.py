"""Forward kinematics on the CMU skeleton (torch, batched, differentiable).

With row vectors, for each slot ``i`` in order: ``R_i = exp(r_i) · R_parent`` and
``p_i = offset_i · R_parent + p_parent`` (root: ``R_0 = exp(r_0)``, ``p_0 = offset_0``),
exactly as described in ``../shared/data/cmu_mocap/README``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engines.models.pose.rotations import axis_angle_to_matrix
from engines.models.pose.skeleton import NUM_BODY_JOINTS, Skeleton


def scatter_body_pose(skeleton: Skeleton, body_pose: Tensor, root_orientation: Tensor | None = None) -> Tensor:
    """All-slot axis-angles ``B x S x 3`` from a body pose ``B x 66`` (other slots 0)."""
    body_pose = body_pose.reshape(body_pose.shape[0], NUM_BODY_JOINTS, 3)
    slots = body_pose.new_zeros(body_pose.shape[0], len(skeleton.names), 3)
    slots[:, list(skeleton.body_slots)] = body_pose
    if root_orientation is not None:
        slots[:, 0] = root_orientation
    return slots


def forward_kinematics(skeleton: Skeleton, body_pose: Tensor, root_orientation: Tensor | None = None) -> Tensor:
    """3D positions ``B x S x 3`` of all ``S`` slots for body poses ``B x 66`` (axis-angle).

    ``root_orientation`` (``B x 3``) defaults to none, giving an upright figure facing +z.
    """
    if body_pose.dim() != 2 or body_pose.shape[1] != 3 * NUM_BODY_JOINTS:
        raise ValueError(f"body pose must be B x {3 * NUM_BODY_JOINTS}, got {tuple(body_pose.shape)}")
    # exp(r) as a row-vector operator is the transpose of Rodrigues' column-vector matrix.
    local = axis_angle_to_matrix(scatter_body_pose(skeleton, body_pose, root_orientation)).transpose(-1, -2)
    offsets = skeleton.offset_tensor().to(body_pose)
    rotations: list[Tensor] = []
    positions: list[Tensor] = []
    for slot, parent in enumerate(skeleton.parents):
        if parent < 0:
            rotations.append(local[:, slot])
            positions.append(offsets[slot].expand(body_pose.shape[0], 3))
        else:
            rotations.append(local[:, slot] @ rotations[parent])
            positions.append(offsets[slot] @ rotations[parent] + positions[parent])
    return torch.stack(positions, dim=1)


def bone_lengths(skeleton: Skeleton, positions: Tensor) -> Tensor:
    """Lengths ``B x bones`` of :meth:`Skeleton.bones` from positions ``B x S x 3``."""
    parents, children = zip(*skeleton.bones())
    return (positions[:, list(children)] - positions[:, list(parents)]).norm(dim=-1)
