"""The run just shown, in one sentence: which space got there first, and by how much.

From the two loss curves of a run (X-space and Z-space, one value per step, step 0 first),
e.g. "Z reached X's step-200 loss at step 14 (14× fewer steps); Z ends 12% lower than X."
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LEVEL = 0.01  # final losses within 1% of each other count as level


def _first_at_or_below(losses: Sequence[float], level: float) -> int | None:
    return next((step for step, loss in enumerate(losses) if loss <= level), None)


def comparison(x_losses: Sequence[float], z_losses: Sequence[float]) -> str:
    """One sentence comparing the two curves (empty when a curve is empty or not finite)."""
    if not x_losses or not z_losses or not all(map(math.isfinite, (x_losses[-1], z_losses[-1]))):
        return ""
    x_end, z_end = x_losses[-1], z_losses[-1]
    last = min(len(x_losses), len(z_losses)) - 1
    if abs(x_end - z_end) <= LEVEL * max(x_end, z_end):
        return f"X and Z end level (loss {x_end:.4g} vs {z_end:.4g} at step {last})."
    (winner, winner_curve, winner_end), (loser, loser_end) = (
        (("Z", z_losses, z_end), ("X", x_end)) if z_end < x_end else (("X", x_losses, x_end), ("Z", z_end))
    )
    lower = f"{winner} ends {100 * (1 - winner_end / loser_end):.0f}% lower than {loser}"
    reached = _first_at_or_below(winner_curve, loser_end)
    if reached is None or reached >= last or reached == 0:
        return f"{lower} (loss {winner_end:.4g} vs {loser_end:.4g} at step {last})."
    ratio = last / reached
    fewer = f"{ratio:.1f}" if ratio < 10 else f"{ratio:.0f}"
    return f"{winner} reached {loser}'s step-{last} loss at step {reached} ({fewer}× fewer steps); {lower}."
