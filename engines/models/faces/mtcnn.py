"""MTCNN face detection (Zhang et al. 2016): a P-net over an image pyramid, then R-net and O-net
refine the boxes; O-net also gives five landmarks (left eye, right eye, nose, left and right mouth
corner). The weights are the ``facenet-pytorch`` 2.6.0 ones (MIT), converted once to the
safetensors asset ``mtcnn`` by ``scripts/convert_mtcnn.py``; this forward pass is our own.

Boxes are ``N x 4`` ``(x0, y0, x1, y1)`` in pixels of the input image; crops are taken with
``roi_align`` (zeros outside the image).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.ops import nms, roi_align

from engines.io.checkpoint import load_module_state, load_tensors, resolve_asset

ASSET = "mtcnn"


class PNet(nn.Module):
    """Fully convolutional proposal net: ``B x 3 x H x W`` -> face probability ``B x H' x W'`` and box
    offsets ``B x 4 x H' x W'`` for 12×12 windows at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        features = nn.functional.max_pool2d(self.prelu1(self.conv1(image)), 2, 2, ceil_mode=True)
        features = self.prelu3(self.conv3(self.prelu2(self.conv2(features))))
        return self.conv4_1(features).softmax(dim=1)[:, 1], self.conv4_2(features)


def _flatten_caffe(features: Tensor) -> Tensor:
    """The Caffe originals flatten ``C x W x H`` (transposed); the dense weights expect that order."""
    return features.permute(0, 3, 2, 1).flatten(1)


class RNet(nn.Module):
    """Refinement net: ``B x 3 x 24 x 24`` -> face probability ``B`` and box offsets ``B x 4``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        pool = functools.partial(nn.functional.max_pool2d, kernel_size=3, stride=2, ceil_mode=True)
        features = pool(self.prelu1(self.conv1(crops)))
        features = pool(self.prelu2(self.conv2(features)))
        features = self.prelu4(self.dense4(_flatten_caffe(self.prelu3(self.conv3(features)))))
        return self.dense5_1(features).softmax(dim=1)[:, 1], self.dense5_2(features)


class ONet(nn.Module):
    """Output net: ``B x 3 x 48 x 48`` -> probability ``B``, box offsets ``B x 4``, landmarks ``B x 10``
    (five x then five y, as fractions of the crop)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, crops: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pool = functools.partial(nn.functional.max_pool2d, kernel_size=3, stride=2, ceil_mode=True)
        features = pool(self.prelu1(self.conv1(crops)))
        features = pool(self.prelu2(self.conv2(features)))
        features = nn.functional.max_pool2d(self.prelu3(self.conv3(features)), 2, 2, ceil_mode=True)
        features = self.prelu5(self.dense5(_flatten_caffe(self.prelu4(self.conv4(features)))))
        return self.dense6_1(features).softmax(dim=1)[:, 1], self.dense6_2(features), self.dense6_3(features)


@dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """MTCNN's usual settings: smallest face side in pixels, pyramid factor, per-stage thresholds."""

    min_face: float = 20.0
    factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)

    def __post_init__(self) -> None:
        if not (self.min_face >= 12 and 0 < self.factor < 1 and len(self.thresholds) == 3):
            raise ValueError("DetectorConfig needs min_face >= 12, 0 < factor < 1 and three thresholds")


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, best first: ``boxes`` ``N x 4``, ``scores`` ``N``, ``landmarks`` ``N x 5 x 2``
    (x, y pixels: left eye, right eye, nose, left mouth corner, right mouth corner)."""

    boxes: Tensor
    scores: Tensor
    landmarks: Tensor

    def __len__(self) -> int:
        return len(self.scores)


class MTCNN(nn.Module):
    """The three nets; :meth:`detect` runs the cascade on one RGB image."""

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        super().__init__()
        self.config = config
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()

    @torch.no_grad()
    def detect(self, image: np.ndarray | Tensor, *, min_face: float | None = None) -> Detections:
        """``H x W x 3`` uint8 RGB image -> the faces found (possibly none); ``min_face`` (pixels) overrides
        the config's smallest face side (a larger one skips the costly fine pyramid levels)."""
        pixels = torch.as_tensor(np.array(image), dtype=torch.float32).permute(2, 0, 1)[None]
        pixels = (pixels - 127.5) / 128.0
        boxes = self._propose(pixels, min_face or self.config.min_face)
        if len(boxes):
            boxes = self._refine(pixels, boxes)
        if not len(boxes):
            empty = torch.zeros(0, 4)
            return Detections(empty, torch.zeros(0), torch.zeros(0, 5, 2))
        return self._output(pixels, boxes)

    def _propose(self, pixels: Tensor, min_face: float) -> Tensor:
        """P-net over the pyramid -> ``N x 5`` square candidate boxes with scores."""
        height, width = pixels.shape[-2:]
        scale = 12.0 / min_face
        found = []
        while min(height, width) * scale >= 12:
            size = (int(height * scale + 1), int(width * scale + 1))
            probability, offsets = self.pnet(nn.functional.interpolate(pixels, size=size, mode="area"))
            rows, cols = torch.nonzero(probability[0] >= self.config.thresholds[0], as_tuple=True)
            if len(rows):
                corners = torch.stack([cols, rows], dim=1).float()
                start, end = (2 * corners + 1) / scale, (2 * corners + 12) / scale
                box = torch.cat([start, end], dim=1)
                side = (end - start).repeat(1, 2)
                box = box + offsets[0][:, rows, cols].T * side
                score = probability[0, rows, cols]
                keep = nms(box, score, 0.5)
                found.append(torch.cat([box[keep], score[keep, None]], dim=1))
            scale *= self.config.factor
        if not found:
            return torch.zeros(0, 5)
        boxes = torch.cat(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        return torch.cat([_square(boxes[:, :4]), boxes[:, 4:]], dim=1)

    def _refine(self, pixels: Tensor, boxes: Tensor) -> Tensor:
        probability, offsets = self.rnet(_crops(pixels, boxes[:, :4], 24))
        keep = probability > self.config.thresholds[1]
        boxes, probability, offsets = boxes[keep, :4], probability[keep], offsets[keep]
        picked = nms(boxes, probability, 0.7)
        boxes = _square(_shift(boxes[picked], offsets[picked]))
        return torch.cat([boxes, probability[picked, None]], dim=1)

    def _output(self, pixels: Tensor, boxes: Tensor) -> Detections:
        probability, offsets, points = self.onet(_crops(pixels, boxes[:, :4], 48))
        keep = probability > self.config.thresholds[2]
        boxes, probability, offsets, points = boxes[keep, :4], probability[keep], offsets[keep], points[keep]
        side = boxes[:, 2:] - boxes[:, :2]
        landmarks = torch.stack([points[:, :5], points[:, 5:]], dim=2) * side[:, None] + boxes[:, None, :2]
        boxes = _shift(boxes, offsets)
        picked = _nms_min(boxes, probability, 0.7)
        return Detections(boxes[picked], probability[picked], landmarks[picked])


def _shift(boxes: Tensor, offsets: Tensor) -> Tensor:
    """Apply the nets' box regression: each corner moves by its offset times the box's side."""
    side = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    return boxes + offsets * side


def _square(boxes: Tensor) -> Tensor:
    """The square of side max(w, h) with the same centre as each box."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).max(dim=1, keepdim=True).values / 2
    return torch.cat([centre - half, centre + half], dim=1)


def _crops(pixels: Tensor, boxes: Tensor, size: int) -> Tensor:
    """``N x 3 x size x size`` resampled crops of ``boxes`` (area-averaged; zeros outside the image)."""
    indexed = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
    return roi_align(pixels, indexed, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def _nms_min(boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
    """NMS where overlap is intersection over the smaller box (MTCNN's last stage), best first."""
    order = scores.argsort(descending=True)
    area = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1)
    keep = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(int(best))
        low = torch.maximum(boxes[best, :2], boxes[rest, :2])
        high = torch.minimum(boxes[best, 2:], boxes[rest, 2:])
        overlap = (high - low).clamp(min=0).prod(dim=1) / torch.minimum(area[best], area[rest]).clamp(min=1e-9)
        order = rest[overlap <= threshold]
    return torch.tensor(keep, dtype=torch.long)


def load_mtcnn(path: Path | None = None) -> MTCNN:
    """The MTCNN detector from the ``mtcnn`` asset, eval mode, frozen, on the CPU."""
    path = path or resolve_asset(ASSET)
    tensors, _config = load_tensors(path)
    detector = MTCNN()
    load_module_state(detector, tensors, path)
    return detector.eval().requires_grad_(False)
