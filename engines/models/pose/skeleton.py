"""The CMU skeleton and the body-pose representation, documented in one place.

A CMU mocap frame (``../shared/data/cmu_mocap``) holds 38 joint *slots*, each with an
exponential map (= axis-angle, radians). The **body pose** used everywhere in this
project is the axis-angle of the 22 slots that rotate, in this order::

     0 lfemur     1 ltibia     2 lfoot      3 ltoes          (left leg)
     4 rfemur     5 rtibia     6 rfoot      7 rtoes          (right leg)
     8 lowerback  9 upperback 10 thorax    11 lowerneck     (spine, neck, head)
    12 upperneck 13 head
    14 lhumerus  15 lradius   16 lwrist    17 lhand         (left arm)
    18 rhumerus  19 rradius   20 rwrist    21 rhand         (right arm)

flattened to ``B x 66`` (joint ``j`` at columns ``3j .. 3j+2``). Excluded: the root
orientation (slot 0; the figure is shown facing forward), the fixed hip-joint and
clavicle slots, end sites, fingers and thumbs. The skeleton's rest offsets come from
``skeleton.json`` beside the data; a trained model stores a copy in its JSON config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

BODY_JOINTS: tuple[str, ...] = (
    "lfemur", "ltibia", "lfoot", "ltoes",
    "rfemur", "rtibia", "rfoot", "rtoes",
    "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head",
    "lhumerus", "lradius", "lwrist", "lhand",
    "rhumerus", "rradius", "rwrist", "rhand",
)  # fmt: skip
NUM_BODY_JOINTS = len(BODY_JOINTS)
POSE_DIM = 3 * NUM_BODY_JOINTS

LIMB_GROUPS: dict[str, tuple[str, ...]] = {
    "left leg": ("lfemur", "ltibia", "lfoot", "ltoes"),
    "right leg": ("rfemur", "rtibia", "rfoot", "rtoes"),
    "spine and head": ("lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head"),
    "left arm": ("lhumerus", "lradius", "lwrist", "lhand"),
    "right arm": ("rhumerus", "rradius", "rwrist", "rhand"),
}
UPPER_BODY = LIMB_GROUPS["spine and head"] + LIMB_GROUPS["left arm"] + LIMB_GROUPS["right arm"]
LOWER_BODY = LIMB_GROUPS["left leg"] + LIMB_GROUPS["right leg"]
PRESETS: dict[str, tuple[str, ...]] = {
    "all": BODY_JOINTS,
    "upper body": UPPER_BODY,
    "lower body": LOWER_BODY,
    "left arm only": LIMB_GROUPS["left arm"],
}
# The benchmark's --mask choices: which joints are observed.
MASKS: dict[str, tuple[str, ...]] = {"none": BODY_JOINTS, "upper": UPPER_BODY, "lower": LOWER_BODY}


def joint_weight(observed: tuple[str, ...] | list[str], joints: tuple[str, ...] = BODY_JOINTS) -> Tensor:
    """Weight mask ``1 x 3J`` over the flattened pose: 1 for observed joints, 0 for hidden ones."""
    unknown = sorted(set(observed) - set(joints))
    if unknown:
        raise ValueError(f"unknown joints {unknown}; choose from {list(joints)}")
    if not observed:
        raise ValueError("observe at least one joint")
    flags = torch.tensor([1.0 if name in observed else 0.0 for name in joints])
    return flags.repeat_interleave(3)[None]


@dataclass(frozen=True, kw_only=True)
class Skeleton:
    """A kinematic tree: slot names, parent slot (-1 for the root) and rest offsets (y up).

    Parents precede children. ``body_slots`` are the slot indices of :data:`BODY_JOINTS`.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.parents) == len(self.offsets)):
            raise ValueError("skeleton names, parents and offsets must have the same length")
        for index, parent in enumerate(self.parents):
            if not -1 <= parent < index:
                raise ValueError(f"slot {self.names[index]!r} has parent {parent}; parents must precede children")
        missing = [name for name in BODY_JOINTS if name not in self.names]
        if missing:
            raise ValueError(f"skeleton lacks body joints {missing}")

    @property
    def body_slots(self) -> tuple[int, ...]:
        return tuple(self.names.index(name) for name in BODY_JOINTS)

    def offset_tensor(self) -> Tensor:
        return torch.tensor(self.offsets, dtype=torch.float32)

    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) slot pairs whose child has a non-zero offset: the visible bones."""
        return [
            (parent, child) for child, parent in enumerate(self.parents) if parent >= 0 and any(self.offsets[child])
        ]

    def to_dict(self) -> dict:
        return {"joints": list(self.names), "parent": list(self.parents), "offset": [list(o) for o in self.offsets]}

    @classmethod
    def from_dict(cls, data: dict) -> Skeleton:
        try:
            return cls(
                names=tuple(data["joints"]),
                parents=tuple(int(p) for p in data["parent"]),
                offsets=tuple(tuple(float(v) for v in offset) for offset in data["offset"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"skeleton needs 'joints', 'parent' and 'offset' lists: {error}") from error


def load_skeleton(path: Path | None = None) -> Skeleton:
    """The CMU skeleton from ``skeleton.json`` (default: beside the shared cmu_mocap data)."""
    if path is None:
        from engines.io.data import data_path

        path = data_path("cmu_mocap") / "skeleton.json"
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: put the cmu_mocap skeleton.json there")
    return Skeleton.from_dict(json.loads(path.read_text()))
