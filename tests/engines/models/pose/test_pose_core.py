"""Pose engine: rotations, FK, clip reader, mesh, pose32 model (tiny random weights, CPU)."""

from __future__ import annotations

import io
import math

import pytest
import torch
import trimesh

from engines.core.optim import invert
from engines.models.pose import rotations
from engines.models.pose.data import FRAME_WIDTH, evenly_spaced_poses, frames_to_pose, read_clip
from engines.models.pose.fk import bone_lengths, forward_kinematics
from engines.models.pose.mesh import display_slots, glb_bytes
from engines.models.pose.model import PosePrior, PoseVAEConfig
from engines.models.pose.skeleton import BODY_JOINTS, MASKS, POSE_DIM, PRESETS, Skeleton, joint_weight, load_skeleton


def random_skeleton(seed: int = 0) -> Skeleton:
    """A random tree over the CMU slot names, so the FK tests need no data."""
    generator = torch.Generator().manual_seed(seed)
    names = ("root",) + BODY_JOINTS + ("tip",)
    parents = (-1,) + tuple(int(torch.randint(i + 1, (1,), generator=generator)) for i in range(len(names) - 1))
    offsets = tuple(tuple(torch.randn(3, generator=generator).tolist()) for _ in names)
    return Skeleton(names=names, parents=parents, offsets=offsets)


def random_pose(count: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(count, POSE_DIM, generator=torch.Generator().manual_seed(seed)) * scale


def test_axis_angle_matrix_6d_round_trips():
    axis_angle = rotations.canonical_axis_angle(random_pose(64).view(-1, 3))
    assert axis_angle.norm(dim=-1).max() <= math.pi + 1e-5
    matrix = rotations.axis_angle_to_matrix(axis_angle)
    assert torch.allclose(matrix @ matrix.transpose(-1, -2), torch.eye(3).expand_as(matrix), atol=1e-5)
    assert torch.allclose(rotations.matrix_to_axis_angle(matrix), axis_angle, atol=1e-4)
    d6 = rotations.matrix_to_rotation_6d(matrix)
    assert torch.allclose(rotations.rotation_6d_to_matrix(d6), matrix, atol=1e-5)
    assert torch.allclose(rotations.rotation_6d_to_axis_angle(d6), axis_angle, atol=1e-4)


def test_rotations_match_scipy_and_have_finite_gradients_at_zero():
    from scipy.spatial.transform import Rotation

    axis_angle = random_pose(4, seed=1).view(-1, 3).double()
    expected = torch.from_numpy(Rotation.from_rotvec(axis_angle.numpy()).as_matrix())
    assert torch.allclose(rotations.axis_angle_to_matrix(axis_angle), expected, atol=1e-10)
    zero = torch.zeros(5, 3, requires_grad=True)
    rotations.matrix_to_axis_angle(rotations.axis_angle_to_matrix(zero)).sum().backward()
    assert torch.allclose(zero.grad, torch.ones(5, 3), atol=1e-4)


def test_forward_kinematics_keeps_bone_lengths():
    skeleton = random_skeleton()
    rest = forward_kinematics(skeleton, torch.zeros(1, POSE_DIM))
    posed = forward_kinematics(skeleton, random_pose(8), root_orientation=torch.randn(8, 3))
    assert posed.shape == (8, len(skeleton.names), 3)
    assert torch.allclose(bone_lengths(skeleton, posed), bone_lengths(skeleton, rest).expand(8, -1), atol=1e-4)
    assert not torch.allclose(posed[0], posed[1])


def test_forward_kinematics_is_differentiable():
    skeleton = random_skeleton(seed=2)
    pose = random_pose(3, scale=0.3).requires_grad_(True)
    forward_kinematics(skeleton, pose).square().sum().backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0


def test_cmu_skeleton_rest_pose_stands_upright():
    try:
        skeleton = load_skeleton()
    except FileNotFoundError as error:
        pytest.skip(f"cmu_mocap data absent: {error}")
    rest = forward_kinematics(skeleton, torch.zeros(1, POSE_DIM))[0]
    assert 6 < rest[skeleton.names.index("head"), 1] < 9
    assert -17 < rest[skeleton.names.index("lfoot"), 1] < -14


def write_clip(path, rows: int, value: str = "0.1") -> None:
    path.write_text("\n".join(",".join([value] * FRAME_WIDTH) for _ in range(rows)) + "\n")


def test_clip_reader_reads_and_samples_evenly(tmp_path):
    skeleton = random_skeleton()
    names = ("root",) + tuple(f"slot{i}" for i in range(37))
    names = tuple(BODY_JOINTS[i - 1] if 1 <= i <= len(BODY_JOINTS) else name for i, name in enumerate(names))
    (tmp_path / "a").mkdir()
    write_clip(tmp_path / "a" / "one.txt", 3)
    write_clip(tmp_path / "b.txt", 5, "0.2")
    assert read_clip(tmp_path / "b.txt").shape == (5, FRAME_WIDTH)
    skeleton = Skeleton(names=names, parents=(-1,) + (0,) * 37, offsets=((0.0, 0.0, 0.0),) * 38)
    poses = evenly_spaced_poses(tmp_path, skeleton, 3)
    assert poses.shape == (3, POSE_DIM)
    # sorted path order: a/one.txt (0.1) first, b.txt (0.2) last
    assert torch.allclose(poses[0], torch.full((POSE_DIM,), 0.1)) and torch.allclose(
        poses[-1], torch.full((POSE_DIM,), 0.2)
    )
    assert frames_to_pose(read_clip(tmp_path / "b.txt"), names).shape == (5, POSE_DIM)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1,2,3\n", "line 1: expected 117"),
        (",".join(["1"] * 116 + ["x"]) + "\n", "line 1: values must be numbers"),
        (",".join(["1"] * 117) + "\n" + ",".join(["nan"] * 117), "line 2: values must be finite"),
        ("\n", "holds no frames"),
    ],
)
def test_clip_reader_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_clip(path)


def test_joint_weight_and_presets():
    weight = joint_weight(PRESETS["left arm only"])
    assert weight.shape == (1, POSE_DIM) and weight.sum() == 12
    assert joint_weight(MASKS["upper"]).sum() + joint_weight(MASKS["lower"]).sum() == POSE_DIM
    with pytest.raises(ValueError, match="unknown joints"):
        joint_weight(["elbow"])
    with pytest.raises(ValueError, match="at least one"):
        joint_weight([])


def test_glb_loads_back_with_expected_joint_count():
    skeleton = random_skeleton()
    positions = forward_kinematics(skeleton, random_pose(1, scale=0.5))[0]
    scene = trimesh.load(io.BytesIO(glb_bytes(skeleton, positions)), file_type="glb")
    joints = [name for name in scene.geometry if name.startswith("joint_")]
    assert len(joints) == len(display_slots(skeleton)) == len(skeleton.names) - 1 or len(joints) == len(
        display_slots(skeleton)
    )
    assert all(len(geometry.faces) > 0 for geometry in scene.geometry.values())


def tiny_prior() -> PosePrior:
    """Random weights around the rest pose (6D bias = identity), like a trained prior's outputs."""
    torch.manual_seed(0)
    prior = PosePrior(PoseVAEConfig(latent_dim=4, hidden=16))
    last = prior.decoder.net[-1]
    with torch.no_grad():
        last.weight.mul_(0.3)
        last.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(22))
    return prior.eval().requires_grad_(False)


def test_pose_prior_outputs_canonical_axis_angle_and_prepares_targets():
    prior = tiny_prior()
    output = prior(torch.randn(5, 4) * 3)
    assert output.shape == (5, POSE_DIM) and output.view(-1, 3).norm(dim=-1).max() <= math.pi + 1e-5
    target, notice = prior.prepare_target(torch.full((22, 3), 2.0))
    assert target.shape == (POSE_DIM,) and "wrapped" in notice
    with pytest.raises(ValueError, match="66 axis-angle values"):
        prior.prepare_target([0.0] * 10)


def test_invert_recovers_a_prior_pose_from_observed_joints():
    prior = tiny_prior()
    target = prior(torch.randn(2, 4))
    weight = joint_weight(PRESETS["upper body"])
    steps = list(invert(prior, target, weight=weight, lr=0.1, steps=60))
    assert steps[-1].losses.mean() < 0.2 * steps[0].losses.mean()
