"""Where MTCNN's five landmarks sit on average in faces64's 64×64 training crop (CelebA training faces).

    PYTHONPATH=. python scripts/face_reference.py --first 1 --count 2000

Each CelebA photo (89 × 109) is searched whole; its landmarks are moved into the centre-square crop
resized to 64 × 64 (how faces64's training images were made). Prints the mean (x, y) per landmark, to
paste into ``REFERENCE_LANDMARKS`` of engines/models/faces/align.py, and the spread (standard deviation).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from engines.io.data import data_path
from engines.models.faces.align import SIZE
from engines.models.faces.mtcnn import load_mtcnn


def crop_landmarks(detector, number: int) -> np.ndarray | None:
    """The largest face's landmarks in the 64×64 centre crop of CelebA photo ``number`` (None: no face)."""
    with Image.open(data_path("celeba") / f"{number:06d}.jpg") as photo:
        image = photo.convert("RGB")
    detections = detector.detect(np.asarray(image))
    if not len(detections):
        return None
    best = int((detections.boxes[:, 2:] - detections.boxes[:, :2]).prod(dim=1).argmax())
    side = min(image.size)
    corner = np.array([(image.width - side) // 2, (image.height - side) // 2])
    return (detections.landmarks[best].double().numpy() - corner) * SIZE / side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = load_mtcnn()
    found = [crop_landmarks(detector, number) for number in range(args.first, args.first + args.count)]
    landmarks = np.stack([points for points in found if points is not None])
    print(f"faces found: {len(landmarks)} of {args.count}")
    print("mean:", np.array2string(landmarks.mean(0).round(2), separator=", "))
    print("std: ", np.array2string(landmarks.std(0).round(2), separator=", "))


if __name__ == "__main__":
    main()
