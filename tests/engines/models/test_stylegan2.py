"""StyleGAN2: tiny random generators in the real file layouts (rosinality .pt, NVlabs .pkl), an
independent re-implementation of the rosinality forward pass as reference, the converter round trip,
code-running pickles refused, registration, and Θ training on it."""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import types
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from engines.io.safe_pickle import UnsafePickleError, load_network_pickle
from engines.models.stylegan2.convert import (
    config_from_rosinality,
    convert_file,
    from_rosinality,
    read_generator,
    to_rosinality,
)
from engines.models.stylegan2.model import StyleGAN2Forward
from engines.models.stylegan2.network import Generator, StyleGAN2Config

SIZE, STYLE_DIM, N_MLP, LR_MUL = 16, 8, 2, 0.01
CHANNELS = {4: 8, 8: 6, 16: 4}


def rosinality_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random ``g_ema`` state dict with the rosinality/stylegan2-pytorch key names and shapes."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=generator) * scale

    state = {}
    for index in range(1, N_MLP + 1):
        state[f"style.{index}.weight"] = randn(STYLE_DIM, STYLE_DIM, scale=1 / LR_MUL)
        state[f"style.{index}.bias"] = randn(STYLE_DIM, scale=0.1)
    state["input.input"] = randn(1, CHANNELS[4], 4, 4)

    def styled_conv(name, width_in, width_out, up):
        state[f"{name}.conv.weight"] = randn(1, width_out, width_in, 3, 3)
        state[f"{name}.conv.modulation.weight"] = randn(width_in, STYLE_DIM)
        state[f"{name}.conv.modulation.bias"] = 1 + randn(width_in, scale=0.1)
        state[f"{name}.noise.weight"] = randn(1, scale=0.1)
        state[f"{name}.activate.bias"] = randn(width_out, scale=0.1)
        if up:
            state[f"{name}.conv.blur.kernel"] = torch.ones(4, 4)  # present in real files, recomputed by us

    def to_rgb(name, width_in, up):
        state[f"{name}.conv.weight"] = randn(1, 3, width_in, 1, 1)
        state[f"{name}.conv.modulation.weight"] = randn(width_in, STYLE_DIM)
        state[f"{name}.conv.modulation.bias"] = 1 + randn(width_in, scale=0.1)
        state[f"{name}.bias"] = randn(1, 3, 1, 1, scale=0.1)
        if up:
            state[f"{name}.upsample.kernel"] = torch.ones(4, 4)

    styled_conv("conv1", CHANNELS[4], CHANNELS[4], False)
    to_rgb("to_rgb1", CHANNELS[4], False)
    resolutions = [8, 16]
    for index, resolution in enumerate(resolutions):
        width_in, width_out = CHANNELS[resolution // 2], CHANNELS[resolution]
        styled_conv(f"convs.{2 * index}", width_in, width_out, True)
        styled_conv(f"convs.{2 * index + 1}", width_out, width_out, False)
        to_rgb(f"to_rgbs.{index}", width_out, True)
    for layer in range(2 * len(resolutions) + 1):
        side = 2 ** ((layer + 5) // 2)
        state[f"noises.noise_{layer}"] = randn(1, 1, side, side)
    return state


def blur(x, pad, gain):
    """Depthwise [1,3,3,1]² FIR with zero padding (written independently of engines' upfirdn2d)."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = (taps[:, None] * taps[None]) / 64 * gain
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return F.conv2d(x, kernel.expand(x.shape[1], 1, 4, 4), groups=x.shape[1])


def reference_forward(state, z):
    """rosinality's Generator.forward (randomize_noise=False, one style), re-derived from its code."""
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for index in range(1, N_MLP + 1):
        weight = state[f"style.{index}.weight"] * LR_MUL / math.sqrt(STYLE_DIM)
        x = F.leaky_relu(x @ weight.T + state[f"style.{index}.bias"] * LR_MUL, 0.2) * math.sqrt(2)
    w, batch = x, z.shape[0]

    def modconv(name, x, demodulate, up=False):
        weight = state[f"{name}.conv.weight"]
        _, out_ch, in_ch, k, _ = weight.shape
        style = w @ (state[f"{name}.conv.modulation.weight"] / math.sqrt(STYLE_DIM)).T
        style = style + state[f"{name}.conv.modulation.bias"]
        weight = weight / math.sqrt(in_ch * k * k) * style.view(batch, 1, in_ch, 1, 1)
        if demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, out_ch, 1, 1, 1)
        grouped = x.reshape(1, batch * in_ch, *x.shape[2:])
        if up:
            weight = weight.transpose(1, 2).reshape(batch * in_ch, out_ch, k, k)
            out = F.conv_transpose2d(grouped, weight, stride=2, groups=batch)
            return blur(out.view(batch, out_ch, *out.shape[2:]), (1, 1), 4)
        out = F.conv2d(grouped, weight.reshape(batch * out_ch, in_ch, k, k), padding=k // 2, groups=batch)
        return out.view(batch, out_ch, *out.shape[2:])

    def styled(name, x, noise, up=False):
        out = modconv(name, x, True, up) + state[f"{name}.noise.weight"] * noise
        return F.leaky_relu(out + state[f"{name}.activate.bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)

    def rgb(name, x, skip):
        out = modconv(name, x, False) + state[f"{name}.bias"]
        if skip is None:
            return out
        upsampled = torch.zeros(*skip.shape[:2], skip.shape[2] * 2, skip.shape[3] * 2)
        upsampled[:, :, ::2, ::2] = skip
        return out + blur(upsampled, (2, 1), 4)

    noise = [state[f"noises.noise_{i}"] for i in range(5)]
    out = styled("conv1", state["input.input"].repeat(batch, 1, 1, 1), noise[0])
    skip = rgb("to_rgb1", out, None)
    for index in range(2):
        out = styled(f"convs.{2 * index}", out, noise[2 * index + 1], up=True)
        out = styled(f"convs.{2 * index + 1}", out, noise[2 * index + 2])
        skip = rgb(f"to_rgbs.{index}", out, skip)
    return skip


def write_rosinality(path, state, latent_avg=None):
    checkpoint = {"g_ema": state, "args": argparse.Namespace(size=SIZE, latent=STYLE_DIM, n_mlp=N_MLP)}
    if latent_avg is not None:
        checkpoint["latent_avg"] = latent_avg
    torch.save(checkpoint, path)
    return path


def test_rosinality_checkpoint_matches_an_independent_reference(tmp_path):
    state = rosinality_state()
    generator = read_generator(write_rosinality(tmp_path / "g.pt", state, latent_avg=torch.randn(STYLE_DIM)))
    config = generator.config
    assert config.resolution == SIZE and config.channels == (8, 6, 4) and config.mapping_layers == N_MLP
    z = torch.randn(3, STYLE_DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, reference = generator(z), reference_forward(state, z)
    assert ours.shape == (3, 3, SIZE, SIZE)
    assert torch.allclose(ours, reference, atol=1e-4, rtol=1e-4), float((ours - reference).abs().max())


def test_rosinality_layout_round_trips():
    state = rosinality_state(seed=3)
    config = config_from_rosinality(state)
    back = to_rosinality(from_rosinality(state, config), config)
    for name, tensor in back.items():
        assert torch.equal(tensor, state[name]), name
    assert set(state) - set(back) == {k for k in state if k.endswith("kernel")}


class FakePersistent:
    """Pickles like a ``torch_utils.persistence`` object: the class's source text plus its state."""

    def __init__(self, class_name, state):
        self.class_name, self.state = class_name, state

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=PAYLOAD_SOURCE, class_name=self.class_name, state=self.state)
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,))


PAYLOAD_SOURCE = "import os\nos.system('touch SOURCE_WAS_RUN')\n"


def persistent_tree(module, extra_buffers=()):
    """Our module tree as persistent objects (with the official ``resample_filter`` buffers)."""
    buffers = OrderedDict(module._buffers)
    for name in extra_buffers:
        buffers[name] = torch.ones(4, 4) / 16
    children = OrderedDict()
    for name, child in module._modules.items():
        children[name] = persistent_tree(child, ("resample_filter",) if name.startswith(("b", "conv0")) else ())
    state = {
        "_parameters": OrderedDict(module._parameters),
        "_buffers": buffers,
        "_modules": children,
        "training": False,
    }
    return FakePersistent(type(module).__name__, state)


@pytest.fixture
def official_modules(monkeypatch):
    """The two modules an official pickle names, as stand-ins (only to write the test file)."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # never called: the reader has its own
        raise AssertionError("the reader must not use the file's own reconstruct function")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    easy_dict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = easy_dict
    for name, module in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, "dnnlib", types.ModuleType("dnnlib"))
    monkeypatch.setitem(sys.modules, "dnnlib.util", util)
    return easy_dict


def write_official_pickle(path, generator, easy_dict):
    config = generator.config
    tree = persistent_tree(generator)
    kwargs = easy_dict(mapping_kwargs=easy_dict(num_layers=config.mapping_layers, lr_multiplier=0.01))
    kwargs["synthesis_kwargs"] = easy_dict(channel_base=64, conv_clamp=None)
    tree.state.update(z_dim=config.z_dim, w_dim=config.w_dim, c_dim=0, img_resolution=config.resolution)
    tree.state.update(img_channels=3, init_kwargs=kwargs)
    data = {"G": tree, "D": FakePersistent("Discriminator", {"_parameters": {}}), "G_ema": tree}
    data["training_set_kwargs"] = easy_dict(resolution=config.resolution)
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def test_official_pickle_loads_without_running_its_code(tmp_path, official_modules, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    original = Generator(StyleGAN2Config(resolution=SIZE, channels=(8, 6, 4), z_dim=6, w_dim=5, mapping_layers=3))
    original.mapping.w_avg.normal_()
    path = write_official_pickle(tmp_path / "network.pkl", original, official_modules)
    loaded = read_generator(path)
    assert loaded.config == original.config
    z = torch.randn(2, 6)
    with torch.no_grad():
        assert torch.allclose(loaded(z), original(z), atol=1e-6)
    assert torch.equal(loaded.mapping.w_avg, original.mapping.w_avg)
    assert not (tmp_path / "SOURCE_WAS_RUN").exists()


class RunsCode:
    def __init__(self, call, argument):
        self.call, self.argument = call, argument

    def __reduce__(self):
        return (self.call, (self.argument,))


@pytest.mark.parametrize("call", [os.system, print, eval])
def test_a_pickle_with_a_code_running_payload_is_refused(tmp_path, call):
    marker = tmp_path / "pwned"
    argument = f"touch {marker}" if call is os.system else f"open({str(marker)!r}, 'w')"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": RunsCode(call, argument)}))
    with pytest.raises(UnsafePickleError, match="refused"):
        load_network_pickle(path)
    with pytest.raises(UnsafePickleError):
        read_generator(path)
    assert not marker.exists()


def test_converter_round_trip_gives_the_same_generator(tmp_path):
    source = write_rosinality(tmp_path / "g.pt", rosinality_state(seed=5))
    converted = convert_file(source, tmp_path / "stylegan2.safetensors")
    original, again = read_generator(source), read_generator(converted)
    z = torch.randn(2, STYLE_DIM)
    with torch.no_grad():
        assert torch.equal(original(z), again(z))
    assert torch.equal(original.mapping.w_avg, again.mapping.w_avg)  # estimated once, then stored


def test_models_are_listed_only_with_weights_and_say_what_is_missing(tmp_path, monkeypatch):
    from engines.models import registry

    monkeypatch.delenv("STYLEGAN2_PATH", raising=False)
    assert "stylegan2" not in registry.available_models()
    with pytest.raises(FileNotFoundError, match=r"STYLEGAN2_PATH.*stylegan2-ffhq-config-f\.pt.*ffhq\.pkl"):
        registry.get_spec("stylegan2").load()
    monkeypatch.setenv("STYLEGAN2_PATH", str(tmp_path / "absent.pt"))
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        registry.get_spec("stylegan2-w").load()
    monkeypatch.setenv("STYLEGAN2_PATH", str(write_rosinality(tmp_path / "g.pt", rosinality_state())))
    assert {"stylegan2", "stylegan2-w"} <= set(registry.available_models("image"))
    w_model = registry.get_spec("stylegan2-w").load()
    z_model = registry.get_spec("stylegan2").load()
    assert w_model.input_dim == STYLE_DIM and w_model.output_shape == (3, SIZE, SIZE)
    with torch.no_grad():
        average = w_model.generator.synthesise(w_model.generator.mapping.w_avg[None])
        assert torch.allclose(w_model(torch.zeros(1, STYLE_DIM)), average)
        assert torch.allclose(z_model(torch.ones(1, STYLE_DIM)), z_model.generator(torch.ones(1, STYLE_DIM)))
    with pytest.raises(FileNotFoundError, match="STYLEGAN2_MAPPING_DIR"):
        registry.get_spec("stylegan2-w").load_mapping()


def test_theta_trains_on_stylegan2_with_the_existing_trainer(tmp_path):
    from engines.core.mapping import MappingConfig, MappingNetwork
    from engines.core.trainer import TrainConfig, train_mapping

    torch.manual_seed(0)
    forward = StyleGAN2Forward(read_generator(write_rosinality(tmp_path / "g.pt", rosinality_state())), "w")
    forward.eval().requires_grad_(False)
    with torch.no_grad():
        targets = forward(torch.randn(8, STYLE_DIM) * 0.5)
    mapping = MappingNetwork(MappingConfig(z_dim=STYLE_DIM, x_dim=STYLE_DIM, hidden=16))
    before = [parameter.clone() for parameter in mapping.parameters()]
    config = TrainConfig(rounds=2, trajectories=4, steps=3, updates_per_round=3, batch_size=4, mapping_lr=1e-3)
    stats = list(train_mapping(forward, targets, mapping, config))
    assert [s.round for s in stats] == [1, 2] and all(math.isfinite(s.update_loss) for s in stats)
    assert any(not torch.equal(a, b) for a, b in zip(before, mapping.parameters()))
