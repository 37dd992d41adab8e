"""Batched, differentiable rotation conversions (torch): axis-angle, 6D, matrix, quaternion.

Conventions: matrices act on column vectors (``v' = R v``); axis-angle ``r = θ·axis``;
quaternions are ``(w, x, y, z)``; the continuous 6D representation (Zhou et al. 2019,
as in VPoser) is the first two **columns** of ``R`` laid out row-major as ``3 x 2``.
Every function takes ``... x 3`` / ``... x 6`` / ``... x 3 x 3`` and keeps the leading shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_SMALL = 1e-6


def _skew(vector: Tensor) -> Tensor:
    """``... x 3`` -> ``... x 3 x 3`` cross-product matrices."""
    x, y, z = vector.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(*vector.shape, 3)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues' formula, ``... x 3`` -> ``... x 3 x 3``; stable (Taylor series) near zero."""
    theta_sq = axis_angle.square().sum(-1, keepdim=True)[..., None]
    small = theta_sq < _SMALL
    theta = theta_sq.clamp_min(_SMALL).sqrt()
    sin_over = torch.where(small, 1 - theta_sq / 6, torch.sin(theta) / theta)
    cos_over = torch.where(small, 0.5 - theta_sq / 24, (1 - torch.cos(theta)) / theta.square())
    skew = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + sin_over * skew + cos_over * (skew @ skew)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """``... x 3 x 3`` -> unit quaternions ``... x 4`` with ``w >= 0`` (numerically robust choice)."""
    m = matrix.reshape(*matrix.shape[:-2], 9)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    # 4·q_i² for each component; the largest gives the best-conditioned formula.
    four_sq = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1)
    root = four_sq.clamp_min(1e-12).sqrt()  # 2|q_i|
    candidates = torch.stack(
        [
            torch.stack([root[..., 0].square(), m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, root[..., 1].square(), m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, root[..., 2].square(), m21 + m12], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m12 + m21, root[..., 3].square()], dim=-1),
        ],
        dim=-2,
    ) / (2 * root[..., None]).clamp_min(0.1)
    best = four_sq.argmax(-1)
    quaternion = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    quaternion = F.normalize(quaternion, dim=-1)
    return torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """``... x 4`` (w, x, y, z) -> ``... x 3`` with angle in [0, π]."""
    quaternion = torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)
    vector, w = quaternion[..., 1:], quaternion[..., :1]
    sin_half = vector.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, w)
    small = sin_half < 1e-4
    scale = torch.where(
        small,
        2 / w.clamp_min(_SMALL) * (1 + sin_half.square() / (3 * w.square().clamp_min(_SMALL))),
        angle / sin_half.clamp_min(1e-4),
    )
    return vector * scale


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """``... x 3 x 3`` -> ``... x 3`` (angle in [0, π])."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """Gram–Schmidt on the two 6D columns: ``... x 6`` -> ``... x 3 x 3`` (VPoser's layout)."""
    columns = d6.reshape(*d6.shape[:-1], 3, 2)
    b1 = F.normalize(columns[..., 0], dim=-1)
    b2 = F.normalize(columns[..., 1] - (b1 * columns[..., 1]).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """``... x 3 x 3`` -> ``... x 6``: the first two columns, row-major ``3 x 2``."""
    return matrix[..., :2].reshape(*matrix.shape[:-2], 6)


def axis_angle_to_rotation_6d(axis_angle: Tensor) -> Tensor:
    return matrix_to_rotation_6d(axis_angle_to_matrix(axis_angle))


def rotation_6d_to_axis_angle(d6: Tensor) -> Tensor:
    return matrix_to_axis_angle(rotation_6d_to_matrix(d6))


def canonical_axis_angle(axis_angle: Tensor) -> Tensor:
    """The same rotations with angles wrapped into [0, π] (the form a decoder can output)."""
    return matrix_to_axis_angle(axis_angle_to_matrix(axis_angle))
