"""How far above "normal" a run's final loss may be before the app calls a target out of domain.

``PYTHONPATH=. python scripts/domain_threshold.py --n 32`` inverts ``--n`` CelebA *training* faces
(evenly spaced over 1-8000; the held-out faces 8001-9000 are not used to choose this) for 200 Adam
steps with the app's default objective (MSE + LPIPS) and learning rates, in X and Z, and prints the
distribution of the final losses; :data:`app.domain.TRAINING_FACE_LOSS` records the result.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from engines.core.evaluation import inversion_defaults
from engines.core.losses import resolve_loss_name
from engines.core.optim import invert
from engines.io.data import data_path
from engines.io.images import prepare_image
from engines.models.registry import load_mapping, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, mapping = load_model("faces64"), load_mapping("faces64")
    ids = np.linspace(1, 8000, args.n).round().astype(int)
    targets = torch.stack([prepare_image(data_path("celeba") / f"{i:06d}.jpg", 64).tensor for i in ids])
    loss = resolve_loss_name("mse+lpips")
    finals = {}
    defaults = inversion_defaults("faces64", "adam")
    for space, theta, lr in (("x", None, defaults.x_lr), ("z", mapping, defaults.z_lr)):
        for step in invert(model, targets, mapping=theta, loss=loss, lr=lr, steps=args.steps, keep_output=False):
            pass
        finals[space] = step.losses.tolist()
    summary = {
        "loss": loss,
        "faces": ids.tolist(),
        **{f"{space}_{q}": float(np.percentile(values, q)) for space, values in finals.items() for q in (50, 90, 99)},
        **{f"{space}_max": float(max(values)) for space, values in finals.items()},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
