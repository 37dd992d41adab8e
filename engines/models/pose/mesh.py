"""A readable body mesh from 3D joint positions: capsule limbs, sphere joints, head, torso.

Built with ``trimesh`` and exported as GLB bytes or a ``.glb`` file (for ``gr.Model3D``).
Each joint sphere is a scene node named ``joint_<slot name>``, each limb ``bone_<slot name>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from torch import Tensor

from engines.models.pose.skeleton import Skeleton

_HIDDEN = ("finger", "thumb", "_end", "hipjoint", "clavicle")
JOINT_COLOUR = (235, 120, 40, 255)
LIMB_COLOUR = (70, 130, 200, 255)
BODY_COLOUR = (150, 170, 200, 255)


def _shown(name: str) -> bool:
    return not any(part in name for part in _HIDDEN)


def display_slots(skeleton: Skeleton) -> list[int]:
    """Slots drawn as joints: the root and every slot at its own position (no fingers or end sites)."""
    return [
        slot for slot, name in enumerate(skeleton.names) if (slot == 0 or any(skeleton.offsets[slot])) and _shown(name)
    ]


def display_bones(skeleton: Skeleton) -> list[tuple[int, int]]:
    """(parent, child) bones drawn as limbs (head end included, fingers left out)."""
    bones = []
    for parent, child in skeleton.bones():
        name = skeleton.names[child]
        if "finger" in name or "thumb" in name:
            continue
        bones.append((parent, child))
    return bones


def capsule(start: np.ndarray, end: np.ndarray, radius: float, colour: tuple[int, ...]) -> trimesh.Trimesh | None:
    """A capsule whose sphere centres are ``start`` and ``end``; None for a zero-length segment."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        return None
    mesh = trimesh.creation.capsule(height=length, radius=radius, count=[12, 12])
    transform = trimesh.geometry.align_vectors([0, 0, 1], axis / length)
    transform[:3, 3] = (start + end) / 2
    mesh.apply_transform(transform)
    mesh.visual.face_colors = colour
    return mesh


def sphere(centre: np.ndarray, radius: float, colour: tuple[int, ...]) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    mesh.apply_translation(centre)
    mesh.visual.face_colors = colour
    return mesh


def _limb_radius(name: str) -> float:
    if any(part in name for part in ("femur", "tibia")):
        return 0.75
    if any(part in name for part in ("back", "thorax", "neck")):
        return 0.9
    return 0.5


def body_scene(skeleton: Skeleton, positions: Tensor | np.ndarray) -> trimesh.Scene:
    """A scene for one pose: ``positions`` is ``S x 3`` (all slots, from forward kinematics)."""
    points = np.asarray(positions.detach().cpu() if isinstance(positions, Tensor) else positions, dtype=np.float64)
    if points.shape != (len(skeleton.names), 3):
        raise ValueError(f"positions must be {len(skeleton.names)} x 3, got {points.shape}")
    scene = trimesh.Scene()
    for slot in display_slots(skeleton):
        scene.add_geometry(
            sphere(points[slot], 0.55, JOINT_COLOUR),
            node_name=f"joint_{skeleton.names[slot]}",
            geom_name=f"joint_{skeleton.names[slot]}",
        )
    for parent, child in display_bones(skeleton):
        name = skeleton.names[child]
        if name == "head_end":
            head = sphere((points[parent] + points[child]) / 2, 1.3, BODY_COLOUR)
            scene.add_geometry(head, node_name=f"bone_{name}", geom_name=f"bone_{name}")
            continue
        limb = capsule(points[parent], points[child], _limb_radius(skeleton.names[parent]), LIMB_COLOUR)
        if limb is not None:
            scene.add_geometry(limb, node_name=f"bone_{name}", geom_name=f"bone_{name}")
    _add_torso(scene, skeleton, points)
    return scene


def _add_torso(scene: trimesh.Scene, skeleton: Skeleton, points: np.ndarray) -> None:
    """A thick trunk from pelvis to chest, plus shoulder and hip bars, when those slots exist."""
    names = skeleton.names
    pairs = {
        "torso": ("root", "thorax", 2.0),
        "shoulders": ("lhumerus", "rhumerus", 0.8),
        "hips": ("lfemur", "rfemur", 1.1),
    }
    for label, (first, second, radius) in pairs.items():
        if first in names and second in names:
            part = capsule(points[names.index(first)], points[names.index(second)], radius, BODY_COLOUR)
            if part is not None:
                scene.add_geometry(part, node_name=label, geom_name=label)


def glb_bytes(skeleton: Skeleton, positions: Tensor | np.ndarray) -> bytes:
    """The body mesh of one pose as binary glTF."""
    return body_scene(skeleton, positions).export(file_type="glb")


def write_glb(path: Path, skeleton: Skeleton, positions: Tensor | np.ndarray) -> Path:
    """Write the body mesh to ``path`` (``.glb``) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(glb_bytes(skeleton, positions))
    return path
