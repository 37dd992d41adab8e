"""Says plainly when a target is far from what the face model knows, from the loss a run ends at.

The threshold is measured on CelebA *training* faces (1-8000; the held-out 8001-9000 were not used):
``PYTHONPATH=. python scripts/domain_threshold.py --n 32`` inverts 32 of them, evenly spaced, for 200
Adam steps with the app's default objective (MSE + LPIPS) and learning rates. Final losses: median
X 0.110 / Z 0.121, 90th percentile X 0.166 / Z 0.204, 99th percentile X 0.276 / Z 0.274, highest X 0.285 /
Z 0.282. For comparison, the bundled cats end at 0.247 and 0.250 (best of X and Z), a held-out face at 0.134.
"""

from __future__ import annotations

TRAINING_FACE_LOSS = 0.285  # the highest final loss of those 32 training faces, in either space
HARDER_THAN_MOST = 0.204  # the 90th percentile of those losses (Z's; X's is 0.166): 9 faces in 10 end lower
MODELS = ("faces64",)
OBJECTIVE = "mse+lpips"
MIN_STEPS = 100  # shorter runs have not converged enough to judge


def domain_notice(model: str, loss: str, steps: int, x_final: float, z_final: float) -> str:
    """A plain warning when even the better space ends above 9 in 10 (or all) training faces measured, else ""."""
    best = min(x_final, z_final)
    if model not in MODELS or loss != OBJECTIVE or steps < MIN_STEPS or not best > HARDER_THAN_MOST:
        return ""
    if best > TRAINING_FACE_LOSS:
        return (
            f"⚠ This target looks far from what {model} knows: its best final loss {best:.3f} is above every "
            f"training face we measured ({TRAINING_FACE_LOSS}). The model makes aligned 64×64 faces, so expect a "
            "face-like approximation, not a reconstruction."
        )
    return (
        f"⚠ This target is harder than 9 in 10 training faces (best final loss {best:.3f}; 9 in 10 end below "
        f"{HARDER_THAN_MOST}): it may lie outside what {model} knows (aligned 64×64 faces)."
    )
