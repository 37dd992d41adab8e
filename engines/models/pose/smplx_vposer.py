"""The real-model path: the official VPoser V02_05 decoder as F, and the SMPL-X body mesh.

Set ``VPOSER_DIR`` to the unpacked ``V02_05`` folder (it holds ``snapshots/*.ckpt``, or a
``vposer_decoder.safetensors`` made by ``python -m engines.models.pose.smplx_vposer convert``) and
``SMPLX_MODEL_DIR`` to the folder holding ``SMPLX_NEUTRAL.npz`` (``smplx/`` inside it works too).
Checkpoints are read with ``torch.load(weights_only=True)``, which never runs code from the
file. The body model and its meshes come from the ``smplx`` package (``smplx.create``), after a
check that the ``.npz`` holds only plain arrays (``allow_pickle=False``), so nothing is unpickled.
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
from engines.models.pose.rotations import canonical_axis_angle, rotation_6d_to_axis_angle
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
SMPLX_KEYS = (
    "v_template", "f", "J_regressor", "kintree_table", "weights", "shapedirs", "posedirs",
    "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr", "lmk_faces_idx", "lmk_bary_coords",
)  # fmt: skip
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
        self.smplx: nn.Module | None = None  # smplx.SMPLX, for meshes

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


def find_smplx_file(folder: Path | None = None, gender: str = "NEUTRAL") -> Path:
    """``SMPLX_<gender>.npz`` in ``folder`` (default ``$SMPLX_MODEL_DIR``) or its ``smplx/`` sub-folder."""
    folder = Path(folder or _env_folder(SMPLX_ENV))
    candidates = [folder / f"SMPLX_{gender}.npz", folder / "smplx" / f"SMPLX_{gender}.npz"]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"SMPLX_{gender}.npz not found in {folder} or {folder / 'smplx'}: {_how()}")
    return path


def check_plain_npz(path: Path) -> None:
    """Raise ``ValueError`` unless every array of the SMPL-X ``.npz`` reads with ``allow_pickle=False``
    and the keys the ``smplx`` package needs are there. ``smplx`` itself opens the file with
    ``allow_pickle=True``; after this check there is nothing in it to unpickle."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            for name in archive.files:
                archive[name]  # an object (pickled) array raises ValueError here
    except ValueError as error:
        raise ValueError(
            f"{path} is not a plain-array SMPL-X .npz ({error}); refused, nothing was unpickled"
        ) from error
    missing = [key for key in SMPLX_KEYS if key not in names]
    if missing:
        raise ValueError(f"{path} lacks {missing}; an SMPL-X model file has {SMPLX_KEYS}")


def load_smplx(folder: Path | None = None, gender: str = "NEUTRAL") -> nn.Module:
    """The SMPL-X body model of the ``smplx`` package from ``SMPLX_<gender>.npz`` (checked first, see
    :func:`check_plain_npz`), flat hands, 10 shape and 10 expression coefficients, eval mode."""
    import smplx

    path = find_smplx_file(folder, gender)
    check_plain_npz(path)
    try:
        body = smplx.create(str(path), model_type="smplx", use_pca=False, flat_hand_mean=True, num_betas=10)
    except (AssertionError, KeyError, IndexError, RuntimeError) as error:
        raise ValueError(f"{path}: the smplx package cannot build SMPL-X from it ({error!r})") from error
    if body.J_regressor.shape[0] < VPOSER_JOINTS + 1:
        raise ValueError(f"{path}: {body.J_regressor.shape[0]} joints, SMPL-X has 55")
    return body.eval().requires_grad_(False)


def smplx_vertices(body: nn.Module, body_pose: Tensor) -> np.ndarray:
    """Vertices ``V x 3`` of the SMPL-X ``body`` (``smplx.SMPLX``) in body pose ``63`` (joints 1..21), with
    the package's linear blend skinning and pose-corrective blend shapes; neutral shape, face and hands."""
    from smplx.lbs import lbs

    device = body.v_template.device
    pose = body_pose.detach().reshape(1, VPOSER_JOINTS * 3).float().to(device)
    joints = body.J_regressor.shape[0]
    full_pose = torch.zeros(1, joints * 3, device=device)
    full_pose[:, 3 : 3 + VPOSER_JOINTS * 3] = pose
    full_pose = full_pose + body.pose_mean.reshape(1, -1)[:, : joints * 3]
    shapedirs = torch.cat([body.shapedirs, body.expr_dirs], dim=-1)
    coefficients = torch.zeros(1, shapedirs.shape[-1], device=device)
    with torch.no_grad():
        vertices, _ = lbs(
            coefficients, full_pose, body.v_template, shapedirs, body.posedirs, body.J_regressor, body.parents,
            body.lbs_weights,
        )  # fmt: skip
    return vertices[0].cpu().numpy()


def smplx_glb(body: nn.Module, body_pose: Tensor) -> bytes:
    import trimesh

    faces = np.asarray(body.faces, dtype=np.int64)
    mesh = trimesh.Trimesh(smplx_vertices(body, body_pose), faces, process=False)
    mesh.visual.face_colors = (150, 170, 200, 255)
    return mesh.export(file_type="glb")


def vposer_available() -> bool:
    """True when both environment variables point to valid files."""
    try:
        read_decoder_state(find_vposer_checkpoint(_env_folder(VPOSER_ENV)))
        check_plain_npz(find_smplx_file())
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
