"""The run just shown, in one sentence: speed to a quality level first, then the final comparison.

From the loss curves of a run (X-space, Z-space and, when run, Z→X; one value per step, step 0 first),
e.g. "Z reached X's step-20 loss at step 4 (5× faster); Z→X ends 19% below X (0.11 vs 0.135 at step 200);
plain Z stalls: it ends 15% above X." The quality level is X's loss at step :data:`EARLY_STEP` (or the last
step of a shorter run), so the verdict names the step it is about and does not flip silently with the
run's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LEVEL = 0.01  # final losses within 1% of each other count as level
EARLY_STEP = 20  # the speed claim: who reaches X's loss at this step first


def _first_at_or_below(losses: Sequence[float], level: float) -> int | None:
    return next((step for step, loss in enumerate(losses) if loss <= level), None)


def _factor(ratio: float) -> str:
    return f"{ratio:.1f}" if ratio < 10 else f"{ratio:.0f}"


def speed(x_losses: Sequence[float], z_losses: Sequence[float]) -> str:
    """How fast Z reaches X's loss at step ``min(EARLY_STEP, last)``, e.g. "Z reached X's step-20 loss at step 4 (5× faster)"."""
    reference = min(EARLY_STEP, len(x_losses) - 1, len(z_losses) - 1)
    if reference < 1 or not math.isfinite(x_losses[reference]):
        return ""
    reached = _first_at_or_below(z_losses, x_losses[reference])
    if reached is None:
        return f"Z never reached X's step-{reference} loss"
    if reached == 0:
        return f"Z starts at X's step-{reference} loss"
    if reached >= reference:
        return f"Z was not faster: it reached X's step-{reference} loss at step {reached}"
    return f"Z reached X's step-{reference} loss at step {reached} ({_factor(reference / reached)}× faster)"


def versus_x(name: str, end: float, x_end: float) -> str:
    """ "Z→X ends 19% below X", "... above X" or "Z→X and X end level" (within :data:`LEVEL`)."""
    if abs(end - x_end) <= LEVEL * max(end, x_end):
        return f"{name} and X end level"
    if end < x_end:
        return f"{name} ends {100 * (1 - end / x_end):.0f}% below X"
    return f"{name} ends {100 * (end / x_end - 1):.0f}% above X"


def comparison(x_losses: Sequence[float], z_losses: Sequence[float], zx_losses: Sequence[float] | None = None) -> str:
    """One sentence on the curves: Z's speed to X's early loss, then how Z→X (else Z) ends against X,
    and plainly when plain Z stalls above X. Empty when a curve is empty or ends non-finite."""
    curves = [x_losses, z_losses] + ([zx_losses] if zx_losses is not None else [])
    if not all(curves) or not all(math.isfinite(curve[-1]) for curve in curves):
        return ""
    last = min(len(curve) for curve in curves) - 1
    x_end, z_end = x_losses[last], z_losses[last]
    parts = [speed(x_losses, z_losses)]
    if zx_losses is None:
        final = versus_x("Z", z_end, x_end)
        parts.append(f"{final} (loss {z_end:.4g} vs {x_end:.4g} at step {last})")
        if z_end > x_end * (1 + LEVEL):
            parts.append("plain Z stalls")
    else:
        zx_end = zx_losses[last]
        parts.append(f"{versus_x('Z→X', zx_end, x_end)} (loss {zx_end:.4g} vs {x_end:.4g} at step {last})")
        if z_end > x_end * (1 + LEVEL):
            parts.append(f"plain Z stalls: it ends {100 * (z_end / x_end - 1):.0f}% above X")
        else:
            parts.append(versus_x("plain Z", z_end, x_end))
    return "; ".join(part for part in parts if part) + "."
