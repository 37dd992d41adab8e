"""The converted MobileStyleGAN against its OpenVINO IR, the IR reader, the fast 64² model and the FFHQ crop."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engines.io.checkpoint import assets_present
from engines.models.faces.align import align_face, ffhq_crop
from engines.models.ffhq.convert import read_ir
from engines.models.ffhq.fast import FastFace, FastFaceConfig
from engines.models.ffhq.network import MobileSynthesis, haar_forward, haar_inverse
from engines.models.ffhq.weights import GENERATOR_ASSET, psnr

REFERENCE = Path(__file__).with_name("ffhq_reference.npz")
CELEBA = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "celeba"
needs_weights = pytest.mark.skipif(not assets_present(GENERATOR_ASSET), reason="assets/ffhq_generator missing")


@pytest.fixture(scope="module")
def generator():
    from engines.models.ffhq.weights import load_mobilestylegan

    return load_mobilestylegan()


@needs_weights
def test_full_network_matches_the_openvino_ir_on_every_fixture(generator):
    """Our 1024² forward against the IR run by OpenVINO (scripts/ffhq_reference.py): ≥ 40 dB on each of the 8."""
    reference = np.load(REFERENCE)
    z = torch.from_numpy(reference["z"])
    with torch.no_grad():
        w = generator.mapping(z)
        assert (w - torch.from_numpy(reference["w"])).abs().max() < 0.01  # weights stored in float16
        start = int(reference["crop_start"][0])
        small, crops = [], []
        for row in w:
            image = generator.synthesise(row[None])
            small.append(torch.nn.functional.avg_pool2d(image, 16))
            crops.append(image[:, :, start : start + 128, start : start + 128])
    small_psnr = psnr(torch.cat(small), torch.from_numpy(reference["image64"].astype(np.float32)))
    crop_psnr = psnr(torch.cat(crops), torch.from_numpy(reference["crop128"].astype(np.float32)))
    print("PSNR against the IR, 64² downsample:", small_psnr.round(decimals=1).tolist())
    print("PSNR against the IR, 128² centre crop at 1024²:", crop_psnr.round(decimals=1).tolist())
    assert len(small_psnr) == 8 and small_psnr.min() >= 40 and crop_psnr.min() >= 40
    # a control the check must fail: another z's image is far from the reference
    assert psnr(torch.cat(small).roll(1, 0), torch.from_numpy(reference["image64"].astype(np.float32))).max() < 25


def test_haar_inverse_undoes_the_analysis_and_doubles_the_size():
    image = torch.randn(2, 3, 8, 8)
    bands = haar_forward(image)
    assert bands.shape == (2, 12, 4, 4)
    assert torch.allclose(haar_inverse(bands), image, atol=1e-6)
    # the layout MobileStyleGAN's export reads: low band first, then each channel's (LH, HL, HH)
    constant = torch.zeros(1, 4, 1, 1)
    constant[0, 0] = 1.0  # low band only: a flat 2×2 patch of 0.5
    assert torch.allclose(haar_inverse(constant), torch.full((1, 1, 2, 2), 0.5))


def _tiny_ir(version: str = "10") -> tuple[bytes, bytes]:
    blob = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    xml = f"""<?xml version="1.0"?><net name="t" version="{version}"><layers>
      <layer id="0" name="x" type="Parameter" version="opset1"><data shape="1,2" element_type="f32"/></layer>
      <layer id="1" name="weight" type="Const" version="opset1"><data element_type="f32" shape="3, 2" offset="0" size="24"/></layer>
      <layer id="2" name="mm" type="MatMul" version="opset1"><data transpose_a="false" transpose_b="true"/></layer>
    </layers><edges><edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>
      <edge from-layer="1" from-port="0" to-layer="2" to-port="1"/></edges></net>"""
    return xml.encode(), blob


def test_the_ir_reader_takes_arrays_and_wiring_only():
    layers = read_ir(*_tiny_ir())
    assert layers["1"].value.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert layers["2"].inputs == {0: ("0", 0), 1: ("1", 0)} and layers["0"].consumers == ["2"]
    with pytest.raises(ValueError, match="IR v10"):
        read_ir(*_tiny_ir(version="11"))


def test_fast_model_shapes_and_its_own_weights():
    synthesis = MobileSynthesis()
    fast = FastFace(synthesis, FastFaceConfig(blocks=2, student=16))
    assert fast.config.resolution == 64
    with torch.no_grad():
        assert fast(torch.randn(2, 512)).shape == (2, 3, 64, 64)
    assert not any(name.startswith("synthesis.") for name in fast.own_state())
    assert FastFace(synthesis, FastFaceConfig(blocks=3)).config.resolution == 64
    with pytest.raises(ValueError, match="blocks"):
        FastFaceConfig(blocks=0)
    with pytest.raises(ValueError, match="kernel"):
        FastFaceConfig(kernel=2)


def test_ffhq_crop_follows_the_eyes_and_mouth():
    # eyes level 40 px apart, mouth 40 px below their midpoint: side max(4·40, 3.6·40) = 160, centre 4 px below the eyes
    landmarks = np.array([[80.0, 100.0], [120.0, 100.0], [100.0, 120.0], [85.0, 140.0], [115.0, 140.0]])
    matrix = ffhq_crop(landmarks, side=64)
    corners = np.array([[0, 0, 1], [64, 64, 1]], float) @ matrix.T
    assert np.allclose(corners[0], [20.0, 24.0]) and np.allclose(corners[1], [180.0, 184.0])
    tilted = landmarks @ np.array([[0.0, 1.0], [-1.0, 0.0]])  # the photo turned by 90°: so is the crop
    turned = ffhq_crop(tilted, side=64)
    assert np.allclose(np.abs(turned[:, :2]), np.abs(matrix[:, :2])[::-1])


@pytest.mark.skipif(not (CELEBA / "008001.jpg").is_file(), reason="../shared/data/celeba not found")
def test_celeba_faces_align_the_ffhq_way_with_few_unknown_pixels():
    shares = []
    for number in range(8001, 8011):
        with Image.open(CELEBA / f"{number:06d}.jpg") as opened:
            face, info = align_face(opened.convert("RGB"), 64, "ffhq")
        assert face.size == (64, 64) and info.aligned
        shares.append(float((info.outside >= 0.5).mean()))
    assert np.mean(shares) < 0.05


@needs_weights
@pytest.mark.skipif(not assets_present("ffhq64_fast"), reason="assets/ffhq64_fast missing")
def test_ffhq64_spaces_and_the_full_render():
    from engines.models.registry import load_model

    z_model, w_model = load_model("ffhq64"), load_model("ffhq64-w")
    assert z_model.input_dim == w_model.input_dim == 512 and z_model.output_shape == (3, 64, 64)
    with torch.no_grad():
        average = w_model(torch.zeros(1, 512))
        assert torch.allclose(average, w_model.fast(w_model.generator.mapping.w_avg[None]))
        z = torch.randn(1, 512, generator=torch.Generator().manual_seed(0))
        mapping = z_model.generator.mapping
        assert torch.allclose(z_model(z - mapping.z_origin), w_model(mapping(z) - mapping.w_avg), atol=1e-5)
        big = z_model.render_full(z)
    assert big.shape == (1, 3, 1024, 1024)
    # the fast image is the full render's 64² downsample, roughly (its agreement is measured by the bench)
    assert psnr(z_model(z), torch.nn.functional.avg_pool2d(big, 16)) > 15


@needs_weights
@pytest.mark.skipif(not assets_present("ffhq64_fast"), reason="assets/ffhq64_fast missing")
def test_x_equals_z_starts_at_a_typical_z_so_the_first_steps_do_not_explode():
    """z = 0 is the pixel norm's singular point: Adam's first step from it jumps to an extreme w (the loss went
    from 0.07 to 68 at step 1). ffhq64's x = 0 is z_origin instead, a typical z near the average face."""
    from engines.core.optim import invert
    from engines.models.registry import load_model

    model = load_model("ffhq64")
    mapping = model.generator.mapping
    assert abs(float(mapping.z_origin.square().mean()) - 1) < 0.5  # a typical length (pixel-norm RMS near 1)
    assert float((model.to_w(torch.zeros(1, 512)) - mapping.w_avg).norm()) < 5
    target, _ = model.prepare_target(Path(__file__).parents[4] / "app" / "samples" / "ffhq" / "generated_seed0002.png")
    losses = [float(step.losses[0]) for step in invert(model, target[None], lr=0.1, steps=6, loss="mse")]
    assert max(losses[1:]) < 2 * losses[0] and losses[-1] < losses[0]
