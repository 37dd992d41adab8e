"""The real-model path: the official VPoser V02_05 decoder as F, and the SMPL-X body mesh.

Set ``VPOSER_DIR`` to the unpacked ``V02_05`` folder (it holds ``snapshots/*.ckpt``, or a
``vposer_decoder.safetensors`` made by ``python -m engines.models.pose.smplx_vposer convert``) and
``SMPLX_MODEL_DIR`` to the folder holding ``SMPLX_NEUTRAL.npz`` (``smplx/`` inside it works too).
Checkpoints are read with ``torch.load(weights_only=True)``, which never runs code from the
file; ``.npz`` files with ``allow_pickle=False``. The mesh is linear blend skinning of the
neutral template (no shape or pose-corrective blend shapes), enough to show the pose.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from engines.models.pose.model import pose_from_source
from engines.models.pose.rotations import axis_angle_to_matrix, canonical_axis_angle, rotation_6d_to_axis_angle
from engines.models.registry import ForwardModel

VPOSER_ENV, SMPLX_ENV = "VPOSER_DIR", "SMPLX_MODEL_DIR"
VPOSER_JOINTS = 21  # SMPL-X body joints 1..21 (pelvis orientation excluded): 63 values
DECODER_SHAPES = {
    "0.weight": (512, 32),
    "0.bias": (512,),
    "3.weight": (512, 512),
    "3.bias": (512,),
    "5.weight": (126, 512),
    "5.bias": (126,),
}
SMPLX_KEYS = ("v_template", "f", "J_regressor", "kintree_table", "weights")
CONVERTED = "vposer_decoder.safetensors"


class VPoserDecoder(ForwardModel):
    """VPoser V02 decoder: ``B x 32`` -> SMPL-X body pose ``B x 63`` (axis-angle)."""

    output_kind = "pose"

    def __init__(self, latent_dim: int = 32, hidden: int = 512):
        super().__init__()
        self.decoder_net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.LeakyReLU(), nn.Dropout(0.1),
            nn.Linear(hidden, hidden), nn.LeakyReLU(), nn.Linear(hidden, VPOSER_JOINTS * 6),
        )  # fmt: skip
        self.input_dim, self.output_shape = latent_dim, (VPOSER_JOINTS * 3,)
        self.skeleton = None
        self.smplx: dict[str, np.ndarray] | None = None

    def forward(self, x: Tensor) -> Tensor:
        return rotation_6d_to_axis_angle(self.decoder_net(x).view(x.shape[0], -1, 6)).flatten(1)

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        pose = pose_from_source(source, self.output_shape[0])
        return canonical_axis_angle(pose.view(-1, 3)).flatten(), ""


def _how() -> str:
    return (
        f"set ${VPOSER_ENV} to the unpacked VPoser V02_05 folder (with snapshots/*.ckpt from "
        f"https://smpl-x.is.tue.mpg.de) and ${SMPLX_ENV} to the folder holding SMPLX_NEUTRAL.npz"
    )


def find_vposer_checkpoint(folder: Path) -> Path:
    """``vposer_decoder.safetensors`` or the newest ``*.ckpt`` under ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"VPoser folder {folder} not found: {_how()}")
    if (folder / CONVERTED).is_file():
        return folder / CONVERTED
    checkpoints = sorted(folder.rglob("*.ckpt"))
    if not checkpoints:
        raise FileNotFoundError(
            f"no VPoser checkpoint in {folder}: put V02_05/snapshots/*.ckpt (or {CONVERTED}) there; {_how()}"
        )
    return checkpoints[-1]


def read_decoder_state(path: Path) -> dict[str, Tensor]:
    """The decoder weights (keys ``0.weight`` ... ``5.bias``) from a .ckpt or .safetensors, checked."""
    path = Path(path)
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(
                f"{path} is not a plain PyTorch checkpoint readable with weights_only=True ({error}); {_how()}"
            ) from error
        state = state.get("state_dict", state) if isinstance(state, dict) else {}
    prefix = next((key[: -len("0.weight")] for key in state if key.endswith("decoder_net.0.weight")), None)
    if prefix is None and "0.weight" in state:
        prefix = ""
    if prefix is None:
        raise ValueError(f"{path} holds no VPoser decoder ('vp_model.decoder_net.*' keys); {_how()}")
    decoder = {name: state.get(prefix + name) for name in DECODER_SHAPES}
    for name, shape in DECODER_SHAPES.items():
        if decoder[name] is None or tuple(decoder[name].shape) != shape:
            found = None if decoder[name] is None else tuple(decoder[name].shape)
            raise ValueError(
                f"{path}: decoder_net.{name} should have shape {shape}, found {found}; is this VPoser V02_05? {_how()}"
            )
    return {name: tensor.float() for name, tensor in decoder.items()}


def load_vposer(folder: Path | None = None) -> VPoserDecoder:
    """VPoser V02_05 from ``$VPOSER_DIR`` (plus the SMPL-X mesh data from ``$SMPLX_MODEL_DIR`` when valid)."""
    folder = folder or _env_folder(VPOSER_ENV)
    model = VPoserDecoder()
    model.decoder_net.load_state_dict(read_decoder_state(find_vposer_checkpoint(folder)))
    if os.environ.get(SMPLX_ENV):
        model.smplx = load_smplx(Path(os.environ[SMPLX_ENV]))
    return model


def _env_folder(name: str) -> Path:
    if not os.environ.get(name):
        raise FileNotFoundError(f"${name} is not set: {_how()}")
    return Path(os.environ[name])


def load_smplx(folder: Path | None = None, gender: str = "NEUTRAL") -> dict[str, np.ndarray]:
    """The arrays of ``SMPLX_<gender>.npz`` needed for skinning, read with ``allow_pickle=False``."""
    folder = Path(folder or _env_folder(SMPLX_ENV))
    candidates = [folder / f"SMPLX_{gender}.npz", folder / "smplx" / f"SMPLX_{gender}.npz"]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"SMPLX_{gender}.npz not found in {folder} or {folder / 'smplx'}: {_how()}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: np.asarray(archive[key]) for key in SMPLX_KEYS}
    except KeyError as error:
        raise ValueError(f"{path} lacks {error}; an SMPL-X model file has {SMPLX_KEYS}") from error
    except ValueError as error:
        raise ValueError(f"{path} is not a readable SMPL-X .npz ({error})") from error
    joints = arrays["J_regressor"].shape[0]
    if arrays["weights"].shape != (len(arrays["v_template"]), joints) or joints < VPOSER_JOINTS + 1:
        raise ValueError(
            f"{path}: weights {arrays['weights'].shape} do not fit {len(arrays['v_template'])} vertices x {joints} joints"
        )
    return arrays


def smplx_vertices(smplx: dict[str, np.ndarray], body_pose: Tensor) -> np.ndarray:
    """Skin the neutral template with body pose ``63`` (joints 1..21; others at rest): ``V x 3``."""
    body_pose = body_pose.detach()
    template = torch.as_tensor(smplx["v_template"], dtype=torch.float32)
    joints = torch.as_tensor(smplx["J_regressor"], dtype=torch.float32) @ template
    parents = smplx["kintree_table"][0].astype(int)
    rotations = torch.eye(3).repeat(len(joints), 1, 1)
    rotations[1 : VPOSER_JOINTS + 1] = axis_angle_to_matrix(body_pose.reshape(-1, 3).float())
    world_r, world_t = [rotations[0]], [joints[0]]
    for joint in range(1, len(joints)):
        parent = parents[joint]
        world_r.append(world_r[parent] @ rotations[joint])
        world_t.append(world_r[parent] @ (joints[joint] - joints[parent]) + world_t[parent])
    world_r, world_t = torch.stack(world_r), torch.stack(world_t)
    shift = world_t - (world_r @ joints[..., None])[..., 0]  # remove the rest position of each joint
    weights = torch.as_tensor(smplx["weights"], dtype=torch.float32)
    blended_r = torch.einsum("vj,jab->vab", weights, world_r)
    blended_t = weights @ shift
    return ((blended_r @ template[..., None])[..., 0] + blended_t).numpy()


def smplx_glb(smplx: dict[str, np.ndarray], body_pose: Tensor) -> bytes:
    import trimesh

    mesh = trimesh.Trimesh(smplx_vertices(smplx, body_pose), smplx["f"].astype(np.int64), process=False)
    mesh.visual.face_colors = (150, 170, 200, 255)
    return mesh.export(file_type="glb")


def vposer_available() -> bool:
    """True when both environment variables point to valid files."""
    try:
        read_decoder_state(find_vposer_checkpoint(_env_folder(VPOSER_ENV)))
        load_smplx()
    except (FileNotFoundError, ValueError):
        return False
    return True


def convert(checkpoint: Path, output: Path) -> None:
    """Write the decoder weights of a VPoser checkpoint as safetensors."""
    save_file({name: tensor.contiguous() for name, tensor in read_decoder_state(checkpoint).items()}, str(output))


# python -m engines.models.pose.smplx_vposer convert CKPT VPOSER_DIR/vposer_decoder.safetensors
if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "convert":
        raise SystemExit("usage: python -m engines.models.pose.smplx_vposer convert CHECKPOINT.ckpt OUTPUT.safetensors")
    convert(Path(sys.argv[2]), Path(sys.argv[3]))
