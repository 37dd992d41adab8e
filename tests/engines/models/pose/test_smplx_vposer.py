"""VPoser / SMPL-X loaders on tiny synthetic files in the official key layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.models.pose import smplx_vposer
from engines.models.pose.smplx_vposer import (
    DECODER_SHAPES,
    find_vposer_checkpoint,
    load_smplx,
    load_vposer,
    smplx_glb,
    smplx_vertices,
)


def write_vposer(folder, *, bad_shape: bool = False):
    state = {f"vp_model.decoder_net.{name}": torch.randn(*shape) * 0.05 for name, shape in DECODER_SHAPES.items()}
    state["vp_model.encoder_net.2.weight"] = torch.randn(512, 63)
    if bad_shape:
        state["vp_model.decoder_net.5.weight"] = torch.randn(132, 512)
    (folder / "snapshots").mkdir(parents=True)
    path = folder / "snapshots" / "V02_05_epoch=13_val_loss=0.03.ckpt"
    torch.save({"state_dict": state, "epoch": 13}, path)
    return path


def write_smplx(folder, joints: int = 55, vertices: int = 40, **overrides):
    """A tiny SMPLX_NEUTRAL.npz in the official key layout (55 joints, ``vertices`` vertices)."""
    generator = np.random.default_rng(0)
    weights = generator.random((vertices, joints))
    parents = np.concatenate([[-1], np.arange(joints - 1)]).astype(np.int64)
    arrays = dict(
        v_template=generator.normal(size=(vertices, 3)),
        f=generator.integers(0, vertices, (30, 3)).astype(np.uint32),
        J_regressor=generator.random((joints, vertices)) / vertices,
        kintree_table=np.stack([parents, np.arange(joints)]),
        weights=weights / weights.sum(1, keepdims=True),
        shapedirs=generator.normal(size=(vertices, 3, 400)) * 0.01,
        posedirs=generator.normal(size=(vertices, 3, (joints - 1) * 9)) * 0.01,
        hands_componentsl=np.eye(45),
        hands_componentsr=np.eye(45),
        hands_meanl=generator.normal(size=45) * 0.1,
        hands_meanr=generator.normal(size=45) * 0.1,
        lmk_faces_idx=np.arange(5, dtype=np.int64),
        lmk_bary_coords=np.full((5, 3), 1 / 3),
    )
    arrays.update(overrides)
    np.savez(folder / "SMPLX_NEUTRAL.npz", **arrays)
    return arrays


def test_vposer_loads_from_a_synthetic_checkpoint(tmp_path, monkeypatch):
    write_vposer(tmp_path / "V02_05")
    write_smplx(tmp_path)
    monkeypatch.setenv("VPOSER_DIR", str(tmp_path / "V02_05"))
    monkeypatch.setenv("SMPLX_MODEL_DIR", str(tmp_path))
    model = load_vposer()
    output = model(torch.randn(3, 32))
    assert output.shape == (3, 63) and torch.isfinite(output).all()
    assert smplx_vposer.vposer_available()
    assert smplx_vertices(model.smplx, output[0]).shape == (40, 3)
    assert len(smplx_glb(model.smplx, output[0])) > 100


def test_conversion_to_safetensors_gives_the_same_model(tmp_path):
    checkpoint = write_vposer(tmp_path)
    smplx_vposer.convert(checkpoint, tmp_path / smplx_vposer.CONVERTED)
    assert find_vposer_checkpoint(tmp_path).name == smplx_vposer.CONVERTED
    latent = torch.randn(2, 32)
    converted = load_vposer(tmp_path)
    original = smplx_vposer.VPoserDecoder()
    original.decoder_net.load_state_dict(smplx_vposer.read_decoder_state(checkpoint))
    assert torch.allclose(converted.eval()(latent), original.eval()(latent))


def test_smplx_package_builds_the_body_and_rest_pose_is_the_template(tmp_path):
    import smplx

    arrays = write_smplx(tmp_path)
    body = load_smplx(tmp_path)
    assert isinstance(body, smplx.SMPLX) and body.v_template.shape == (40, 3)
    assert np.allclose(smplx_vertices(body, torch.zeros(63)), arrays["v_template"], atol=1e-5)
    bent = smplx_vertices(body, torch.full((63,), 0.3))
    assert bent.shape == (40, 3) and not np.allclose(bent, arrays["v_template"], atol=1e-3)
    assert len(smplx_glb(body, torch.zeros(63))) > 100


def test_smplx_file_with_pickled_objects_is_refused_before_smplx_opens_it(tmp_path):
    write_smplx(tmp_path, f=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="plain-array SMPL-X"):
        load_smplx(tmp_path)


def test_loaders_say_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.delenv("VPOSER_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"\$VPOSER_DIR is not set"):
        load_vposer()
    with pytest.raises(FileNotFoundError, match="snapshots/\\*.ckpt"):
        find_vposer_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="SMPLX_NEUTRAL.npz not found"):
        load_smplx(tmp_path)
    write_vposer(tmp_path / "bad", bad_shape=True)
    with pytest.raises(ValueError, match=r"decoder_net.5.weight should have shape \(126, 512\)"):
        load_vposer(tmp_path / "bad")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_vposer(tmp_path / "junk")
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", v_template=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="lacks"):
        load_smplx(tmp_path)


def test_pickled_code_is_never_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    import pickle

    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps({"state_dict": Evil()}))
    with pytest.raises(ValueError, match="weights_only=True"):
        smplx_vposer.read_decoder_state(tmp_path / "evil.ckpt")


def test_vposer_is_registered_only_with_valid_files(tmp_path, monkeypatch):
    import importlib

    from engines.models import registry as models

    monkeypatch.setenv("VPOSER_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("SMPLX_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))
    from engines.models.pose import registration

    importlib.reload(registration)
    assert "vposer" in models.MODELS and "vposer" not in models.available_models("pose")
